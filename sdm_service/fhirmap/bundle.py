"""searchset Bundles: a page of matches, the total and the link to the next page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sdm_service.fhirmap.common import fhir_instant


def searchset(
    resources: Sequence[dict[str, Any]],
    *,
    base_url: str,
    total: int | None,
    self_url: str,
    next_url: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """base_url is the FHIR base (…/fhir); entries get fullUrl base/Type/id."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ],
    }
    if total is None:  # not counted (a log searched page by page)
        del bundle["total"]
    if timestamp is not None:
        bundle["timestamp"] = fhir_instant(timestamp)
    if not bundle["entry"]:
        del bundle["entry"]
    return bundle
