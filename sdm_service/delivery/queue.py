"""The delivery job queue, on Huey: a SQLite file by default (one machine, nothing to install),
Redis (SDM_DELIVERY_QUEUE_URL=redis://...) when apps and workers on several machines share it.

Jobs carry only a delivery id; the outbox row is the durable record (outbox.py). Huey runs the
jobs, holds retries until their time (scheduled jobs), and runs the sweep every minute, which
re-enqueues any open delivery that is due and may have lost its job.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sdm_service.settings import Settings

if TYPE_CHECKING:
    from huey import Huey

logger = logging.getLogger("sdm_service.delivery")
QUEUE_NAME = "sdm-deliveries"
DEFAULT_QUEUE_FILE = "sdm-queue.db"
SWEEP_HORIZON_SECONDS = 60.0  # the sweep runs each minute: it takes up what falls due before the next
T = TypeVar("T")


def queue_file(settings: Settings) -> Path:
    """The embedded queue's SQLite file: SDM_DELIVERY_QUEUE_URL=sqlite:///FILE, else beside a SQLite
    database (var/sdm-queue.db for the default), else var/ under the working directory."""
    if settings.delivery_queue_url.startswith("sqlite:///"):
        return Path(settings.delivery_queue_url.removeprefix("sqlite:///"))
    if settings.is_sqlite:
        database = Path(settings.database_url.split(":///", 1)[1])
        return database.with_name(DEFAULT_QUEUE_FILE)
    return Path("var") / DEFAULT_QUEUE_FILE


def build_huey(settings: Settings) -> Huey:
    # Imported here: a service without an EHR never builds a queue, and Huey (with redis-py) is
    # several MB of every worker's memory (bench: peak RSS).
    from huey import RedisHuey, SqliteHuey

    if settings.delivery_queue_url.startswith(("redis://", "rediss://")):
        return RedisHuey(QUEUE_NAME, url=settings.delivery_queue_url, results=False)
    path = queue_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(path), results=False)


class _WorkerState(threading.local):
    """Per worker thread: its own event loop, database engine and EHR client (whose token is
    cached across the jobs that thread runs)."""

    loop: asyncio.AbstractEventLoop | None = None
    runtime: Any = None


class DeliveryQueue:
    """Enqueue side (the app) and job side (the worker) of the delivery queue."""

    def __init__(self, settings: Settings, huey: Huey | None = None) -> None:
        self.settings = settings
        self.huey = huey or build_huey(settings)
        self._state = _WorkerState()
        self._rng = random.Random()  # noqa: S311 - retry jitter, not a secret
        self._deliver = self.huey.task(name="sdm.deliver")(self._run_delivery)
        from huey import crontab

        self._sweep = self.huey.periodic_task(crontab(minute="*"), name="sdm.sweep")(self.sweep)

    # -- enqueue side -------------------------------------------------------------------------
    def enqueue(self, delivery_id: uuid.UUID, delay: float = 0.0) -> None:
        if delay > 0:
            self._deliver.schedule(args=(str(delivery_id),), delay=delay)
        else:
            self._deliver(str(delivery_id))

    def pending_jobs(self) -> int:
        return int(self.huey.pending_count() + self.huey.scheduled_count())

    # -- job side -----------------------------------------------------------------------------
    def _run(self, work: Awaitable[T]) -> T:
        if self._state.loop is None:
            self._state.loop = asyncio.new_event_loop()
        return self._state.loop.run_until_complete(work)

    def _runtime(self) -> Any:
        if self._state.runtime is None:
            from sdm_service.delivery.runtime import WorkerRuntime

            self._state.runtime = self._run(WorkerRuntime.start(self.settings))
        return self._state.runtime

    def _run_delivery(self, delivery_id: str) -> None:
        from sdm_service.delivery.attempt import attempt

        runtime = self._runtime()
        finished = self._run(
            attempt(
                runtime.engine,
                runtime.ehr,
                self.settings,
                runtime.library,
                uuid.UUID(delivery_id),
                self._rng,
            )
        )
        if finished is not None and finished.retry_in is not None:
            self.enqueue(uuid.UUID(delivery_id), delay=finished.retry_in)

    def sweep(self) -> int:
        """Enqueue every open delivery due before the next sweep; returns how many."""
        from sdm_service.delivery.outbox import due
        from sdm_service.models import utcnow

        runtime = self._runtime()
        rows = self._run(due(runtime.engine, within_seconds=SWEEP_HORIZON_SECONDS))
        now = utcnow()
        for delivery_id, when in rows:
            self.enqueue(delivery_id, delay=max(0.0, (when - now).total_seconds()) if when else 0.0)
        if rows:
            logger.info("sweep: %d open deliveries enqueued", len(rows))
        return len(rows)

    def close(self) -> None:
        if self._state.runtime is not None and self._state.loop is not None:
            self._state.loop.run_until_complete(self._state.runtime.close())
            self._state.loop.close()
            self._state.loop = None
            self._state.runtime = None

    def run_worker(self, workers: int = 1) -> None:
        """Run the Huey consumer until SIGINT/SIGTERM, after one sweep (deliveries whose job was
        lost while no worker ran are taken up at once)."""
        self.sweep()
        consumer = self.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=True, max_delay=1.0, check_worker_health=True
        )
        consumer.run()
