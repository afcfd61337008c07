"""Passwords: argon2id runs off the event loop, with the cost parameters the settings give.

The suite signs in with cheap parameters (tests/conftest.py); the production parameters are
checked here, once."""

from __future__ import annotations

import secrets
import threading

from litestar import Litestar

from sdm_service.models import Role
from sdm_service.security import PasswordHashing
from sdm_service.services import users
from sdm_service.settings import Settings, load_settings
from tests.conftest import make_settings
from tests.database import db

PASSWORD = "a-long-enough-password-42"


class RecordingHashing(PasswordHashing):
    """Records which thread each password hash or verification ran on."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8, parallelism=1)
        self.seen: list[tuple[str, int]] = []

    def hash(self, password: str) -> str:
        self.seen.append(("hash", threading.get_ident()))
        return super().hash(password)

    def verify(self, password: str, stored_hash: str | None) -> bool:
        self.seen.append(("verify", threading.get_ident()))
        return super().verify(password, stored_hash)


async def test_password_hashing_and_checking_run_in_a_worker_thread(app: Litestar) -> None:
    hashing = RecordingHashing()
    loop_thread = threading.get_ident()
    async with db(app) as session:
        user = await users.create_user(
            session, username="dr.thread", password=PASSWORD, role=Role.CLINICIAN, hashing=hashing
        )
        await session.commit()
        assert await users.authenticate(session, "dr.thread", PASSWORD, hashing=hashing) == user
        assert await users.authenticate(session, "dr.thread", "wrong-password-123", hashing=hashing) is None
        assert await users.authenticate(session, "nobody.here", PASSWORD, hashing=hashing) is None
    kinds = [kind for kind, _ in hashing.seen]
    assert kinds == ["hash", "verify", "verify", "verify"]
    assert all(thread != loop_thread for _, thread in hashing.seen)


def test_production_settings_hash_with_the_recommended_argon2id_parameters() -> None:
    production = load_settings(
        env="production", secret_key=secrets.token_urlsafe(48), base_url="https://sdm.example.org"
    )
    hashing = users.hashing_for(production)
    stored = hashing.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP's recommended costs
    assert hashing.verify(PASSWORD, stored)
    assert not hashing.verify("wrong-password-123", stored)
    assert not hashing.verify(PASSWORD, None)  # an unknown account never matches


async def test_a_hash_with_other_parameters_is_upgraded_at_sign_in(app: Litestar, settings: Settings) -> None:
    cheap = users.hashing_for(settings)
    stronger = users.hashing_for(make_settings(settings.database_url, password_hash_time_cost=2))
    async with db(app) as session:
        user = await users.create_user(
            session, username="dr.upgrade", password=PASSWORD, role=Role.CLINICIAN, hashing=cheap
        )
        await session.commit()
        old_hash = user.password_hash
        assert await users.authenticate(session, "dr.upgrade", PASSWORD, hashing=stronger) == user
        await session.commit()
        assert user.password_hash != old_hash
        assert ",t=2," in user.password_hash
        assert not stronger.needs_rehash(user.password_hash)


def test_an_unknown_account_is_verified_at_the_full_cost_and_never_matches() -> None:
    """The stand-in hash for unknown usernames carries the hasher's own costs, so checking against
    it costs what a real check costs; it is made without hashing (no memory cost at start-up)."""
    from argon2 import extract_parameters

    hashing = PasswordHashing(time_cost=2, memory_kib=1024, parallelism=2)
    real = hashing.hash(PASSWORD)
    assert extract_parameters(hashing._dummy_hash) == extract_parameters(real)
    assert hashing.verify(PASSWORD, None) is False
    assert hashing.verify("", None) is False
    assert hashing.verify(PASSWORD, real) is True
