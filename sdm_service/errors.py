"""The one place that decides what an exception means for an HTTP answer.

Services and infrastructure raise domain exceptions (a rate limit reached, the counter store down)
and never HTTP errors; the database layer raises SQLAlchemy or driver errors. This module turns
them into an HTTP status (``http_exception_for``), tells a real database outage from any other
failure (``is_database_outage``), and builds the exception-handler table each answer format uses
(``exception_handlers``): HTML pages and problem JSON (web/errors.py), OperationOutcome (api/fhir).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from sdm_service.ratelimit import RateLimited, RateLimitStoreUnavailable

# Seconds a client is told to wait (Retry-After) when the database is unreachable or every pooled
# connection stayed busy for the whole pool timeout (overload): the same in every answer format.
DATABASE_RETRY_AFTER_SECONDS = 30
BODY_TOO_DEEP = "The body is nested too deeply to read; send the flat structure the schema describes."

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]

# Modules whose code talks to the database: an OSError raised from inside them (connection refused,
# reset, a name that does not resolve) means the database cannot be reached.
DATABASE_MODULES = (
    "sqlalchemy.",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "sdm_service.sqlite_driver",
    "sdm_service.db",
)


def http_exception_for(exc: Exception) -> HTTPException | None:
    """The HTTP meaning of a domain exception, or None when it has none."""
    if isinstance(exc, RateLimited):
        return HTTPException(
            status_code=429, detail=exc.detail, headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, RateLimitStoreUnavailable):
        return HTTPException(status_code=503, detail=exc.detail)
    if isinstance(exc, RecursionError):  # only a request body nested far too deep gets here
        return HTTPException(status_code=400, detail=BODY_TOO_DEEP)
    return None


def _raised_in_database_code(tb: types.TracebackType | None) -> bool:
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


def is_database_outage(exc: BaseException) -> bool:
    """SQLAlchemy's connection-level errors, and OS-level connection errors raised while talking
    to the database. Any other OSError (a file, a socket elsewhere) is an ordinary failure."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, OSError):
        return _raised_in_database_code(exc.__traceback__)
    return False


def exception_handlers(
    *, http: Handler, database: Handler, unexpected: Handler
) -> dict[type[Exception] | int, Handler]:
    """The handler table for one answer format: HTTP errors, domain exceptions (as their HTTP
    meaning), database outages (503) and everything else (500)."""

    def anything_else(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        meaning = http_exception_for(exc)
        if meaning is not None:
            return http(request, meaning)
        if is_database_outage(exc):
            return database(request, exc)
        return unexpected(request, exc)

    return {
        HTTPException: http,
        OperationalError: database,
        PoolTimeoutError: database,
        InterfaceError: database,
        Exception: anything_else,
    }
