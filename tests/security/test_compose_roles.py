"""Issue 15 items 6 and 8, deployment side: docker-compose runs migrations as the tables' owner and
the app as another, unprivileged role; the proxy whose X-Forwarded-For is trusted is the compose
network's gateway, not 127.0.0.1 (which no proxy outside the container ever is)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sdm_service.settings import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
INIT_DIR = PROJECT_ROOT / "deploy" / "postgres-init"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _default(value: str) -> str:
    """The value compose uses when no variable is set (${NAME:-default} -> default)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def _user(service: dict[str, Any]) -> str:
    url = re.sub(r"\$\{[^}]*\}", "secret", service["environment"]["SDM_DATABASE_URL"])
    return urlsplit(url).username or ""


def test_the_app_connects_as_a_role_other_than_the_owner_who_migrates(compose: dict[str, Any]) -> None:
    services = compose["services"]
    owner = services["db"]["environment"]["POSTGRES_USER"]
    assert _user(services["migrate"]) == owner
    assert _user(services["app"]) not in ("", owner, "postgres")


def test_the_init_script_creates_the_app_role_without_privileges(compose: dict[str, Any]) -> None:
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in compose["services"]["db"]["volumes"]
    script = (INIT_DIR / "10-app-role.sh").read_text()
    assert "NOSUPERUSER" in script
    assert 'app_user="${SDM_APP_DB_USER:-sdm_app}"' in script
    assert _user(compose["services"]["app"]) == "sdm_app"
    # Rows only: no TRUNCATE, no ownership, so the append-only trigger cannot be switched off.
    grants = re.findall(r"GRANT ([A-Z, ]+) ON TABLES", script)
    assert grants == ["SELECT, INSERT, UPDATE, DELETE"]


def test_forwarded_addresses_default_to_the_compose_network_gateway(compose: dict[str, Any]) -> None:
    (network,) = compose["networks"]["default"]["ipam"]["config"]
    subnet = ipaddress.ip_network(network["subnet"])
    trusted = _default(compose["services"]["app"]["environment"]["SDM_FORWARDED_ALLOW_IPS"])
    assert trusted == network["gateway"]
    assert ipaddress.ip_address(trusted) in subnet
    # Only the host (where the TLS proxy runs) can reach the app's port.
    assert compose["services"]["app"]["ports"] == ["127.0.0.1:8000:8000"]
