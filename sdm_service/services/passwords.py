"""What makes a password acceptable (ASVS 2.1): length, not a common or breached password, not the
account's own name.

The list of common passwords ships inside the package (sdm_service/data, see its NOTICE): nothing
is fetched at run time. It is read once per process, kept as one lowercased block of text (a few
MB, far smaller than a set of its 400,000 entries), and a check is one substring search.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib.resources import files

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 handles long input, but a cap keeps hashing time bounded
MIN_DISTINCT_CHARACTERS = 5  # "aaaaaaaaaaaa", "abababababab"
MIN_NAME_PART = 3  # parts of a name shorter than this ("dr", "li") are not looked for
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


class PasswordRejected(ValueError):
    """Why a password cannot be used; the message is safe to show to the person who typed it."""


@lru_cache(maxsize=1)
def common_passwords() -> bytes:
    """The shipped list: one lowercased password a line, with a newline before the first."""
    data = (files("sdm_service") / "data" / COMMON_PASSWORDS_FILE).read_bytes()
    return b"\n" + gzip.decompress(data)


def common_password_count() -> int:
    return common_passwords().count(b"\n") - 1


def is_common(password: str) -> bool:
    needle = b"\n" + password.strip().lower().encode("utf-8", "replace") + b"\n"
    return needle in common_passwords()


def _name_parts(*names: str) -> set[str]:
    parts: set[str] = set()
    for name in names:
        lowered = (name or "").lower()
        if len(lowered) >= MIN_NAME_PART:
            parts.add(lowered)
        parts.update(p for p in re.split(r"[^a-z0-9]+", lowered) if len(p) >= MIN_NAME_PART)
    return parts


def problem(password: str, *, username: str = "", display_name: str = "") -> str | None:
    """Why `password` cannot be used, or None when it can."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be {MAX_PASSWORD_LENGTH} characters or fewer."
    if "\x00" in password:
        return "The password contains a character that cannot be used."
    if len(set(password.lower())) < MIN_DISTINCT_CHARACTERS:
        return (
            f"The password repeats too few characters: use at least {MIN_DISTINCT_CHARACTERS} "
            "different ones. A few unrelated words make a strong password."
        )
    lowered = password.lower()
    if any(part in lowered for part in _name_parts(username, display_name)):
        return "The password must not contain your username or your name."
    if is_common(password):
        return (
            "This password is on a list of common or breached passwords that attackers try first. "
            "Choose another: a few unrelated words make a strong password."
        )
    return None


def check(password: str, *, username: str = "", display_name: str = "") -> None:
    """Raise PasswordRejected with a clear message when the password cannot be used."""
    reason = problem(password, username=username, display_name=display_name)
    if reason:
        raise PasswordRejected(reason)
