"""Interface text in the patient's language: gettext catalogs (Babel), dates and plurals per locale.

Catalogs live in sdm_service/locale/<lang>/LC_MESSAGES/messages.po; the install step compiles them
to .mo (Makefile, setup.py), never committed. `make messages` extracts messages.pot from the
templates and the Python code (babel.cfg) and updates every .po. Adding a language is a new .po
plus the content's texts (questionnaire.yaml `languages`), no code.

The request's language is on `request.state.language` (the patient's response, else the language
asked for, else Accept-Language); the Jinja i18n extension reads it on every render.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from sdm_service.content.localized import DEFAULT_LANGUAGE, choose_language

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Marks a text for the catalogs (`make messages`); the template translates it when shown."""
    return message


class Catalogs:
    """The interface catalogs, one per language, loaded once by create_app."""

    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.by_language: dict[str, NullTranslations] = {DEFAULT_LANGUAGE: NullTranslations()}
        for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            self.by_language[po_path.parent.parent.name] = _load(po_path)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.by_language)

    def get(self, language: str | None) -> NullTranslations:
        return self.by_language[choose_language(self.languages, language)]

    def gettext(self, language: str | None, message: str) -> str:
        return self.get(language).gettext(message)


def _load(po_path: Path) -> NullTranslations:
    """The compiled catalog; compiled here (with a warning) when the install step has not done it."""
    mo_path = po_path.with_suffix(".mo")
    if mo_path.is_file() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        with mo_path.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    log.warning("%s is not compiled (or is older than its .po); compiling it in memory", po_path)
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def negotiate(accept_language: str | None, available: Sequence[str]) -> str | None:
    """The first language of an Accept-Language header (by q-value) that `available` offers."""
    wishes: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            wishes.append((-quality, position, tag.strip()))
    for _q, _p, tag in sorted(wishes):
        for candidate in (tag, tag.split("-")[0].lower()):
            if candidate in available:
                return candidate
    return None


def language_name(code: str) -> str:
    """A language's name in that language ("English", "español")."""
    return Locale.parse(code).get_display_name(code) or code


def format_long_date(value: date, language: str) -> str:
    """December 3, 2026 / 3 de diciembre de 2026: Babel's locale data, not the machine's locale."""
    return babel_format_date(value, format="long", locale=language)


def request_language(context: Context) -> str:
    request = context.get("request")
    state = getattr(request, "state", None)
    language = state.get("language") if state is not None else None
    return str(language or context.get("language") or DEFAULT_LANGUAGE)


def install(env: Environment, catalogs: Catalogs) -> None:
    """The Jinja i18n extension (`_`, `gettext`, `ngettext`, `{% trans %}`) in the request's language."""

    @pass_context
    def gettext(context: Context, message: str) -> str:
        return catalogs.get(request_language(context)).gettext(message)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
        return catalogs.get(request_language(context)).ngettext(singular, plural, n)

    @pass_context
    def long_date(context: Context, value: date | str | None) -> str:
        if not value:
            return ""
        parsed = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return format_long_date(parsed, request_language(context))

    @pass_context
    def translate(context: Context, message: str) -> str:
        """A text marked with N_ in Python, translated when shown. Unlike `_` it is plain text
        (escaped as usual, no %-formatting), so a title holding a name stays safe."""
        return catalogs.get(request_language(context)).gettext(str(message))

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["page_language"] = pass_context(request_language)
    env.globals["long_date"] = long_date
    env.filters["long_date"] = long_date
    env.filters["translate"] = translate


def language_links(languages: Iterable[str], current: str, href: Any) -> list[dict[str, str]]:
    """The switch to every other language: its name in that language and where the link goes."""
    others = [code for code in languages if code != current]
    return [{"code": code, "name": language_name(code), "href": href(code)} for code in others]
