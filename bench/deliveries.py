"""The write-back row: completed summaries delivered into the local FHIR server (the Node servers
of tests/ehr: Medplum's FHIR router and oidc-provider, started here) by one `sdm worker` on the
embedded queue. Deliveries per second, and p50/p95 from completion to "delivered".

The completions are prepared first (real service calls, PDFs stored, no EHR configured, so nothing
is queued), with the worker already running. Then all of them complete at once, as the completing
requests do after their commit: the outbox row, then the job. A completion's time is its outbox
row's `created_at`; "delivered" is the row's `delivered_at` (both written by the service).
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bench.rows import log
from sdm_service import migrate
from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.delivery import outbox
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.models import Delivery, DeliveryStatus, PatientResponse
from sdm_service.settings import Settings
from tests.api.conftest import completed_response
from tests.conftest import make_settings
from tests.ehr_servers import (
    CLIENT_ID,
    SCOPES,
    EhrNotStarted,
    node_missing_reason,
    running_ehr,
    write_key_files,
)

ROW = "EHR deliveries (burst)"
DEADLINE_SECONDS = 600.0
WARMUP = 4  # delivered before the burst: each worker thread's first job fetches a token


def _worker_environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SDM_ENV": "test",
        "SDM_DATABASE_URL": settings.database_url,
        "SDM_SECRET_KEY": settings.secret_key.get_secret_value(),
        "SDM_BASE_URL": settings.base_url,
        "SDM_LOG_LEVEL": "WARNING",
        "SDM_EHR_FHIR_BASE_URL": settings.ehr_fhir_base_url,
        "SDM_EHR_CLIENT_ID": settings.ehr_client_id,
        "SDM_EHR_PRIVATE_KEY_FILE": ",".join(str(path) for path in settings.ehr_private_key_file),
        "SDM_EHR_SCOPE": settings.ehr_scope,
        "SDM_DELIVERY_QUEUE_URL": settings.delivery_queue_url,
    }


async def _prepare(database_url: str, count: int) -> list[uuid.UUID]:
    """Completed responses with their PDFs stored, and no delivery yet (no EHR configured)."""
    settings = make_settings(database_url)
    app = create_app(settings)
    return [(await completed_response(app, settings, value=f"MRN-BENCH-{n}")).id for n in range(count)]


async def _burst(
    settings: Settings,
    queue: DeliveryQueue,
    ids: list[uuid.UUID],
    worker: subprocess.Popen[bytes],
    log_file: Path,
) -> list[Delivery]:
    """Complete `ids` at once, as each completing request does for write-back (the outbox row,
    committed, then the job), and wait until the worker has finished every delivery."""
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for response_id in ids:
                response = await session.get(PatientResponse, response_id)
                assert response is not None
                await outbox.record_pending(session, settings, response)
                await session.commit()
                delivery_id = await outbox.pending_id(session, response_id)
                if delivery_id is not None:  # else the worker's sweep has taken it up already
                    queue.enqueue(delivery_id)
        deadline = time.monotonic() + DEADLINE_SECONDS
        statement = select(Delivery).where(col(Delivery.response_id).in_(ids))
        while True:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                rows = (await session.execute(statement)).scalars().all()
            done = [row for row in rows if row.status not in DeliveryStatus.OPEN]
            if len(done) == len(ids):
                return done
            if worker.poll() is not None or time.monotonic() > deadline:
                tail = (await asyncio.to_thread(log_file.read_text))[-3000:]
                raise RuntimeError(f"{len(ids) - len(done)} deliveries unfinished; worker log:\n{tail}")
            await asyncio.sleep(0.2)  # polling interval
    finally:
        await engine.dispose()


def measure_deliveries(count: int, threads: int, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"row": ROW, "deliveries": count, "worker_threads": threads, "error": None}
    reason = node_missing_reason()
    if reason:
        result["error"] = f"the local FHIR server cannot start: {reason}"
        return result
    folder = workdir / "ehr"
    folder.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir / 'deliveries.db'}"
    migrate.upgrade(database_url, configure_logging=False)
    log(f"deliveries: preparing {count + WARMUP} completed responses")
    ids = asyncio.run(_prepare(database_url, count + WARMUP))
    key_files = write_key_files(folder)
    try:
        with running_ehr(key_files, folder) as ehr:
            settings = make_settings(
                database_url,
                ehr_fhir_base_url=ehr.fhir_base,
                ehr_client_id=CLIENT_ID,
                ehr_private_key_file=key_files,
                ehr_scope=SCOPES,
                delivery_queue_url=f"sqlite:///{workdir / 'queue.db'}",
            )
            log_file = workdir / "worker.log"
            with log_file.open("ab") as out:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "sdm_service.cli", "worker", "--workers", str(threads)],
                    env=_worker_environment(settings),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            queue = DeliveryQueue(settings)
            try:
                asyncio.run(_burst(settings, queue, ids[:WARMUP], worker, log_file))
                log(f"deliveries: {count} completions at once, {threads} worker thread(s)")
                done = asyncio.run(_burst(settings, queue, ids[WARMUP:], worker, log_file))
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    except EhrNotStarted as exc:
        result["error"] = str(exc)
        return result
    delivered = [row for row in done if row.status == DeliveryStatus.DELIVERED and row.delivered_at]
    # p95 by nearest rank over the delivered ones
    latencies = sorted((row.delivered_at - row.created_at).total_seconds() for row in delivered)  # type: ignore[operator]
    first = min(row.created_at for row in done)
    last = max(row.delivered_at for row in delivered)  # type: ignore[type-var]
    span = (last - first).total_seconds()  # type: ignore[operator]
    result.update(
        delivered=len(delivered),
        not_delivered=len(done) - len(delivered),
        per_second=round(len(delivered) / span, 2) if span > 0 else None,
        p50_s=round(statistics.median(latencies), 2) if latencies else None,
        p95_s=round(latencies[math.ceil(len(latencies) * 0.95) - 1], 2) if latencies else None,
    )
    return result
