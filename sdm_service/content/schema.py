"""Schema of the content files in questionnaires/<slug>/: questionnaire, evidence and rules.

Content editors change YAML, never Python; these models are the contract those files must meet.
`sdm questionnaires schema` exports them as JSON Schema for editors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from sdm_service.content.localized import DEFAULT_LANGUAGE, localize

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
LinkId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PlainText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]


# --- Localized text ------------------------------------------------------------------------------
# A patient-facing text is written in the files as {en: ..., es: ...}; see content/localized.py.

_LOCALIZED = BeforeValidator(localize, json_schema_input_type=dict[str, str] | str)
Text = Annotated[PlainText, _LOCALIZED]  # a required patient-facing text
OptionalText = Annotated[str | None, _LOCALIZED]
OptionalPlainText = Annotated[PlainText | None, _LOCALIZED]  # given or absent, never empty

ItemType = Literal["single_choice", "multiple_choice", "importance", "yes_no", "date", "text", "display"]
# Types answered with option codes (FHIR `choice` with answerOption; conditions compare codes).
CODED_TYPES: frozenset[str] = frozenset({"single_choice", "multiple_choice", "importance", "yes_no"})
ANSWERABLE_TYPES: frozenset[str] = CODED_TYPES | {"date", "text"}  # every type but display

# The five-point importance scale is fixed so priorities are comparable across questionnaires.
IMPORTANCE_SCALE: tuple[tuple[str, str], ...] = (
    ("not", "Not important"),
    ("a_little", "A little important"),
    ("somewhat", "Somewhat important"),
    ("very", "Very important"),
    ("extremely", "Extremely important"),
)
DEFAULT_ANSWER_LABELS: dict[str, str] = {**dict(IMPORTANCE_SCALE), "yes": "Yes", "no": "No"}
IMPORTANCE_RANK: dict[str, int] = {code: rank for rank, (code, _label) in enumerate(IMPORTANCE_SCALE)}
HIGH_IMPORTANCE: frozenset[str] = frozenset({"very", "extremely"})
# The "matters most" item may offer this code besides the priority codes: the patient cannot say.
CANT_SAY = "cant_say"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerOption(Strict):
    code: Code
    label: Text
    help: OptionalText = None
    # How the summary states this answer (second person), e.g. "You are leaning toward IORT."
    summary: OptionalPlainText = None


class Condition(Strict):
    """FHIR enableWhen semantics: `exists` (answer: true/false), `=` and `!=` against an answer value."""

    question: LinkId
    operator: Literal["exists", "=", "!="]
    answer: str | bool


class DateRange(Strict):
    """Allowed dates, in days relative to today (negative = past)."""

    min_days: int = -3650
    max_days: int = 3650


class Item(Strict):
    id: LinkId
    type: ItemType
    text: Text
    help: OptionalText = None
    required: bool = False
    options: tuple[AnswerOption, ...] = ()
    enable_when: tuple[Condition, ...] = ()
    enable_behavior: Literal["all", "any"] = "all"
    max_length: int = Field(default=2000, ge=1, le=10000)
    date_range: DateRange | None = None
    # For importance items: the priority this item measures (a code from the questionnaire's priorities).
    priority: Code | None = None
    # For single-choice items: the option codes whose answer is correct, for the understanding check.
    correct: tuple[Code, ...] = ()
    feedback: OptionalText = None
    # The questionnaire's labels of the fixed scales, in its language (set by Questionnaire).
    _answer_labels: Mapping[str, str] = PrivateAttr(default=DEFAULT_ANSWER_LABELS)

    @property
    def answerable(self) -> bool:
        return self.type in ANSWERABLE_TYPES

    def option_codes(self) -> tuple[str, ...]:
        if self.type == "importance":
            return tuple(code for code, _ in IMPORTANCE_SCALE)
        if self.type == "yes_no":
            return ("yes", "no")
        return tuple(option.code for option in self.options)

    def option_label(self, code: str) -> str:
        """The label of an answer code; the fixed scales read the questionnaire's answer_labels."""
        if self.type in ("importance", "yes_no"):
            return self._answer_labels.get(code, code)
        for option in self.options:
            if option.code == code:
                return option.label
        return code

    def option_summary(self, code: str) -> str | None:
        return next((o.summary for o in self.options if o.code == code), None)


class Step(Strict):
    id: LinkId
    title: Text
    intro: OptionalText = None
    items: tuple[Item, ...]


