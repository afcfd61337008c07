"""The summary snapshot: everything the summary page, the PDF and the API show for a completed
response, computed once at completion and stored as JSON on the response.

It is self-contained (labels, statements and citations copied in) so that later content changes
never change an old summary or its PDF. Renderers take a SummarySnapshot and nothing else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SNAPSHOT_SCHEMA_VERSION = 1


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatientInfo(Frozen):
    name: str | None = None
    identifier_system: str | None = None
    identifier_value: str | None = None


class RankedPriority(Frozen):
    code: str
    label: str
    rating: str  # importance code: not | a_little | somewhat | very | extremely
    rating_label: str
    score: int  # 0..4, for the bar chart
    rank: int  # 1 = matters most
    most_important: bool = False


class EvidenceCitation(Frozen):
    id: str
    kind: str  # benefit | limitation | risk | process | figure
    statement: str
    source_ids: tuple[str, ...]
    caveat: str | None = None


class DiscussionPoint(Frozen):
    id: str
    title: str
    why: str  # why it is on the list, naming the answer that triggered it
    evidence: tuple[EvidenceCitation, ...]
    questions: tuple[str, ...]
    priority: str | None = None  # priority code that ordered it, if any


class ConflictItem(Frozen):
    code: str
    label: str
    answer: str | None  # "yes" | "no" | None when skipped


class ConflictResult(Frozen):
    score: int | None  # None when not every item was answered
    max_score: int = 4
    flagged: bool  # score of 3 or less, or screen not completed
    answered: int
    items: tuple[ConflictItem, ...]
    meaning: str  # plain-language explanation for the patient


class LabelledAnswer(Frozen):
    code: str
    label: str


class AnswerLine(Frozen):
    item_id: str
    question: str
    answer: str  # display form


class StepAnswers(Frozen):
    step_id: str
    title: str
    answers: tuple[AnswerLine, ...]


class SourceRef(Frozen):
    id: str
    citation: str
    date: str


class SummarySnapshot(Frozen):
    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    response_id: str
    questionnaire_slug: str
    questionnaire_version: str
    questionnaire_title: str
    clinic_name: str
    patient: PatientInfo
    respondent: LabelledAnswer | None = None
    cancer_type: LabelledAnswer | None = None
    completed_at: str  # ISO 8601 UTC date-time
    consult_date: str | None = None  # ISO date
    priorities: tuple[RankedPriority, ...]
    most_important: str | None = None  # priority code
    discussion_points: tuple[DiscussionPoint, ...]
    side_effect_concerns: tuple[LabelledAnswer, ...] = ()
    leaning: LabelledAnswer | None = None
    decision_role: LabelledAnswer | None = None
    conflict: ConflictResult
    own_questions: str | None = None
    answers_by_step: tuple[StepAnswers, ...] = ()
    sources: tuple[SourceRef, ...]
    disclaimer: str
