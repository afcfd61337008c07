"""FHIR SDC Task (complete-questionnaire): reading an EHR's order, writing our Tasks. Pure.

What a Task of ours carries (README, "EHR integration: the SDC Task"):
- `code` complete-questionnaire and `input` questionnaire (the canonical url|version), as SDC asks;
- `for` the patient by identifier, `restriction.period.end` the expiry of the patient's link;
- in the answer to the create only, an `input` of type patient-link (our code system) whose
  valueUrl is the link to send the patient: the link is stored only as a hash, so no later read
  can show it again;
- once completed, `output` questionnaire-response (SDC) naming the QuestionnaireResponse and
  `output` summary-document (our code system) naming the DocumentReference of the PDF summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sdm_service.fhirmap.common import (
    InvalidResource,
    PatientReferenceProblem,
    fhir_instant,
    identifier_reference,
    meta,
    patient_from_reference,
    validated,
)

if TYPE_CHECKING:
    from fhir.resources.R4B.task import Task as FhirTaskModel

SDC_CODES = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp"
SDC_TASK_PROFILE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-task"
COMPLETE_QUESTIONNAIRE = "complete-questionnaire"
QUESTIONNAIRE_INPUT = "questionnaire"
RESPONSE_OUTPUT = "questionnaire-response"
# Our own codes, for what SDC has none: under the server's FHIR base, CodeSystem/sdm-task.
SDM_CODES_PATH = "CodeSystem/sdm-task"
PATIENT_LINK = "patient-link"
SUMMARY_DOCUMENT = "summary-document"
# Every R4 Task status: searching by one a Task of ours never has finds nothing, not an error.
TASK_STATUS_CODES = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    }
)
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class TaskProblem:
    expression: str
    message: str


class TaskRejected(ValueError):
    """The Task (or patch) cannot be used: 400 when it is not a valid resource or patch, 422 when it
    is valid but not an order this server can carry out. `problems` says what to fix."""

    def __init__(self, status_code: int, problems: list[TaskProblem]) -> None:
        self.status_code = status_code
        self.problems = problems[:MAX_PROBLEMS]
        super().__init__("; ".join(p.message for p in self.problems))


def _refuse(expression: str, message: str, status_code: int = 422) -> TaskRejected:
    return TaskRejected(status_code, [TaskProblem(expression, message)])


@dataclass(frozen=True)
class TaskOrder:
    """What an EHR asked for in a Task it posted."""

    questionnaire: str  # canonical url|version
    patient_system: str
    patient_value: str
    patient_name: str
    link_expires_at: datetime | None
    owner: dict[str, Any] | None
    requester: dict[str, Any] | None
    language: str | None = None  # Task.language: the patient's language, if the EHR gives it


def _codings(concept: Any) -> list[tuple[str, str]]:
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return [
        (str(c.get("system") or ""), str(c.get("code") or ""))
        for c in codings or []
        if isinstance(c, Mapping)
    ]


def _structure(resource: Mapping[str, Any]) -> FhirTaskModel:
    # Imported on first use: the FHIR models are megabytes that a worker only needs for Task bodies.
    from fhir.resources.R4B.task import Task as FhirTaskModel

    try:
        return validated(FhirTaskModel, resource)
    except InvalidResource as exc:
        raise TaskRejected(400, [TaskProblem(*problem) for problem in exc.problems]) from None


def _questionnaire(resource: Mapping[str, Any], url: str, version: str) -> str:
    inputs = resource.get("input") or []
    wanted = [i for i in inputs if (SDC_CODES, QUESTIONNAIRE_INPUT) in _codings(i.get("type"))]
    others = [i for i in inputs if i not in wanted]
    if others:
        raise _refuse("Task.input", "Only the questionnaire input is supported on a new Task.")
    if len(wanted) != 1 or not isinstance(wanted[0].get("valueCanonical"), str):
        raise _refuse(
            "Task.input",
            f"Give one input of type {SDC_CODES}#{QUESTIONNAIRE_INPUT} whose valueCanonical is the "
            f"Questionnaire, {url}|{version}.",
        )
    given = wanted[0]["valueCanonical"].strip()
    if given not in (url, f"{url}|{version}"):
        raise _refuse(
            "Task.input.valueCanonical",
            f"Unknown questionnaire {given!r}: this server serves {url}|{version} "
            "(the version may be left out).",
        )
    return f"{url}|{version}"


def _patient(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    subject = resource.get("for")
    if not isinstance(subject, Mapping):
        raise _refuse("Task.for", "Task.for is required: the Patient, by identifier (e.g. the MRN).")
    if subject.get("type") not in (None, "Patient"):
        raise _refuse("Task.for.type", "Task.for must be a Patient.")
    try:
        return patient_from_reference(subject)
    except PatientReferenceProblem as problem:
        if problem.missing:
            raise _refuse(
                "Task.for.identifier",
                "Task.for.identifier.value is required: identify the patient by the EHR's identifier "
                "(for example an MRN with its system), not by a Patient reference.",
            ) from None
        raise _refuse(f"Task.for.{problem.part}", f"Task.for.{problem.part} {problem}") from None


def _link_end(model: FhirTaskModel) -> datetime | None:
    period = model.restriction.period if model.restriction else None
    end = period.end if period else None
    if end is None:
        return None
    if isinstance(end, datetime):
        return end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    if isinstance(end, date):  # a whole day: the link works to its end
        return datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    raise _refuse(
        "Task.restriction.period.end",
        "restriction.period.end must be a whole date or a date-time, e.g. 2026-12-31T23:00:00Z.",
    )


def _reference(resource: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = resource.get(name)
    return dict(value) if isinstance(value, Mapping) and value else None


def read_task_order(resource: Any, *, questionnaire_url: str, questionnaire_version: str) -> TaskOrder:
    """The order in a posted Task, or TaskRejected saying what is wrong with it."""
    if not isinstance(resource, Mapping):
        raise _refuse("", "The body must be a JSON object: a FHIR Task resource.", 400)
    if resource.get("resourceType") != "Task":
        raise _refuse(
            "resourceType", f"resourceType must be 'Task' here, not {resource.get('resourceType')!r}.", 400
        )
    model = _structure(resource)
    if resource.get("status") != "requested":
        raise _refuse(
            "Task.status", f"A new Task must have status 'requested', not {resource.get('status')!r}."
        )
    if resource.get("intent") != "order":
        raise _refuse("Task.intent", f"A new Task must have intent 'order', not {resource.get('intent')!r}.")
    if (SDC_CODES, COMPLETE_QUESTIONNAIRE) not in _codings(resource.get("code")):
        raise _refuse(
            "Task.code",
            f"Task.code must be {SDC_CODES}#{COMPLETE_QUESTIONNAIRE}: this server only carries out "
            "requests to complete its questionnaire.",
        )
    if resource.get("focus") is not None:
        raise _refuse("Task.focus", "Leave Task.focus out: the questionnaire goes in Task.input (SDC).")
    questionnaire = _questionnaire(resource, questionnaire_url, questionnaire_version)
    system, value, name = _patient(resource)
    return TaskOrder(
        questionnaire=questionnaire,
        patient_system=system,
        patient_value=value,
        patient_name=name,
        link_expires_at=_link_end(model),
        owner=_reference(resource, "owner"),
        requester=_reference(resource, "requester"),
        language=str(resource["language"]) if isinstance(resource.get("language"), str) else None,
    )


def requested_status(patch: Any) -> str:
    """The status a JSON Patch (RFC 6902) sets: exactly one replace of /status, else TaskRejected."""
    example = '[{"op": "replace", "path": "/status", "value": "cancelled"}]'
    if not isinstance(patch, list) or len(patch) != 1 or not isinstance(patch[0], Mapping):
        raise _refuse("", f"Send a JSON Patch with one operation, e.g. {example}.", 400)
    [operation] = patch
    if operation.get("op") not in ("replace", "add") or operation.get("path") != "/status":
        raise _refuse("", f"Only the status can be changed, with {example}.", 400)
    value = operation.get("value")
    if value not in TASK_STATUS_CODES:
        raise _refuse("Task.status", f"{value!r} is not a Task status.", 400)
    return str(value)


@dataclass(frozen=True)
class TaskRecord:
    """A stored Task with what it reads from its response and invitation."""

    id: str
    status: str
    questionnaire: str
    response_id: str
    patient_system: str
    patient_value: str
    patient_name: str
    authored_on: datetime
    updated_at: datetime
    version: int
    link_expires_at: datetime
    owner: dict[str, Any] | None = None
    requester: dict[str, Any] | None = None
    patient_link: str | None = None  # only in the answer to the create


def _typed(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def to_task(record: TaskRecord, fhir_base: str) -> dict[str, Any]:
    """fhir_base is the server's FHIR base (…/fhir)."""
    ours = f"{fhir_base}/{SDM_CODES_PATH}"
    inputs: list[dict[str, Any]] = [
        {
            "type": _typed(SDC_CODES, QUESTIONNAIRE_INPUT, "Questionnaire"),
            "valueCanonical": record.questionnaire,
        }
    ]
    if record.patient_link:
        inputs.append(
            {"type": _typed(ours, PATIENT_LINK, "Link to send the patient"), "valueUrl": record.patient_link}
        )
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": record.id,
        "meta": {**meta(record.updated_at, record.version), "profile": [SDC_TASK_PROFILE]},
        "status": record.status,
        "intent": "order",
        "code": _typed(SDC_CODES, COMPLETE_QUESTIONNAIRE, "Complete Questionnaire"),
        "authoredOn": fhir_instant(record.authored_on),
        "lastModified": fhir_instant(record.updated_at),
        "requester": record.requester or {"display": "sdm-service API client"},
        "restriction": {"period": {"end": fhir_instant(record.link_expires_at)}},
        "input": inputs,
    }
    subject = identifier_reference(record.patient_system, record.patient_value, record.patient_name)
    if subject is not None:
        task["for"] = subject
    if record.owner:
        task["owner"] = record.owner
    if record.status == "completed":
        task["output"] = [
            {
                "type": _typed(SDC_CODES, RESPONSE_OUTPUT, "Questionnaire Response"),
                "valueReference": {"reference": f"QuestionnaireResponse/{record.response_id}"},
            },
            {
                "type": _typed(ours, SUMMARY_DOCUMENT, "PDF summary for the care-team visit"),
                "valueReference": {"reference": f"DocumentReference/{record.response_id}"},
            },
        ]
    return task
