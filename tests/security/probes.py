"""Small routes registered on a real app in tests, so the cross-cutting protections (headers, host
check, size and rate limits, database faults) are exercised through the full middleware stack on
every kind of path, independent of which feature handlers exist yet."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Litestar, MediaType, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, JSONBody
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DbSession = NamedDependency[AsyncSession]

PAGE = "/probe/page"
FORM = "/probe/form"
DB_PAGE = "/probe/db"
API = "/api/v1/probe"
API_DB = "/api/v1/probe/db"
FHIR = "/fhir/probe"
INVITE = "/i/probe"  # + "/<token>": "good" is a known link, anything else is not
RESUME = "/r/probe"


@get(PAGE, media_type=MediaType.HTML, sync_to_thread=False)
def probe_page() -> str:
    return "<!doctype html><html lang='en'><title>probe</title><p>patient answers here</p></html>"


@post(FORM, media_type=MediaType.HTML, sync_to_thread=False)
def probe_form(data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]) -> str:
    return f"<p>{len(data)} fields</p>"


@get(DB_PAGE, media_type=MediaType.HTML)
async def probe_db_page(db_session: DbSession) -> str:
    await db_session.execute(text("SELECT 1"))
    return "<p>ok</p>"


@get(API, sync_to_thread=False)
def probe_api_get() -> dict[str, str]:
    return {"patient": "answers"}


@post(API, sync_to_thread=False)
def probe_api_post(data: JSONBody[dict[str, Any]]) -> dict[str, int]:
    return {"keys": len(data)}


@get(FHIR, media_type="application/fhir+json", sync_to_thread=False)
def probe_fhir() -> dict[str, str]:
    return {"resourceType": "Basic", "id": "probe"}


@get(API_DB)
async def probe_api_db(db_session: DbSession) -> dict[str, str]:
    await db_session.execute(text("SELECT 1"))
    return {"database": "ok"}


def _link(token: str) -> str:
    if token != "good":
        raise NotFoundException("This link is not known.")
    return "<p>welcome back</p>"


@get(INVITE + "/{token:str}", media_type=MediaType.HTML, sync_to_thread=False)
def probe_invite(token: FromPath[str]) -> str:
    return _link(token)


@get(RESUME + "/{token:str}", media_type=MediaType.HTML, sync_to_thread=False)
def probe_resume(token: FromPath[str]) -> str:
    return _link(token)


def add_probes(app: Litestar) -> Litestar:
    for handler in (
        probe_page,
        probe_form,
        probe_db_page,
        probe_api_get,
        probe_api_post,
        probe_api_db,
        probe_fhir,
        probe_invite,
        probe_resume,
    ):
        app.register(handler)
    return app
