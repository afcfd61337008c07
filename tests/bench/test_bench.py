"""The benchmark harness keeps working: its data generator makes valid data, and a tiny run of
`python -m bench` measures every row. No figure is asserted (speed is judged by `make bench`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bench import pdfbench
from bench.flows import parse_forms
from bench.run import main as bench_main
from bench.seed import seed_database
from sdm_service.content import load_library
from sdm_service.content.logic import validate_answers
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.models import PatientResponse, ResponseStatus
from sdm_service.security import hash_token
from sdm_service.settings import PROJECT_ROOT, normalise_database_url
from tests.ehr_servers import REQUIRE_NODE, node_missing_reason

HTTP_ROWS = {
    "step_get",
    "step_post",
    "fhir_read",
    "step_get_bare",
    "step_post_bare",
    "fhir_read_bare",
    "stored_pdf",
    "stored_pdf_bare",
    "worklist_p95",
}


async def test_seeded_responses_are_valid_answers_with_stored_summaries(database_url: str) -> None:
    result = await seed_database(database_url, 120, patient_sessions=3, migrate_first=False)
    assert result.responses == 120
    content = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm")
    engine = create_async_engine(normalise_database_url(database_url))
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(PatientResponse.__table__))).mappings().all()  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
    assert len(rows) == 123  # 120 + the three patient sessions
    done = [row for row in rows if row["status"] in (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED)]
    assert done, "the mix has completed responses"
    for row in done:
        today = row["completed_at"].date()
        _clean, errors = validate_answers(content.questionnaire, row["answers"], today=today, complete=True)
        assert errors == {}
        snapshot = SummarySnapshot.model_validate(row["summary"])
        assert snapshot.response_id == str(row["id"])
    assert all(row["summary"] is None for row in rows if row["status"] == ResponseStatus.IN_PROGRESS)
    hashes = {row["resume_token_hash"] for row in rows}
    assert all(hash_token(token) in hashes for token in result.patient_tokens)
    assert set(result.completed_response_ids) <= {str(row["id"]) for row in done}


async def test_form_parser_submits_what_a_browser_would() -> None:
    html = """
    <form method="post" action="/q/x/step/3">
      <input type="hidden" name="_csrf_token" value="abc">
      <input type="radio" name="a" value="not"><input type="radio" name="a" value="very" checked>
      <input type="radio" name="b" value="x"><input type="radio" name="b" value="y">
      <input type="radio" name="b" value="z">
      <input type="checkbox" name="c" value="one"><input type="checkbox" name="c" value="two">
      <textarea name="notes"> kept </textarea>
      <button type="submit" name="action" value="back">Back</button>
      <button type="submit" name="action" value="continue">Continue</button>
    </form>"""
    (form,) = parse_forms(html)
    body = form.body(form.continue_button())
    assert ("_csrf_token", "abc") in body
    assert ("a", "very") in body  # the checked option is kept
    assert ("b", "y") in body  # nothing checked: a valid option is chosen
    assert ("c", "one") in body  # a group with nothing ticked gets one box
    assert ("notes", "kept") in body
    assert ("action", "continue") in body
    assert ("action", "back") not in body


# The WeasyPrint peer's document: the peer is proved to render, once it is warm, on a tiny page
# (the real summary page is ten pages, seconds per render on this machine).
TINY_PEER_PAGE = "<!doctype html><html><body><h1>Summary</h1><p>One short paragraph.</p></body></html>"


@pytest.mark.slow
def test_tiny_benchmark_run_measures_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bench` at the least the harness allows (one round of one second, no warm-up, one
    connection, a handful of responses) still produces every row with its ceiling and a ratio."""
    monkeypatch.setattr(pdfbench, "summary_page_html", lambda _snapshot: TINY_PEER_PAGE)
    output = tmp_path / "results.json"
    code = bench_main(
        [
            "--duration=1",
            "--rounds=1",
            "--warmup=0",
            "--connections=1",
            "--responses=10",
            "--small-responses=1",
            "--servers=uvicorn",
            "--pdf-seconds=0.01",
            "--deliveries=2",
            "--delivery-threads=1",
            "--postgres-url=",
            f"--output={output}",
            f"--workdir={tmp_path / 'work'}",
        ]
    )
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert code == 0, log
    report = json.loads(output.read_text())
    (run,) = report["http"]
    assert {row["key"] for row in run["rows"]} == HTTP_ROWS, log
    for row in run["rows"]:
        assert row["error"] is None, row
        for side in ("service", "ceiling"):
            assert row[side]["requests"] > 0, row
            assert row[side]["errors"] == 0, row  # every request answered as expected (no 4xx/5xx)
        assert row["ratio"] is not None
        assert run["peak_rss"]["service"]["mb"] > 0
    assert report["pdf"]["service"]["renders_per_s"] > 0
    assert report["pdf"]["ceiling"]["renders_per_s"] > 0
    assert report["pdf"]["ratio"] is not None
    assert report["pdf"]["peer"]["renders_per_s"] > 0  # WeasyPrint rendered a page to PDF
    assert report["pdf"]["peer"]["speedup"] is not None
    deliveries = report["deliveries"]  # into the local FHIR server (tests/ehr's Node servers)
    if node_missing_reason() is None or REQUIRE_NODE:
        assert deliveries["error"] is None, deliveries
        assert deliveries["delivered"] == 2, deliveries
        assert deliveries["per_second"] > 0, deliveries
        assert deliveries["p95_s"] is not None, deliveries
    else:
        assert deliveries["error"], deliveries  # not measured, and it says why
    for title in ("Step GET / essential", "Step POST / essential", "FHIR QR read / essential", "PDF summary"):
        assert title in log
    assert "PDF: ours vs WeasyPrint peer" in log


