"""Small building blocks shared by the FHIR mappings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from fhir.resources.R4B.fhirresourcemodel import FHIRResourceModel
from pydantic import ValidationError

from sdm_service.models import ResponseStatus

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"

# Our response statuses as FHIR QuestionnaireResponse.status.
_OURS_TO_FHIR = {
    ResponseStatus.INVITED: "in-progress",
    ResponseStatus.IN_PROGRESS: "in-progress",
    ResponseStatus.COMPLETED: "completed",
    ResponseStatus.REVIEWED: "completed",
}
# Every FHIR QuestionnaireResponse status, with the statuses of ours that it covers (some cover none).
FHIR_STATUS_TO_OURS: dict[str, tuple[str, ...]] = {
    "in-progress": (ResponseStatus.INVITED, ResponseStatus.IN_PROGRESS),
    "completed": (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED),
    "amended": (),
    "entered-in-error": (),
    "stopped": (),
}


def fhir_status(status: str) -> str:
    return _OURS_TO_FHIR.get(status, "in-progress")


def fhir_instant(moment: datetime) -> str:
    """FHIR instant: always with a time zone; stored times are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def identifier_reference(system: str, value: str, display: str = "") -> dict[str, Any] | None:
    """A reference to the EHR's Patient by business identifier (the Patient resource is the EHR's).

    None for a patient who started on their own: FHIR forbids empty strings, so there is no subject.
    """
    if not value:
        return None
    identifier: dict[str, Any] = {"value": value}
    if system:
        identifier["system"] = system
    reference: dict[str, Any] = {"type": "Patient", "identifier": identifier}
    if display:
        reference["display"] = display
    return reference


_Resource = TypeVar("_Resource", bound=FHIRResourceModel)


class InvalidResource(ValueError):
    """Not a valid FHIR resource: `problems` are (expression, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def validated(model: type[_Resource], resource: Mapping[str, Any]) -> _Resource:
    """`resource` as a `model` (a FHIR R4B resource type), or InvalidResource saying what is wrong."""
    name = model.get_resource_type()
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"] if part != "__root__")
            path = f"{name}.{where}" if where else name
            problems.append((path, f"{path}: {error['msg']}"))
        raise InvalidResource(problems or [(name, f"Not a valid {name}.")]) from None
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for some malformed shapes
        raise InvalidResource([(name, f"Not a valid {name}: {exc}")]) from None


class PatientReferenceProblem(ValueError):
    """A reference to the patient that cannot be used. `part` is what is wrong ("identifier.value",
    "identifier.system" or "display"); the message says what it must be, or `missing` is set."""

    def __init__(self, part: str, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.part = part
        self.missing = missing


def patient_from_reference(reference: object) -> tuple[str, str, str]:
    """(system, value, display) of a reference to the patient by identifier, the inverse of
    identifier_reference. The value is required; value and system must be short printable text; a
    long display is shortened, not refused, but control characters (NUL breaks PostgreSQL) are."""
    reference = reference if isinstance(reference, Mapping) else {}
    identifier = reference.get("identifier")
    identifier = identifier if isinstance(identifier, Mapping) else {}
    value = str(identifier.get("value") or "").strip()
    if not value:
        raise PatientReferenceProblem("identifier.value", "is required", missing=True)
    system = str(identifier.get("system") or "").strip()
    display = str(reference.get("display") or "").strip()[:200]
    for part, text, limit in (
        ("identifier.value", value, 100),
        ("identifier.system", system, 200),
        ("display", display, 200),
    ):
        if len(text) > limit or any(ord(ch) < 32 for ch in text):
            raise PatientReferenceProblem(part, f"must be at most {limit} printable characters.")
    return system, value, display


def meta(last_updated: datetime, version_id: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"lastUpdated": fhir_instant(last_updated)}
    if version_id is not None:
        result["versionId"] = str(version_id)
    return result
