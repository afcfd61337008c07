"""Localized content text: the fallback rules and the validator behind schema.Text.

A patient-facing text is written in the content files as {en: ..., es: ...}. The loader validates
each file once per language with the context {"language": wanted, "languages": declared}; the
models then hold plain strings in that language, so nothing downstream knows about translations.
Adding a language is data: declare it in questionnaire.yaml `languages` and write its texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationInfo

DEFAULT_LANGUAGE = "en"


def choose_language(available: Sequence[str], wanted: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The fallback rules, defined once: the wanted language, else its base language (es-MX -> es),
    else the default, else the first available one."""
    for candidate in (wanted, (wanted or "").split("-")[0].split("_")[0].lower(), default):
        if candidate and candidate in available:
            return candidate
    return available[0] if available else default


def pick_language(texts: Mapping[str, str], wanted: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The text of `texts` ({language: text}) in `wanted`, by the fallback rules of choose_language."""
    present = [lang for lang, text in texts.items() if str(text or "").strip()]
    return texts[choose_language(present, wanted, default)] if present else ""


def localize(value: Any, info: ValidationInfo) -> Any:
    context = info.context or {}
    required: Sequence[str] = context.get("languages", ())
    if isinstance(value, Mapping):
        missing = [lang for lang in required if not str(value.get(lang) or "").strip()]
        if missing:
            raise ValueError(f"missing or empty translation: {', '.join(missing)}")
        unknown = sorted(set(value) - set(required)) if required else []
        if unknown:
            raise ValueError(f"text in an undeclared language: {', '.join(map(str, unknown))}")
        return pick_language(value, context.get("language"), required[0] if required else DEFAULT_LANGUAGE)
    if isinstance(value, str) and len(required) > 1:
        raise ValueError(f"give this text in every language of the questionnaire ({', '.join(required)})")
    return value  # a plain string: one-language content, or a stored (already resolved) definition
