"""The service's own Prometheus metrics (request metrics come from Litestar's middleware).

Module-level, as prometheus_client means them to be: a metric is registered once per process, and
services count where the event happens. Kept apart from metrics.py so the services and the rate
limiter can import them without importing the web layer.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PREFIX = "sdm"

QUESTIONNAIRE_STARTS = Counter(
    f"{PREFIX}_questionnaire_starts", "Questionnaire responses started.", ["source"]
)
STEPS_SAVED = Counter(f"{PREFIX}_questionnaire_steps_saved", "Questionnaire steps a patient saved.")
QUESTIONNAIRE_COMPLETIONS = Counter(
    f"{PREFIX}_questionnaire_completions", "Questionnaire responses completed.", ["source"]
)
SUMMARIES_RENDERED = Counter(f"{PREFIX}_summaries_rendered", "Summary PDFs rendered.")
RATE_LIMIT_REFUSALS = Counter(
    f"{PREFIX}_rate_limit_refusals", "Requests refused by a rate limit (429).", ["limit"]
)
# The delivery queue (write-back to the EHR), by attempt outcome: delivered, retry_scheduled,
# failed, dead_lettered.
DELIVERIES = Counter(f"{PREFIX}_deliveries", "Deliveries attempted, by outcome.", ["outcome"])
DB_POOL_CONNECTIONS = Gauge(
    f"{PREFIX}_db_pool_connections",
    "Database pool connections, by pool and state (checked_out: in use; idle: open, waiting).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
