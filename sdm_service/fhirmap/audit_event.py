"""One audit-log row as a FHIR R4 AuditEvent, shaped after IHE Basic Audit Log Patterns (BALP):
type and subtype (what kind of event), action (C/R/U/D/E), recorded, outcome, the agent who acted
(with its network address), the source that observed it (this service), and the entities: the
record touched and the patient it is about. Pure: the caller looks up the patient's identifier.

Our own action name is always kept as a subtype (system ACTION_SYSTEM), so nothing is lost in the
mapping; the other codes are the standard ones a SIEM filters on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdm_service.audit import LISTED_KEY
from sdm_service.fhirmap.common import fhir_instant, identifier_reference
from sdm_service.models import AuditEvent

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
ACTION_SYSTEM = "urn:sdm-service:audit-action"  # our action names (audit.py), e.g. response.view
ACTOR_SYSTEM = "urn:sdm-service:actor:"  # + clinician | api_client | patient | system | anonymous
ENTITY_SYSTEM = "urn:sdm-service:"  # + user | api_client | invitation ... (records that are not FHIR)

OUTCOME_SUCCESS = "0"
OUTCOME_MINOR_FAILURE = "4"  # refused: the request was answered, not carried out

_REST = {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
_PATIENT_RECORD = {"system": DCM, "code": "110110", "display": "Patient Record"}
_AUTHENTICATION = {"system": DCM, "code": "110114", "display": "User Authentication"}
_SECURITY_ALERT = {"system": DCM, "code": "110113", "display": "Security Alert"}
_EXPORT = {"system": DCM, "code": "110106", "display": "Export"}
_IMPORT = {"system": DCM, "code": "110107", "display": "Import"}
_SECURITY_ADMIN = {"system": DCM, "code": "110136", "display": "Security Roles Changed"}


def _rest(code: str) -> dict[str, str]:
    return {"system": RESTFUL, "code": code}


# action -> (type, standard subtype or None, FHIR action code). API reads are RESTful operations
# (BALP's shape for FHIR reads); clinician screens are views of the patient record.
_ACTIONS: dict[str, tuple[dict[str, str], dict[str, str] | None, str]] = {
    "api.response.read": (_REST, _rest("read"), "R"),
    "api.response.search": (_REST, _rest("search-type"), "E"),
    "api.response.create": (_REST, _rest("create"), "C"),
    "api.invitation.create": (_REST, _rest("create"), "C"),
    "api.audit.search": (_REST, _rest("search-type"), "E"),
    "response.view": (_PATIENT_RECORD, None, "R"),
    "response.pdf": (_PATIENT_RECORD, None, "R"),
    "response.review": (_PATIENT_RECORD, None, "U"),
    "response.completed": (_PATIENT_RECORD, None, "C"),
    "response.access_ended": (_PATIENT_RECORD, None, "U"),
    "response.link_expired": (_PATIENT_RECORD, None, "U"),
    "worklist.view": (_PATIENT_RECORD, None, "R"),
    "invitations.view": (_PATIENT_RECORD, None, "R"),
    "invitation.create": (_PATIENT_RECORD, None, "C"),
    "invitation.opened": (_PATIENT_RECORD, None, "R"),
    "invitation.revoke": (_PATIENT_RECORD, None, "U"),
    "auth.sign_in": (_AUTHENTICATION, {"system": DCM, "code": "110122", "display": "Login"}, "E"),
    "auth.sign_out": (_AUTHENTICATION, {"system": DCM, "code": "110123", "display": "Logout"}, "E"),
    "auth.sign_in.failed": (_AUTHENTICATION, {"system": DCM, "code": "110122", "display": "Login"}, "E"),
    "auth.sign_in.throttled": (_AUTHENTICATION, {"system": DCM, "code": "110122", "display": "Login"}, "E"),
    "request.refused": (_SECURITY_ALERT, None, "E"),
    "data.export": (_EXPORT, None, "E"),
    "data.import": (_IMPORT, None, "C"),
    "audit.view": (_SECURITY_ALERT, None, "R"),
    "user.create": (_SECURITY_ADMIN, None, "C"),
    "user.deactivate": (_SECURITY_ADMIN, None, "U"),
    "api_client.create": (_SECURITY_ADMIN, None, "C"),
    "api_client.revoke": (_SECURITY_ADMIN, None, "U"),
}
_FAILED_ACTIONS = frozenset({"auth.sign_in.failed", "auth.sign_in.throttled", "request.refused"})
_AGENT_TYPES = {
    "clinician": {"system": SECURITY_ROLE, "code": "humanuser", "display": "human user"},
    "patient": {"system": SECURITY_ROLE, "code": "humanuser", "display": "human user"},
    "api_client": {"system": SECURITY_ROLE, "code": "dataprocessor", "display": "data processor"},
    "system": {"system": SECURITY_ROLE, "code": "dataprocessor", "display": "data processor"},
}


@dataclass(frozen=True)
class PatientIdentifier:
    system: str
    value: str


def event_codes(action: str) -> tuple[dict[str, str], list[dict[str, str]], str]:
    """(type, subtypes, action code) for one of our action names; unknown actions are executions."""
    fallback = _PATIENT_RECORD if action.startswith("response.") else _SECURITY_ALERT
    kind, standard, code = _ACTIONS.get(action, (fallback, None, "E"))
    subtypes = ([standard] if standard else []) + [{"system": ACTION_SYSTEM, "code": action}]
    return kind, subtypes, code


def _agent(row: AuditEvent) -> dict[str, Any]:
    who: dict[str, Any] = {}
    value = row.actor_id or row.actor_label
    if value:
        who["identifier"] = {"system": f"{ACTOR_SYSTEM}{row.actor_type}", "value": value}
    who["display"] = row.actor_label or row.actor_type
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if row.actor_type in _AGENT_TYPES:
        agent["type"] = {"coding": [_AGENT_TYPES[row.actor_type]]}
    if row.ip:
        agent["network"] = {"address": row.ip, "type": "2"}  # 2: an IP address
    return agent


def _record_entity(entity_type: str, entity_id: str) -> dict[str, Any]:
    if entity_type == "response":
        what: dict[str, Any] = {"reference": f"QuestionnaireResponse/{entity_id}"}
        role = {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}
    else:
        what = {"identifier": {"system": f"{ENTITY_SYSTEM}{entity_type or 'record'}", "value": entity_id}}
        role = None
    entity: dict[str, Any] = {
        "what": what,
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
    }
    if role:
        entity["role"] = role
    return entity


def _entities(row: AuditEvent, patient: PatientIdentifier | None) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if patient is not None:
        reference = identifier_reference(patient.system, patient.value)
        if reference is not None:
            entities.append(
                {
                    "what": reference,
                    "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                    "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
                }
            )
    if row.entity_id:
        entities.append(_record_entity(row.entity_type, row.entity_id))
    # A list view names every response it showed: each is an entity of the event.
    listed = row.detail.get(LISTED_KEY) if isinstance(row.detail, dict) else None
    if isinstance(listed, list):
        entities.extend(_record_entity("response", str(item)) for item in listed if str(item))
    return entities


def audit_event(row: AuditEvent, *, patient: PatientIdentifier | None, observer: str) -> dict[str, Any]:
    """The FHIR R4 AuditEvent of one audit-log row. `observer` names this service (its base URL)."""
    kind, subtypes, code = event_codes(row.action)
    failed = row.action in _FAILED_ACTIONS
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "type": kind,
        "subtype": subtypes,
        "action": code,
        "recorded": fhir_instant(row.occurred_at),
        "outcome": OUTCOME_MINOR_FAILURE if failed else OUTCOME_SUCCESS,
        "agent": [_agent(row)],
        "source": {
            "site": observer,
            "observer": {"display": "sdm-service"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    if failed:
        status = row.detail.get("status") if isinstance(row.detail, dict) else None
        resource["outcomeDesc"] = f"Refused (HTTP {status})." if status else "Refused."
    entities = _entities(row, patient)
    if entities:
        resource["entity"] = entities
    return resource
