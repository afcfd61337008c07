"""Where each part of the service lives: the one list of URL prefixes.

Middleware (link limits, API limits, caching), CSRF exemptions and error pages all decide by these.
"""

from __future__ import annotations

PATIENT_PREFIX = "/q"
INVITATION_PREFIX = "/i/"  # invitation links: an unguessable token in the path
RESUME_PREFIX = "/r/"  # resume links: the same
CLINICIAN_PREFIX = "/clinician"
API_PREFIX = "/api/"
FHIR_PREFIX = "/fhir"
AUTH_PREFIX = "/auth/"  # OAuth endpoints for machine clients (SMART Backend Services)
SMART_TOKEN_PATH = "/auth/token"  # noqa: S105 - a path, not a secret
SMART_CONFIGURATION_PATH = "/.well-known/smart-configuration"  # under FHIR_PREFIX
HEALTH_PATH = "/health"
LIVE_PATH = "/health/live"  # the process answers (a Kubernetes liveness probe)
READY_PATH = "/health/ready"  # database, content and queue are usable (readiness probe)
METRICS_PATH = "/metrics"  # Prometheus; only from SDM_METRICS_ALLOW or with SDM_METRICS_TOKEN
SCHEMA_PREFIX = "/schema"
STATIC_PREFIX = "/static/"

LINK_PREFIXES = (INVITATION_PREFIX, RESUME_PREFIX)
# Machine clients: bearer tokens (or signed assertions), rate-limited per token and address.
API_PREFIXES = (API_PREFIX, FHIR_PREFIX, AUTH_PREFIX)
# Answered with JSON (or FHIR), never with an HTML page.
MACHINE_PREFIXES = (*API_PREFIXES, HEALTH_PATH, SCHEMA_PREFIX, METRICS_PATH)
# Probes and scrapers call by internal address (a pod IP), so these are answered on any Host; none
# builds anything from the Host header.
PROBE_PATHS = frozenset({HEALTH_PATH, LIVE_PATH, READY_PATH, METRICS_PATH})
# Machine clients authenticate with bearer tokens, not cookies, so CSRF does not apply to them.
CSRF_EXEMPT_PATHS = [
    f"^{API_PREFIX}",
    f"^{AUTH_PREFIX}",
    f"^{FHIR_PREFIX}/",
    f"^{FHIR_PREFIX}$",
    f"^{HEALTH_PATH}$",
    f"^{SCHEMA_PREFIX}",
]


def questionnaire_path(slug: str) -> str:
    """A questionnaire's start page."""
    return f"{PATIENT_PREFIX}/{slug}"
