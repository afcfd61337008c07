"""Docker cannot run here, so the compose file and Dockerfile are read, and what they name is run:
the database is health-checked, migrations run once before the app, secrets are required, the app's
environment is one the service accepts in production, the image's command and health check work
against the real CLI and app, and the image and `make run` install the runtime lock only. (That a
runtime-only install really serves, outside the checkout, is proven in tests/test_packaging.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any, get_args

import pytest
import uvicorn
import yaml
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.cli import main
from sdm_service.resources import Resource
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


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuation lines joined), one list per FROM stage."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def arguments_of(stage: list[tuple[str, str]], wanted: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == wanted]


def image_command() -> list[str]:
    (cmd,) = arguments_of(dockerfile_stages()[-1], "CMD")
    command: list[str] = json.loads(cmd)  # the exec form: no shell between Docker and the server
    return command


def make_plan(*targets: str) -> list[str]:
    """The commands make would run for TARGETS from scratch (dry run: nothing is installed)."""
    outer_make = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")  # set when `make test` runs this suite
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", "--no-print-directory", *targets],
        cwd=PROJECT_ROOT,
        env={name: value for name, value in os.environ.items() if name not in outer_make},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_the_image_command_is_one_the_sdm_command_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(kwargs, app=app))
    command = image_command()
    assert command[0] == "sdm"
    result = CliRunner().invoke(main, command[1:])
    assert result.exit_code == 0, result.output
    assert (served["app"], served["host"], served["port"]) == ("sdm_service.app:create_app", "0.0.0.0", 8000)


def test_the_image_installs_the_runtime_lock_with_hashes_then_the_wheel_alone() -> None:
    build, runtime = dockerfile_stages()
    runs = arguments_of(runtime, "RUN")
    assert any("pip install --require-hashes -r /tmp/requirements.lock" in command for command in runs), runs
    assert any(re.search(r"pip install --no-deps /tmp/wheels/\S+\.whl", command) for command in runs), runs
    copied = " ".join(arguments_of(runtime, "COPY"))
    assert "requirements.lock" in copied
    assert "requirements-dev.lock" not in DOCKERFILE.read_text()
    assert not any("-e " in command or "[dev]" in command for command in runs), runs
    # The build stage has everything the wheel bundles (a missing COPY would ship a wheel without it).
    sources = {
        source.rstrip("/").removeprefix("./")
        for arguments in arguments_of(build, "COPY")
        for source in arguments.split()[:-1]
    }
    assert sources >= {"pyproject.toml", "setup.py", "MANIFEST.in", "sdm_service", *get_args(Resource)}
    assert all((PROJECT_ROOT / source).exists() for source in sources), sources


def test_make_run_serves_from_a_runtime_only_install_and_make_test_from_the_dev_lock() -> None:
    run_plan = make_plan("run")
    assert ".venv-run/bin/python -m pip install --quiet --require-hashes -r requirements.lock" in run_plan
    assert not any("requirements-dev.lock" in line or "[dev]" in line for line in run_plan), run_plan
    assert run_plan[-2:] == [
        ".venv-run/bin/sdm db upgrade",
        ".venv-run/bin/sdm run --host 127.0.0.1 --port 8000 --with-worker",
    ]
    test_plan = make_plan("test")
    assert ".venv/bin/python -m pip install --quiet --require-hashes -r requirements-dev.lock" in test_plan
    assert ".venv/bin/python -m pip install --quiet --no-deps -e ." in test_plan


async def test_the_image_healthcheck_asks_the_served_port_a_path_the_app_answers(
    client: AsyncTestClient[Litestar],
) -> None:
    (healthcheck,) = arguments_of(dockerfile_stages()[-1], "HEALTHCHECK")
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/-]*)", healthcheck)
    assert match, healthcheck
    command = image_command()
    assert match.group(1) == command[command.index("--port") + 1]
    response = await client.get(match.group(2))
    assert response.status_code == 200
