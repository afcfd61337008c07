"""The deliveries outbox: written with the completion, claimed by one worker at a time, finished
with its outcome, listed and retried by clinicians and the shell. Every change is audited.

A job on the queue carries only a delivery id. Two jobs for one delivery (the sweep re-enqueued a
row whose job was still queued) are harmless: `claim` lets exactly one of them work at a time,
and the EHR's conditional create makes a repeated create find the first copy.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from sdm_service.audit import Actor, record
from sdm_service.delivery.policy import AttemptResult, backoff_seconds
from sdm_service.models import Delivery, DeliveryStatus, PatientResponse, utcnow
from sdm_service.observability import counters
from sdm_service.settings import Settings

WORKER = Actor("system", "delivery-worker", "delivery worker")
RETRYABLE_BY_HAND = (DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.PENDING)


class DeliveryNotFound(LookupError):
    pass


class DeliveryNotRetryable(ValueError):
    pass


@dataclass(frozen=True)
class Finished:
    status: str
    retry_in: float | None  # seconds until the next attempt, when one is due


async def record_pending(session: AsyncSession, settings: Settings, response: PatientResponse) -> bool:
    """In the completing transaction: queue the response's delivery (once; a second call is a no-op).
    Nothing is written when no EHR is configured."""
    if not settings.ehr_enabled:
        return False
    now = utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    row = {
        "id": uuid.uuid4(),
        "response_id": response.id,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "document_reference": "",
        "binary_reference": "",
        "response_reference": "",
        "created_at": now,
        "updated_at": now,
    }
    statement = insert(Delivery).on_conflict_do_nothing(index_elements=["response_id"])
    await session.execute(statement, [row])
    return True


async def pending_id(session: AsyncSession, response_id: uuid.UUID) -> uuid.UUID | None:
    statement = select(col(Delivery.id)).where(
        col(Delivery.response_id) == response_id, col(Delivery.status) == DeliveryStatus.PENDING
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def claim(engine: AsyncEngine, delivery_id: uuid.UUID, lease_seconds: float) -> Delivery | None:
    """Take the delivery for one attempt if it is due (or its last worker's lease ran out)."""
    now = utcnow()
    statement = (
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            or_(
                (col(Delivery.status) == DeliveryStatus.PENDING) & (col(Delivery.next_attempt_at) <= now),
                (col(Delivery.status) == DeliveryStatus.SENDING) & (col(Delivery.lease_until) < now),
            ),
        )
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=col(Delivery.attempts) + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    async with AsyncSession(engine, expire_on_commit=False) as session:
        result = await session.execute(statement)
        await session.commit()
        if getattr(result, "rowcount", 0) != 1:
            return None
        return await session.get(Delivery, delivery_id)


async def save_references(engine: AsyncEngine, delivery_id: uuid.UUID, **references: str) -> None:
    """Keep what the EHR created so far (a Binary made first is reused by the next attempt)."""
    async with AsyncSession(engine) as session:
        await session.execute(
            update(Delivery).where(col(Delivery.id) == delivery_id).values(**references, updated_at=utcnow())
        )
        await session.commit()


async def finish(
    engine: AsyncEngine, delivery: Delivery, result: AttemptResult, settings: Settings, rng: random.Random
) -> Finished:
    """Record an attempt's outcome, audited in the same transaction."""
    now = utcnow()
    values: dict[str, object] = {"lease_until": None, "updated_at": now, **result.references}
    retry_in = None
    if result.verdict == "delivered":
        values.update(status=DeliveryStatus.DELIVERED, delivered_at=now, last_error="", outcome=None)
        action = "delivery.delivered"
    elif result.verdict == "retry" and delivery.attempts < settings.delivery_max_attempts:
        retry_in = backoff_seconds(
            delivery.attempts,
            settings.delivery_backoff_seconds,
            settings.delivery_backoff_max_seconds,
            result.retry_after,
            rng,
        )
        values.update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=retry_in),
            last_error=result.reason,
            outcome=result.outcome,
        )
        action = "delivery.retry_scheduled"
    else:
        dead = result.verdict == "retry"  # retryable, but that was the last allowed attempt
        values.update(
            status=DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED,
            last_error=result.reason,
            outcome=result.outcome,
        )
        action = "delivery.dead_lettered" if dead else "delivery.failed"
    async with AsyncSession(engine) as session:
        await session.execute(update(Delivery).where(col(Delivery.id) == delivery.id).values(**values))
        await record(
            session,
            WORKER,
            action,
            entity_type="response",
            entity_id=str(delivery.response_id),
            detail={
                "delivery": str(delivery.id),
                "attempt": delivery.attempts,
                **({"reason": result.reason} if result.reason else {}),
                **result.references,
            },
        )
        await session.commit()
    # Counted in the worker's process: /metrics shows it when the worker shares the app's
    # PROMETHEUS_MULTIPROC_DIR (as with `sdm run --with-worker`).
    counters.DELIVERIES.labels(action.removeprefix("delivery.")).inc()
    return Finished(str(values["status"]), retry_in)


async def due(
    engine: AsyncEngine, *, within_seconds: float, limit: int = 1000
) -> list[tuple[uuid.UUID, datetime]]:
    """Open deliveries (and when each may next be claimed) due within `within_seconds`: for the
    sweep, which re-enqueues them in case their job was lost (a crash between commit and enqueue,
    a worker killed mid-attempt, a queue emptied by hand)."""
    horizon = utcnow() + timedelta(seconds=within_seconds)
    statement = (
        select(
            col(Delivery.id), col(Delivery.status), col(Delivery.next_attempt_at), col(Delivery.lease_until)
        )
        .where(
            or_(
                (col(Delivery.status) == DeliveryStatus.PENDING) & (col(Delivery.next_attempt_at) <= horizon),
                (col(Delivery.status) == DeliveryStatus.SENDING) & (col(Delivery.lease_until) <= horizon),
            )
        )
        .order_by(col(Delivery.next_attempt_at))
        .limit(limit)
    )
    async with AsyncSession(engine) as session:
        rows = (await session.execute(statement)).all()
    return [
        (row.id, row.lease_until if row.status == DeliveryStatus.SENDING else row.next_attempt_at)
        for row in rows
    ]


async def list_deliveries(
    session: AsyncSession, *, status: str | None = None, limit: int = 200
) -> Sequence[Delivery]:
    statement = select(Delivery).order_by(col(Delivery.created_at).desc()).limit(limit)
    if status:
        statement = statement.where(col(Delivery.status) == status)
    return (await session.execute(statement)).scalars().all()


async def retry_now(session: AsyncSession, delivery_id: uuid.UUID, actor: Actor, ip: str = "") -> Delivery:
    """A failed or dead-lettered delivery gets a fresh set of attempts, starting now (audited)."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"There is no delivery {delivery_id}.")
    if delivery.status not in RETRYABLE_BY_HAND:
        raise DeliveryNotRetryable(
            f"Delivery {delivery_id} is {delivery.status}; only failed ones are retried."
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = delivery.updated_at = utcnow()
    session.add(delivery)
    await session.flush()
    await record(
        session,
        actor,
        "delivery.retry_requested",
        entity_type="response",
        entity_id=str(delivery.response_id),
        ip=ip,
        detail={"delivery": str(delivery.id), "last_error": delivery.last_error},
    )
    return delivery
