"""The audit log for a SIEM: filtered, paged reads of audit events with the identifier of the
patient each one is about, ready for fhirmap.audit_event. Read-only, like audit_query."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.fhirmap.audit_event import PatientIdentifier
from sdm_service.models import AuditEvent, PatientResponse

EXPORT_BATCH = 500


@dataclass(frozen=True)
class AuditEventFilter:
    bounds: tuple[tuple[str, datetime], ...] = ()  # ("ge" | "lt", instant), all must hold
    patient_system: str | None = None
    patient_value: str | None = None
    agent: str = ""  # the actor's id or label (a username, an API client's name)
    before_id: int | None = None  # paging: events older than this one (newest first)
    after_id: int | None = None  # export: events newer than this one (oldest first)
    ids: tuple[int, ...] = field(default=())

    @property
    def by_patient(self) -> bool:
        return self.patient_system is not None or self.patient_value is not None


@dataclass(frozen=True)
class AuditEventPage:
    events: Sequence[tuple[AuditEvent, PatientIdentifier | None]]
    next_before_id: int | None  # the cursor of the next page, when there is one


async def _patient_response_ids(session: AsyncSession, where: AuditEventFilter) -> list[str]:
    conditions = []
    if where.patient_system is not None:
        conditions.append(col(PatientResponse.patient_system) == where.patient_system)
    if where.patient_value is not None:
        conditions.append(col(PatientResponse.patient_value) == where.patient_value)
    rows = await session.execute(select(col(PatientResponse.id)).where(*conditions))
    return [str(response_id) for response_id in rows.scalars()]


async def _conditions(session: AsyncSession, where: AuditEventFilter) -> list[ColumnElement[bool]] | None:
    """The SQL conditions, or None when the filter cannot match anything (an unknown patient)."""
    conditions: list[ColumnElement[bool]] = []
    for prefix, instant in where.bounds:
        column = col(AuditEvent.occurred_at)
        conditions.append(column >= instant if prefix == "ge" else column < instant)
    if where.agent:
        conditions.append(
            or_(col(AuditEvent.actor_id) == where.agent, col(AuditEvent.actor_label) == where.agent)
        )
    if where.by_patient:
        response_ids = await _patient_response_ids(session, where)
        if not response_ids:
            return None
        conditions.append(col(AuditEvent.entity_type) == "response")
        conditions.append(col(AuditEvent.entity_id).in_(response_ids))
    if where.before_id is not None:
        conditions.append(col(AuditEvent.id) < where.before_id)
    if where.after_id is not None:
        conditions.append(col(AuditEvent.id) > where.after_id)
    if where.ids:
        conditions.append(col(AuditEvent.id).in_(where.ids))
    return conditions


async def patients_of(
    session: AsyncSession, events: Sequence[AuditEvent]
) -> dict[str, PatientIdentifier | None]:
    """The patient identifier of each response the events name (None for self-started responses)."""
    wanted = set()
    for event in events:
        if event.entity_type == "response" and event.entity_id:
            try:
                wanted.add(uuid.UUID(event.entity_id))
            except ValueError:
                continue
    if not wanted:
        return {}
    rows = await session.execute(
        select(
            col(PatientResponse.id), col(PatientResponse.patient_system), col(PatientResponse.patient_value)
        ).where(col(PatientResponse.id).in_(wanted))
    )
    return {
        str(response_id): PatientIdentifier(system or "", value) if value else None
        for response_id, system, value in rows.all()
    }


def _with_patients(
    events: Sequence[AuditEvent], patients: dict[str, PatientIdentifier | None]
) -> list[tuple[AuditEvent, PatientIdentifier | None]]:
    return [
        (event, patients.get(event.entity_id) if event.entity_type == "response" else None)
        for event in events
    ]


async def search_audit_events(
    session: AsyncSession, where: AuditEventFilter, *, count: int
) -> AuditEventPage:
    """Newest first, `count` at a time (ids order events: they are assigned in insertion order)."""
    conditions = await _conditions(session, where)
    if conditions is None or count == 0:
        return AuditEventPage(events=[], next_before_id=None)
    rows = (
        (
            await session.execute(
                select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id).desc()).limit(count + 1)
            )
        )
        .scalars()
        .all()
    )
    page = list(rows[:count])
    next_before = page[-1].id if len(rows) > count and page else None
    return AuditEventPage(
        events=_with_patients(page, await patients_of(session, page)), next_before_id=next_before
    )


async def export_audit_events(
    session: AsyncSession, where: AuditEventFilter
) -> AsyncIterator[tuple[AuditEvent, PatientIdentifier | None]]:
    """Every matching event, oldest first, read in batches so memory stays flat on a long log."""
    last_id = 0
    while True:
        batch_filter = AuditEventFilter(
            bounds=where.bounds,
            patient_system=where.patient_system,
            patient_value=where.patient_value,
            agent=where.agent,
            after_id=last_id,
        )
        conditions = await _conditions(session, batch_filter)
        if conditions is None:
            return
        batch = (
            (
                await session.execute(
                    select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id)).limit(EXPORT_BATCH)
                )
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        for pair in _with_patients(batch, await patients_of(session, batch)):
            yield pair
        last_id = batch[-1].id or last_id
        session.expunge_all()
