"""Dates written the way patients read them ("December 3, 2026", "3 de diciembre de 2026"), from
Babel's locale data, independent of the machine's locale so summaries and PDFs come out the same
everywhere."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date


def long_date(value: date, language: str = "en") -> str:
    return format_date(value, format="long", locale=language)
