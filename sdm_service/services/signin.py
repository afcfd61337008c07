"""Signing a clinician in: the throttling policy and the checks, as one service.

Failed attempts are throttled per account and per address, counted in the shared rate-limit store
so every worker sees them. Each attempt is counted when it is admitted, before the password is
checked (one count-unless-over step per limit), so concurrent attempts cannot slip past together;
a successful sign-in then clears the account's count and gives the address its hit back. The same
outcome answers an unknown username, a wrong password and a deactivated account, so the form
never reveals which accounts exist. Refusals are audited on their own commit (the request that
answers them rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import ratelimit
from sdm_service.audit import Actor, record_now, record_refusal
from sdm_service.models import User
from sdm_service.ratelimit import RateLimitStore
from sdm_service.security import PasswordHashing
from sdm_service.services import users

ACCOUNT_LIMIT = ratelimit.Limit(bucket="signin-user", max_hits=5, window_seconds=15 * 60)
ADDRESS_LIMIT = ratelimit.Limit(bucket="signin-ip", max_hits=20, window_seconds=15 * 60)
MAX_USERNAME_LENGTH = 200


@dataclass(frozen=True)
class SignedIn:
    user: User


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
    """Seconds the account or the address must wait (0 when neither is over); counts nothing."""
    return max(
        await ratelimit.retry_after(store, ACCOUNT_LIMIT, username) or 0,
        await ratelimit.retry_after(store, ADDRESS_LIMIT, ip) or 0,
    )


async def admit(store: RateLimitStore, username: str, ip: str) -> int:
    """Count this attempt against the account and the address before the password is checked, each
    in one count-unless-over step, so a burst of concurrent attempts cannot all pass a check made
    before any of them is counted. An attempt refused by either limit counts against neither (it
    was never evaluated). Returns the seconds to wait, or 0 when the attempt may go ahead."""
    account_wait = await ratelimit.admit(store, ACCOUNT_LIMIT, username)
    if account_wait is not None:
        return max(account_wait, await ratelimit.retry_after(store, ADDRESS_LIMIT, ip) or 0)
    address_wait = await ratelimit.admit(store, ADDRESS_LIMIT, ip)
    if address_wait is not None:
        await ratelimit.take_back(store, ACCOUNT_LIMIT, username)
        return max(address_wait, await ratelimit.retry_after(store, ACCOUNT_LIMIT, username) or 0)
    return 0


async def sign_in(
    db_session: AsyncSession,
    side_engine: AsyncEngine,
    store: RateLimitStore,
    *,
    username: str,
    password: str,
    ip: str,
    hashing: PasswordHashing,
) -> SignInOutcome:
    """Check one sign-in attempt (username already cleaned with clean_username)."""
    anonymous = Actor("anonymous", "", username)
    incomplete = not username or not password
    # An incomplete form is not counted; a throttled client still hears it must wait.
    wait = await (throttled_for(store, username, ip) if incomplete else admit(store, username, ip))
    if wait:
        # Counted per address and written at the 1st, 10th, 100th... refusal: a flood of throttled
        # attempts cannot bury other events.
        await record_refusal(
            side_engine,
            anonymous,
            "auth.sign_in.throttled",
            key=ip,
            entity_type="user",
            ip=ip,
            detail={"username": username, "retry_after": wait},
        )
        return Throttled(wait)
    if incomplete:
        return Incomplete()
    user = await users.authenticate(db_session, username, password, hashing=hashing)
    if user is None:
        # Already counted against the account and the address when admitted.
        await record_now(
            side_engine,
            anonymous,
            "auth.sign_in.failed",
            entity_type="user",
            ip=ip,
            detail={"username": username},
        )
        return BadCredentials()
    await ratelimit.clear(store, ACCOUNT_LIMIT, username)
    # Only failures count against the address: colleagues behind one address sign in all day.
    await ratelimit.take_back(store, ADDRESS_LIMIT, ip)
    return SignedIn(user)
