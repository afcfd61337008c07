"""Database-backed rate limiting, so every worker process sees the same counts.

Hits are written in their own short transaction: a rejected request (a failed sign-in, a wrong
link) rolls its own unit of work back, but the attempt must still count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar.exceptions import HTTPException
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from sdm_service.models import RateEvent, utcnow


@dataclass(frozen=True)
class Limit:
    bucket: str  # e.g. "signin-user", "signin-ip", "resume", "invite-link", "api"
    max_hits: int
    window_seconds: int


class RateLimited(HTTPException):
    status_code = 429

    def __init__(self, retry_after: int, detail: str = "Too many requests; try again later.") -> None:
        super().__init__(detail=detail, status_code=429, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def _key(raw: str) -> str:
    # Keys may hold usernames or addresses; store a digest, not the value.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


async def retry_after(
    engine: AsyncEngine, limit: Limit, raw_key: str, *, now: datetime | None = None
) -> int | None:
    """Seconds to wait if the key is over its limit, else None. Does not count a hit."""
    now = now or utcnow()
    since = now - timedelta(seconds=limit.window_seconds)
    async with AsyncSession(engine) as session:
        count, oldest = (
            await session.execute(
                select(func.count(col(RateEvent.id)), func.min(col(RateEvent.at))).where(
                    col(RateEvent.bucket) == limit.bucket,
                    col(RateEvent.key) == _key(raw_key),
                    col(RateEvent.at) > since,
                )
            )
        ).one()
    if count < limit.max_hits or oldest is None:
        return None
    return max(1, int((oldest - since).total_seconds()) + 1)


async def hit(engine: AsyncEngine, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None:
    """Count one hit, and forget hits older than the window for this key."""
    now = now or utcnow()
    key = _key(raw_key)
    async with AsyncSession(engine) as session:
        await session.execute(
            delete(RateEvent).where(
                col(RateEvent.bucket) == limit.bucket,
                col(RateEvent.key) == key,
                col(RateEvent.at) <= now - timedelta(seconds=limit.window_seconds),
            )
        )
        session.add(RateEvent(bucket=limit.bucket, key=key, at=now))
        await session.commit()


async def clear(engine: AsyncEngine, limit: Limit, raw_key: str) -> None:
    """Forget a key's hits (e.g. after a successful sign-in)."""
    async with AsyncSession(engine) as session:
        await session.execute(
            delete(RateEvent).where(
                col(RateEvent.bucket) == limit.bucket, col(RateEvent.key) == _key(raw_key)
            )
        )
        await session.commit()


async def enforce(engine: AsyncEngine, limit: Limit, raw_key: str, *, count: bool = True) -> None:
    """Raise RateLimited (429 with Retry-After) when over the limit; otherwise count this hit."""
    wait = await retry_after(engine, limit, raw_key)
    if wait is not None:
        raise RateLimited(wait)
    if count:
        await hit(engine, limit, raw_key)
