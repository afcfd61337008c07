"""TOTP second factor (RFC 6238, pyotp) and single-use recovery codes.

The TOTP secret is kept sealed (Fernet) with a key derived from SDM_SECRET_KEY: it must be
readable to check codes, so it cannot be hashed like a token; changing SDM_SECRET_KEY means every
account enrols again. A code is accepted for the current 30-second step or one either side, and
only for a step later than the last one accepted, recorded with one conditional UPDATE, so a code
cannot be used twice, even by two requests at once. Recovery codes are random, shown once, and
stored as SHA-256 hashes; using one marks it used with the same kind of conditional UPDATE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.models import RecoveryCode, Role, User, utcnow
from sdm_service.security import hash_token
from sdm_service.settings import Settings

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODE_COUNT = 10
PENDING_SECONDS = 300  # between a right password and the second factor
_CODE = re.compile(r"^[0-9]{6}$")


def required_for(user: User, settings: Settings) -> bool:
    """Must this account use a second factor? Always for administrators (unless a test setting
    says otherwise; production refuses that); for everyone with SDM_MFA_REQUIRED_FOR_ALL."""
    if settings.mfa_required_for_all:
        return True
    return user.role == Role.ADMIN and settings.mfa_required_for_admins


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def _fernet(settings: Settings) -> Fernet:
    digest = hashlib.sha256(b"sdm-totp-secret:" + settings.secret_key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, sealed: str | None) -> str | None:
    if not sealed:
        return None
    try:
        return _fernet(settings).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None  # sealed under another SDM_SECRET_KEY: the account must enrol again


def provisioning_uri(settings: Settings, secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=settings.clinic_name)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG (no script, no external image: the CSP allows it)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, border=4, omitsize=False)
    return svg


def grouped(secret: str) -> str:
    """The secret as people type it: groups of four."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def pending_secret(session: AsyncSession, settings: Settings, user: User) -> str:
    """The secret being enrolled: kept across page loads until a code confirms it."""
    secret = unseal(settings, user.totp_secret)
    if secret is None or enabled(user):
        secret = pyotp.random_base32()
        user.totp_secret = seal(settings, secret)
        user.totp_enabled_at = None
        user.totp_last_step = None
        session.add(user)
        await session.flush()
    return secret


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step (current or one either side) whose code this is, or None."""
    code = code.strip().replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


async def _claim_step(session: AsyncSession, user: User, step: int) -> bool:
    """Record `step` as used, only if it is later than the last one used (one statement)."""
    result = await session.execute(
        update(User)
        .where(
            col(User.id) == user.id,
            or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    claimed = bool(getattr(result, "rowcount", 0))
    if claimed:
        user.totp_last_step = step
    return claimed


async def verify_code(
    session: AsyncSession, settings: Settings, user: User, code: str, *, now: float | None = None
) -> bool:
    """A valid TOTP code for an enrolled account, not used before."""
    secret = unseal(settings, user.totp_secret)
    if secret is None or not enabled(user):
        return False
    step = matching_step(secret, code, now=now)
    return step is not None and await _claim_step(session, user, step)


def _normalise_recovery(code: str) -> str:
    return re.sub(r"[^a-z0-9]", "", code.lower())


async def use_recovery_code(session: AsyncSession, user: User, code: str) -> bool:
    """Spend one unused recovery code of the account."""
    normalised = _normalise_recovery(code)
    if not normalised or len(normalised) > 64:
        return False
    result = await session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == hash_token(normalised),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def enable(session: AsyncSession, settings: Settings, user: User, code: str) -> list[str] | None:
    """Confirm enrolment with a code from the app; returns the new recovery codes (shown once),
    or None when the code does not match the pending secret."""
    secret = unseal(settings, user.totp_secret)
    if secret is None or enabled(user):
        return None
    step = matching_step(secret, code)
    if step is None:
        return None
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    session.add(user)
    await session.execute(
        update(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user.id, col(RecoveryCode.used_at).is_(None))
        .values(used_at=utcnow())
    )
    codes = ["-".join(secrets.token_hex(3) for _ in range(3)) for _ in range(RECOVERY_CODE_COUNT)]
    for recovery in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=hash_token(_normalise_recovery(recovery))))
    await session.flush()
    return codes


def _pending_signature(settings: Settings, payload: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"sdm-mfa-pending:" + payload.encode(), hashlib.sha256).hexdigest()


def pending_token(settings: Settings, user: User, *, now: float | None = None) -> str:
    """The cookie value between the password and the second factor: the account and the time the
    password was right, signed. It opens nothing by itself."""
    payload = f"{user.id}.{int(now if now is not None else time.time())}"
    return f"{payload}.{_pending_signature(settings, payload)}"


def read_pending(settings: Settings, value: str | None, *, now: float | None = None) -> str | None:
    """The account id of a pending sign-in still within PENDING_SECONDS, or None."""
    if not value or len(value) > 200 or value.count(".") != 2:
        return None
    user_id, issued, signature = value.split(".")
    if not hmac.compare_digest(signature, _pending_signature(settings, f"{user_id}.{issued}")):
        return None
    if not issued.isdigit() or (now if now is not None else time.time()) - int(issued) > PENDING_SECONDS:
        return None
    return user_id
