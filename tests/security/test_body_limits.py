"""Oversized bodies are refused with 413 and a clear message, in each path's own format, before
they are parsed or stored; bodies within the limits pass."""

from __future__ import annotations

import json

from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from tests.conftest import make_settings
from tests.security import probes

FORM_LIMIT = 64 * 1024
JSON_LIMIT = 1024 * 1024


async def csrf_headers(client: AsyncTestClient[Litestar]) -> dict[str, str]:
    await client.get(probes.PAGE)  # sets the CSRF cookie
    return {"x-csrftoken": client.cookies["sdm_csrf"]}


def json_body(size: int) -> bytes:
    body = json.dumps({"text": "x" * size}).encode()
    return body[: size - 2] + b'"}' if len(body) > size else body


async def post_chunked(
    client: AsyncTestClient[Litestar], path: str, payload: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Call the app directly with a body in 16 KiB chunks and no Content-Length (as a chunked
    upload arrives), which the test client cannot send."""
    pieces = [payload[i : i + 16 * 1024] for i in range(0, len(payload), 16 * 1024)]
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    raw_headers = [(b"host", b"testserver.local"), (b"cookie", cookie.encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
    }  # fmt: skip
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        if pieces:
            return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await client.app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}  # type: ignore[attr-defined]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return int(start["status"]), response_headers, body  # type: ignore[call-overload]


async def test_a_json_body_over_the_limit_is_a_413_problem(probe_client: AsyncTestClient[Litestar]) -> None:
    response = await probe_client.post(
        probes.API, content=json_body(JSON_LIMIT + 10), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert "too large" in response.json()["detail"]
    assert "1024 KiB" in response.json()["detail"]


async def test_a_json_body_within_the_limit_is_accepted(probe_client: AsyncTestClient[Litestar]) -> None:
    body = {"answers": {str(n): "x" * 100 for n in range(5000)}}  # about 600 KiB: a generous response
    response = await probe_client.post(probes.API, json=body)
    assert response.status_code == 201
    assert response.json() == {"keys": 1}


async def test_a_fhir_json_body_has_the_json_limit(probe_client: AsyncTestClient[Litestar]) -> None:
    response = await probe_client.post(
        probes.API,
        content=json_body(JSON_LIMIT + 10),
        headers={"content-type": "application/fhir+json"},
    )
    assert response.status_code == 413


async def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(
    probe_client: AsyncTestClient[Litestar],
) -> None:
    status, _, body = await post_chunked(
        probe_client, probes.API, json_body(JSON_LIMIT * 2), {"content-type": "application/json"}
    )
    assert status == 413
    assert "too large" in json.loads(body)["detail"]


async def test_a_form_over_the_form_limit_is_a_friendly_413_page(
    probe_client: AsyncTestClient[Litestar],
) -> None:
    headers = await csrf_headers(probe_client)
    response = await probe_client.post(probes.FORM, data={"note": "x" * (FORM_LIMIT + 1)}, headers=headers)
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "Too much to send at once" in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_a_chunked_form_is_cut_off_at_the_form_limit(probe_client: AsyncTestClient[Litestar]) -> None:
    headers = await csrf_headers(probe_client)
    headers["content-type"] = "application/x-www-form-urlencoded"
    payload = b"note=" + b"x" * (FORM_LIMIT * 2)
    status, response_headers, body = await post_chunked(probe_client, probes.FORM, payload, headers)
    assert status == 413
    assert "Too much to send at once" in body.decode()
    assert response_headers["content-security-policy"]


async def test_a_form_within_the_limit_is_accepted(probe_client: AsyncTestClient[Litestar]) -> None:
    headers = await csrf_headers(probe_client)
    response = await probe_client.post(probes.FORM, data={"note": "x" * 20_000, "b": "1"}, headers=headers)
    assert response.status_code == 201
    assert "2 fields" in response.text


async def test_limits_come_from_settings(sqlite_url: str) -> None:
    app = probes.add_probes(create_app(make_settings(sqlite_url, max_json_body_bytes=4096)))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        small = await client.post(probes.API, json={"text": "x" * 3000})
        large = await client.post(probes.API, json={"text": "x" * 5000})
    assert small.status_code == 201
    assert large.status_code == 413
    assert "4 KiB" in large.json()["detail"]


async def test_a_content_length_that_is_not_a_number_is_a_400(
    probe_client: AsyncTestClient[Litestar],
) -> None:
    response = await probe_client.post(
        probes.API, content=b"{}", headers={"content-type": "application/json", "content-length": "lots"}
    )
    assert response.status_code == 400


async def test_a_fhir_body_over_the_limit_is_an_operation_outcome_413(
    probe_client: AsyncTestClient[Litestar],
) -> None:
    response = await probe_client.post(
        "/fhir/QuestionnaireResponse",
        content=json_body(JSON_LIMIT + 10),
        headers={"content-type": "application/fhir+json", "Authorization": "Bearer any-token"},
    )
    assert response.status_code == 413
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "too large" in json.dumps(outcome)
