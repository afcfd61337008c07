"""Reading a FHIR request body: its content type, JSON, and a bound on nesting (create and patch)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from sdm_service.api.fhir.errors import FhirError

ACCEPTED_BODY_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
JSON_PATCH = "application/json-patch+json"

# Objects and arrays inside one another: the questionnaire's deepest answer needs far fewer. Deeper
# bodies are refused before validation, which recurses (and reported every level) on each of them.
MAX_BODY_NESTING = 32
TOO_DEEP = (
    f"The body is nested too deeply to be a FHIR resource of this server (at most {MAX_BODY_NESTING} levels)."
)

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def _content_type(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return (connection.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def require_fhir_body(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    kind = _content_type(connection)
    if kind not in ACCEPTED_BODY_TYPES:
        raise FhirError(
            415,
            "Send the resource as application/fhir+json (or application/json), "
            f"not {kind or 'no content type'}.",
        )


def require_json_patch(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    kind = _content_type(connection)
    if kind != JSON_PATCH:
        raise FhirError(415, f"Send a JSON Patch as {JSON_PATCH}, not {kind or 'no content type'}.")


def _nesting(value: Any) -> int:
    """How many objects and arrays lie inside one another at the deepest point (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_BODY_NESTING:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_body(raw: bytes) -> Any:
    try:
        resource = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FhirError(400, f"The body is not valid JSON: {exc}.") from None
    except RecursionError:  # nesting deeper than any resource of ours needs
        raise FhirError(400, TOO_DEEP) from None
    if _nesting(resource) > MAX_BODY_NESTING:
        raise FhirError(400, TOO_DEEP)
    return resource
