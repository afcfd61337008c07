"""The replay store: a client assertion's jti is accepted once within the assertion's lifetime.

Shared by every worker, like the rate limits (ratelimit.py) and chosen by the same setting: the
smart_assertion_ids table (default), or Redis when SDM_RATE_LIMIT_STORE=redis. Keys are SHA-256 of
the client id and the jti, so a client cannot collide with another client's ids.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.ratelimit import RateLimitStoreUnavailable

if TYPE_CHECKING:
    from sdm_service.settings import Settings

logger = logging.getLogger("sdm_service.smart")
PURGE_ONE_IN = 200


def replay_key(client_id: str, jti: str) -> str:
    return hashlib.sha256(f"{client_id}\n{jti}".encode()).hexdigest()


@runtime_checkable
class ReplayStore(Protocol):
    async def first_use(self, key: str, *, expires_at: int, now: int) -> bool:
        """True the first time `key` is seen before it expires (and remember it until then)."""
        ...

    async def close(self) -> None: ...


# Inserted, or taken over when the remembered use has expired; no row back means a live earlier
# use. One statement, atomic on SQLite (one writer) and PostgreSQL (the primary key's row lock).
_FIRST_USE = text(
    "INSERT INTO smart_assertion_ids (key, expires_at) VALUES (:key, :expires_at)"
    " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at"
    " WHERE smart_assertion_ids.expires_at <= :now"
    " RETURNING key"
)
_PURGE = text("DELETE FROM smart_assertion_ids WHERE expires_at <= :now")


class DatabaseReplayStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def first_use(self, key: str, *, expires_at: int, now: int) -> bool:
        async with self.engine.begin() as connection:
            inserted = (
                await connection.execute(_FIRST_USE, {"key": key, "expires_at": expires_at, "now": now})
            ).first()
            if secrets.randbelow(PURGE_ONE_IN) == 0:
                await connection.execute(_PURGE, {"now": now})
        return inserted is not None

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""


class RedisReplayStore:
    def __init__(self, url: str, *, prefix: str = "sdm:jti:") -> None:
        import redis.asyncio as redis_asyncio

        self.client: Any = redis_asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix

    async def first_use(self, key: str, *, expires_at: int, now: int) -> bool:
        from redis.exceptions import RedisError

        try:
            # SET NX: only the first writer of the key succeeds; Redis forgets it when it expires.
            return bool(
                await self.client.set(self.prefix + key, b"1", nx=True, exat=max(expires_at, now + 1))
            )
        except (RedisError, OSError) as exc:
            logger.error("replay store (redis) unavailable: %s", exc)
            raise RateLimitStoreUnavailable from exc

    async def close(self) -> None:
        await self.client.aclose()


def replay_store_from_settings(settings: Settings, engine: AsyncEngine) -> ReplayStore:
    """Redis when the rate limits count there too; else the database (`engine`: the side pool)."""
    if settings.rate_limit_store == "redis":
        return RedisReplayStore(settings.redis_url)
    return DatabaseReplayStore(engine)
