"""/metrics: Prometheus text that prometheus_client parses, counters that move when a patient
answers (two workers, added up by the multiprocess mode), and access only for the monitoring
network or the metrics token."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sdm_service.content import load_library
from sdm_service.settings import PROJECT_ROOT
from tests.observability.conftest import METRICS_TOKEN, SCRAPER_ADDRESS, OpsServer
from tests.reliability.live import Patient, complete_questionnaire, patient_client

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: OpsServer, *, address: str = SCRAPER_ADDRESS, token: str | None = None) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.get(f"{server.base_url}/metrics", headers=headers)


def samples(text: str) -> Samples:
    parsed: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def total(parsed: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (sample, keys), value in parsed.items() if sample == name and wanted <= set(keys))


async def download_pdf(server: OpsServer, patient: Patient) -> bytes:
    async with patient_client(server, patient) as client:  # type: ignore[arg-type]
        answer = await client.get("/q/iort-sdm/summary.pdf")
    assert answer.status_code == 200
    return answer.content


def test_counters_move_when_a_patient_answers(ops_server: OpsServer) -> None:
    before = samples(scrape(ops_server).text)
    content = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm")
    patient = asyncio.run(complete_questionnaire(ops_server, content, Patient(number=7)))  # type: ignore[arg-type]
    assert patient.completed, patient.stopped_by
    pdf = asyncio.run(download_pdf(ops_server, patient))
    assert pdf.startswith(b"%PDF")
    after = samples(scrape(ops_server).text)

    assert (
        total(after, "sdm_questionnaire_starts_total") == total(before, "sdm_questionnaire_starts_total") + 1
    )
    assert total(after, "sdm_questionnaire_completions_total") == (
        total(before, "sdm_questionnaire_completions_total") + 1
    )
    assert total(after, "sdm_questionnaire_steps_saved_total") > total(
        before, "sdm_questionnaire_steps_saved_total"
    )
    # Requests by route template and status, with latency histograms; never a raw path.
    steps = "/q/{slug}/step/{number}"
    assert any(dict(keys).get("path") == steps for (_, keys) in after), {
        str(dict(k).get("path")) for _, k in after
    }
    assert total(after, "sdm_requests_total", path=steps, method="POST", status_code="303") > total(
        before, "sdm_requests_total", path=steps, method="POST", status_code="303"
    )
    assert total(after, "sdm_request_duration_seconds_count", path=steps) > 0
    assert not any("/q/iort-sdm/" in str(dict(keys).get("path", "")) for (_, keys) in after)
    pools = {dict(keys)["pool"] for name, keys in after if name == "sdm_db_pool_connections"}
    assert pools == {"request", "side"}
    assert total(after, "sdm_summaries_rendered_total") > total(before, "sdm_summaries_rendered_total")


def test_metrics_are_refused_outside_the_monitoring_network_without_the_token(ops_server: OpsServer) -> None:
    outsider = "127.0.0.3"
    assert scrape(ops_server, address=outsider).status_code == 403
    assert scrape(ops_server, address=outsider, token="wrong-token").status_code == 403
    with_token = scrape(ops_server, address=outsider, token=METRICS_TOKEN)
    assert with_token.status_code == 200
    assert with_token.headers["content-type"].startswith("text/plain")
    assert scrape(ops_server).status_code == 200  # the allowed address needs no token