class Priority(Strict):
    code: Code
    label: Text
    short_label: Annotated[str, _LOCALIZED]


class Questionnaire(Strict):
    id: Code  # the slug (the folder name); also the FHIR Questionnaire.id
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
    title: Text
    description: Annotated[str, _LOCALIZED] = ""
    publisher: str = "sdm-service"
    # The language of the texts in this model; `languages` lists every one the files give (the first
    # is the default, the fallback for anything else).
    language: Language = DEFAULT_LANGUAGE
    languages: tuple[Language, ...] = (DEFAULT_LANGUAGE,)
    # The fixed answer scales (importance codes, yes, no): a code's label in this language.
    answer_labels: dict[Code, Text] = Field(default_factory=lambda: dict(DEFAULT_ANSWER_LABELS))
    date: dt.date | None = None
    priorities: tuple[Priority, ...] = ()
    steps: tuple[Step, ...]

    @model_validator(mode="after")
    def _share_answer_labels(self) -> Questionnaire:
        for item in self.items():
            item._answer_labels = self.answer_labels
        return self

    @property
    def slug(self) -> str:
        return self.id

    def items(self) -> list[Item]:
        return [item for step in self.steps for item in step.items]

    def item(self, link_id: str) -> Item:
        for step in self.steps:
            for item in step.items:
                if item.id == link_id:
                    return item
        raise KeyError(link_id)

    def step_of(self, link_id: str) -> int:
        for index, step in enumerate(self.steps):
            if any(item.id == link_id for item in step.items):
                return index
        raise KeyError(link_id)


# warning: when to call the care team after treatment (shown beside the side effects).
EvidenceKind = Literal["benefit", "limitation", "risk", "process", "figure", "warning"]
# An evidence entry (or a point) for every cancer type uses this code in its cancer_types.
ALL_CANCERS = "all"


class Source(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]*$")]
    citation: PlainText
    date: str  # as the source states it, e.g. "last revised 2025-06-09" or "2014"
    url: str | None = None


class EvidenceEntry(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    kind: EvidenceKind
    statement: Text
    sources: tuple[str, ...] = Field(min_length=1)
    cancer_types: tuple[Code, ...] = (ALL_CANCERS,)
    caveat: OptionalText = None
    label: OptionalPlainText = None  # short name, e.g. of a side effect in the summary's list
    # A trial figure as one row of the summary's small table: (trial, with IORT, with EBRT).
    table_row: tuple[Text, Text, Text] | None = None

    def applies_to(self, cancer_type: str | None) -> bool:
        """Whether this entry may be shown for a patient with this cancer type (None: not given)."""
        return ALL_CANCERS in self.cancer_types or (
            cancer_type is not None and cancer_type in self.cancer_types
        )


class EvidenceLibrary(Strict):
    # The day an editor last checked every entry against its sources, and when it is checked again.
    checked_on: dt.date | None = None
    review_policy: Text = "reviewed every year or when the sources change"
    sources: tuple[Source, ...]
    entries: tuple[EvidenceEntry, ...]

    def entry(self, entry_id: str) -> EvidenceEntry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)


# --- rules.yaml -------------------------------------------------------------------------------
# Rules turn answers into discussion points. The decision engine (sdm_service.decision.engine)
# reads them; checks.py verifies every reference (items, option codes, evidence ids, priorities).

EvidenceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]


