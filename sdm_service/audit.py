"""Append-only, tamper-evident audit log. Every clinician or API read of patient data, and every
security-relevant action, goes through record(). The app has no path that updates or deletes an
audit event; on PostgreSQL the application's role cannot either (migration 0006). Each event
carries a SHA-256 hash of its own fields and of the previous event's hash, so `sdm audit verify`
finds any event changed or removed afterwards (services/audit_query.verify_chain)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict, Unpack

from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state

from sdm_service.models import AuditEvent, utcnow

logger = logging.getLogger("sdm_service.audit")

GENESIS_HASH = "0" * 64  # the "previous hash" of the first event
# Pages that list patients record which responses they showed under this detail key, so the log
# answers "who saw this patient" for lists too (services/audit_query matches it by entity id).
LISTED_KEY = "response_ids"
LIST_VIEW_ACTIONS = ("worklist.view", "invitations.view")
# Repeated refusals of one key (a throttled sign-in, a rate-limited request) are counted, not each
# written: see record_refusal().
REFUSAL_WINDOW_SECONDS = 15 * 60
REFUSAL_BUCKET = "audit-refusals"  # its counters live in rate_counters beside the rate limits'
PURGE_ONE_IN = 200
# One chain per database: writers take this transaction-scoped PostgreSQL advisory lock (any
# constant bigint unique to this purpose) from reading the chain's tail until they commit.
CHAIN_LOCK_KEY = 0x5D0A0D17
SQLITE_DIGEST = "sdm_audit_event_digest"  # event_digest as an SQL function on SQLite connections


@dataclass(frozen=True)
class Actor:
    type: str  # clinician | api_client | patient | system | anonymous
    id: str = ""
    label: str = ""


SYSTEM = Actor("system", "", "sdm command line")


class AuditFields(Protocol):
    """What an event's hash covers: an AuditEvent, or a row read by the migration that hashes old rows."""

    occurred_at: datetime
    actor_type: str
    actor_id: str
    actor_label: str
    action: str
    entity_type: str
    entity_id: str
    ip: str
    detail: dict[str, Any]


def event_digest(fields: AuditFields, prev_hash: str) -> str:
    """SHA-256 over a canonical JSON form of the event's recorded fields and the previous hash.

    The id is left out (the database assigns it at insert); the chain itself orders events."""
    return _digest({**_document(fields), "prev_hash": prev_hash})


def _document(fields: AuditFields) -> dict[str, Any]:
    return _document_of({name: getattr(fields, name) for name in _HASHED_FIELDS})


