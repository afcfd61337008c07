"""The language switch link: with a response it changes the response's language (answers kept) and
goes back to the page it came from; without one, the welcome page in that language."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.content import Content, ContentLibrary
from sdm_service.models import PatientResponse, utcnow
from sdm_service.services import patient_links
from sdm_service.services import responses as response_service
from sdm_service.web.patient.flow import base_path
from sdm_service.web.patient.visit import PAGE_OPTIONS, content_or_404


@get("/q/{slug:str}/language/{code:str}", **PAGE_OPTIONS, name="patient-language")
async def switch_language(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    code: FromPath[str],
    library: NamedDependency[ContentLibrary],
    db_session: NamedDependency[AsyncSession],
    next: FromQuery[str | None] = None,
) -> Redirect:
    content = content_or_404(library, slug)
    language = code if code in content.languages else content.languages[0]
    home = base_path(content)
    back = next if next and _is_patient_page(home, next) else home
    cookie = request.cookies.get(request.app.state.settings.cookies.patient)
    response = await response_service.load_by_token(db_session, cookie)
    if response is not None and _usable(response, content, request):
        await response_service.set_language(db_session, response, language)
        return Redirect(back, status_code=303)
    return Redirect(home, query_params={"lang": language}, status_code=303)


def _usable(response: PatientResponse, content: Content, request: Request[Any, Any, Any]) -> bool:
    settings = request.app.state.settings
    return response.questionnaire_slug == content.slug and (
        patient_links.refusal_reason(response, settings, utcnow()) is None
    )


def _is_patient_page(home: str, path: str) -> bool:
    """Only back to a page of this questionnaire: never to another site (open redirect)."""
    return (path == home or path.startswith(f"{home}/")) and "//" not in path and "\\" not in path


routes: list[Any] = [switch_language]
