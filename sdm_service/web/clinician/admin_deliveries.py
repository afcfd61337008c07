"""Administrator page for deliveries into the EHR: what is pending, delivered or failed (with the
EHR's reason), and "retry now" for a failed or dead-lettered one. `sdm deliveries list|retry` does
the same from the shell. Mounted under /clinician/admin, behind the administrator guard.
(Registered with the clinician workspace routes in web/clinician/__init__.py.)
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from litestar import get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.audit import listed
from sdm_service.delivery import outbox
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.models import DeliveryStatus
from sdm_service.web import auth
from sdm_service.web.clinician.common import ClinicianCall, admin_pages_router

PATH = "/clinician/admin/deliveries"


@get("/", name="clinician:admin-deliveries", include_in_schema=False)
async def deliveries_view(call: NamedDependency[ClinicianCall]) -> Template:
    rows = await outbox.list_deliveries(call.db_session)
    await call.audit(
        "deliveries.list", entity_type="response", detail=listed(row.response_id for row in rows)
    )
    return call.page(
        "clinician/admin_deliveries.html",
        {
            "deliveries": rows,
            "ehr": call.settings.ehr_fhir_base_url,
            "retryable": outbox.RETRYABLE_BY_HAND,
            "retried": call.query("retried")[:40],
            "statuses": DeliveryStatus,
        },
    )


@post("/{delivery_id:uuid}/retry", include_in_schema=False, status_code=303)
async def retry_delivery(
    call: NamedDependency[ClinicianCall],
    delivery_queue: NamedDependency[DeliveryQueue | None],
    delivery_id: FromPath[uuid.UUID],
) -> Redirect:
    try:
        row = await outbox.retry_now(call.db_session, delivery_id, auth.actor_for(call.current_user), call.ip)
    except outbox.DeliveryNotFound:
        raise NotFoundException("No delivery has this id.") from None
    except outbox.DeliveryNotRetryable:
        return Redirect(PATH, status_code=303)  # delivered or under way meanwhile: nothing to do
    queue, row_id = delivery_queue, row.id

    async def enqueue() -> None:  # after the commit; if this is lost, the worker's sweep takes it up
        if queue is not None:
            await anyio.to_thread.run_sync(queue.enqueue, row_id)

    return Redirect(f"{PATH}?retried={row_id}", status_code=303, background=BackgroundTask(enqueue))


routes: list[Any] = [admin_pages_router(PATH, [deliveries_view, retry_delivery])]
