"""SMART v2 system scopes: the one place that says what a scope means.

A grant is a set of permissions, each one resource type and one interaction letter (c create,
r read, u update, d delete, s search), so read and search are distinct. Clients are granted scopes
in SMART v2 form (``system/QuestionnaireResponse.rs``), grouped letters allowed, and the v1 forms
``.read`` (= rs), ``.write`` (= cud) and ``.*``. Older static tokens carry the names this service
used before SMART; LEGACY_SCOPES says what each still grants, so they keep working unchanged.
Routes declare one permission per string (``system/Task.c``); see api/auth.scopes().
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

INTERACTIONS = "cruds"  # the SMART v2 order of the letters
V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
# The resource types a client can be granted scopes on (Task: the SDC workflow).
RESOURCES = ("Questionnaire", "QuestionnaireResponse", "DocumentReference", "Binary", "Task", "AuditEvent")
RESOURCE_HELP: dict[str, str] = {
    "Questionnaire": "the questionnaire definitions (also readable without a token)",
    "QuestionnaireResponse": "patients' answers (JSON /api/v1/responses and FHIR); c pushes a response",
    "DocumentReference": "the PDF summary's description",
    "Binary": "the PDF summary itself (FHIR Binary and /api/v1/responses/{id}/summary.pdf)",
    "Task": (
        "SDC Tasks asking a patient to fill in the questionnaire (FHIR Task and JSON /api/v1/invitations): "
        "c creates one, r reads, s searches, u cancels one (ending the patient's link)"
    ),
    "AuditEvent": "the audit log for a SIEM (FHIR AuditEvent): s searches it, r reads one event",
}
# Scope names of the static tokens issued before SMART, and what each grants now.
LEGACY_SCOPES: dict[str, str] = {
    "invitations:write": "system/Task.cu",
    "responses:read": "system/QuestionnaireResponse.rs system/DocumentReference.rs system/Binary.r",
    "responses:write": "system/QuestionnaireResponse.c",
}
_SCOPE = re.compile(
    r"^(?P<context>system|user|patient)/(?P<resource>\*|[A-Z][A-Za-z]*)\.(?P<action>[a-z*]+)$"
)


class ScopeError(ValueError):
    """A scope that cannot be granted or declared; the message is meant for the operator."""


@dataclass(frozen=True, order=True)
class Permission:
    resource: str
    interaction: str  # one of INTERACTIONS

    def __str__(self) -> str:
        return f"system/{self.resource}.{self.interaction}"


def _letters(action: str) -> str | None:
    if action in V1_ACTIONS:
        return V1_ACTIONS[action]
    # v2: a non-empty subsequence of "cruds", in that order
    position = 0
    for letter in action:
        found = INTERACTIONS.find(letter, position)
        if found < 0:
            return None
        position = found + 1
    return action or None


def permissions_of(scope: str) -> frozenset[Permission]:
    """The permissions one scope grants (a legacy name included); ScopeError if it grants none."""
    if scope in LEGACY_SCOPES:
        return frozenset(p for part in LEGACY_SCOPES[scope].split() for p in permissions_of(part))
    match = _SCOPE.match(scope)
    if match is None:
        raise ScopeError(f"Unknown scope(s): {scope}.")
    if match["context"] != "system":
        raise ScopeError(f"Only system/ scopes are granted to backend services, not {scope}.")
    letters = _letters(match["action"])
    if letters is None:
        raise ScopeError(
            f"Unknown scope(s): {scope} (the letters after the dot must be from 'cruds', in order)."
        )
    resources = RESOURCES if match["resource"] == "*" else (match["resource"],)
    if resources[0] not in RESOURCES:
        raise ScopeError(f"Unknown scope(s): {scope} (resource types: {', '.join(RESOURCES)}).")
    return frozenset(Permission(resource, letter) for resource in resources for letter in letters)


def split_scopes(text: str | Iterable[str]) -> list[str]:
    """Scopes from "a,b" or "a b" (or a list)."""
    return text.replace(",", " ").split() if isinstance(text, str) else [s for s in text if s.strip()]


def parse_grant(text: str | Iterable[str]) -> frozenset[Permission]:
    """Every permission the scopes grant; ScopeError naming all unknown scopes at once."""
    parts = split_scopes(text)
    if not parts:
        raise ScopeError(f"Give at least one scope, for example {' '.join(RESOURCE_SCOPE_EXAMPLES)}.")
    granted: set[Permission] = set()
    unknown: list[str] = []
    for part in parts:
        try:
            granted |= permissions_of(part)
        except ScopeError as exc:
            if not str(exc).startswith("Unknown"):
                raise
            unknown.append(part)
    if unknown:
        raise ScopeError(
            f"Unknown scope(s): {', '.join(sorted(set(unknown)))}. Use SMART v2 system scopes such as "
            f"{', '.join(RESOURCE_SCOPE_EXAMPLES)} (resource types: {', '.join(RESOURCES)})."
        )
    return frozenset(granted)


def format_grant(permissions: Iterable[Permission]) -> str:
    """The canonical scope string: one grouped v2 scope per resource (``system/Binary.r``)."""
    by_resource: dict[str, set[str]] = {}
    for permission in permissions:
        by_resource.setdefault(permission.resource, set()).add(permission.interaction)
    return " ".join(
        f"system/{resource}.{''.join(i for i in INTERACTIONS if i in by_resource[resource])}"
        for resource in RESOURCES
        if resource in by_resource
    )


def permission(scope: str) -> Permission:
    """What a route declares: exactly one resource and one interaction (``system/Task.c``)."""
    granted = permissions_of(scope)
    if len(granted) != 1 or scope in LEGACY_SCOPES:
        raise ScopeError(f"A route declares one permission per scope, like system/Task.c, not {scope}.")
    return next(iter(granted))


def legacy_names_for(needed: Permission) -> list[str]:
    """The pre-SMART scope names that grant this permission (for messages to older clients)."""
    return [name for name in LEGACY_SCOPES if needed in permissions_of(name)]


RESOURCE_SCOPE_EXAMPLES = (
    "system/QuestionnaireResponse.rs",
    "system/DocumentReference.rs",
    "system/Binary.r",
    "system/Questionnaire.rs",
    "system/Task.cru",
)
