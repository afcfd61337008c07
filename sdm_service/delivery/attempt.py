"""One delivery attempt: claim the outbox row, send the summary to the EHR, record the outcome."""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.content import ContentLibrary
from sdm_service.delivery import outbox
from sdm_service.delivery.client import AttemptStopped, EhrClient
from sdm_service.delivery.policy import AttemptResult
from sdm_service.delivery.resources import (
    identifier,
    if_none_exist,
    outbound_binary,
    outbound_document,
    outbound_response,
)
from sdm_service.models import Delivery, PatientResponse
from sdm_service.services import documents
from sdm_service.settings import Settings

logger = logging.getLogger("sdm_service.delivery")


def _fhir_base(settings: Settings) -> str:
    return f"{settings.base_url}/fhir"


async def _local_resources(
    engine: AsyncEngine, settings: Settings, library: ContentLibrary, response_id: uuid.UUID
) -> tuple[dict[str, Any], bytes, dict[str, Any] | None]:
    """Our DocumentReference, the stored PDF and (when asked for) our QuestionnaireResponse."""
    from sdm_service.api.fhir.responses import questionnaire_responses  # the one QR mapping

    async with AsyncSession(engine, expire_on_commit=False) as session:
        row = await session.get(PatientResponse, response_id)
        if row is None:  # pragma: no cover - the outbox row references it
            raise LookupError(f"response {response_id} is gone")
        pdf = await documents.summary_pdf(session, row)  # stores it first if completion did not
        local_document = documents.summary_document_reference(row, pdf.facts, _fhir_base(settings))
        local_response = None
        if settings.ehr_send_questionnaire_response:
            [local_response] = await questionnaire_responses([row], session, library, settings)
        await session.commit()
    return local_document, pdf.content, local_response


async def _send(
    ehr: EhrClient,
    engine: AsyncEngine,
    settings: Settings,
    library: ContentLibrary,
    delivery: Delivery,
) -> dict[str, str]:
    """Create what is missing in the EHR; the references of what it holds. Raises AttemptStopped."""
    local_document, pdf, local_response = await _local_resources(
        engine, settings, library, delivery.response_id
    )
    base, response_id = _fhir_base(settings), str(delivery.response_id)
    references: dict[str, str] = {}
    response_reference = delivery.response_reference or None
    if local_response is not None and not response_reference:
        ident = identifier(base, "QuestionnaireResponse", response_id)
        response_reference = await ehr.create(outbound_response(local_response, ident), if_none_exist(ident))
        references["response_reference"] = response_reference
        await outbox.save_references(engine, delivery.id, response_reference=response_reference)
    binary_reference = delivery.binary_reference or None
    if settings.ehr_attachment == "binary" and not binary_reference:
        # A Binary has no identifier to search by: its reference is kept so a retry reuses it.
        binary_reference = await ehr.create(outbound_binary(pdf), None)
        references["binary_reference"] = binary_reference
        await outbox.save_references(engine, delivery.id, binary_reference=binary_reference)
    ident = identifier(base, "DocumentReference", response_id)
    document = outbound_document(
        local_document,
        ident,
        pdf=pdf if settings.ehr_attachment == "inline" else None,
        binary_reference=binary_reference,
        response_reference=response_reference,
    )
    references["document_reference"] = await ehr.create(document, if_none_exist(ident))
    return references


async def attempt(
    engine: AsyncEngine,
    ehr: EhrClient,
    settings: Settings,
    library: ContentLibrary,
    delivery_id: uuid.UUID,
    rng: random.Random,
) -> outbox.Finished | None:
    """Run one attempt at `delivery_id`; None when another worker holds it or it is not due."""
    delivery = await outbox.claim(engine, delivery_id, settings.delivery_lease_seconds)
    if delivery is None:
        return None
    try:
        references = await _send(ehr, engine, settings, library, delivery)
        result = AttemptResult("delivered", references=references)
    except AttemptStopped as stopped:
        result = stopped.result
    except Exception as exc:  # our own fault (a bug, the database): retried, never silently dropped
        logger.exception("delivery %s failed unexpectedly", delivery_id)
        result = AttemptResult("retry", f"internal error: {type(exc).__name__}")
    finished = await outbox.finish(engine, delivery, result, settings, rng)
    logger.info(
        "delivery %s attempt %d: %s %s", delivery_id, delivery.attempts, finished.status, result.reason
    )
    return finished
