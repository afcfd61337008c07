"""SDM_LOG_FORMAT=json on a real server: every stderr line is one JSON object with a request id
field; request lines name the route template, never a link token, query string or identifier."""

from __future__ import annotations

import json

import httpx

from tests.observability.conftest import OpsServer

LINK_TOKEN = "Zk3pQ9sT0kenThatMustNeverBeLogged_4711"
MRN = "MRN-884422"


def test_every_line_is_json_with_a_request_id_and_no_token(ops_server: OpsServer) -> None:
    base = ops_server.base_url
    sent_id = "ehr-trace-0001-abcdef"
    with httpx.Client(base_url=base, timeout=30) as client:
        invitation = client.get(f"/i/{LINK_TOKEN}?patient={MRN}", headers={"X-Request-ID": sent_id})
        resume = client.get(f"/r/{LINK_TOKEN}")
        start = client.get("/q/iort-sdm", headers={"X-Request-ID": "bad id <script>"})
        unmatched = client.get(f"/nowhere/{LINK_TOKEN}")
        api = client.get(
            f"/api/v1/responses?patient={MRN}", headers={"Authorization": f"Bearer {LINK_TOKEN}"}
        )

    # The id is returned: the client's when well formed, a fresh one otherwise, on every answer.
    assert invitation.headers["x-request-id"] == sent_id
    assert start.headers["x-request-id"] not in ("", "bad id <script>")
    for answer in (resume, unmatched, api):
        assert len(answer.headers["x-request-id"]) >= 8

    written = ops_server.wait_for_log(ops_server.marker())
    lines = [line for line in written.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= record.keys(), record
    assert LINK_TOKEN not in written
    assert MRN not in written
    assert "?" not in "".join(str(record.get("route", "")) for record in records)

    access = {record["request_id"]: record for record in records if record["logger"] == "sdm_service.access"}
    line = access[sent_id]
    assert line["route"] == "/i/{token}"
    assert line["method"] == "GET"
    assert line["status"] == invitation.status_code
    assert isinstance(line["duration_ms"], float | int)
    assert access[resume.headers["x-request-id"]]["route"] == "/r/{token}"
    assert access[start.headers["x-request-id"]]["route"] == "/q/{slug}"
    assert access[unmatched.headers["x-request-id"]]["route"] == "(unmatched)"
    assert access[api.headers["x-request-id"]]["status"] == 401
