"""Clinician sign-in sessions: the database keeps the SHA-256 of each session token.

A session ends at a fixed lifetime (settings.clinician_session_minutes), after a period without
activity, at sign-out (the row is deleted) or when the account is deactivated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from sdm_service.models import User, UserSession, utcnow
from sdm_service.security import hash_token, new_token
from sdm_service.settings import Settings

IDLE_MINUTES = 30  # a session left alone this long ends, even within its lifetime
TOUCH_EVERY_SECONDS = 60  # write last_seen_at at most this often, not on every request
MAX_TOKEN_LENGTH = 200


def idle_limit(settings: Settings) -> timedelta:
    return timedelta(minutes=min(IDLE_MINUTES, settings.clinician_session_minutes))


async def start_session(
    db_session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    ip: str,
    user_agent: str,
    provider_mfa: bool = False,
) -> str:
    """Create a session row for a user who just proved who they are; returns the cookie token.
    `provider_mfa`: the identity provider checked a second factor (no TOTP enrolment asked)."""
    now = utcnow()
    token = new_token()
    db_session.add(
        UserSession(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.clinician_session_minutes),
            last_seen_at=now,
            ip=ip[:64],
            user_agent=user_agent[:300],
            provider_mfa=provider_mfa,
        )
    )
    await db_session.flush()
    return token


async def end_session(db_session: AsyncSession, token: str | None) -> None:
    if token:
        await db_session.execute(delete(UserSession).where(col(UserSession.token_hash) == hash_token(token)))


def _still_valid(row: UserSession, settings: Settings, now: datetime) -> bool:
    return row.expires_at > now and row.last_seen_at > now - idle_limit(settings)


async def load_session_user(
    engine: AsyncEngine, settings: Settings, token: str | None, *, now: datetime | None = None
) -> User | None:
    found = await load_session(engine, settings, token, now=now)
    return found[0] if found else None


async def load_session(
    engine: AsyncEngine, settings: Settings, token: str | None, *, now: datetime | None = None
) -> tuple[User, UserSession] | None:
    """The active user behind a session token and the session, or None. Ends expired or idle
    sessions on the way.

    Runs in its own short transaction (on the side pool) so the idle clock moves even when the
    request itself fails.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = now or utcnow()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        found = (
            await session.execute(
                select(UserSession, User)
                .join(User, col(User.id) == col(UserSession.user_id))
                .where(col(UserSession.token_hash) == hash_token(token))
            )
        ).one_or_none()
        if found is None:
            return None
        row, user = found
        if not user.is_active or not _still_valid(row, settings, now):
            await session.delete(row)
            await session.commit()
            return None
        if (now - row.last_seen_at).total_seconds() >= TOUCH_EVERY_SECONDS:
            row.last_seen_at = now
            await session.commit()
        return user, row


def public_id(row: UserSession) -> str:
    """A name for a session in pages and forms that is neither its token nor its stored hash."""
    return hash_token(row.token_hash)[:24]


async def list_sessions(
    db_session: AsyncSession, settings: Settings, user_id: object, *, now: datetime | None = None
) -> list[UserSession]:
    """The account's sessions that still work, newest first."""
    now = now or utcnow()
    rows = (
        (
            await db_session.execute(
                select(UserSession)
                .where(col(UserSession.user_id) == user_id)
                .order_by(col(UserSession.created_at).desc())
            )
        )
        .scalars()
        .all()
    )
    return [row for row in rows if _still_valid(row, settings, now)]


async def end_by_public_id(db_session: AsyncSession, user_id: object, session_id: str) -> bool:
    """End one of the account's own sessions by its public id; False when there is none."""
    rows = (
        (await db_session.execute(select(UserSession).where(col(UserSession.user_id) == user_id)))
        .scalars()
        .all()
    )
    for row in rows:
        if public_id(row) == session_id:
            await db_session.delete(row)
            await db_session.flush()
            return True
    return False
