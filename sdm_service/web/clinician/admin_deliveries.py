"""Administrator page for deliveries into the EHR: what is pending, delivered or failed (with the
EHR's reason), and "retry now" for a failed or dead-lettered one. `sdm deliveries list|retry` does
the same from the shell. Mounted under /clinician/admin, behind the administrator guard.
(Registered with the clinician workspace routes in web/clinician/__init__.py.)
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from litestar import Request, Router, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import listed
from sdm_service.delivery import outbox
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.middleware import request_ip
from sdm_service.models import DeliveryStatus, User
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.common import audit, page

PATH = "/clinician/admin/deliveries"


@get("/", name="clinician:admin-deliveries", include_in_schema=False)
async def deliveries_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    settings: NamedDependency[Settings],
) -> Template:
    rows = await outbox.list_deliveries(db_session)
    await audit(
        request,
        db_session,
        current_user,
        "deliveries.list",
        entity_type="response",
        detail=listed(row.response_id for row in rows),
    )
    return page(
        "clinician/admin_deliveries.html",
        current_user,
        {
            "deliveries": rows,
            "ehr": settings.ehr_fhir_base_url,
            "retryable": outbox.RETRYABLE_BY_HAND,
            "retried": request.query_params.get("retried", "")[:40],
            "statuses": DeliveryStatus,
        },
    )


@post("/{delivery_id:uuid}/retry", include_in_schema=False, status_code=303)
async def retry_delivery(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    delivery_queue: NamedDependency[DeliveryQueue | None],
    delivery_id: FromPath[uuid.UUID],
) -> Redirect:
    try:
        row = await outbox.retry_now(
            db_session, delivery_id, auth.actor_for(current_user), request_ip(request)
        )
    except outbox.DeliveryNotFound:
        raise NotFoundException("No delivery has this id.") from None
    except outbox.DeliveryNotRetryable:
        return Redirect(PATH, status_code=303)  # delivered or under way meanwhile: nothing to do
    queue, row_id = delivery_queue, row.id

    async def enqueue() -> None:  # after the commit; if this is lost, the worker's sweep takes it up
        if queue is not None:
            await anyio.to_thread.run_sync(queue.enqueue, row_id)

    return Redirect(f"{PATH}?retried={row_id}", status_code=303, background=BackgroundTask(enqueue))


routes: list[Any] = [
    Router(
        path=PATH,
        route_handlers=[deliveries_view, retry_delivery],
        guards=[auth.require_clinician, auth.require_admin],
        dependencies={"current_user": auth.current_user_dependency},
        exception_handlers=auth.exception_handlers,
    )
]
