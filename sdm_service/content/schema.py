"""Schema of the content files in questionnaires/<slug>/: questionnaire, evidence and rules.

Content editors change YAML, never Python; these models are the contract those files must meet.
`sdm questionnaires schema` exports them as JSON Schema for editors.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
LinkId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PlainText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]

ItemType = Literal["single_choice", "multiple_choice", "importance", "yes_no", "date", "text", "display"]
ANSWERABLE_TYPES: frozenset[str] = frozenset(
    {"single_choice", "multiple_choice", "importance", "yes_no", "date", "text"}
)

# The five-point importance scale is fixed so priorities are comparable across questionnaires.
IMPORTANCE_SCALE: tuple[tuple[str, str], ...] = (
    ("not", "Not important"),
    ("a_little", "A little important"),
    ("somewhat", "Somewhat important"),
    ("very", "Very important"),
    ("extremely", "Extremely important"),
)
IMPORTANCE_RANK: dict[str, int] = {code: rank for rank, (code, _label) in enumerate(IMPORTANCE_SCALE)}
HIGH_IMPORTANCE: frozenset[str] = frozenset({"very", "extremely"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerOption(Strict):
    code: Code
    label: PlainText
    help: str | None = None


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
    text: PlainText
    help: str | None = None
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
    feedback: str | None = None

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
        if self.type == "importance":
            return dict(IMPORTANCE_SCALE).get(code, code)
        if self.type == "yes_no":
            return {"yes": "Yes", "no": "No"}.get(code, code)
        for option in self.options:
            if option.code == code:
                return option.label
        return code


class Step(Strict):
    id: LinkId
    title: PlainText
    intro: str | None = None
    items: tuple[Item, ...]


class Priority(Strict):
    code: Code
    label: PlainText
    short_label: str


class Questionnaire(Strict):
    id: Code  # the slug, e.g. iort-sdm; also the FHIR Questionnaire.id
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
    title: PlainText
    description: str = ""
    publisher: str = "sdm-service"
    language: str = "en"
    date: dt.date | None = None
    priorities: tuple[Priority, ...] = ()
    steps: tuple[Step, ...]

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


EvidenceKind = Literal["benefit", "limitation", "risk", "process", "figure"]


class Source(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]*$")]
    citation: PlainText
    date: str  # as the source states it, e.g. "last revised 2025-06-09" or "2014"
    url: str | None = None


class EvidenceEntry(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    kind: EvidenceKind
    statement: PlainText
    sources: tuple[str, ...] = Field(min_length=1)
    cancer_types: tuple[Code, ...] = ("all",)
    caveat: str | None = None


class EvidenceLibrary(Strict):
    sources: tuple[Source, ...]
    entries: tuple[EvidenceEntry, ...]


class RuleFile(Strict):
    """Rules are shaped by the decision engine (sdm_service.decision); kept loose here on purpose."""

    model_config = ConfigDict(extra="allow", frozen=True)

    rules: tuple[dict[str, Any], ...] = ()
