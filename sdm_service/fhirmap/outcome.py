"""OperationOutcome: every FHIR error says what went wrong, in words a developer can act on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# HTTP status -> FHIR issue type (http://hl7.org/fhir/issue-type).
ISSUE_CODES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


@dataclass(frozen=True)
class Issue:
    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = field(default_factory=tuple)


def issue_code(status_code: int) -> str:
    return ISSUE_CODES.get(status_code, "exception" if status_code >= 500 else "invalid")


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    rendered = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = list(issue.expression)
        rendered.append(entry)
    if not rendered:
        rendered.append({"severity": "information", "code": "informational", "diagnostics": "No issues."})
    return {"resourceType": "OperationOutcome", "issue": rendered}


def error_outcome(status_code: int, diagnostics: str, expression: Iterable[str] = ()) -> dict[str, Any]:
    return operation_outcome(
        [Issue(diagnostics=diagnostics, code=issue_code(status_code), expression=tuple(expression))]
    )
