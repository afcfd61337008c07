"""Issue 15 item 8: the SQLite database is private to the service's user (0600 files, 0700 directory),
production cookies carry the __Host- prefix, and a production secret key must look random, not only
be long."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from sdm_service import migrate
from sdm_service.app import create_app
from sdm_service.audit import SYSTEM, record_now
from sdm_service.db import create_engine
from sdm_service.settings import SettingsError, load_settings
from tests.conftest import make_settings
from tests.web.clinician_support import PASSWORD, create_account

RANDOM_SECRET = "Vq3xN8rT0pLm2sKd7YwB4cHz9uGf6eJa1QoR5tXiW8nE"  # as from secrets.token_urlsafe
PRODUCTION = {"env": "production", "base_url": "https://sdm.example.org", "secret_key": RANDOM_SECRET}


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would make new files world-readable, as on many servers."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_its_directory_and_wal_files_are_private(
    tmp_path: Path, open_umask: None
) -> None:
    db_file = tmp_path / "var" / "sdm.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    migrate.upgrade(url, configure_logging=False)

    async def write_and_look() -> dict[str, int]:
        engine = create_engine(make_settings(url))
        try:
            async with engine.connect():  # an open connection keeps the -wal and -shm files
                await record_now(engine, SYSTEM, "test.write")
                return {
                    name: _mode(db_file.with_name(name)) for name in ("sdm.db", "sdm.db-wal", "sdm.db-shm")
                }
        finally:
            await engine.dispose()

    modes = asyncio.run(write_and_look())
    assert _mode(db_file.parent) == 0o700
    assert modes == {"sdm.db": 0o600, "sdm.db-wal": 0o600, "sdm.db-shm": 0o600}


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path, open_umask: None) -> None:
    db_file = tmp_path / "sdm.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    migrate.upgrade(url, configure_logging=False)
    db_file.chmod(0o644)
    asyncio.run(create_engine(make_settings(url)).dispose())
    assert _mode(db_file) == 0o600


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("a" * 48, "different characters"),
        ("Ab3$" * 12, "different characters"),
        ("passw0rd-2026!" * 4, "repeats a 14-character pattern"),
        ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", "run of consecutive characters"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaabcdefgh", "bits of entropy"),
    ],
)
def test_production_refuses_a_long_but_guessable_secret(secret: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=rf"SDM_SECRET_KEY is too easy to guess \(.*{reason}") as refused:
        load_settings(**{**PRODUCTION, "secret_key": secret})
    assert "token_urlsafe" in str(refused.value)  # says how to make a good one


@pytest.mark.parametrize(
    "secret",
    [
        RANDOM_SECRET,
        "3f9a0c4e7b21d8561e0fa2c94b7d3e68",  # secrets.token_hex(16): 128 random bits in hex
        "kJ7#pQ2!vX9@mN4$wR6%tY8^zB1&cD3*",
    ],
)
def test_production_accepts_a_random_secret(secret: str) -> None:
    assert load_settings(**{**PRODUCTION, "secret_key": secret}).is_production


def test_cookie_names_carry_the_host_prefix_in_production_only(sqlite_url: str) -> None:
    production = make_settings(sqlite_url, **PRODUCTION).cookies
    assert (production.session, production.patient, production.csrf) == (
        "__Host-sdm_session",
        "__Host-sdm_patient",
        "__Host-sdm_csrf",
    )
    development = make_settings(sqlite_url).cookies
    assert (development.session, development.patient, development.csrf) == (
        "sdm_session",
        "sdm_patient",
        "sdm_csrf",
    )


def _set_cookie(headers: list[str], name: str) -> str:
    (line,) = [value for value in headers if value.startswith(f"{name}=")]
    return line.lower()


def _valid_host_cookie(line: str) -> bool:
    """What a browser demands of a __Host- cookie: Secure, Path=/, no Domain."""
    attributes = [part.strip() for part in line.split(";")[1:]]
    return (
        "secure" in attributes
        and "path=/" in attributes
        and not any(a.startswith("domain=") for a in attributes)
    )


async def test_production_sets_and_reads_host_prefixed_cookies(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url, **PRODUCTION))
    await create_account(app, "prefix.clinician")
    async with AsyncTestClient(app=app, base_url="https://sdm.example.org") as client:
        welcome = await client.get("/q/iort-sdm")
        csrf_line = _set_cookie(welcome.headers.get_list("set-cookie"), "__Host-sdm_csrf")
        assert _valid_host_cookie(csrf_line)
        (token,) = re.findall(r'name="_csrf_token" value="([^"]+)"', welcome.text)
        started = await client.post("/q/iort-sdm/start", data={"_csrf_token": token}, follow_redirects=False)
        assert started.status_code == 303, started.text
        assert _valid_host_cookie(_set_cookie(started.headers.get_list("set-cookie"), "__Host-sdm_patient"))
        step = await client.get(started.headers["location"])
        assert step.status_code == 200  # the patient cookie is read under its prefixed name

        signed_in = await client.post(
            "/clinician/sign-in",
            data={"_csrf_token": token, "username": "prefix.clinician", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        assert _valid_host_cookie(_set_cookie(signed_in.headers.get_list("set-cookie"), "__Host-sdm_session"))
        assert (await client.get("/clinician", follow_redirects=False)).status_code == 200
        # A cookie without the prefix (which another host could plant) is not a session.
        session = client.cookies.get("__Host-sdm_session")
        client.cookies.clear()
        client.cookies.set("sdm_session", str(session))
        assert (await client.get("/clinician", follow_redirects=False)).status_code in (302, 303)
