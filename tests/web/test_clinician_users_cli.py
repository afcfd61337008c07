"""`sdm users create|deactivate|list`: accounts from the command line."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.cli import main
from sdm_service.db import create_engine
from sdm_service.models import AuditEvent, User
from sdm_service.security import verify_password
from tests.conftest import TEST_SECRET, make_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SDM_DATABASE_URL", database_url)
    monkeypatch.setenv("SDM_ENV", "test")
    monkeypatch.setenv("SDM_SECRET_KEY", TEST_SECRET)
    return CliRunner()


def _rows(database_url: str) -> tuple[list[User], list[AuditEvent]]:
    async def read() -> tuple[list[User], list[AuditEvent]]:
        engine = create_engine(make_settings(database_url))
        try:
            async with AsyncSession(engine) as session:
                return (
                    list((await session.execute(select(User))).scalars().all()),
                    list((await session.execute(select(AuditEvent))).scalars().all()),
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_create_reads_the_password_from_stdin_and_never_prints_it(
    runner: CliRunner, database_url: str
) -> None:
    result = runner.invoke(
        main, ["users", "create", "Dr.Adams", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin account 'dr.adams'." in result.output
    assert PASSWORD not in result.output
    (user,), (event,) = _rows(database_url)
    assert (user.username, user.role, user.is_active) == ("dr.adams", "admin", True)
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(PASSWORD, user.password_hash)
    assert (event.action, event.actor_type, event.entity_id) == ("user.create", "system", str(user.id))


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "create", "shorty", "--password-stdin"], "too-short\n", "at least 12 characters"),
        (["users", "create", "shorty", "--password-stdin"], "", "at least 12 characters"),
        (["users", "create", "no spaces", "--password-stdin"], PASSWORD + "\n", "The username must be"),
        (["users", "create", "x", "--role", "root", "--password-stdin"], PASSWORD + "\n", "Invalid value"),
    ],
)
def test_create_refuses_bad_input_with_a_clear_message(
    runner: CliRunner, database_url: str, args: list[str], stdin: str, message: str
) -> None:
    result = runner.invoke(main, args, input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert _rows(database_url) == ([], [])


def test_create_refuses_a_duplicate_username(runner: CliRunner, database_url: str) -> None:
    args = ["users", "create", "twin", "--password-stdin"]
    assert runner.invoke(main, args, input=PASSWORD + "\n").exit_code == 0
    result = runner.invoke(main, [*args[:2], "TWIN", args[3]], input=PASSWORD + "\n")
    assert result.exit_code != 0
    assert "An account named 'twin' already exists." in result.output
    assert len(_rows(database_url)[0]) == 1


def test_deactivate_and_list(runner: CliRunner, database_url: str) -> None:
    for name in ("alpha", "beta"):
        assert (
            runner.invoke(main, ["users", "create", name, "--password-stdin"], input=PASSWORD).exit_code == 0
        )
    result = runner.invoke(main, ["users", "deactivate", "beta"])
    assert result.exit_code == 0, result.output
    assert "Deactivated 'beta'" in result.output
    listing = runner.invoke(main, ["users", "list"])
    assert listing.exit_code == 0
    assert listing.output.splitlines() == ["alpha\tclinician\tactive\t", "beta\tclinician\tdeactivated\t"]
    missing = runner.invoke(main, ["users", "deactivate", "gamma"])
    assert missing.exit_code != 0
    assert "There is no account named 'gamma'." in missing.output
    actions = [e.action for e in _rows(database_url)[1]]
    assert actions == ["user.create", "user.create", "user.deactivate"]
