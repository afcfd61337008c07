"""Structured logs: one JSON object per line (SDM_LOG_FORMAT=json) or plain text, each record
carrying the id of the request it belongs to.

The request id comes from the client's X-Request-ID when it is well formed (a proxy or the EHR
may already have one), or is generated; it is returned in the response's X-Request-ID header.
Request lines name the route template (`/i/{token:str}`), never the path: link tokens live in
paths and identifiers in query strings. Every message is also passed through mask_path().
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from sdm_service.logging_filters import LinkTokenFilter, mask_path

REQUEST_ID_HEADER = "x-request-id"
# Letters, digits and a few separators, at most 64: enough for UUIDs and trace ids, nothing that
# could smuggle a token, a line break or markup into a log line.
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
STATE_KEY = "sdm.request"  # scope["state"][STATE_KEY]: the request id and when the request began
ACCESS_LOGGER = "sdm_service.access"
UNMATCHED_ROUTE = "(unmatched)"  # no route template for paths no handler serves
JSON_FORMATTER = "sdm_service.observability.logs.JsonFormatter"
# Record attributes passed through to the JSON line when a call sets them with extra={...}.
EXTRA_FIELDS = ("route", "method", "status", "duration_ms")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("sdm_request_id", default=None)


def new_request_id() -> str:
    return secrets.token_hex(16)


def accepted_request_id(value: str | None) -> str:
    """The client's id when it is well formed, else a new one."""
    if value and _WELL_FORMED_ID.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Stamps each record with the running request's id (None outside a request). Attached to
    handlers, it runs in the thread that logged, before any queue hands the record on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, and the request fields of access lines."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_path(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = mask_path(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For people: level, time, logger, message, and the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(asctime)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = mask_path(super().format(record))
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


def formatter_config(log_format: str) -> dict[str, Any]:
    if log_format == "json":
        return {"()": JSON_FORMATTER}
    return {"()": "sdm_service.observability.logs.TextFormatter"}


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging config with link masking and request ids on every handler and, for
    SDM_LOG_FORMAT=json, the JSON formatter. Passed as `uvicorn.run(log_config=...)` it applies in
    every worker process."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_links"] = {"()": LinkTokenFilter}
    config["filters"]["request_id"] = {"()": RequestIdFilter}
    if log_format == "json":  # text keeps uvicorn's own formatters (colours on a terminal)
        config["formatters"] = {name: {"()": JSON_FORMATTER} for name in config["formatters"]}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).extend(["mask_links", "request_id"])
    return config


def app_logging_config(log_format: str) -> dict[str, Any]:
    """formatters, filters and handlers for the app's LoggingConfig: Litestar's own handlers (a
    queue, so a slow stderr never blocks a request) with request ids, link masking and the format."""
    from litestar.logging.config import default_handlers

    handlers = copy.deepcopy(default_handlers)
    for handler in handlers.values():
        handler["filters"] = ["request_id", "mask_links"]
    return {
        "formatters": {"standard": formatter_config(log_format)},
        "filters": {"request_id": {"()": RequestIdFilter}, "mask_links": {"()": LinkTokenFilter}},
        "handlers": handlers,
    }


class RequestContextMiddleware(ASGIMiddleware):
    """Outermost of the app's middleware: takes or makes the request id, makes it the context of
    every log record of the request, and remembers when the request began (for the access line)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = accepted_request_id(_header(scope, b"x-request-id"))
        scope.setdefault("state", {})[STATE_KEY] = (request_id, time.perf_counter())
        token = _request_id.set(request_id)
        try:
            await next_app(scope, receive, send)
        finally:
            _request_id.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def request_log_hook(access_log: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before-send hook: every HTTP response (even for unmatched paths and errors answered
    outside the middleware) gets X-Request-ID, and, with the access log on, one line naming the
    route template, method, status and time to the response's headers."""
    access = logging.getLogger(ACCESS_LOGGER)

    async def add_request_id(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("type") != ScopeType.HTTP:
            return
        state = scope.setdefault("state", {})
        request_id, started = state.get(STATE_KEY) or (
            accepted_request_id(_header(scope, b"x-request-id")),
            None,
        )
        headers = [h for h in message.get("headers") or () if h[0].lower() != b"x-request-id"]
        headers.append((b"x-request-id", request_id.encode("latin-1")))
        message["headers"] = headers
        if not access_log:
            return
        duration = None if started is None else round((time.perf_counter() - started) * 1000, 2)
        route = scope.get("path_template") or UNMATCHED_ROUTE
        method = scope.get("method", "")
        status = message["status"]
        access.info(
            "%s %s %s",
            method,
            route,
            status,
            extra={
                "request_id": request_id,
                "route": route,
                "method": method,
                "status": status,
                "duration_ms": duration,
            },
        )

    return add_request_id
