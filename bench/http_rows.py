"""The HTTP rows on the large data set: the patient step GET and POST, the FHIR read and the stored
PDF GET, each with its ceiling. Each prepare function makes its set-up requests for real, checks
them once, and writes the request files wrk replays."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench import flows
from bench.loadgen import STEP_POST_SCRIPT, PreparedRequest, write_requests
from bench.options import Options
from bench.rows import (
    ESSENTIAL_TARGET,
    PROXY,
    REFERENCE,
    STORED_PDF_RATIO_MIN,
    DataSets,
    Pair,
    Row,
)
from bench.servers import RunningServer


def prepare_patient_rows(
    service: RunningServer, data: DataSets, opts: Options, folder: Path, ceiling: RunningServer
) -> tuple[Pair, ...]:
    get_row = Row(
        "step_get",
        "Step GET / essential",
        "GET step page (reads the in-progress response)",
        "1 indexed read + the same step template",
        "rps",
        ESSENTIAL_TARGET,
        ">=",
    )
    post_row = Row(
        "step_post",
        "Step POST / essential",
        "POST step (CSRF, validate, save)",
        "form parse + CSRF + 1 conditional UPDATE",
        "rps",
        ESSENTIAL_TARGET,
        ">=",
    )
    get_bare = Row(
        "step_get_bare",
        "Step GET / bare page",
        get_row.service_label,
        "GET template page",
        "rps",
        0,
        REFERENCE,
    )
    post_bare = Row(
        "step_post_bare", "Step POST / bare form", post_row.service_label, "POST form", "rps", 0, REFERENCE
    )
    # One patient walks in through the start page (proves the flow); the rest resume sessions the
    # seeder left at the same step, since starts are rate-limited per address (30 per 10 minutes).
    first, action = flows.start_patient_session(service.base_url)
    sessions = [first] + [
        flows.resume_patient_session(service.base_url, first.step_path, token)
        for token in data.large.patient_tokens[: max(opts.sessions, opts.connections) - 1]
    ]
    flows.check_get(service.base_url, sessions[0].get_request(), "patient step page")
    next_step = flows.check_step_post(service.base_url, sessions[0], action)
    # One wrk thread per connection for the POST row, each owning one session (see step_post.lua).
    post_sessions = sessions[: opts.connections]
    post_file = folder / "step_post.req"

    def refresh_post_file() -> None:
        fresh = [session.refreshed(service.base_url) for session in post_sessions]
        write_requests(post_file, [session.post_request(action) for session in fresh])

    refresh_post_file()
    post_row.note = (
        f"POST {action} -> 303 {next_step}; {len(post_sessions)} patient sessions, "
        f"one per connection (wrk threads = connections on both sides)"
    )
    get_row.note = f"GET {sessions[0].step_path}; {len(sessions)} patient sessions rotated"
    ceiling_page = PreparedRequest("GET", "/page", dict(PROXY))
    ceiling_form = PreparedRequest(
        "POST", "/form", {**PROXY, "Content-Type": flows.FORM_TYPE}, "answer=somewhat&lock_version=1"
    )
    flows.check_get(ceiling.base_url, ceiling_page, "ceiling page")
    step_get_file = write_requests(folder / "step_get.req", [s.get_request() for s in sessions])
    flows.check_get(ceiling.base_url, sessions[0].get_request(), "essential step page")
    get_pair = Pair(get_row, service.base_url, step_get_file, ceiling.base_url, step_get_file)
    get_bare_pair = Pair(
        get_bare,
        service.base_url,
        step_get_file,
        ceiling.base_url,
        write_requests(folder / "ceiling_page.req", [ceiling_page]),
    )
    # The essential save answers on the same path with the same sessions, cookies and CSRF pair
    # (same secret): both sides share the rows, so each run starts from freshly read lock versions.
    post_pair = Pair(
        post_row,
        service.base_url,
        post_file,
        ceiling.base_url,
        post_file,
        script=STEP_POST_SCRIPT,
        threads=opts.connections,
        before_a=refresh_post_file,
        before_b=refresh_post_file,
    )
    post_bare_pair = Pair(
        post_bare,
        service.base_url,
        post_file,
        ceiling.base_url,
        write_requests(folder / "ceiling_form.req", [ceiling_form] * opts.connections),
        script=STEP_POST_SCRIPT,
        threads=opts.connections,
        before_a=refresh_post_file,
    )
    post_bare.note, get_bare.note = post_row.note, get_row.note
    return get_pair, post_pair, get_bare_pair, post_bare_pair


def prepare_fhir_row(
    service: RunningServer, data: DataSets, folder: Path, ceiling: RunningServer
) -> tuple[Pair, Pair]:
    row = Row(
        "fhir_read",
        "FHIR QR read / essential",
        "GET /fhir/QuestionnaireResponse/{id} (bearer)",
        "token + row read, 1 audit INSERT, same JSON",
        "rps",
        ESSENTIAL_TARGET,
        ">=",
    )
    bare = Row(
        "fhir_read_bare", "FHIR QR read / bare JSON", row.service_label, "GET JSON", "rps", 0, REFERENCE
    )
    headers = {**PROXY, "Authorization": f"Bearer {data.large.api_token}", "Accept": "application/fhir+json"}
    requests = [
        PreparedRequest("GET", f"/fhir/QuestionnaireResponse/{rid}", headers)
        for rid in data.large.completed_response_ids
    ]
    response = flows.check_get(service.base_url, requests[0], "FHIR QuestionnaireResponse read")
    if response.json().get("resourceType") != "QuestionnaireResponse":
        raise flows.FlowError("the FHIR read did not return a QuestionnaireResponse")
    row.note = f"{len(requests)} completed responses rotated"
    ceiling_json = PreparedRequest("GET", "/json", dict(PROXY))
    flows.check_get(ceiling.base_url, ceiling_json, "ceiling JSON")
    essential = flows.check_get(ceiling.base_url, requests[0], "essential FHIR read")
    if essential.json() != {**response.json(), "meta": essential.json().get("meta")}:
        raise flows.FlowError("the essential FHIR read does not serialise the same resource")
    bare.note = row.note
    fhir_file = write_requests(folder / "fhir_read.req", requests)
    return _with_json_reference(row, bare, service, ceiling, fhir_file, folder / "ceiling_json.req")


def prepare_stored_pdf_row(
    service: RunningServer, data: DataSets, folder: Path, ceiling: RunningServer
) -> tuple[Pair, Pair]:
    """The stored summary PDF served over the JSON API: bytes read back, never rendered again.
    Against its essential work (token lookup, the stored document's row, one audit INSERT, the
    bytes sent) and, for reference, against the bare JSON GET (no I/O at all)."""
    row = Row(
        "stored_pdf",
        "Stored PDF GET / essential",
        "GET /api/v1/responses/{id}/summary.pdf (bearer)",
        "token + document row read, 1 audit INSERT, same bytes",
        "rps",
        STORED_PDF_RATIO_MIN,
        ">=",
    )
    bare = Row(
        "stored_pdf_bare", "Stored PDF GET / JSON GET", row.service_label, "GET JSON", "rps", 0, REFERENCE
    )
    headers = {**PROXY, "Authorization": f"Bearer {data.large.api_token}"}
    requests = [
        PreparedRequest("GET", f"/api/v1/responses/{rid}/summary.pdf", headers)
        for rid in data.large.completed_response_ids
    ]
    # The seeded rows predate their documents: the first GET of each renders and stores it (as for
    # a response completed before documents were stored), so under load every GET is a stored one.
    sizes = []
    for request in requests:
        response = flows.check_get(service.base_url, request, "stored PDF")
        if not response.content.startswith(b"%PDF"):
            raise flows.FlowError("the summary download is not a PDF")
        sizes.append(len(response.content))
    essential = flows.check_get(ceiling.base_url, requests[0], "essential stored PDF")
    if essential.content != flows.check_get(service.base_url, requests[0], "stored PDF").content:
        raise flows.FlowError("the essential stored PDF GET does not send the same bytes")
    row.note = f"{len(requests)} stored PDFs rotated, median {statistics.median(sizes) / 1024:.0f} KiB"
    bare.note = row.note
    pdf_file = write_requests(folder / "stored_pdf.req", requests)
    return _with_json_reference(row, bare, service, ceiling, pdf_file, folder / "ceiling_json_pdf.req")


def _with_json_reference(
    row: Row,
    bare: Row,
    service: RunningServer,
    ceiling: RunningServer,
    request_file: Path,
    json_file: Path,
) -> tuple[Pair, Pair]:
    """An API row against its essential ceiling (the same requests replayed on both sides), and the
    same requests against the bare JSON GET (no I/O) for reference."""
    json_requests = write_requests(json_file, [PreparedRequest("GET", "/json", dict(PROXY))])
    return (
        Pair(row, service.base_url, request_file, ceiling.base_url, request_file),
        Pair(bare, service.base_url, request_file, ceiling.base_url, json_requests),
    )
