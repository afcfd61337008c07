"""Traces: one span per request named after its route template (never a link token or query
string), with the database spans of that request as its children."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sdm_service.app import create_app
from sdm_service.observability.tracing import tracer_provider_from_settings
from tests.conftest import make_settings

LINK_TOKEN = "TraceTokenThatMustNeverBeRecorded_0042"


async def test_request_spans_name_the_route_and_hold_the_database_spans(sqlite_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(make_settings(sqlite_url), tracer_provider=provider)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get(f"/r/{LINK_TOKEN}?patient=MRN-5")).status_code == 404
        assert (await client.get("/health/ready")).status_code == 200
    spans = exporter.get_finished_spans()
    servers = {span.name: span for span in spans if span.kind.name == "SERVER"}
    assert set(servers) >= {"GET /r/{token}", "GET /health/ready"}, sorted(servers)
    link = servers["GET /r/{token}"]
    assert link.attributes is not None
    assert link.attributes["http.route"] == "/r/{token}"
    children = [span for span in spans if span.parent and span.parent.span_id == link.context.span_id]
    assert any(span.attributes and "db.statement" in span.attributes for span in children), [
        s.name for s in children
    ]
    everything = " ".join(f"{span.name} {dict(span.attributes or {})}" for span in spans)
    assert LINK_TOKEN not in everything
    assert "MRN-5" not in everything


def test_tracing_is_off_without_an_endpoint_and_exports_over_otlp_with_one(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracer_provider_from_settings(make_settings(sqlite_url)) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    provider = tracer_provider_from_settings(make_settings(sqlite_url))
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "sdm-service"
    provider.shutdown()
