"""Rate limiting shared by every worker process: hits are counted in the database (default) or in
Redis (``SDM_RATE_LIMIT_STORE=redis``), never only in one process's memory.

The module functions (``retry_after``, ``hit``, ``clear``, ``enforce``) take the app's engine and use
whichever store ``create_app`` configured for it (``use_store``); without one they count in the
database. Database hits are written in their own short transaction: a rejected request (a failed
sign-in, a wrong link) rolls its own unit of work back, but the attempt must still count.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from litestar.exceptions import HTTPException
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from sdm_service.models import RateEvent, utcnow

if TYPE_CHECKING:
    from sdm_service.settings import Settings

logger = logging.getLogger("sdm_service.ratelimit")
PURGE_ONE_IN = 200


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


class RateLimitStoreUnavailable(HTTPException):
    """The shared counter store cannot be reached: refuse (503) rather than stop counting."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            detail="The service cannot check request limits right now. Try again shortly.", status_code=503
        )


def _key(raw: str) -> str:
    # Keys may hold usernames or addresses; store a digest, not the value.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _wait_seconds(oldest: datetime, since: datetime) -> int:
    # The oldest counted hit leaves the window at oldest + window; round up, and never say 0.
    return max(1, int((oldest - since).total_seconds()) + 1)


class RateLimitStore(Protocol):
    async def retry_after(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> int | None: ...

    async def hit(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None: ...

    async def clear(self, limit: Limit, raw_key: str) -> None: ...

    async def close(self) -> None: ...


class DatabaseStore:
    """Counts hits in the rate_events table (works on SQLite and PostgreSQL, across workers)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def retry_after(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> int | None:
        now = now or utcnow()
        since = now - timedelta(seconds=limit.window_seconds)
        async with AsyncSession(self.engine) as session:
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
        return _wait_seconds(oldest, since)

    async def hit(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None:
        now = now or utcnow()
        key = _key(raw_key)
        expired = now - timedelta(seconds=limit.window_seconds)
        async with AsyncSession(self.engine) as session:
            forget = delete(RateEvent).where(
                col(RateEvent.bucket) == limit.bucket, col(RateEvent.at) <= expired
            )
            # Now and then also forget keys that never came back (addresses, old tokens), so the
            # table stays as small as the windows; otherwise just this key's old hits.
            if secrets.randbelow(PURGE_ONE_IN) != 0:
                forget = forget.where(col(RateEvent.key) == key)
            await session.execute(forget)
            session.add(RateEvent(bucket=limit.bucket, key=key, at=now))
            await session.commit()

    async def clear(self, limit: Limit, raw_key: str) -> None:
        async with AsyncSession(self.engine) as session:
            await session.execute(
                delete(RateEvent).where(
                    col(RateEvent.bucket) == limit.bucket, col(RateEvent.key) == _key(raw_key)
                )
            )
            await session.commit()

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""


class RedisStore:
    """Counts hits in Redis: one sorted set per bucket and key, scored by the hit's time."""

    def __init__(self, url: str, *, prefix: str = "sdm:rate:") -> None:
        import redis.asyncio as redis_asyncio

        self.client: Any = redis_asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix

    def _redis_key(self, limit: Limit, raw_key: str) -> str:
        return f"{self.prefix}{limit.bucket}:{_key(raw_key)}"

    async def _call(self, operation: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await operation
        except (RedisError, OSError) as exc:
            logger.error("rate-limit store (redis) unavailable: %s", exc)
            raise RateLimitStoreUnavailable from exc

    async def retry_after(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> int | None:
        now = now or utcnow()
        since = now - timedelta(seconds=limit.window_seconds)
        key = self._redis_key(limit, raw_key)
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", since.timestamp())
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        _, count, oldest = await self._call(pipe.execute())
        if count < limit.max_hits or not oldest:
            return None
        oldest_at = datetime.fromtimestamp(oldest[0][1], tz=now.tzinfo)
        return _wait_seconds(oldest_at, since)

    async def hit(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None:
        now = now or utcnow()
        key = self._redis_key(limit, raw_key)
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", (now - timedelta(seconds=limit.window_seconds)).timestamp())
        pipe.zadd(key, {f"{now.timestamp()}:{uuid.uuid4().hex}": now.timestamp()})
        pipe.expire(key, limit.window_seconds + 1)
        await self._call(pipe.execute())

    async def clear(self, limit: Limit, raw_key: str) -> None:
        await self._call(self.client.delete(self._redis_key(limit, raw_key)))

    async def close(self) -> None:
        await self.client.aclose()


# The store each app's engine was configured with (create_app calls use_store).
_stores: weakref.WeakKeyDictionary[AsyncEngine, RateLimitStore] = weakref.WeakKeyDictionary()


def store_from_settings(settings: Settings, engine: AsyncEngine) -> RateLimitStore:
    if settings.rate_limit_store == "redis":
        return RedisStore(settings.redis_url)
    return DatabaseStore(engine)


def use_store(engine: AsyncEngine, store: RateLimitStore) -> None:
    _stores[engine] = store


def store_for(engine: AsyncEngine) -> RateLimitStore:
    return _stores.get(engine) or DatabaseStore(engine)


async def retry_after(
    engine: AsyncEngine, limit: Limit, raw_key: str, *, now: datetime | None = None
) -> int | None:
    """Seconds to wait if the key is over its limit, else None. Does not count a hit."""
    return await store_for(engine).retry_after(limit, raw_key, now=now)


async def hit(engine: AsyncEngine, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None:
    """Count one hit, and forget hits older than the window for this key."""
    await store_for(engine).hit(limit, raw_key, now=now)


async def clear(engine: AsyncEngine, limit: Limit, raw_key: str) -> None:
    """Forget a key's hits (e.g. after a successful sign-in)."""
    await store_for(engine).clear(limit, raw_key)


async def enforce(engine: AsyncEngine, limit: Limit, raw_key: str, *, count: bool = True) -> None:
    """Raise RateLimited (429 with Retry-After) when over the limit; otherwise count this hit."""
    wait = await retry_after(engine, limit, raw_key)
    if wait is not None:
        raise RateLimited(wait)
    if count:
        await hit(engine, limit, raw_key)
