"""The base of the per-request dependencies handlers take instead of long parameter lists (`call`
of the clinician pages and of the FHIR API, `attempt` of sign-in): the request, its unit of work and
the settings. Litestar builds each from the dependencies of its fields' names (Provide(the class)).

No `from __future__ import annotations` here: the subclasses' generated __init__ live in other
modules, where Litestar resolves these fields' types."""

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.middleware import request_ip
from sdm_service.settings import Settings


@dataclass(frozen=True)
class RequestCall:
    request: Request[Any, Any, Any]
    db_session: NamedDependency[AsyncSession]
    settings: NamedDependency[Settings]

    @property
    def ip(self) -> str:
        return request_ip(self.request)

    async def form(self) -> FormMultiDict:
        return await self.request.form()
