"""The PDF's own words (headings, labels) in the summary's language, from the interface catalogs.

render_summary_pdf sets the language for the time of one render (a context variable, so renders
in parallel threads never mix); the section builders ask `_` for each text.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date

from babel.dates import format_date

from sdm_service import plain_dates
from sdm_service.i18n import Catalogs

_LANGUAGE: ContextVar[str] = ContextVar("summary_pdf_language", default="en")


@functools.cache
def _catalogs() -> Catalogs:
    return Catalogs()  # package data, read once per process like the embedded fonts


@contextmanager
def speaking(language: str) -> Iterator[None]:
    token = _LANGUAGE.set(language)
    try:
        yield
    finally:
        _LANGUAGE.reset(token)


def language() -> str:
    return _LANGUAGE.get()


def _(message: str) -> str:
    return _catalogs().gettext(_LANGUAGE.get(), message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _catalogs().get(_LANGUAGE.get()).ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks a text for the catalogs; `_` translates it when used."""
    return message


def long_date(value: date) -> str:
    return plain_dates.long_date(value, _LANGUAGE.get())


def weekday_date(value: date) -> str:
    return format_date(value, format="full", locale=_LANGUAGE.get())


# Texts the section builders translate inside f-strings, where pybabel does not look: listed here so
# `make messages` keeps them in the catalogs.
IN_F_STRINGS = (
    N_("Ask:"),
    N_("on page 1."),
    N_("Why:"),
    N_("Facts:"),
    N_("see"),
    N_("in the table above."),
    N_("You chose"),
    N_("for:"),
    N_("Response"),
    N_("Patient ID"),
    N_("discussion summary"),
    N_("Keep in mind:"),
    N_("worries you"),
    N_("Known side effects"),
    N_("A top priority for you"),
    N_("Options your care team may discuss:"),
    N_("matters most to you"),
    # The default SDM_SUMMARY_FUNDING_NOTE (settings.py); a clinic's own note is printed as given.
    N_(
        "Funding and conflicts of interest: this clinic has not yet stated who paid for this "
        "summary or any conflict of interest. Ask your care team."
    ),
)
