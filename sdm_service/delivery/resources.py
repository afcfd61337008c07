"""Pure mapping: the service's own FHIR resources, reshaped to be created in the EHR's server.

Each created resource carries our identifier (system: our FHIR base and the resource type; value:
the response id), which is also the If-None-Exist condition: a retry finds the copy an earlier
attempt made and never files a second one in the chart.
"""

from __future__ import annotations

import base64
import copy
from typing import Any
from urllib.parse import urlencode

from sdm_service.fhirmap.document import PDF


def identifier(fhir_base: str, resource_type: str, response_id: str) -> dict[str, str]:
    return {"system": f"{fhir_base}/{resource_type}", "value": response_id}


def if_none_exist(ident: dict[str, str]) -> str:
    """The If-None-Exist header value: a search by our identifier (token system|value)."""
    return urlencode({"identifier": f"{ident['system']}|{ident['value']}"})


def _without_local_ids(resource: dict[str, Any]) -> dict[str, Any]:
    """The EHR assigns its own ids and versions; ours travel as the identifier."""
    out = copy.deepcopy(resource)
    out.pop("id", None)
    out.pop("meta", None)
    return out


def outbound_document(
    local: dict[str, Any],
    ident: dict[str, str],
    *,
    pdf: bytes | None,
    binary_reference: str | None,
    response_reference: str | None,
) -> dict[str, Any]:
    """The DocumentReference to create: the PDF inline (`pdf`) or by reference to the Binary created
    first (`binary_reference`, e.g. "Binary/123"), linked to the created QuestionnaireResponse if any."""
    out = _without_local_ids(local)
    out["identifier"] = [ident]
    attachment = out["content"][0]["attachment"]
    attachment.pop("url", None)
    if pdf is not None:
        attachment["data"] = base64.b64encode(pdf).decode("ascii")
    elif binary_reference:
        attachment["url"] = binary_reference
    out.pop("context", None)
    if response_reference:
        out["context"] = {"related": [{"reference": response_reference}]}
    return out


def outbound_binary(pdf: bytes) -> dict[str, Any]:
    return {"resourceType": "Binary", "contentType": PDF, "data": base64.b64encode(pdf).decode("ascii")}


def outbound_response(local: dict[str, Any], ident: dict[str, str]) -> dict[str, Any]:
    out = _without_local_ids(local)
    out["identifier"] = ident  # QuestionnaireResponse.identifier is a single Identifier in R4
    return out
