"""Liveness and readiness, for container and Kubernetes probes.

`/health/live` answers as long as the process serves requests (restart me if not). `/health/ready`
runs every readiness check (route traffic to me only if they pass): create_app() builds the list,
and a part with its own dependency (a delivery queue) adds one ReadinessCheck to it. `/health`
(app.py) stays as it was, for existing load balancers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service import __version__
from sdm_service.content import ContentLibrary
from sdm_service.db import database_is_reachable
from sdm_service.paths import LIVE_PATH, READY_PATH

CHECK_TIMEOUT_SECONDS = 3.0  # a probe that hangs is as bad as one that fails


@dataclass(frozen=True)
class ReadinessCheck:
    name: str  # shown in the answer: "database", "content", "queue"
    check: Callable[[], Awaitable[bool]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def reachable() -> bool:
        return await database_is_reachable(engine)

    return ReadinessCheck("database", reachable)


def content_check(library: ContentLibrary) -> ReadinessCheck:
    async def loaded() -> bool:
        return bool(library.questionnaires())

    return ReadinessCheck("content", loaded)


def queue_check(pending_jobs: Callable[[], int]) -> ReadinessCheck:
    """The delivery queue's storage answers (Huey on SQLite or Redis; its client is blocking)."""

    async def answers() -> bool:
        await asyncio.to_thread(pending_jobs)
        return True

    return ReadinessCheck("queue", answers)


async def run_checks(checks: list[ReadinessCheck]) -> dict[str, str]:
    """Each check's result ("ok" or "failing"), run together, each within the timeout."""

    async def one(item: ReadinessCheck) -> str:
        try:
            passed = await asyncio.wait_for(item.check(), CHECK_TIMEOUT_SECONDS)
        except Exception:  # a check that raises or times out is failing, never a 500
            return "failing"
        return "ok" if passed else "failing"

    results = await asyncio.gather(*(one(item) for item in checks))
    return {item.name: result for item, result in zip(checks, results, strict=True)}


@get(LIVE_PATH, tags=["operations"], cache=False)
async def live() -> dict[str, str]:
    """The process is serving requests (a liveness probe): no dependency is checked."""
    return {"status": "ok", "version": __version__}


@get(READY_PATH, tags=["operations"], cache=False)
async def ready(readiness_checks: NamedDependency[list[ReadinessCheck]]) -> Response[dict[str, object]]:
    """Every dependency answers (a readiness probe): 200, or 503 naming what is failing."""
    results = await run_checks(readiness_checks)
    passing = all(result == "ok" for result in results.values())
    return Response(
        {"status": "ok" if passing else "unavailable", "checks": results},
        status_code=HTTP_200_OK if passing else HTTP_503_SERVICE_UNAVAILABLE,
    )


routes = [live, ready]