def test_peer_renders_the_service_summary_page_for_the_snapshot() -> None:
    """The WeasyPrint peer gets the real web summary page: the service's own template set-up
    (its filters and translations) and the snapshot's content, in the snapshot's language."""
    snapshot = pdfbench.realistic_snapshot()
    html = pdfbench.summary_page_html(snapshot)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert 'href="/static/app.css"' in html  # the page's stylesheet, which the peer also loads
    assert snapshot.discussion_points
    assert snapshot.discussion_points[0].title in html
    spanish = pdfbench.summary_page_html(snapshot.model_copy(update={"language": "es"}))
    assert 'lang="es"' in spanish
    assert spanish != html


def test_pdf_ceiling_is_one_page_through_the_service_renderer() -> None:
    """The ceiling the summary is judged against is one page with the summary's embedded fonts."""
    ceiling = PdfReader(io.BytesIO(pdfbench.render_ceiling_pdf()))
    assert len(ceiling.pages) == 1
    fonts = ceiling.pages[0]["/Resources"]["/Font"]
    names = [str(fonts[key].get_object()["/BaseFont"]) for key in fonts]
    assert names
    assert all("DejaVuSans" in name for name in names)
    assert "Page 1 of 1" in ceiling.pages[0].extract_text()


def test_pdf_rows_rotate_through_different_patients_and_never_repeat_a_ceiling_page() -> None:
    """Nothing the renderer keeps between renders can flatter a PDF row: the summary and the peer
    rotate through different patients' summaries, and no two ceiling pages have the same text."""
    snapshots = pdfbench.realistic_snapshots()
    assert len(snapshots) == pdfbench.SNAPSHOTS > 1
    points = {tuple(point.title for point in s.discussion_points) for s in snapshots}
    names = {s.patient.name for s in snapshots}
    assert len(points) > 1  # different answers, so different points to discuss
    assert len(names) == len(snapshots)
    patients = pdfbench.new_patients(snapshots)
    stream = [patients() for _ in range(2 * len(snapshots))]
    assert [s.discussion_points for s in stream] == 2 * [s.discussion_points for s in snapshots]
    assert len({s.patient.name for s in stream}) == len({s.response_id for s in stream}) == len(stream)
    turns = pdfbench.rotating([lambda n=n: bytes([n]) for n in range(3)])
    assert [turns() for _ in range(4)] == [b"\x00", b"\x01", b"\x02", b"\x00"]
    first, later = (PdfReader(io.BytesIO(pdfbench.render_ceiling_pdf(serial))) for serial in (0, 4999))
    assert len(later.pages) == 1
    assert first.pages[0].extract_text() != later.pages[0].extract_text()
