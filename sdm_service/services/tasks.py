"""SDC Tasks: the EHR asks for the questionnaire to be completed, and cancels when it must.

A Task is created with its invitation (and so its response) in one unit of work, whether the EHR
posts a FHIR Task or uses the JSON `POST /api/v1/invitations`. Its status then follows the response
(services/task_status.py); the only change a client makes is cancelling, which ends the patient's
link at once. Searches page like the response searches (keyset on updated_at, id; opaque cursor).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.audit import Actor, record
from sdm_service.content import Content
from sdm_service.content.fhir import questionnaire_url
from sdm_service.fhirmap.task import TaskRecord
from sdm_service.models import FhirTask, Invitation, PatientResponse, TaskStatus, utcnow
from sdm_service.services import patient_links
from sdm_service.services.invitations import InvitationFields, NewInvitation, create_invitation
from sdm_service.services.search import MAX_PAGE_SIZE, Cursor, as_utc, encode_cursor, filter_common
from sdm_service.settings import Settings


class TaskNotFound(LookupError):
    """No Task has this id."""


class TaskTransitionRefused(Exception):
    """The change asked for is not one this Task can make. `status_code`: 400 for a status a client
    may never set, 409 for a cancel that comes too late, 412 for a stale If-Match."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        super().__init__(message)


@dataclass(frozen=True)
class NewTask:
    task: FhirTask
    created: NewInvitation


async def create_task(
    session: AsyncSession,
    settings: Settings,
    content: Content,
    *,
    patient_value: str,
    owner: dict[str, Any] | None = None,
    requester: dict[str, Any] | None = None,
    client_id: uuid.UUID | None = None,
    client_name: str = "",
    **invitation: Unpack[InvitationFields],
) -> NewTask:
    """The invitation (InvitationError for bad input) and the Task asking for its completion."""
    created = await create_invitation(
        session, settings, content, patient_value=patient_value, created_by_client_id=client_id, **invitation
    )
    now = created.invitation.created_at
    task = FhirTask(
        response_id=created.response.id,
        invitation_id=created.invitation.id,
        status=TaskStatus.REQUESTED,
        questionnaire=f"{questionnaire_url(settings.base_url, content.questionnaire)}|{content.version}",
        owner=owner,
        requester=requester or ({"display": client_name} if client_name else None),
        created_by_client_id=client_id,
        authored_on=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    return NewTask(task=task, created=created)


_VIEW = (
    select(FhirTask, PatientResponse, Invitation)
    .join(PatientResponse, col(PatientResponse.id) == col(FhirTask.response_id))
    .join(Invitation, col(Invitation.id) == col(FhirTask.invitation_id))
)


def _record(
    task: FhirTask, response: PatientResponse, invitation: Invitation, link: str | None = None
) -> TaskRecord:
    return TaskRecord(
        id=str(task.id),
        status=task.status,
        questionnaire=task.questionnaire,
        response_id=str(task.response_id),
        patient_system=response.patient_system,
        patient_value=response.patient_value,
        patient_name=response.patient_name,
        authored_on=task.authored_on,
        updated_at=task.updated_at,
        version=task.version,
        link_expires_at=invitation.expires_at,
        owner=task.owner,
        requester=task.requester,
        patient_link=link,
    )


def created_record(new: NewTask) -> TaskRecord:
    """The new Task as the creator sees it: the only time the patient's link is shown."""
    return _record(new.task, new.created.response, new.created.invitation, new.created.url)


async def get_task(session: AsyncSession, task_id: uuid.UUID) -> TaskRecord:
    # populate_existing: a status UPDATE earlier in this unit of work bypassed the loaded objects.
    statement = _VIEW.where(col(FhirTask.id) == task_id).execution_options(populate_existing=True)
    row = (await session.execute(statement)).first()
    if row is None:
        raise TaskNotFound(str(task_id))
    return _record(*row)


@dataclass(frozen=True)
class TaskFilter:
    patient_system: str | None = None
    patient_value: str | None = None
    statuses: tuple[str, ...] | None = None  # an empty tuple matches nothing
    ids: tuple[uuid.UUID, ...] | None = None
    updated: tuple[tuple[str, datetime], ...] = field(default_factory=tuple)  # (ge|lt|..., instant)


def _filtered(statement: Select[Any], where: TaskFilter) -> Select[Any]:
    return filter_common(
        statement,
        where,
        status=col(FhirTask.status),
        id_=col(FhirTask.id),
        updated_at=col(FhirTask.updated_at),
    )


@dataclass(frozen=True)
class TaskPage:
    records: list[TaskRecord]
    next_cursor: str | None
    total: int


async def search_tasks(
    session: AsyncSession, where: TaskFilter, *, limit: int, after: Cursor | None = None
) -> TaskPage:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = _filtered(_VIEW, where)
    if after is not None:
        updated = col(FhirTask.updated_at)
        statement = statement.where(
            or_(updated > after.updated_at, and_(updated == after.updated_at, col(FhirTask.id) > after.id))
        )
    statement = statement.order_by(col(FhirTask.updated_at), col(FhirTask.id)).limit(limit + 1)
    records = [_record(*row) for row in (await session.execute(statement)).all()]
    next_cursor = None
    if len(records) > limit:
        records = records[:limit]
        last = records[-1]
        next_cursor = encode_cursor(Cursor(updated_at=as_utc(last.updated_at), id=uuid.UUID(last.id)))
    counting = _filtered(
        select(func.count())
        .select_from(FhirTask)
        .join(PatientResponse, col(PatientResponse.id) == col(FhirTask.response_id)),
        where,
    )
    total = (await session.execute(counting)).scalar_one()
    return TaskPage(records=records, next_cursor=next_cursor, total=total)


async def change_status(
    session: AsyncSession,
    task_id: uuid.UUID,
    wanted: str,
    actor: Actor,
    *,
    ip: str,
    expected_version: int | None = None,
) -> TaskRecord:
    """Apply a client's status change. Only `cancelled` is theirs to set: it ends the patient's
    link at once (the same as ending their access). Cancelling a cancelled Task changes nothing
    (the same version comes back)."""
    current = await get_task(session, task_id)
    if expected_version is not None and expected_version != current.version:
        raise TaskTransitionRefused(
            412, f"Task/{task_id} is at version {current.version}, not {expected_version}; read it again."
        )
    if wanted != TaskStatus.CANCELLED:
        raise TaskTransitionRefused(
            400,
            f"A client can only set status 'cancelled'; '{wanted}' follows from the patient's response.",
        )
    if wanted == current.status:
        return current
    now = utcnow()
    changed = await session.execute(
        update(FhirTask)
        .where(
            col(FhirTask.id) == task_id,
            col(FhirTask.status).in_(TaskStatus.OPEN),
            col(FhirTask.version) == current.version,
        )
        .values(status=TaskStatus.CANCELLED, updated_at=now, version=current.version + 1)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        latest = await get_task(session, task_id)
        raise TaskTransitionRefused(
            409, f"Task/{task_id} is {latest.status}; only a requested or in-progress Task can be cancelled."
        )
    response = await session.get(PatientResponse, uuid.UUID(current.response_id))
    if response is not None:
        await patient_links.end_access(session, response, actor, ip=ip, now=now)
    await record(
        session,
        actor,
        "api.task.update",
        entity_type="task",
        entity_id=current.id,
        ip=ip,
        detail={"status": TaskStatus.CANCELLED, "response_id": current.response_id},
    )
    return await get_task(session, task_id)
