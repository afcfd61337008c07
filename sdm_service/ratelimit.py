"""Rate limiting shared by every worker process: hits are counted in the database (default) or in
Redis (``SDM_RATE_LIMIT_STORE=redis``), never only in one process's memory.

``create_app`` builds the app's one store (``store_from_settings``): handlers get it as the
``rate_limits`` dependency, middleware from the app state; the module functions take it. Database hits
(one upsert each in rate_counters) are written apart from the request's unit of work, each statement
committing by itself on the app's autocommit engine: a rejected request rolls its own unit of work
back, but the attempt must still count."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import TextClause, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sdm_service.models import RateCounter, utcnow
from sdm_service.observability import counters

if TYPE_CHECKING:
    from sdm_service.settings import Settings

logger = logging.getLogger("sdm_service.ratelimit")
PURGE_ONE_IN = 200
SLOTS_PER_WINDOW = 60


@dataclass(frozen=True)
class Limit:
    bucket: str  # e.g. "signin-user", "signin-ip", "resume", "invite-link", "api"
    max_hits: int
    window_seconds: int


class RateLimited(Exception):
    """Over a limit: the caller should wait `retry_after` seconds (answered as 429, see errors.py)."""

    def __init__(self, retry_after: int, detail: str = "Too many requests; try again later.") -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.detail = detail


class RateLimitStoreUnavailable(Exception):
    """The shared counter store cannot be reached: refuse (503, errors.py) rather than stop counting."""

    detail = "The service cannot check request limits right now. Try again shortly."

    def __init__(self) -> None:
        super().__init__(self.detail)


def _key(raw: str) -> str:
    # Keys may hold usernames or addresses; store a digest, not the value.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _wait_seconds(oldest: datetime, since: datetime) -> int:
    # The oldest counted hit leaves the window at oldest + window; round up, and never say 0.
    return max(1, int((oldest - since).total_seconds()) + 1)


@runtime_checkable
class RateLimitStore(Protocol):
    async def retry_after(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> int | None: ...

    async def hit(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None: ...

    async def enforce(self, limit: Limit, raw_key: str) -> int | None:
        """Count this hit unless over the limit; the seconds to wait when over (not counted)."""
        ...

    async def enforce_many(self, checks: Sequence[tuple[Limit, str]]) -> int | None: ...

    async def take_back(self, limit: Limit, raw_key: str) -> None:
        """Uncount the key's latest hit in the window (an attempt counted, then not evaluated)."""
        ...

    async def clear(self, limit: Limit, raw_key: str) -> None: ...

    async def close(self) -> None: ...


