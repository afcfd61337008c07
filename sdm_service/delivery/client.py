"""The EHR's FHIR API, as a SMART Backend Services client (authlib's AsyncOAuth2Client).

The access token comes from the client-credentials grant, our identity proven by a private_key_jwt
assertion signed with our first key; it is kept and reused until shortly before it expires.
The token endpoint is SDM_EHR_TOKEN_URL, or read once from {base}/.well-known/smart-configuration.
Every failure is reported as an AttemptResult (policy.py): retry, or failed with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from sdm_service.delivery.keys import SigningKey
from sdm_service.delivery.policy import MAX_REASON, RETRYABLE_STATUSES, AttemptResult, classify_http
from sdm_service.models import utcnow
from sdm_service.oauth_client import AsyncOAuth2Client
from sdm_service.settings import Settings

FHIR_JSON = "application/fhir+json"
TOKEN_LEEWAY_SECONDS = 60  # a token this close to expiry is replaced before use
# OAuth errors (RFC 6749 5.2) that a retry cannot cure: the EHR must change its registration of us.
PERMANENT_TOKEN_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant", "unsupported_grant_type"}
)


class AttemptStopped(Exception):
    """An attempt ended without a success; `result` says whether to retry."""

    def __init__(self, result: AttemptResult) -> None:
        self.result = result
        super().__init__(result.reason)


def _retry(reason: str, retry_after: float | None = None) -> AttemptStopped:
    return AttemptStopped(AttemptResult("retry", reason[:MAX_REASON], retry_after))


class EhrClient:
    def __init__(
        self, settings: Settings, key: SigningKey, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base = settings.ehr_fhir_base_url
        self._token_url = settings.ehr_token_url
        self._lock = asyncio.Lock()
        self._token_status = 0
        self._http = AsyncOAuth2Client(
            client_id=settings.ehr_client_id,
            client_secret=key.key,
            token_endpoint_auth_method=PrivateKeyJWT(headers={"kid": key.kid}, alg=key.algorithm),
            scope=settings.ehr_scope,
            timeout=settings.ehr_timeout_seconds,
            leeway=TOKEN_LEEWAY_SECONDS,
            transport=transport,
        )
        self._http.register_compliance_hook("access_token_response", self._note_token_status)

    def _note_token_status(self, response: httpx.Response) -> httpx.Response:
        self._token_status = response.status_code
        return response

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _discover_token_url(self) -> str:
        url = f"{self.base}/.well-known/smart-configuration"
        try:
            answer = await self._http.request(
                "GET", url, withhold_token=True, headers={"Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise _retry(f"smart-configuration: {type(exc).__name__}") from None
        if answer.status_code in RETRYABLE_STATUSES:
            raise _retry(f"smart-configuration: the EHR answered {answer.status_code}")
        try:
            token_url = answer.json()["token_endpoint"]
        except (ValueError, KeyError, TypeError):
            raise AttemptStopped(
                AttemptResult("failed", f"{url} names no token_endpoint (HTTP {answer.status_code})")
            ) from None
        return str(token_url)

    async def _ensure_token(self) -> None:
        async with self._lock:
            token = self._http.token
            if token and not token.is_expired(leeway=TOKEN_LEEWAY_SECONDS):
                return
            if not self._token_url:
                self._token_url = await self._discover_token_url()
            self._token_status = 0
            try:
                await self._http.fetch_token(self._token_url, grant_type="client_credentials")
            except httpx.TransportError as exc:
                raise _retry(f"token endpoint: {type(exc).__name__}") from None
            except OAuthError as exc:
                reason = f"token endpoint refused us: {exc.error}" + (
                    f" ({exc.description})" if exc.description else ""
                )
                if exc.error in PERMANENT_TOKEN_ERRORS:
                    raise AttemptStopped(AttemptResult("failed", reason[:MAX_REASON])) from None
                raise _retry(reason) from None
            except ValueError:  # not JSON: a proxy's error page, an overloaded server
                raise _retry(f"token endpoint: unreadable answer (HTTP {self._token_status})") from None

    async def create(
        self, resource: dict[str, Any], condition: str | None, *, now: datetime | None = None
    ) -> str:
        """POST the resource (conditionally when `condition` is given) and return its reference
        in the EHR ("Type/id"): the new one (201) or the one our identifier already finds (200)."""
        await self._ensure_token()
        kind = str(resource["resourceType"])
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        if condition:
            headers["If-None-Exist"] = condition
        try:
            answer = await self._http.post(f"{self.base}/{kind}", json=resource, headers=headers)
        except httpx.TransportError as exc:  # timeouts and connection errors alike
            raise _retry(f"{kind}: {type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code == 401:  # our token expired early or was revoked: a new one next time
            self._http.token = None
            raise _retry(f"{kind}: the EHR did not accept our access token (401)")
        problem = classify_http(
            answer.status_code, body, answer.headers.get("Retry-After"), now or utcnow(), kind
        )
        if problem is not None:
            raise AttemptStopped(problem)
        return _reference(kind, answer, body)


def _reference(kind: str, answer: httpx.Response, body: Any) -> str:
    if isinstance(body, dict) and body.get("id"):
        return f"{body.get('resourceType', kind)}/{body['id']}"
    location = answer.headers.get("Location", "")
    parts = location.split("/_history")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else location
