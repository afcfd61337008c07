"""Load and validate the content in questionnaires/<slug>/ (questionnaire.yaml, evidence.yaml, rules.yaml).

Every problem is collected with its file, its path inside the file and a reason, so an editor
fixes them all in one pass; the app refuses to start while any remain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sdm_service.content.checks import check_content
from sdm_service.content.localized import DEFAULT_LANGUAGE, choose_language
from sdm_service.content.problems import EVIDENCE_FILE, QUESTIONNAIRE_FILE, RULES_FILE, ContentError, Problem
from sdm_service.content.schema import EvidenceLibrary, Questionnaire, RuleFile

__all__ = ["Content", "ContentError", "ContentLibrary", "Problem", "load_content", "load_library"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Content:
    """One questionnaire with its evidence and rules, as validated at load time, in one language
    (the default, the first of `languages`); `in_language` gives the same content in another."""

    questionnaire: Questionnaire
    evidence: EvidenceLibrary
    rules: RuleFile
    content_hash: str
    directory: Path
    translations: dict[str, Content] = field(default_factory=dict, compare=False, repr=False)

    @property
    def language(self) -> str:
        return self.questionnaire.language

    @property
    def languages(self) -> tuple[str, ...]:
        return self.questionnaire.languages

    def choose_language(self, wanted: str | None) -> str:
        """The language shown for a wish such as "es-MX" (the fallback rules of localized.py)."""
        return choose_language(self.languages, wanted, self.languages[0])

    def translated_questionnaires(self) -> tuple[Questionnaire, ...]:
        """The questionnaire in every other language (for FHIR's translation extensions)."""
        return tuple(
            self.translations[lang].questionnaire for lang in self.languages if lang != self.language
        )

    def in_language(self, wanted: str | None) -> Content:
        language = self.choose_language(wanted)
        return self if language == self.language else self.translations.get(language, self)

    @property
    def slug(self) -> str:
        return self.questionnaire.id

    @property
    def version(self) -> str:
        return self.questionnaire.version

    def definition(self) -> dict[str, Any]:
        """Everything needed to read an old response again, stored per version in the database."""
        return {
            "questionnaire": self.questionnaire.model_dump(mode="json"),
            "evidence": self.evidence.model_dump(mode="json"),
            "rules": self.rules.model_dump(mode="json", by_alias=True),  # `in`, as in rules.yaml
        }


@dataclass
class ContentLibrary:
    by_slug: dict[str, Content] = field(default_factory=dict)

    def get(self, slug: str) -> Content:
        return self.by_slug[slug]

    def __contains__(self, slug: object) -> bool:
        return slug in self.by_slug

    def questionnaires(self) -> list[Questionnaire]:
        return [content.questionnaire for content in self.by_slug.values()]


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(path.name, "", "file is missing"))
    except UnicodeDecodeError:
        problems.append(Problem(path.name, "", "file is not UTF-8 text"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(Problem(path.name, where, f"not valid YAML: {getattr(exc, 'problem', exc)}"))
    return None


def _parse(
    model: type[M], data: Any, file: str, problems: list[Problem], context: dict[str, Any]
) -> M | None:
    if not isinstance(data, dict):
        problems.append(Problem(file, "", "expected a mapping of fields at the top of the file"))
        return None
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        failed = [error["loc"] for error in errors]
        for error in errors:
            loc = error["loc"]
            # A list whose entries failed is also reported "too short"; the entries say it better.
            if error["type"] == "too_short" and any(
                other[: len(loc)] == loc and other != loc for other in failed
            ):
                continue
            path = ".".join(str(part) for part in loc)
            problems.append(Problem(file, path, _reason(error)))
    return None


def _reason(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field; check its spelling against `sdm questionnaires schema`"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def load_content(directory: Path) -> Content:
    """Load one questionnaire directory; raise ContentError listing every problem found."""
    problems: list[Problem] = []
    raw = {
        name: _read_yaml(directory / name, problems)
        for name in (QUESTIONNAIRE_FILE, EVIDENCE_FILE, RULES_FILE)
    }
    if problems:
        raise ContentError(problems)
    languages = _languages(raw[QUESTIONNAIRE_FILE], problems)
    canonical = json.dumps(raw, sort_keys=True, default=str).encode()
    variants: dict[str, Content] = {}
    for language in languages:  # the first, the default, reports every problem; the rest repeat it
        context = {"language": language, "languages": languages}
        questionnaire = _parse(Questionnaire, raw[QUESTIONNAIRE_FILE], QUESTIONNAIRE_FILE, problems, context)
        evidence = _parse(EvidenceLibrary, raw[EVIDENCE_FILE], EVIDENCE_FILE, problems, context)
        rules = _parse(RuleFile, raw[RULES_FILE], RULES_FILE, problems, context)
        if questionnaire is None or evidence is None or rules is None:
            raise ContentError(problems)
        if not variants:
            problems.extend(check_content(questionnaire, evidence, rules))
            if directory.name != questionnaire.id:
                problems.append(
                    Problem(QUESTIONNAIRE_FILE, "id", f"must match its folder name '{directory.name}'")
                )
            if problems:
                raise ContentError(problems)
        variants[language] = Content(
            questionnaire=questionnaire.model_copy(update={"language": language}),
            evidence=evidence,
            rules=rules,
            content_hash=hashlib.sha256(canonical).hexdigest(),
            directory=directory,
        )
    default = variants[languages[0]]
    for variant in variants.values():
        variant.translations.update(variants)
    return default


def _languages(data: Any, problems: list[Problem]) -> tuple[str, ...]:
    """The languages questionnaire.yaml declares (`languages`, the first is the default)."""
    declared = data.get("languages") if isinstance(data, dict) else None
    if declared is None:
        return (str(data.get("language", DEFAULT_LANGUAGE)) if isinstance(data, dict) else DEFAULT_LANGUAGE,)
    if not isinstance(declared, list) or not declared or len(set(map(str, declared))) != len(declared):
        problems.append(Problem(QUESTIONNAIRE_FILE, "languages", "give a list of distinct language codes"))
        raise ContentError(problems)
    return tuple(str(code) for code in declared)


def load_library(content_dir: Path) -> ContentLibrary:
    """Load every questionnaire folder under content_dir; problems from all folders are reported together."""
    if not content_dir.is_dir():
        raise ContentError([Problem(str(content_dir), "", "content folder does not exist")])
    library = ContentLibrary()
    problems: list[Problem] = []
    for directory in sorted(
        p for p in content_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ):
        try:
            content = load_content(directory)
        except ContentError as exc:
            problems.extend(Problem(f"{directory.name}/{p.file}", p.path, p.reason) for p in exc.problems)
            continue
        library.by_slug[content.slug] = content
    if not library.by_slug and not problems:
        problems.append(Problem(str(content_dir), "", "no questionnaire folders found"))
    if problems:
        raise ContentError(problems)
    return library
