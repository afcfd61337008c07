"""Signing a clinician in: the throttling policy and the checks, as one service.

Failed attempts are counted per account and per address, in the shared rate-limit store so every
worker sees them. Each attempt is counted when it is admitted, before the password is checked (one
count-unless-over step per limit), so concurrent attempts cannot slip past together.

Throttling must not become a way to lock someone out (ASVS 2.2.1): once an account has had
ACCOUNT_LIMIT failures it is *locked* only for addresses that have failed before. A correct password
from an address without failures still signs in, after a pause (slowed, not refused), so five
wrong guesses from five addresses cannot keep the real clinician out; each new address an attacker
brings gets one slowed guess. An administrator can unlock an account early (unlock()); every lock
and unlock is audited.

The same outcome answers an unknown username, a wrong password and a deactivated account, so the
form never reveals which accounts exist. Refusals are audited on their own commit (the request
that answers them rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import ratelimit
from sdm_service.audit import Actor, record_now, record_refusal
from sdm_service.models import User
from sdm_service.ratelimit import RateLimitStore
from sdm_service.security import PasswordHashing
from sdm_service.services import users

ACCOUNT_LIMIT = ratelimit.Limit(bucket="signin-user", max_hits=5, window_seconds=15 * 60)
ADDRESS_LIMIT = ratelimit.Limit(bucket="signin-ip", max_hits=20, window_seconds=15 * 60)
# The same counts as ADDRESS_LIMIT, read as "has this address failed before this attempt?".
_ADDRESS_FAILED_BEFORE = ratelimit.Limit(
    bucket=ADDRESS_LIMIT.bucket, max_hits=2, window_seconds=ADDRESS_LIMIT.window_seconds
)
_ADDRESS_FAILED_ONCE = ratelimit.Limit(
    bucket=ADDRESS_LIMIT.bucket, max_hits=1, window_seconds=ADDRESS_LIMIT.window_seconds
)
MAX_USERNAME_LENGTH = 200


@dataclass(frozen=True)
class SignedIn:
    user: User
    slowed: bool = False  # the account was locked; signed in from an address without failures


@dataclass(frozen=True)
class Throttled:
    retry_after: int  # seconds


@dataclass(frozen=True)
class Incomplete:
    """No username or no password: not an attempt on any account, so not counted."""


@dataclass(frozen=True)
class BadCredentials:
    """Unknown username, wrong password or deactivated account (never said which)."""


SignInOutcome = SignedIn | Throttled | Incomplete | BadCredentials


def clean_username(raw: str) -> str:
    return users.normalise_username(raw)[:MAX_USERNAME_LENGTH]


async def throttled_for(store: RateLimitStore, username: str, ip: str) -> int:
    """Seconds this address must wait before trying this account (0 when it may); counts nothing.
    A locked account makes only addresses that have failed wait."""
    address_wait = await ratelimit.retry_after(store, ADDRESS_LIMIT, ip)
    if address_wait is not None:
        return address_wait
    if await ratelimit.retry_after(store, _ADDRESS_FAILED_ONCE, ip) is None:
        return 0
    return await ratelimit.retry_after(store, ACCOUNT_LIMIT, username) or 0


@dataclass(frozen=True)
class Admission:
    wait: int = 0  # seconds to wait; 0 when the attempt may go ahead
    account_counted: bool = True  # False: the account was locked, this is a fresh address's try


async def is_locked(store: RateLimitStore, username: str) -> bool:
    """Has the account had ACCOUNT_LIMIT failures in the window (throttled for failing addresses)?"""
    return await ratelimit.retry_after(store, ACCOUNT_LIMIT, username) is not None


async def unlock(store: RateLimitStore, username: str) -> bool:
    """Forget the account's failures (an administrator's decision). Returns whether it was locked."""
    locked = await is_locked(store, username)
    await ratelimit.clear(store, ACCOUNT_LIMIT, username)
    return locked


async def admit(store: RateLimitStore, username: str, ip: str) -> Admission:
    """Count this attempt against the address, then the account, each in one count-unless-over
    step, so a burst of concurrent attempts cannot all pass a check made before any is counted.

    Over the address limit: refused. Over the account limit (locked): refused only when this
    address has failed before; a fresh address may try (slowed by the caller). An attempt refused
    counts against neither limit (it was never evaluated)."""
    address_wait = await ratelimit.admit(store, ADDRESS_LIMIT, ip)
    if address_wait is not None:
        return Admission(wait=address_wait)
    account_wait = await ratelimit.admit(store, ACCOUNT_LIMIT, username)
    if account_wait is None:
        return Admission()
    # The address was counted just now: two hits mean it had failed before this attempt. The
    # address is counted first, so every attempt that locked the account is seen here.
    if await ratelimit.retry_after(store, _ADDRESS_FAILED_BEFORE, ip) is not None:
        await ratelimit.take_back(store, ADDRESS_LIMIT, ip)
        return Admission(wait=account_wait)
    return Admission(account_counted=False)


async def sign_in(
    db_session: AsyncSession,
    side_engine: AsyncEngine,
    store: RateLimitStore,
    *,
    username: str,
    password: str,
    ip: str,
    hashing: PasswordHashing,
    slowdown_seconds: float = 0.0,
) -> SignInOutcome:
    """Check one sign-in attempt (username already cleaned with clean_username).
    `slowdown_seconds`: the pause before checking a locked account's password from a fresh address."""
    anonymous = Actor("anonymous", "", username)
    incomplete = not username or not password
    if incomplete:
        # Not counted; a throttled client still hears it must wait.
        wait = await throttled_for(store, username, ip)
        admission = Admission(wait=wait)
    else:
        admission = await admit(store, username, ip)
    if admission.wait:
        # Counted per address and written at the 1st, 10th, 100th... refusal: a flood of throttled
        # attempts cannot bury other events.
        await record_refusal(
            side_engine,
            anonymous,
            "auth.sign_in.throttled",
            key=ip,
            entity_type="user",
            ip=ip,
            detail={"username": username, "retry_after": admission.wait},
        )
        return Throttled(admission.wait)
    if incomplete:
        return Incomplete()
    slowed = not admission.account_counted
    if slowed and slowdown_seconds > 0:
        await anyio.sleep(slowdown_seconds)
    user = await users.authenticate(db_session, username, password, hashing=hashing)
    if user is None:
        # Already counted against the address when admitted; a locked account counts it too.
        if slowed:
            await ratelimit.hit(store, ACCOUNT_LIMIT, username)
        await record_now(
            side_engine,
            anonymous,
            "auth.sign_in.failed",
            entity_type="user",
            ip=ip,
            detail={"username": username, "account_locked": slowed},
        )
        if not slowed and await is_locked(store, username):
            # This failure locked the account (for addresses that have failed).
            await record_now(
                side_engine,
                anonymous,
                "auth.account.locked",
                entity_type="user",
                ip=ip,
                detail={"username": username, "failures": ACCOUNT_LIMIT.max_hits},
            )
        return BadCredentials()
    await ratelimit.clear(store, ACCOUNT_LIMIT, username)
    # Only failures count against the address: colleagues behind one address sign in all day.
    await ratelimit.take_back(store, ADDRESS_LIMIT, ip)
    return SignedIn(user, slowed=slowed)
