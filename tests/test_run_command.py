"""`sdm run`: the per-request log line is off unless asked for; it is the app's own line (route
template, request id), so uvicorn's access log (raw paths) stays off. Idle keep-alive connections
outlive a balancer's idle timeout, so the balancer, not the app, closes them."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from sdm_service.cli import KEEP_ALIVE_SECONDS, main
from sdm_service.settings import load_settings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    captured: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: captured.update(kwargs))
    return captured


@pytest.mark.parametrize(
    ("arguments", "environment", "expected"),
    [
        ([], {}, False),
        (["--access-log"], {}, True),
        ([], {"SDM_ACCESS_LOG": "true"}, True),
        (["--no-access-log"], {"SDM_ACCESS_LOG": "true"}, False),
    ],
)
def test_access_log_follows_the_flag_then_the_setting(
    served: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    environment: dict[str, str],
    expected: bool,
) -> None:
    monkeypatch.delenv("SDM_ACCESS_LOG", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["run", *arguments])
    assert result.exit_code == 0, result.output
    assert served["access_log"] is False
    assert load_settings().access_log is expected  # what the app in each worker reads


def test_the_proxy_to_trust_comes_from_settings_and_logs_mask_link_tokens(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDM_FORWARDED_ALLOW_IPS", "10.0.0.5")
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    assert served["proxy_headers"] is True
    assert served["forwarded_allow_ips"] == "10.0.0.5"
    filters = served["log_config"]["filters"]
    assert any("LinkTokenFilter" in str(spec.get("()", "")) for spec in filters.values()), filters


def test_idle_connections_stay_open_longer_than_a_balancer_keeps_them(served: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    balancer_idle_timeout = 60  # nginx's upstream keepalive_timeout, and the cloud balancers' default
    assert served["timeout_keep_alive"] == KEEP_ALIVE_SECONDS > balancer_idle_timeout
