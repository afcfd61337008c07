"""Secrets handling: random tokens stored only as hashes, argon2id passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_BYTES = 32  # 256 bits of randomness; links and API tokens are unguessable
# argon2id costs for clinician passwords: OWASP's recommended configuration (Password Storage Cheat
# Sheet: 19 MiB, 2 passes, 1 lane). A hash holds its whole memory cost while it runs, so each
# sign-in in flight adds this much to a worker; RFC 9106's 64 MiB option more than tripled that.
# Settings (SDM_PASSWORD_HASH_*) may raise it; hashes with other costs are upgraded at sign-in.
PASSWORD_TIME_COST = 2
PASSWORD_MEMORY_KIB = 19 * 1024
PASSWORD_PARALLELISM = 1
# Where a request remembers the clinician its session cookie belongs to (web/auth.py sets it; the
# refusal audit reads it to name who was refused).
CLINICIAN_STATE_KEY = "clinician_user"


class PasswordHashing:
    """argon2id with given cost parameters (see Settings.password_hash_*). The defaults are the
    production ones (PASSWORD_*, above); tests use cheap ones through settings."""

    def __init__(
        self,
        *,
        time_cost: int = PASSWORD_TIME_COST,
        memory_kib: int = PASSWORD_MEMORY_KIB,
        parallelism: int = PASSWORD_PARALLELISM,
    ) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # Verified against when the username is unknown, so timing does not reveal accounts. A
        # verification costs the parameters written in the hash, not its digest, so random bytes in
        # this hasher's encoding do: hashing a password here held the whole memory cost in every
        # worker at start-up, for nothing.
        self._dummy_hash = _unmatchable_hash(self.hasher)

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password: str, stored_hash: str | None) -> bool:
        try:
            return self.hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)


def _unmatchable_hash(hasher: PasswordHasher) -> str:
    def encoded(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode("ascii").rstrip("=")

    kind = hasher.type.name.lower()
    costs = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    return f"$argon2{kind}$v=19${costs}${encoded(hasher.salt_len)}${encoded(hasher.hash_len)}"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Tokens are high-entropy, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def hash_password(password: str) -> str:
    """With the default (production) parameters; services use the settings' PasswordHashing."""
    return PasswordHashing().hash(password)


def verify_password(password: str, stored_hash: str) -> bool:
    """Checks a hash made with any parameters (argon2 stores them in the hash)."""
    try:
        return PasswordHasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
