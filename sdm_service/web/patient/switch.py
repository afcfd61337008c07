"""The language switch link: with a response it changes the response's language (answers kept) and
goes back to the page it came from; without one, the welcome page in that language."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.content import Content
from sdm_service.services import responses as response_service
from sdm_service.web.patient.flow import base_path
from sdm_service.web.patient.visit import CONTENT, PAGE_OPTIONS, continuable_response


@get("/q/{slug:str}/language/{code:str}", **PAGE_OPTIONS, dependencies=CONTENT, name="patient-language")
async def switch_language(
    request: Request[Any, Any, Any],
    content: NamedDependency[Content],
    code: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    next: FromQuery[str | None] = None,
) -> Redirect:
    language = code if code in content.languages else content.languages[0]
    home = base_path(content)
    back = next if next and _is_patient_page(home, next) else home
    response = await continuable_response(request, db_session, content)
    if response is not None:
        await response_service.set_language(db_session, response, language)
        return Redirect(back, status_code=303)
    return Redirect(home, query_params={"lang": language}, status_code=303)


def _is_patient_page(home: str, path: str) -> bool:
    """Only back to a page of this questionnaire: never to another site (open redirect)."""
    return (path == home or path.startswith(f"{home}/")) and "//" not in path and "\\" not in path


routes: list[Any] = [switch_language]
