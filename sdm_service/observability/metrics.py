"""Prometheus metrics at /metrics, through Litestar's PrometheusConfig and PrometheusController.

Request counts and latency come from Litestar's middleware, labelled by route template (never a
raw path: link tokens live in paths). The service's own counters are below; like every
prometheus_client metric they are process-wide. With several `sdm run` workers each process keeps
its own values, so `sdm run --workers N` (N > 1) sets PROMETHEUS_MULTIPROC_DIR and the controller
adds the workers' files up (prometheus_client's multiprocess mode).

Access: the client address must be in SDM_METRICS_ALLOW, or the request must carry
`Authorization: Bearer <SDM_METRICS_TOKEN>`; anyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Any

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController, PrometheusMiddleware
from litestar.types import Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.errors import http_exception_for
from sdm_service.observability.counters import DB_POOL_CONNECTIONS, PREFIX
from sdm_service.paths import METRICS_PATH
from sdm_service.settings import Settings


class RouteMetricsMiddleware(PrometheusMiddleware):
    """Litestar's middleware (its metrics and labels), also counting requests that an inner
    middleware refused by raising (a rate limit, an untrusted host, a body too large): those are
    answered outside the middleware, which would otherwise record them as 200."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request[Any, Any, Any](scope, receive)
        labels = {**self._get_default_labels(request), **self._get_extra_labels(request)}
        started = time.perf_counter()
        status = 200

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.requests_in_progress(labels).labels(*labels.values()).inc()
        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            meaning = exc if isinstance(exc, HTTPException) else http_exception_for(exc)
            status = meaning.status_code if meaning is not None else 500
            raise
        finally:
            self.requests_in_progress(labels).labels(*labels.values()).dec()
            labels["status_code"] = status
            values = [*labels.values()]
            if status >= 500:
                self.requests_error_count(labels).labels(*values).inc()
            self.request_count(labels).labels(*values).inc()
            self.request_time(labels).labels(*values).observe(time.perf_counter() - started)


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="sdm-service",
        prefix=PREFIX,
        group_path=True,  # the route template, never the path (link tokens)
        exclude=[f"^{METRICS_PATH}$"],  # scrapes are not traffic
        middleware_class=RouteMetricsMiddleware,
    )


def _allowed_networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.metrics_allow]


def metrics_guard(settings: Settings) -> Any:
    """A Litestar guard: an allowed address or the metrics bearer token, else 403."""
    networks = _allowed_networks(settings)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        if token:
            scheme, _, presented = (connection.headers.get("authorization") or "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), token):
                return
        host = connection.client.host if connection.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and any(address in network for network in networks):
            return
        raise PermissionDeniedException("Metrics are available only from the monitoring network.")

    return guard


def observe_pools(engines: dict[str, AsyncEngine]) -> None:
    """Set the pool gauges from each engine's pool, at scrape time."""
    for name, engine in engines.items():
        pool: Any = engine.pool
        checked_out = pool.checkedout() if hasattr(pool, "checkedout") else 0
        idle = pool.checkedin() if hasattr(pool, "checkedin") else 0
        DB_POOL_CONNECTIONS.labels(name, "checked_out").set(checked_out)
        DB_POOL_CONNECTIONS.labels(name, "idle").set(idle)


def metrics_controller(settings: Settings, engines: dict[str, AsyncEngine]) -> type[PrometheusController]:
    """Litestar's controller at /metrics behind the guard, refreshing the pool gauges first."""

    class MetricsController(PrometheusController):
        path = METRICS_PATH
        guards = [metrics_guard(settings)]
        include_in_schema = False

        @get(cache=False)
        async def get(self) -> Response[Any]:
            observe_pools(engines)
            return await PrometheusController.get.fn(self)

    return MetricsController