class RuleCondition(Strict):
    """One test on an answer. Exactly one of `in`, `not_in` or `answered` is given.

    - in: the item is answered (and applies) with one of these codes (for a multiple-choice
      item: at least one of them is chosen);
    - not_in: the item is unanswered, or its answer holds none of these codes;
    - answered: true when the item has an answer, false when it has none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    item: LinkId
    in_: tuple[Code, ...] | None = Field(default=None, alias="in", min_length=1)
    not_in: tuple[Code, ...] | None = Field(default=None, min_length=1)
    answered: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> RuleCondition:
        given = [name for name in ("in", "not_in", "answered") if self.test_value(name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'in', 'not_in' or 'answered'")
        return self

    def test_value(self, name: str) -> Any:
        return {"in": self.in_, "not_in": self.not_in, "answered": self.answered}[name]

    def codes(self) -> tuple[str, ...]:
        return self.in_ or self.not_in or ()


class Trigger(Strict):
    """A reason to list a point: every condition in `when` must hold.

    `why` is shown to the patient; `{answer}` in it is replaced with the answer to the first
    condition's item (for `in` on a multiple-choice item: the chosen codes that matched).
    """

    when: tuple[RuleCondition, ...] = Field(min_length=1)
    why: Text
    questions: tuple[Text, ...] = ()


class AnswerEvidence(Strict):
    """Evidence that depends on which options were chosen; `otherwise` when none of them was."""

    item: LinkId
    map: dict[Code, tuple[EvidenceId, ...]] = Field(min_length=1)
    otherwise: tuple[EvidenceId, ...] = ()


class PointRule(Strict):
    """A discussion point, listed when any of its triggers fires.

    `priority` orders the point by the patient's own ranking of that priority; points without one
    follow, in file order. `cancer_types` limits the point to those cancer types (default: all).
    """

    id: Code
    title: Text
    priority: Code | None = None
    cancer_types: tuple[Code, ...] = (ALL_CANCERS,)
    triggers: tuple[Trigger, ...] = Field(min_length=1)
    evidence: tuple[EvidenceId, ...] = ()
    evidence_by_answer: tuple[AnswerEvidence, ...] = ()
    questions: tuple[Text, ...] = Field(min_length=1)
    # Rows of the summary's grid (summary.grid ids) whose facts bear on this point.
    rows: tuple[Code, ...] = ()

    def applies_to(self, cancer_type: str | None) -> bool:
        return ALL_CANCERS in self.cancer_types or (
            cancer_type is not None and cancer_type in self.cancer_types
        )


class GridRow(Strict):
    """One row of the good-sides-and-downsides grid: a topic, IORT's facts and EBRT's side."""

    id: Code
    title: Text
    priority: Code | None = None  # marks the row when this priority is among the patient's top three
    iort: tuple[EvidenceId, ...] = Field(min_length=1)
    ebrt: tuple[EvidenceId, ...] = ()
    ebrt_note: OptionalPlainText = None  # what to ask, where the sources state nothing for EBRT


class SummaryRules(Strict):
    """The fixed parts of the summary: the decision, the options, the grid and the question limits."""

    short_disclaimer: Text
    decision: Text
    options: tuple[Text, ...] = Field(min_length=2)
    options_source: EvidenceId | None = None
    equal_ratings: Text
    max_questions: int = Field(default=8, ge=1, le=20)
    first_questions: int = Field(default=5, ge=1, le=10)
    grid: tuple[GridRow, ...] = Field(min_length=1)
    # Side-effect worry option codes (roles.side_effect_concerns) to the risk each one names.
    worries: dict[Code, EvidenceId] = Field(default_factory=dict)

    def row(self, row_id: str) -> GridRow:
        for row in self.grid:
            if row.id == row_id:
                return row
        raise KeyError(row_id)


class Roles(Strict):
    """Which items the engine reads for the summary's fixed sections (defaults: the stable ids)."""

    respondent: LinkId = "respondent"
    cancer_type: LinkId = "cancer_type"
    consult_date: LinkId = "consult_date"
    decision_stage: LinkId | None = None  # optional: how far along the patient is
    most_important: LinkId = "most_important"
    side_effect_concerns: LinkId = "side_effect_concerns"
    leaning: LinkId = "leaning"
    decision_role: LinkId = "decision_role"
    own_questions: LinkId = "own_questions"


class ConflictScreenItem(Strict):
    item: LinkId
    label: Text  # short label for the summary and the clinician view


class ConflictMeaning(Strict):
    ready: Text
    flagged: Text
    incomplete: Text


class ConflictRules(Strict):
    """The 4-item yes/no screen modelled on SURE: yes = 1; a total at or below the threshold flags."""

    source: str
    items: tuple[ConflictScreenItem, ...] = Field(min_length=1)
    flag_at_or_below: int = Field(ge=0)
    meaning: ConflictMeaning


class RuleFile(Strict):
    """rules.yaml: which items play which part, the conflict screen, the disclaimer and the points."""

    roles: Roles = Roles()
    conflict: ConflictRules
    disclaimer: Text
    summary: SummaryRules
    points: tuple[PointRule, ...] = Field(min_length=1)

    def point(self, point_id: str) -> PointRule:
        for point in self.points:
            if point.id == point_id:
                return point
        raise KeyError(point_id)


Rules = RuleFile
