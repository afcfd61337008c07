"""Refused requests leave a trace: a 401, 403 or 429 on the clinician workspace, the API, FHIR or
a patient link is recorded as `request.refused`, counted per client address, status and area so a
flood writes only the 1st, 10th, 100th... refusal of a window (audit.record_refusal).

Sign-in answers its own refusals (auth.sign_in.failed, auth.sign_in.throttled) and is left out."""

from __future__ import annotations

import logging
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import SQLAlchemyError

from sdm_service.audit import Actor, record_refusal
from sdm_service.errors import http_exception_for
from sdm_service.security import CLINICIAN_STATE_KEY

logger = logging.getLogger("sdm_service.audit")
REFUSED_STATUSES = frozenset({401, 403, 429})
AUDITED_PREFIXES = ("/clinician", "/api/", "/fhir", "/i/", "/r/")
TOKEN_PREFIXES = ("/i/", "/r/")  # the rest of the path is a patient's link token: never recorded
SIGN_IN_PATH = "/clinician/sign-in"


def _actor(scope: Scope, address: str) -> Actor:
    user: Any = scope.get("state", {}).get(CLINICIAN_STATE_KEY)
    if user is not None and getattr(user, "id", None) is not None:
        return Actor("clinician", str(user.id), str(getattr(user, "username", "")))
    return Actor("anonymous", "", address)


class RefusalAuditMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        if not path.startswith(AUDITED_PREFIXES) or path == SIGN_IN_PATH:
            await next_app(scope, receive, send)
            return
        refused: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in REFUSED_STATUSES:
                refused.append(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, watch)
        except Exception as exc:  # refused by an inner middleware (a rate limit): answered outside
            meaning = exc if isinstance(exc, HTTPException) else http_exception_for(exc)
            if meaning is not None and meaning.status_code in REFUSED_STATUSES:
                await self._record(scope, meaning.status_code)
            raise
        if refused:
            await self._record(scope, refused[0])

    @staticmethod
    async def _record(scope: Scope, status: int) -> None:
        client = scope.get("client")
        address = client[0] if client else ""
        path: str = scope["path"]
        shown_path = next((prefix for prefix in TOKEN_PREFIXES if path.startswith(prefix)), path)
        area = shown_path.strip("/").split("/", 1)[0]
        try:
            await record_refusal(
                scope["app"].state.side_engine,
                _actor(scope, address),
                "request.refused",
                key=f"{address} {status} {area}",
                ip=address,
                detail={"status": status, "method": scope.get("method", ""), "path": shown_path[:200]},
            )
        except (SQLAlchemyError, OSError):  # the refusal is answered as it is, database or not
            logger.warning("could not record a refused request (%s %s)", status, shown_path, exc_info=True)
