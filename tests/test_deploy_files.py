"""Docker cannot run here, so the compose file and Dockerfile are checked by reading them: the
database is health-checked, migrations run once before the app, secrets are required, and the
app's environment is one the service accepts in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdm_service.settings import PROJECT_ROOT, SettingsError, load_settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DEPLOY_ENV = {
    "POSTGRES_PASSWORD": "pw",
    "SDM_APP_DB_PASSWORD": "app-pw",
    "SDM_SECRET_KEY": "Vq3xN8rT0pLm2sKd7YwB4cHz9uGf6eJa1QoR5tXi",
    "SDM_BASE_URL": "https://sdm.example.org",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME:?message} and ${NAME:-default} forms."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        if op == ":?":
            raise KeyError(f"{name} is required: {arg}")
        return arg if op == ":-" else ""  # a plain ${NAME} silently becomes empty, as in compose

    return re.sub(r"\$\{(\w+)(:[?-])?([^}]*)\}", replace, value)


def test_database_is_health_checked_and_migrations_run_before_the_app(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["sdm", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    app_depends = services["app"]["depends_on"]
    assert app_depends["db"]["condition"] == "service_healthy"
    assert app_depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["db"]["image"].startswith("postgres:15")


@pytest.mark.parametrize(
    ("service", "secret"),
    [
        ("migrate", "POSTGRES_PASSWORD"),
        ("app", "SDM_APP_DB_PASSWORD"),
        ("app", "SDM_SECRET_KEY"),
        ("app", "SDM_BASE_URL"),
    ],
)
def test_secrets_are_required_variables(compose: dict[str, Any], service: str, secret: str) -> None:
    environment = compose["services"][service]["environment"]
    env = dict(DEPLOY_ENV)
    del env[secret]
    joined = " ".join(str(value) for value in environment.values())
    with pytest.raises(KeyError, match=secret):
        _substitute(joined, env)


def test_app_environment_is_accepted_by_the_service_in_production(compose: dict[str, Any]) -> None:
    environment = {
        k: _substitute(str(v), DEPLOY_ENV) for k, v in compose["services"]["app"]["environment"].items()
    }
    assert environment["SDM_ENV"] == "production"
    settings = load_settings(
        env=environment["SDM_ENV"],
        database_url=environment["SDM_DATABASE_URL"],
        secret_key=environment["SDM_SECRET_KEY"],
        base_url=environment["SDM_BASE_URL"],
    )
    assert settings.database_url.startswith("postgresql+asyncpg://sdm_app:app-pw@db:5432/sdm")
    assert settings.secure_cookies
    # And the same environment with a weak secret is refused, so a careless deploy cannot start.
    with pytest.raises(SettingsError):
        load_settings(
            env="production",
            database_url=environment["SDM_DATABASE_URL"],
            secret_key="short",
            base_url=environment["SDM_BASE_URL"],
        )


def test_image_serves_with_the_same_command_as_make_run() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert 'CMD ["sdm", "run", "--host", "0.0.0.0", "--port", "8000"' in dockerfile
    assert "requirements.lock" in dockerfile  # the pinned set, as in development
    for folder in ("migrations", "questionnaires", "templates", "static"):
        assert f"COPY {folder} ./{folder}" in dockerfile, folder
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "sdm db upgrade" in makefile
    assert "sdm run" in makefile


def test_healthcheck_path_exists_in_the_app() -> None:
    assert "/health" in DOCKERFILE.read_text()
    assert Path(PROJECT_ROOT / "sdm_service" / "app.py").read_text().count('"/health"') >= 1
