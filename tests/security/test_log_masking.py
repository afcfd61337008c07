"""Link tokens and query strings stay out of the logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar import Litestar, Request
from litestar.testing import AsyncTestClient

from sdm_service.logging_filters import LinkTokenFilter, mask_path
from sdm_service.observability.logs import uvicorn_log_config
from sdm_service.web import errors

Client = AsyncTestClient[Litestar]
PASSWORD = "a-long-enough-password-42"


TOKEN = "Zq3-secret_token_Abc123xyz"


def _record(msg: str, args: Any) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_the_access_log_line_keeps_its_shape_without_the_token() -> None:
    from uvicorn.logging import AccessFormatter

    record = _record(
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.7:5123", "GET", f"/r/{TOKEN}?utm=mail&patient=MRN-1", "1.1", 303),
    )
    assert LinkTokenFilter().filter(record) is True
    line = AccessFormatter(
        fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
    ).format(record)
    assert TOKEN not in line
    assert "MRN-1" not in line
    assert line.startswith('10.0.0.7:5123 - "GET /r/[link] HTTP/1.1" 303')


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        (f"GET /i/{TOKEN}", "GET /i/[link]"),
        (f"http://clinic.example/i/{TOKEN}/extra", "http://clinic.example/i/[link]/extra"),
        ("GET /api/v1/responses?patient=MRN-1&limit=5 done", "GET /api/v1/responses done"),
        ("/fhir/QuestionnaireResponse?subject:identifier=urn|MRN-2", "/fhir/QuestionnaireResponse"),
        ("/q/iort-sdm/step/2", "/q/iort-sdm/step/2"),
        ("/fhir/Questionnaire/iort-sdm", "/fhir/Questionnaire/iort-sdm"),
        ("Ready? Serving now", "Ready? Serving now"),
    ],
)
def test_mask_path(message: str, masked: str) -> None:
    assert mask_path(message) == masked


def test_the_filter_masks_the_message_and_dict_args_and_leaves_numbers() -> None:
    record = _record(f"opened /i/{TOKEN} for %(who)s, %(count)d rows", {"who": f"/r/{TOKEN}", "count": 3})
    LinkTokenFilter().filter(record)
    assert record.getMessage() == "opened /i/[link] for /r/[link], 3 rows"


def test_the_uvicorn_config_puts_the_filter_on_every_handler() -> None:
    config = uvicorn_log_config()
    assert set(config["handlers"]) >= {"access", "default"}
    for handler in config["handlers"].values():
        assert "mask_links" in handler["filters"]
    assert config["filters"]["mask_links"]["()"] is LinkTokenFilter


def test_error_logs_show_a_masked_path(caplog: pytest.LogCaptureFixture) -> None:
    scope: Any = {
        "type": "http",
        "method": "GET",
        "path": f"/r/{TOKEN}",
        "raw_path": f"/r/{TOKEN}".encode(),
        "query_string": b"x=1",
        "headers": [],
        "server": ("testserver.local", 80),
        "scheme": "http",
        "root_path": "",
        "app": None,
    }
    request: Request[Any, Any, Any] = Request(scope)
    with caplog.at_level(logging.ERROR, logger="sdm_service.errors"):
        errors._unexpected(request, RuntimeError("boom"))
        errors._database_unavailable(request, ConnectionError("down"))
    assert len(caplog.records) == 2
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert all("/r/[link]" in record.getMessage() for record in caplog.records)
