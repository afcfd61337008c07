"""FHIR DocumentReference and Binary: the stored summary PDF of a completed response.

Both serve the document of record (services/documents.py): Binary its exact bytes, and
DocumentReference their size and SHA-1 (attachment.size, attachment.hash), never a new rendering.
"""

from __future__ import annotations

from typing import Any

from litestar import Response as HttpResponse
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from sdm_service.api.fhir.common import (
    SEARCH_DEPENDENCY,
    FhirCall,
    audited_document,
    audited_read,
    fhir_base,
    read_options,
    searchset_response,
)
from sdm_service.api.fhir.errors import FhirPayload, fhir_response
from sdm_service.api.fhir.params import SearchRequest, wants_pdf
from sdm_service.fhirmap.document import binary
from sdm_service.models import PatientResponse
from sdm_service.services import documents


@get(
    "/DocumentReference",
    **read_options("system/DocumentReference.s"),
    dependencies=SEARCH_DEPENDENCY,
    summary="Search DocumentReference (PDF summaries)",
    description="One document per completed response; its attachment points at Binary/{id} and gives "
    "the size and SHA-1 of those stored bytes. Needs system/DocumentReference.s.",
)
async def search_document_references(
    call: NamedDependency[FhirCall], search: NamedDependency[SearchRequest]
) -> HttpResponse[FhirPayload]:
    async def to_resources(rows: list[PatientResponse]) -> list[FhirPayload]:
        facts = await documents.document_facts(call.db_session, rows)
        return [
            documents.summary_document_reference(row, facts[row.id], fhir_base(call.settings)) for row in rows
        ]

    return await searchset_response(
        call, search, "DocumentReference", to_resources, via="fhir-document-search"
    )


@get(
    "/DocumentReference/{resource_id:str}",
    summary="Read DocumentReference",
    description="Needs system/DocumentReference.r.",
    **read_options("system/DocumentReference.r"),
)
async def read_document_reference(
    call: NamedDependency[FhirCall], resource_id: FromPath[str]
) -> HttpResponse[FhirPayload]:
    row = await audited_read(call, "DocumentReference", resource_id, via="fhir-document")
    facts = await documents.document_facts(call.db_session, [row])
    return fhir_response(documents.summary_document_reference(row, facts[row.id], fhir_base(call.settings)))


@get(
    "/Binary/{resource_id:str}",
    **read_options("system/Binary.r"),
    summary="Read Binary (the PDF summary)",
    description="With `Accept: application/pdf` the raw PDF; otherwise a Binary resource with base64 "
    "data. Either way the bytes stored at completion. Needs system/Binary.r.",
)
async def read_binary(call: NamedDependency[FhirCall], resource_id: FromPath[str]) -> HttpResponse[Any]:
    response_id, pdf = await audited_document(call, resource_id, via="fhir-binary")
    request = call.request
    if wants_pdf(request.headers.get("accept", ""), request.query_params.get("_format")):
        return HttpResponse(pdf.content, media_type=documents.PDF_MEDIA_TYPE, headers=pdf.download_headers())
    return fhir_response(binary(str(response_id), pdf.content))


routes = [search_document_references, read_document_reference, read_binary]
