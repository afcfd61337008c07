"""The summary snapshot: everything the summary page, the PDF and the API show for a completed
response, computed once at completion and stored as JSON on the response.

It is self-contained (labels, statements and citations copied in) so that later content changes
never change an old summary or its PDF. Renderers take a SummarySnapshot and nothing else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# 2: page 1 at a glance, the grid of good sides and downsides, numbered questions (issue 13).
# Version 1 snapshots (questionnaire 1.0.0) still load: every field added since has a default.
SNAPSHOT_SCHEMA_VERSION = 2


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
    label: str | None = None  # short name (side effects)
    worry: bool = False  # a side effect the patient said worries them
    table_row: tuple[str, str, str] | None = None  # trial, with IORT, with EBRT


class DiscussionPoint(Frozen):
    id: str
    title: str
    why: str  # why it is on the list, naming the answer that triggered it
    evidence: tuple[EvidenceCitation, ...]
    questions: tuple[str, ...]
    priority: str | None = None  # priority code that ordered it, if any
    rows: tuple[str, ...] = ()  # titles of the grid rows that hold the facts on its topic
    question_numbers: tuple[int, ...] = ()  # numbers of its questions in SummarySnapshot.questions


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
    summary: str | None = None  # the answer stated in the second person, when the content gives one


class GridRow(Frozen):
    """One topic of the good-sides-and-downsides grid, IORT beside EBRT."""

    id: str
    title: str
    iort: tuple[EvidenceCitation, ...]
    ebrt: tuple[EvidenceCitation, ...] = ()
    ebrt_note: str | None = None
    top_priority: bool = False  # bears on one of the patient's top three priorities


class KnowledgeMiss(Frozen):
    question: str
    answer: str
    feedback: str | None = None


class Options(Frozen):
    decision: str
    options: tuple[str, ...]
    source_ids: tuple[str, ...] = ()


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
    # Since schema version 2 ------------------------------------------------------------------
    short_disclaimer: str | None = None
    options: Options | None = None
    decision_stage: LabelledAnswer | None = None
    ratings_equal: bool = False
    equal_ratings_note: str | None = None
    knowledge_misses: tuple[KnowledgeMiss, ...] = ()
    questions: tuple[str, ...] = ()  # generated questions, most important first
    first_questions: int = 5  # how many of them page 1 lists
    grid: tuple[GridRow, ...] = ()
    checked_on: str | None = None  # ISO date the content was last checked against its sources
    review_policy: str | None = None
    funding_note: str | None = None
    # Since the Spanish release: the language of every text above (the patient's), and the same
    # summary in the content's other languages, so clinicians can read it in English. The patient's
    # own words (own_questions) are the same, verbatim, in each.
    language: str = "en"
    translations: dict[str, SummarySnapshot] = {}

    def in_language(self, language: str | None) -> SummarySnapshot:
        """This summary in `language` if it was kept in it, else as the patient saw it."""
        if not language or language == self.language:
            return self
        return self.translations.get(language, self)