class DatabaseStore:
    """Counts hits in the rate_counters table (SQLite 3.35+ and PostgreSQL, shared by workers).

    A window is cut into SLOTS_PER_WINDOW slots; a hit adds one to its slot's row with a single
    upsert, and a check sums the few slot rows that overlap the window. So a request costs the
    same at 1 or 10,000 hits in the window, and the Retry-After is exact to a slot (a second for
    a one-minute window). A slot counts while its start is inside the window, so its hits leave
    together, up to one slot early. Expired slots are purged 1 in PURGE_ONE_IN hits.
    """

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        """`writer`: the app's autocommit engine (db.create_autocommit_engine), so a hit is one
        statement that commits by itself; without one, hits commit in a transaction of `engine`."""
        self.engine = engine
        self._writer = writer or engine

    async def retry_after(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> int | None:
        at = (now or utcnow()).timestamp()
        async with self.engine.connect() as connection:
            slots = (await connection.execute(_slots_in_window(limit, _key(raw_key), at))).all()
        return _wait_for_slots(limit, [(int(start), int(hits)) for start, hits in slots], at)

    async def hit(self, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None:
        at = (now or utcnow()).timestamp()
        async with self._writer.begin() as connection:
            await connection.execute(_COUNT_HIT, _count_parameters(limit, _key(raw_key), at))
            await self._purge_now_and_then(connection, at)

    async def enforce(self, limit: Limit, raw_key: str) -> int | None:
        return await self.enforce_many([(limit, raw_key)])

    async def enforce_many(self, checks: Sequence[tuple[Limit, str]]) -> int | None:
        """Count each hit unless over its limit; the wait at the first that is (that hit and those
        after it are then taken back, so only allowed requests count). All hits are counted by one
        statement (it returns each key's hits in the window) that commits by itself: an API
        request's two counts cost one write. A take-back is a statement of its own, so another
        request may briefly see a count one too high, and be refused a moment early."""
        at = utcnow().timestamp()
        keyed = [(limit, _key(raw_key)) for limit, raw_key in checks]
        if not keyed:
            return None
        async with self._writer.begin() as connection:
            if len({limit.window_seconds for limit, _ in keyed}) > 1 or len(set(keyed)) < len(keyed):
                counts = [await _count_one(connection, limit, key, at) for limit, key in keyed]
            else:
                counts = await _count_all(connection, keyed, at)
            for index, ((limit, key), count) in enumerate(zip(keyed, counts, strict=True)):
                if count > limit.max_hits:
                    for later_limit, later_key in keyed[index:]:
                        await connection.execute(_UNCOUNT, _count_parameters(later_limit, later_key, at))
                    slots = (await connection.execute(_slots_in_window(limit, key, at))).all()
                    return _wait_for_slots(limit, [(int(start), int(hits)) for start, hits in slots], at) or 1
            await self._purge_now_and_then(connection, at)
        return None

    async def take_back(self, limit: Limit, raw_key: str) -> None:
        """One hit less in the newest slot of the window that has one (the hit may be a slot old)."""
        at = utcnow().timestamp()
        key = _key(raw_key)
        newest = (
            select(RATE_COUNTERS.c.slot_start)
            .where(
                RATE_COUNTERS.c.bucket == limit.bucket,
                RATE_COUNTERS.c.key == key,
                RATE_COUNTERS.c.slot_start > _window_start(at, limit),
                RATE_COUNTERS.c.hits > 0,
            )
            .order_by(RATE_COUNTERS.c.slot_start.desc())
            .limit(1)
            .scalar_subquery()
        )
        async with self._writer.begin() as connection:
            await connection.execute(
                update(RATE_COUNTERS)
                .where(
                    RATE_COUNTERS.c.bucket == limit.bucket,
                    RATE_COUNTERS.c.key == key,
                    RATE_COUNTERS.c.slot_start == newest,
                    RATE_COUNTERS.c.hits > 0,
                )
                .values(hits=RATE_COUNTERS.c.hits - 1)
            )

    async def clear(self, limit: Limit, raw_key: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(RATE_COUNTERS).where(
                    RATE_COUNTERS.c.bucket == limit.bucket, RATE_COUNTERS.c.key == _key(raw_key)
                )
            )

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""

    @staticmethod
    async def _purge_now_and_then(connection: AsyncConnection, at: float) -> None:
        # Forget slots that left every window, keys that never came back included, so the table
        # stays as small as the windows; not on every hit, to keep the hot path one statement.
        if secrets.randbelow(PURGE_ONE_IN) == 0:
            await connection.execute(delete(RATE_COUNTERS).where(RATE_COUNTERS.c.expires_at <= int(at)))


RATE_COUNTERS = RateCounter.__table__  # type: ignore[attr-defined]

# The hot path, as text: SQLAlchemy cannot cache the dialect-specific on_conflict_do_update(), so
# building it compiled the statement on every hit. The same SQL runs on SQLite 3.35+ and PostgreSQL.
_COUNT_HIT = text(
    "INSERT INTO rate_counters (bucket, key, slot_start, hits, expires_at)"
    " VALUES (:bucket, :key, :slot_start, 1, :expires_at)"
    " ON CONFLICT (bucket, key, slot_start) DO UPDATE SET hits = rate_counters.hits + 1"
)
# The same, also returning this slot's hits and those of the window's earlier slots: one statement.
_COUNT_HIT_RETURNING_WINDOW = text(
    "INSERT INTO rate_counters (bucket, key, slot_start, hits, expires_at)"
    " VALUES (:bucket, :key, :slot_start, 1, :expires_at)"
    " ON CONFLICT (bucket, key, slot_start) DO UPDATE SET hits = rate_counters.hits + 1"
    " RETURNING hits, (SELECT coalesce(sum(earlier.hits), 0) FROM rate_counters AS earlier"
    " WHERE earlier.bucket = :bucket AND earlier.key = :key"
    " AND earlier.slot_start > :window_start AND earlier.slot_start < :slot_start)"
)
# The same for several keys of one window in one statement, each row returning its slot's hits and
# those of the window's earlier slots (the keys are distinct, so no row is touched twice).
_COUNT_HITS_RETURNING_WINDOW = (
    "INSERT INTO rate_counters (bucket, key, slot_start, hits, expires_at) VALUES {rows}"
    " ON CONFLICT (bucket, key, slot_start) DO UPDATE SET hits = rate_counters.hits + 1"
    " RETURNING bucket, key, hits, (SELECT coalesce(sum(earlier.hits), 0) FROM rate_counters AS earlier"
    " WHERE earlier.bucket = rate_counters.bucket AND earlier.key = rate_counters.key"
    " AND earlier.slot_start > :window_start AND earlier.slot_start < rate_counters.slot_start)"
)
_UNCOUNT = text(
    "UPDATE rate_counters SET hits = hits - 1"
    " WHERE bucket = :bucket AND key = :key AND slot_start = :slot_start"
)


async def _count_all(connection: AsyncConnection, keyed: list[tuple[Limit, str]], at: float) -> list[int]:
    """Count one hit for each (limit, key) (one window, distinct keys): the window's hits of each."""
    parameters = {"window_start": _window_start(at, keyed[0][0])}
    for n, (limit, key) in enumerate(keyed):
        row = _count_parameters(limit, key, at)
        parameters.update({f"{name}{n}": row[name] for name in ("bucket", "key", "slot_start", "expires_at")})
    statement = _count_hits_statement(len(keyed))
    found = {(b, k): int(h) + int(e) for b, k, h, e in await connection.execute(statement, parameters)}
    return [found[(limit.bucket, key)] for limit, key in keyed]


@functools.lru_cache(maxsize=8)
def _count_hits_statement(keys: int) -> TextClause:
    """_COUNT_HITS_RETURNING_WINDOW for `keys` rows, built once per count (parsing the text again
    at every request cost more than the statement)."""
    rows = ", ".join(f"(:bucket{n}, :key{n}, :slot_start{n}, 1, :expires_at{n})" for n in range(keys))
    return text(_COUNT_HITS_RETURNING_WINDOW.format(rows=rows))


async def _count_one(connection: AsyncConnection, limit: Limit, key: str, at: float) -> int:
    this_slot, before = (
        await connection.execute(_COUNT_HIT_RETURNING_WINDOW, _count_parameters(limit, key, at))
    ).one()
    return int(this_slot) + int(before)


def _count_parameters(limit: Limit, key: str, at: float) -> dict[str, Any]:
    slot = _slot_start(limit, at)
    return {
        "bucket": limit.bucket,
        "key": key,
        "slot_start": slot,
        "expires_at": slot + limit.window_seconds,
        "window_start": _window_start(at, limit),
    }


def _slot_seconds(limit: Limit) -> int:
    return max(1, math.ceil(limit.window_seconds / SLOTS_PER_WINDOW))


def _slot_start(limit: Limit, at: float) -> int:
    size = _slot_seconds(limit)
    return int(at // size) * size


def _window_start(at: float, limit: Limit) -> int:
    """Slots that start after this are in the window (at - window, at]; slot starts are whole
    seconds, so the floor selects the same slots."""
    return math.floor(at - limit.window_seconds)


def _slots_in_window(limit: Limit, key: str, at: float) -> Any:
    return (
        select(RATE_COUNTERS.c.slot_start, RATE_COUNTERS.c.hits)
        .where(
            RATE_COUNTERS.c.bucket == limit.bucket,
            RATE_COUNTERS.c.key == key,
            RATE_COUNTERS.c.slot_start > _window_start(at, limit),
        )
        .order_by(RATE_COUNTERS.c.slot_start)
    )


def _wait_for_slots(limit: Limit, slots: list[tuple[int, int]], at: float) -> int | None:
    """None when the slots' hits are under the limit; else the seconds until enough of the oldest
    slots have left the window for one more hit (rounded up, never 0)."""
    over = sum(hits for _, hits in slots) - limit.max_hits + 1
    if over <= 0:
        return None
    for start, hits in slots:
        over -= hits
        if over <= 0:
            leaves_at = start + limit.window_seconds
            return max(1, math.ceil(leaves_at - at))
    return limit.window_seconds  # unreachable: the slots' own hits cover `over`


def store_from_settings(
    settings: Settings, engine: AsyncEngine, writer: AsyncEngine | None = None
) -> RateLimitStore:
    """The store the settings ask for; `engine` is the side pool (hits commit on their own),
    `writer` the autocommit engine (see DatabaseStore)."""
    if settings.rate_limit_store == "redis":
        from sdm_service.ratelimit_redis import RedisStore

        return RedisStore(settings.redis_url)
    return DatabaseStore(engine, writer)


async def retry_after(
    store: RateLimitStore, limit: Limit, raw_key: str, *, now: datetime | None = None
) -> int | None:
    """Seconds to wait if the key is over its limit, else None. Does not count a hit."""
    return await store.retry_after(limit, raw_key, now=now)


async def hit(store: RateLimitStore, limit: Limit, raw_key: str, *, now: datetime | None = None) -> None:
    """Count one hit."""
    await store.hit(limit, raw_key, now=now)


async def clear(store: RateLimitStore, limit: Limit, raw_key: str) -> None:
    """Forget a key's hits (e.g. after a successful sign-in)."""
    await store.clear(limit, raw_key)


async def take_back(store: RateLimitStore, limit: Limit, raw_key: str) -> None:
    """Uncount one hit enforce() counted, for an attempt that turned out not to count (refused by
    another limit, or one that only failures should count and that succeeded)."""
    await store.take_back(limit, raw_key)


async def admit(store: RateLimitStore, limit: Limit, raw_key: str) -> int | None:
    """Count this hit unless the key is over its limit, in one step (see the stores' enforce());
    the seconds to wait when it is over, the hit then not counted."""
    wait = await store.enforce(limit, raw_key)
    if wait is not None:
        counters.RATE_LIMIT_REFUSALS.labels(limit.bucket).inc()
    return wait


async def enforce(
    store: RateLimitStore, limit: Limit, raw_key: str, *, count: bool = True, detail: str | None = None
) -> None:
    """Raise RateLimited when over the limit; otherwise count this hit."""
    wait = await (store.enforce(limit, raw_key) if count else store.retry_after(limit, raw_key))
    if wait is not None:
        counters.RATE_LIMIT_REFUSALS.labels(limit.bucket).inc()
        raise RateLimited(wait, detail) if detail else RateLimited(wait)
