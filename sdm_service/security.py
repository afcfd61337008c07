"""Secrets handling: random tokens stored only as hashes, argon2id passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_BYTES = 32  # 256 bits of randomness; links and API tokens are unguessable

_password_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A fixed hash to verify against when the username is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _password_hasher.hash("not-a-real-password-only-for-timing")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Tokens are high-entropy, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    try:
        return _password_hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _password_hasher.check_needs_rehash(stored_hash)