def _document_of(values: Mapping[str, Any]) -> dict[str, Any]:
    occurred_at = values["occurred_at"]
    if occurred_at.tzinfo is None:  # stored as UTC everywhere; a naive value from a driver is UTC
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return {
        **{name: values[name] for name in _HASHED_FIELDS},
        "v": 1,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


# What an event's hash covers (AuditFields), spelled out: a field added here changes every hash,
# so it needs a new document version ("v") and a migration, not just a new attribute.
_HASHED_FIELDS = (
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "entity_type",
    "entity_id",
    "ip",
    "detail",
)


def _digest(document: dict[str, Any]) -> str:
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _sqlite_digest(document: str, prev_hash: str) -> str:
    """event_digest inside SQLite's INSERT: `document` is _document() as JSON, without the link."""
    return _digest({**json.loads(document), "prev_hash": prev_hash})


@event.listens_for(Engine, "connect")
def _register_sqlite_digest(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, AsyncAdapt_aiosqlite_connection | sqlite3.Connection):
        dbapi_connection.create_function(SQLITE_DIGEST, 2, _sqlite_digest, deterministic=True)


def listed(response_ids: Iterable[object]) -> dict[str, list[str]]:
    """The detail entry of a list view: the ids of the responses it showed, in order."""
    return {LISTED_KEY: [str(response_id) for response_id in response_ids]}


def _take_chain_lock(connection: Connection) -> None:
    """Hold the chain until this transaction ends, so two writers never link to the same tail."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    else:
        # SQLite has one writer: a write that changes nothing takes the write lock (and this process's
        # writer gate) before the tail is read, so no other writer can commit in between.
        connection.execute(text("UPDATE audit_events SET id = id WHERE 0 = 1"))


AUDIT_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]


def chain_tail(connection: Connection) -> str:
    last = connection.execute(
        text("SELECT event_hash FROM audit_events ORDER BY id DESC LIMIT 1")
    ).scalar_one_or_none()
    return str(last) if last else GENESIS_HASH


def _linked_in_insert(fields: AuditFields) -> tuple[Any, Any]:
    """SQLite, one event: (prev_hash, event_hash) as expressions its own INSERT evaluates, so the
    INSERT reads the chain's tail and hashes the link itself. The write lock is taken by the INSERT
    and held for one statement less than lock + read."""
    return _TAIL, getattr(func, SQLITE_DIGEST)(_as_json(_document(fields)), _TAIL)


def _as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, allow_nan=False)


_TAIL = func.coalesce(
    select(AUDIT_EVENTS.c.event_hash).order_by(AUDIT_EVENTS.c.id.desc()).limit(1).scalar_subquery(),
    GENESIS_HASH,
)
# _linked_in_insert as one statement built once, the event's fields and document bound at execution
# (SQLAlchemy then compiles it once, not at every read).
_INSERT_LINKED = AUDIT_EVENTS.insert().values(
    prev_hash=_TAIL, event_hash=getattr(func, SQLITE_DIGEST)(bindparam("document"), _TAIL)
)


@event.listens_for(Session, "before_flush")
def _chain_new_events(session: Session, _context: Any, _instances: Any) -> None:
    """Link the events about to be inserted to the chain's tail, in the order they were added."""
    pending = [obj for obj in session.new if isinstance(obj, AuditEvent) and not obj.event_hash]
    if not pending:
        return
    pending.sort(key=lambda obj: instance_state(obj).insert_order or 0)
    connection = session.connection()
    if len(pending) == 1 and connection.dialect.name == "sqlite":
        [audit_event] = pending
        audit_event.prev_hash, audit_event.event_hash = _linked_in_insert(audit_event)
        return
    _take_chain_lock(connection)
    previous = chain_tail(connection)
    for audit_event in pending:
        audit_event.prev_hash = previous
        audit_event.event_hash = previous = event_digest(audit_event, previous)


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    entity_type: str = "",
    entity_id: str = "",
    ip: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an event to the request's unit of work: it commits (or not) with what it describes.
    It is written (and chained) when the unit of work flushes, at commit, so neither SQLite's write
    lock nor the chain is held while the rest of the request runs."""
    values = _new_event(actor, action, entity_type=entity_type, entity_id=entity_id, ip=ip, detail=detail)
    session.add(AuditEvent(**values))
    _log(values)


async def record_read(
    session: AsyncSession,
    autocommit_engine: AsyncEngine,
    actor: Actor,
    action: str,
    **fields: Unpack[EventFields],
) -> None:
    """Put one read on the record, committed before anything is sent.

    On SQLite `session` is committed first (a document stored at its first read), then the event
    is one INSERT on an autocommit connection that links itself to the chain and commits itself:
    SQLite's single writer is held for that statement only, not across the turns of a busy event
    loop between INSERT and COMMIT. If that INSERT fails, the request fails and sends nothing. On
    PostgreSQL the event joins the session's unit of work, committed now."""
    if autocommit_engine.dialect.name != "sqlite":
        await record(session, actor, action, **fields)
        await session.commit()
        return
    # The session's own writes first (a document stored at its first read): their transaction
    # holds SQLite's write lock, which the INSERT on another connection would wait for in vain.
    await session.commit()
    values = _new_event(actor, action, **fields)
    async with autocommit_engine.begin() as connection:
        await connection.execute(_INSERT_LINKED, {**values, "document": _as_json(_document_of(values))})
    _log(values)


def _new_event(actor: Actor, action: str, **fields: Unpack[EventFields]) -> dict[str, Any]:
    """A new event's recorded fields (AuditFields), before it is an ORM object or a row."""
    return {
        "occurred_at": utcnow(),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label[:200],
        "action": action,
        "entity_type": fields.get("entity_type", ""),
        "entity_id": fields.get("entity_id", ""),
        "ip": fields.get("ip", "")[:64],
        "detail": fields.get("detail") or {},
    }


def _log(values: Mapping[str, Any]) -> None:
    logger.info(
        "audit %s %s:%s %s %s",
        values["action"],
        values["actor_type"],
        values["actor_id"],
        values["entity_type"],
        values["entity_id"],
    )


async def record_patient_event(
    session: AsyncSession, response_id: uuid.UUID, action: str, *, ip: str
) -> None:
    """What a patient did with their own response (the patient is known only by that response)."""
    await record(
        session,
        Actor("patient", str(response_id)),
        action,
        entity_type="response",
        entity_id=str(response_id),
        ip=ip,
    )


class EventFields(TypedDict, total=False):
    """The optional fields of an event, as record() takes them."""

    entity_type: str
    entity_id: str
    ip: str
    detail: dict[str, Any] | None


async def record_now(engine: AsyncEngine, actor: Actor, action: str, **fields: Unpack[EventFields]) -> None:
    """Commit an event on its own, for outcomes whose request is answered with an error and rolled
    back (a failed sign-in, a denied request) but must still be on the record."""
    async with AsyncSession(engine) as session:
        await record(session, actor, action, **fields)
        await session.commit()


# Counts one refusal of a key and returns the count in the key's window and when the window ends.
# The window opens at the key's first refusal (or the first after the last window ended), so a
# burst is never split by a clock boundary. Same SQL on SQLite (3.35+) and PostgreSQL; the row
# lock (PostgreSQL) or the single writer (SQLite) gives every concurrent refusal its own count.
_COUNT_REFUSAL = text(
    "INSERT INTO rate_counters (bucket, key, slot_start, hits, expires_at)"
    " VALUES (:bucket, :key, 0, 1, :ends_at)"
    " ON CONFLICT (bucket, key, slot_start) DO UPDATE SET"
    " hits = CASE WHEN rate_counters.expires_at <= :now THEN 1 ELSE rate_counters.hits + 1 END,"
    " expires_at = CASE WHEN rate_counters.expires_at <= :now THEN excluded.expires_at"
    " ELSE rate_counters.expires_at END"
    " RETURNING hits, expires_at"
)
_PURGE_REFUSALS = text("DELETE FROM rate_counters WHERE bucket = :bucket AND expires_at <= :now")


def is_milestone(count: int) -> bool:
    """1, 10, 100, 1000...: the refusals of a window that are written to the log."""
    digits = str(count)
    return count > 0 and digits[0] == "1" and set(digits[1:]) <= {"0"}


async def record_refusal(
    engine: AsyncEngine,
    actor: Actor,
    action: str,
    *,
    key: str,
    window_seconds: int = REFUSAL_WINDOW_SECONDS,
    **fields: Unpack[EventFields],
) -> None:
    """Record a refusal that an attacker can repeat at will without flooding the log.

    Refusals are counted per action and key (e.g. the client address) in a window; the 1st, 10th,
    100th... of a window are written, each with the count so far, so a burst of n refusals writes
    1 + log10(n) events instead of n. (Events are append-only and hash-chained, so a count cannot
    be updated in place.)"""
    now = int(utcnow().timestamp())
    digest = hashlib.sha256(f"{action}\n{key}".encode()).hexdigest()
    async with engine.begin() as connection:
        count, ends_at = (
            await connection.execute(
                _COUNT_REFUSAL,
                {"bucket": REFUSAL_BUCKET, "key": digest, "ends_at": now + window_seconds, "now": now},
            )
        ).one()
        if secrets.randbelow(PURGE_ONE_IN) == 0:
            await connection.execute(_PURGE_REFUSALS, {"bucket": REFUSAL_BUCKET, "now": now})
    if not is_milestone(int(count)):
        return
    window = {
        "refusals_in_window": int(count),
        "window_started_at": datetime.fromtimestamp(int(ends_at) - window_seconds, UTC).isoformat(),
        "window_seconds": window_seconds,
    }
    fields["detail"] = {**(fields.get("detail") or {}), **window}
    await record_now(engine, actor, action, **fields)
