"""Traces through OpenTelemetry: Litestar's OpenTelemetryPlugin (opentelemetry-instrumentation-asgi
underneath) for requests, and the SQLAlchemy instrumentation for database spans.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (spans then go there over OTLP/HTTP, with the OTEL_*
variables the SDK reads), or create_app() is handed a tracer provider (the tests' in-memory one).
The provider is the app's own, never the process-global one.

Spans name the route template, never the path: a span starts before routing, so it is first named
with the link token masked, and renamed to the template once the route is known (rename_span, from
a before-send hook). Every URL attribute is masked and loses its query string.
"""

from __future__ import annotations

from typing import Any

from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import Message, Scope
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import Span
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service import __version__
from sdm_service.logging_filters import mask_path
from sdm_service.settings import Settings

SERVICE_NAME = "sdm-service"


def tracer_provider_from_settings(settings: Settings) -> TracerProvider | None:
    """An OTLP-exporting provider when an endpoint is configured, else None (tracing off)."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": SERVICE_NAME, "service.version": __version__})
    )
    # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT...) itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's first name: method and path with link tokens masked (the route is not known yet)."""
    method = str(scope.get("method", "")).strip()
    path = mask_path(str(scope.get("path", "")).strip())
    return (f"{method} {path}" if method else path), {}


def _mask_url_attributes(span: Span, _scope: dict[str, Any]) -> None:
    """Overwrite any attribute carrying the path or URL with its masked, query-less form."""
    attributes = getattr(span, "attributes", None) or {}
    for key, value in list(attributes.items()):
        if isinstance(value, str) and "/" in value:
            masked = mask_path(value)
            if masked != value:
                span.set_attribute(key, masked)
    for key in ("url.query", "http.query"):
        if key in attributes:
            span.set_attribute(key, "")


async def name_span_after_route(message: Message, scope: Scope) -> None:
    """A before-send hook: name the request's span after its route template, known by now."""
    if message["type"] != "http.response.start":
        return
    template = scope.get("path_template")
    span = trace.get_current_span()
    if template and span.is_recording():
        span.update_name(f"{scope.get('method', '')} {template}")
        span.set_attribute(HTTP_ROUTE, template)


def instrument_engines(provider: TracerProvider, engines: list[AsyncEngine]) -> None:
    """Database spans for each engine (not the instrumentor's global create_engine patching)."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    connections = (
        NoOpMeterProvider().get_meter(SERVICE_NAME).create_up_down_counter("db.client.connections.usage")
    )
    for engine in engines:
        EngineTracer(tracer, engine.sync_engine, connections)


def opentelemetry_plugin(provider: TracerProvider) -> OpenTelemetryPlugin:
    return OpenTelemetryPlugin(
        OpenTelemetryConfig(
            tracer_provider=provider,
            meter_provider=NoOpMeterProvider(),  # metrics are Prometheus's (metrics.py)
            scope_span_details_extractor=_span_details,
            server_request_hook_handler=_mask_url_attributes,
            exclude_spans=["receive", "send"],  # one span per request, plus its database spans
            scopes={"http"},  # type: ignore[arg-type]
        )
    )
