"""Cross-cutting protection for every request, wired in create_app():

- ``security_headers_hook``: a before-send hook, so every response (pages, API, FHIR, static files,
  errors, even unmatched paths) carries the security headers and, unless static or the handler chose
  otherwise, ``Cache-Control: no-store`` (patient data must not stay in shared or browser caches).
- ``TrustedHostMiddleware``: a request whose Host is not ours gets 400 (no poisoned absolute links).
- ``RateLimitMiddleware``: 429 + Retry-After for link lookups per client address and for API/FHIR
  calls per bearer token and, whatever the token, per client address; counted in the shared store
  (database or Redis, see ratelimit.py).
- ``BodySizeLimitMiddleware``: 413 for bodies over the form or JSON limit, before they are parsed.

The middlewares raise HTTPExceptions or rate-limit exceptions (mapped in errors.py), so each
path's own exception handlers answer in its format: an HTML page for pages, problem JSON for /api,
an OperationOutcome for /fhir.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import ClientException, HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from sdm_service import ratelimit
from sdm_service.paths import API_PREFIXES, HEALTH_PATH, LINK_PREFIXES, PROBE_PATHS, STATIC_PREFIX
from sdm_service.security import hash_token
from sdm_service.settings import Settings

logger = logging.getLogger("sdm_service.middleware")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=()"
)


def content_security_policy(settings: Settings) -> str:
    """The CSP; with OpenID Connect, sign-out (a form posted here) may redirect to the provider's
    end_session_endpoint, which Chromium checks against form-action."""
    if not settings.oidc_enabled:
        return CONTENT_SECURITY_POLICY
    parts = urlsplit(settings.oidc_issuer)
    return f"{CONTENT_SECURITY_POLICY} {parts.scheme}://{parts.netloc}"


HSTS = "max-age=63072000; includeSubDomains"
# Paths whose responses never carry patient data and may be cached.
CACHEABLE_PREFIXES = (STATIC_PREFIX,)
CACHEABLE_PATHS = frozenset({HEALTH_PATH})

HOST_CHECK_EXEMPT = PROBE_PATHS
TOO_MANY_LINK_ATTEMPTS = "Too many link attempts from this address; try again later."
LINK_FAILURE_STATUSES = frozenset({400, 403, 404, 410})  # a wrong, expired or withdrawn link


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """A Litestar ``before_send`` hook adding the security headers to every HTTP response."""
    fixed = {
        "content-security-policy": content_security_policy(settings),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "permissions-policy": PERMISSIONS_POLICY,
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
    }
    if settings.is_production:
        fixed["strict-transport-security"] = HSTS
    # Encoded once here rather than on every response.
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fixed.items()]
    no_store = (b"cache-control", b"no-store")

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers") or ())
        present = {name.lower() for name, _ in headers}
        # A handler's own, stricter choice wins.
        headers.extend(header for header in encoded if header[0] not in present)
        path = scope.get("path", "")
        cacheable = path in CACHEABLE_PATHS or path.startswith(CACHEABLE_PREFIXES)
        if not cacheable and b"cache-control" not in present:
            headers.append(no_store)
        message["headers"] = headers

    return add_security_headers


def allow_header_hook() -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook listing every method of a path in the ``Allow`` of its OPTIONS answer.

    Litestar 2 builds the OPTIONS handler of a path when its first handler is registered, so a path
    served by several handlers (GET and POST) answered with the first one's methods only
    (litestar#4169, fixed in Litestar 3)."""
    methods_by_path: dict[str, bytes] = {}

    async def list_every_method(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        headers = list(message.get("headers") or ())
        if not any(name.lower() == b"allow" for name, _ in headers):
            return
        if not methods_by_path:  # the routes are complete once the app serves requests
            for route in scope["app"].routes:
                if isinstance(route, HTTPRoute):
                    methods_by_path[route.path_format] = ", ".join(sorted(route.methods)).encode("latin-1")
        allowed = methods_by_path.get(scope.get("path_template", ""))
        if allowed is not None:
            message["headers"] = [
                (name, allowed if name.lower() == b"allow" else value) for name, value in headers
            ]

    return list_every_method


def _host_without_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_is_trusted(host: str, trusted: list[str]) -> bool:
    name = _host_without_port(host)
    if not name:
        return False
    for pattern in trusted:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class TrustedHostMiddleware(ASGIMiddleware):
    """Our own check rather than Litestar's AllowedHostsConfig, which compares the Host header
    including its port (so ``127.0.0.1:8000`` would not match ``127.0.0.1``).

    /health, its live and ready checks and /metrics are answered on any host: probes and scrapers
    call them by internal address, and they carry nothing built from the Host header."""

    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(lambda scope: scope["path"] in HOST_CHECK_EXEMPT)

    def __init__(self, settings: Settings) -> None:
        self.trusted = settings.trusted_hosts

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        host = MutableScopeHeaders(scope=scope).get("host") or ""
        if not host_is_trusted(host, self.trusted):
            logger.warning("refused request for untrusted host %r", host[:100])
            raise ClientException(
                status_code=400, detail="This address is not served here (unknown Host header)."
            )
        await next_app(scope, receive, send)


class RequestTooLarge(HTTPException):
    status_code = 413


def _body_limit(content_type: str, settings: Settings) -> tuple[int, str]:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return settings.max_form_body_bytes, "form"
    return settings.max_json_body_bytes, "request body"


def _too_large(limit: int, what: str) -> RequestTooLarge:
    return RequestTooLarge(
        status_code=413,
        detail=f"The {what} is too large: the limit is {limit // 1024} KiB. Send less at once.",
    )


class BodySizeLimitMiddleware(ASGIMiddleware):
    """Refuses bodies over the limit for their content type: by Content-Length up front, and by
    counting the bytes as they arrive (chunked bodies announce no length)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = MutableScopeHeaders(scope=scope)
        limit, what = _body_limit(headers.get("content-type") or "", self.settings)
        announced = headers.get("content-length")
        if announced is not None:
            if not announced.strip().isdigit():
                raise ClientException(status_code=400, detail="The Content-Length header is not a number.")
            if int(announced) > limit:
                raise _too_large(limit, what)

        received = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit, what)
            return message

        await next_app(scope, counting_receive, send)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def request_ip(request: Request[Any, Any, Any]) -> str:
    """The client address as recorded in the audit log and sessions ("" when unknown)."""
    client = request.client
    return client.host if client else ""


def bearer_token(scope: Scope) -> str | None:
    value = MutableScopeHeaders(scope=scope).get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class RateLimitMiddleware(ASGIMiddleware):
    """Link lookups: only failed lookups (a wrong, expired or withdrawn link) count, and only they
    are refused once an address is over its limit, so a patient opening a real link is never
    blocked by strangers behind the same address (a waiting room, a hospital's NAT).
    API and FHIR: every request counts, per bearer token (its hash), or per address without one, and
    also against a higher ceiling per address, so sending a different token each time does not
    escape the limit."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.link_limit = ratelimit.Limit(
            "link-lookup", settings.link_lookups_per_window, settings.link_lookup_window_seconds
        )
        self.api_limit = ratelimit.Limit(
            "api", settings.api_requests_per_window, settings.api_request_window_seconds
        )
        self.api_address_limit = ratelimit.Limit(
            "api-ip", settings.api_address_limit, settings.api_request_window_seconds
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        store: ratelimit.RateLimitStore = scope["app"].state.rate_limit_store
        if path.startswith(LINK_PREFIXES):
            key = f"ip:{client_address(scope)}"
            await next_app(scope, receive, self._refuse_failures_over_limit(store, key, send))
            return
        if path.startswith(API_PREFIXES):
            address = f"ip:{client_address(scope)}"
            # The address first: a client inventing a new token for every request meets this
            # ceiling, and once over it its requests add no per-token counters either.
            token = bearer_token(scope)
            key = f"token:{hash_token(token)}" if token else address
            # Both counts in one store round trip (one statement on the database store).
            wait = await store.enforce_many([(self.api_address_limit, address), (self.api_limit, key)])
            if wait is not None:
                raise ratelimit.RateLimited(wait)
        await next_app(scope, receive, send)

    def _refuse_failures_over_limit(self, store: ratelimit.RateLimitStore, key: str, send: Send) -> Send:
        """The link is looked up first (a hashed, indexed read), so a working link is answered and
        never counted. A failed lookup is counted unless the address is over its limit, in one
        atomic step: when it is over, the failure becomes a 429 before anything is sent. Checking
        before the request and counting after the response let a concurrent burst through."""

        async def send_or_refuse(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in LINK_FAILURE_STATUSES:
                wait = await ratelimit.admit(store, self.link_limit, key)
                if wait is not None:
                    raise ratelimit.RateLimited(wait, TOO_MANY_LINK_ATTEMPTS)
            await send(message)

        return send_or_refuse


def middleware_stack(settings: Settings) -> list[ASGIMiddleware]:
    """Outermost first: refuse foreign hosts, then over-limit clients, then oversized bodies."""
    return [TrustedHostMiddleware(settings), RateLimitMiddleware(settings), BodySizeLimitMiddleware(settings)]
