"""The patient's language: which one a page is shown in, and the switch link on every patient page.

A response keeps its language (chosen on the invitation, or at the start from the welcome page).
Before there is a response, the welcome page shows the language asked for (`?lang=`), else the
browser's first Accept-Language the content offers, else the content's default. The switch is a
plain link (no JavaScript); with a response it changes the response's language, answers untouched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request

from sdm_service.content import Content
from sdm_service.i18n import Catalogs, language_links, negotiate
from sdm_service.web.patient.flow import base_path


def wished_language(request: Request[Any, Any, Any], content: Content, asked: str | None = None) -> str:
    """For a page without a response: the language asked for, else Accept-Language, else the default."""
    if asked and asked in content.languages:
        return asked
    return negotiate(request.headers.get("accept-language"), content.languages) or content.languages[0]


def use_language(request: Request[Any, Any, Any], content: Content, language: str) -> Content:
    """Render this request in `language`: the page's lang, its interface text and its switch links;
    returns the content in that language."""
    content = content.in_language(language)
    here = request.url.path
    request.state.language = content.language
    request.state.language_links = language_links(
        content.languages,
        content.language,
        lambda code: f"{base_path(content)}/language/{code}?next={quote(here, safe='/')}",
    )
    return content


def translator(request: Request[Any, Any, Any]) -> Any:
    """gettext in this request's language, for texts the handlers put on a page."""
    catalogs: Catalogs = request.app.state.catalogs
    return catalogs.get(request.state.get("language")).gettext
