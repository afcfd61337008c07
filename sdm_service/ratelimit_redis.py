"""The Redis rate-limit store (``SDM_RATE_LIMIT_STORE=redis``); see ratelimit.py for the contract."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sdm_service.models import utcnow
from sdm_service.ratelimit import Limit, RateLimitStoreUnavailable, _key, _wait_seconds

logger = logging.getLogger("sdm_service.ratelimit")


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

    async def enforce(self, limit: Limit, raw_key: str) -> int | None:
        """Add the hit and count the window in one MULTI/EXEC, so concurrent requests of a key
        each see the others' hits; a hit over the limit is removed again (not counted)."""
        now = utcnow()
        key = self._redis_key(limit, raw_key)
        member = f"{now.timestamp()}:{uuid.uuid4().hex}"
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", (now - timedelta(seconds=limit.window_seconds)).timestamp())
        pipe.zadd(key, {member: now.timestamp()})
        pipe.zcard(key)
        pipe.expire(key, limit.window_seconds + 1)
        _, _, count, _ = await self._call(pipe.execute())
        if count <= limit.max_hits:
            return None
        await self._call(self.client.zrem(key, member))
        return await self.retry_after(limit, raw_key) or 1

    async def enforce_many(self, checks: Sequence[tuple[Limit, str]]) -> int | None:
        for limit, raw_key in checks:
            if (wait := await self.enforce(limit, raw_key)) is not None:
                return wait
        return None

    async def take_back(self, limit: Limit, raw_key: str) -> None:
        await self._call(self.client.zpopmax(self._redis_key(limit, raw_key)))

    async def clear(self, limit: Limit, raw_key: str) -> None:
        await self._call(self.client.delete(self._redis_key(limit, raw_key)))

    async def close(self) -> None:
        await self.client.aclose()
