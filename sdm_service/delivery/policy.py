"""Pure decisions about one delivery attempt: was it delivered, worth retrying, or refused for good;
and how long to wait before the next attempt (exponential backoff with full jitter, or the EHR's
own Retry-After when it gives one)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

Verdict = Literal["delivered", "retry", "failed"]
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_REASON = 1000


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to. `outcome`: the EHR's OperationOutcome when it sent one."""

    verdict: Verdict
    reason: str = ""
    retry_after: float | None = None
    outcome: dict[str, Any] | None = None
    references: dict[str, str] = field(default_factory=dict)


def outcome_text(outcome: dict[str, Any] | None) -> str:
    """The readable part of an OperationOutcome: its issues' details or diagnostics."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    texts = []
    for issue in outcome.get("issue") or []:
        if isinstance(issue, dict):
            details = issue.get("details")
            text = (details.get("text") if isinstance(details, dict) else None) or issue.get("diagnostics")
            if text:
                texts.append(str(text))
    return "; ".join(texts)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify_http(
    status: int, body: Any, retry_after_header: str | None, now: datetime, what: str
) -> AttemptResult | None:
    """None when `status` is a success; else a retry (5xx, 429, 408) or a failure (other 4xx)."""
    if 200 <= status < 300:
        return None
    outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    detail = outcome_text(outcome)
    reason = f"{what}: the EHR answered {status}" + (f" ({detail})" if detail else "")
    if status in RETRYABLE_STATUSES:
        return AttemptResult(
            "retry", reason[:MAX_REASON], parse_retry_after(retry_after_header, now), outcome
        )
    return AttemptResult("failed", reason[:MAX_REASON], None, outcome)


def backoff_seconds(
    attempts: int, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Delay before the next attempt after `attempts` failed ones (1 = the first failed).

    Equal jitter (a random delay between half and all of base x 2^(attempts-1), at most `cap`)
    spreads the retries of many deliveries that failed together; a Retry-After from the EHR is
    honoured as a minimum.
    """
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay
