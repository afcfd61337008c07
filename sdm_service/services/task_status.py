"""A Task follows the response it asked for: the patient's first save makes it in-progress, the
completion makes it completed, the end of the patient's access before that cancels it. Called
inside the transaction that changes the response, so a Task never says more (or less) than the
response it names.

Plain conditional UPDATEs: no read first, nothing for a response without a Task, and a cancelled or
completed Task is never moved again (a cancel racing a completion keeps whichever came first).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.models import FhirTask, TaskStatus, utcnow


async def _move(
    session: AsyncSession, response_id: uuid.UUID, from_statuses: tuple[str, ...], to: str, now: datetime
) -> None:
    await session.execute(
        update(FhirTask)
        .where(col(FhirTask.response_id) == response_id, col(FhirTask.status).in_(from_statuses))
        .values(status=to, updated_at=now, version=FhirTask.version + 1)
        .execution_options(synchronize_session=False)
    )


async def response_started(
    session: AsyncSession, response_id: uuid.UUID, *, now: datetime | None = None
) -> None:
    """The patient saved answers: a requested Task is now in progress."""
    await _move(session, response_id, (TaskStatus.REQUESTED,), TaskStatus.IN_PROGRESS, now or utcnow())


async def response_completed(
    session: AsyncSession, response_id: uuid.UUID, *, now: datetime | None = None
) -> None:
    """The response was completed: its open Task is completed (outputs follow from the response)."""
    await _move(session, response_id, TaskStatus.OPEN, TaskStatus.COMPLETED, now or utcnow())


async def access_ended(session: AsyncSession, response_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """The patient's link was ended (the EHR's cancel, end-access, or a clinician withdrawing the
    invitation) before they finished: the Task is cancelled. A completed Task stays completed."""
    await _move(session, response_id, TaskStatus.OPEN, TaskStatus.CANCELLED, now or utcnow())
