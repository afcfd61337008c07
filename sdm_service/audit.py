"""Append-only audit log. Every clinician or API read of patient data, and every security-relevant
action, goes through record(). The app has no path that updates or deletes an audit event."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.models import AuditEvent

logger = logging.getLogger("sdm_service.audit")


@dataclass(frozen=True)
class Actor:
    type: str  # clinician | api_client | patient | system | anonymous
    id: str = ""
    label: str = ""


SYSTEM = Actor("system", "", "sdm command line")


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
    It is written when the unit of work flushes, at commit, so SQLite's write lock is not held
    while the rest of the request runs."""
    session.add(
        AuditEvent(
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label[:200],
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            ip=ip[:64],
            detail=detail or {},
        )
    )
    logger.info("audit %s %s:%s %s %s", action, actor.type, actor.id, entity_type, entity_id)


async def record_now(
    engine: AsyncEngine,
    actor: Actor,
    action: str,
    *,
    entity_type: str = "",
    entity_id: str = "",
    ip: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Commit an event on its own, for outcomes whose request is answered with an error and rolled
    back (a failed sign-in, a denied request) but must still be on the record."""
    async with AsyncSession(engine) as session:
        await record(
            session, actor, action, entity_type=entity_type, entity_id=entity_id, ip=ip, detail=detail
        )
        await session.commit()
