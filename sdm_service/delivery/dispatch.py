"""The app's side of a delivery: after the completing request has committed, hand its delivery to
the queue. If this is lost (a crash right after the commit, the queue unreachable), nothing is:
the outbox row is committed, and the worker's sweep enqueues it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import anyio
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.delivery import outbox
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.models import PatientResponse
from sdm_service.services import documents

logger = logging.getLogger("sdm_service.delivery")


def after_commit(
    session: AsyncSession, queue: DeliveryQueue | None, response_id: uuid.UUID
) -> Callable[[], Awaitable[None]]:
    engine = session.bind

    async def enqueue() -> None:
        if queue is None or not isinstance(engine, AsyncEngine):
            return  # no EHR configured: nothing was queued
        try:
            async with AsyncSession(engine) as own:
                delivery_id = await outbox.pending_id(own, response_id)
            if delivery_id is not None:
                await anyio.to_thread.run_sync(queue.enqueue, delivery_id)
        except Exception:
            logger.exception("delivery of response %s not enqueued; the sweep will", response_id)

    return enqueue


def completion_background(
    session: AsyncSession, queue: DeliveryQueue | None, response: PatientResponse
) -> BackgroundTasks:
    """What follows a completion once its request has committed: store the PDF, then enqueue."""
    return BackgroundTasks(
        [
            BackgroundTask(documents.after_completion(session, response)),
            BackgroundTask(after_commit(session, queue, response.id)),
        ]
    )
