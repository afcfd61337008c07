"""Clinician and admin accounts: creation, sign-in checks, deactivation.

Passwords are stored only as argon2id hashes. Deactivating an account ends its sessions at once;
accounts are never deleted, so the audit log can always name who did what.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.audit import Actor, record
from sdm_service.models import Role, User, UserSession, utcnow
from sdm_service.security import PasswordHashing
from sdm_service.services import passwords
from sdm_service.services.passwords import MAX_PASSWORD_LENGTH
from sdm_service.settings import Settings

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def hashing_for(settings: Settings) -> PasswordHashing:
    """The password hasher with the settings' cost parameters (create_app builds the app's one and
    provides it as the `password_hashing` dependency)."""
    time_cost, memory_kib, parallelism = settings.password_hash_parameters
    return PasswordHashing(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)


class UserError(ValueError):
    """Bad account input; the message is safe to show to the admin who typed it."""


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def normalise_username(username: str) -> str:
    """Lowercased and trimmed. Control characters (no account has any) become U+FFFD, so a typed
    NUL can still be logged, audited and rate-limited: PostgreSQL refuses NUL in text."""
    return _CONTROL_CHARACTERS.sub("\ufffd", (username or "").strip().lower())


def check_password(password: str, *, username: str = "", display_name: str = "") -> None:
    """Refuse a password that is too short, common or breached, or contains the account's name."""
    try:
        passwords.check(password, username=username, display_name=display_name)
    except passwords.PasswordRejected as exc:
        raise UserError(str(exc)) from None


def _check_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise UserError(
            "The username must be 2 to 64 characters: lowercase letters, digits, dots, dashes or "
            "underscores, starting with a letter or digit."
        )
    return name


async def find_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(col(User.username) == normalise_username(username)))
    ).scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    hashing: PasswordHashing,
) -> User:
    name = _check_username(username)
    if role not in Role.ALL:
        raise UserError(f"The role must be one of: {', '.join(Role.ALL)}.")
    display = (display_name or "").strip()
    if len(display) > 200 or any(ord(ch) < 32 for ch in display):
        raise UserError("The display name must be 200 characters or fewer, on one line.")
    check_password(password, username=name, display_name=display)
    if await find_by_username(session, name) is not None:
        raise UserError(f"An account named '{name}' already exists.")
    password_hash = await hash_password_async(password, hashing)
    user = User(username=name, password_hash=password_hash, role=role, display_name=display)
    session.add(user)
    await session.flush()
    return user


async def hash_password_async(password: str, hashing: PasswordHashing) -> str:
    """argon2 takes a good fraction of a second on purpose: run it in a worker thread so the
    event loop keeps serving other requests meanwhile."""
    return await anyio.to_thread.run_sync(hashing.hash, password)


async def verify_password_async(password: str, stored_hash: str | None, hashing: PasswordHashing) -> bool:
    return await anyio.to_thread.run_sync(hashing.verify, password, stored_hash)


def _lookup_possible(username: str) -> bool:
    """Names no account can have (too long, control characters such as NUL, which PostgreSQL
    refuses in text) are not looked up; they get the same answer as a wrong password."""
    return len(username) <= 64 and not any(ord(ch) < 32 or ord(ch) == 127 for ch in username)


async def authenticate(
    session: AsyncSession, username: str, password: str, *, hashing: PasswordHashing
) -> User | None:
    """The active account matching these credentials, or None; takes about as long either way.
    A hash made with other parameters than `hashing`'s is replaced by a new one."""
    user = await find_by_username(session, username) if _lookup_possible(username) else None
    candidate = password[:MAX_PASSWORD_LENGTH]
    valid = await verify_password_async(candidate, user.password_hash if user else None, hashing)
    if user is None or not valid or not user.is_active:
        return None
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = await hash_password_async(candidate, hashing)
        session.add(user)
    return user


async def deactivate_user(session: AsyncSession, user: User) -> bool:
    """Deactivate and sign the account out everywhere. Returns False if it was already inactive."""
    if not user.is_active:
        return False
    user.is_active = False
    user.deactivated_at = utcnow()
    session.add(user)
    await session.execute(delete(UserSession).where(col(UserSession.user_id) == user.id))
    await session.flush()
    return True


async def set_password(
    session: AsyncSession, user: User, new_password: str, *, hashing: PasswordHashing, must_change: bool
) -> None:
    """Give the account a new password (checked first). `must_change`: an administrator set it, so
    the person must choose their own at their next sign-in. Other sessions are not ended here:
    the callers decide (a reset ends them all, a change keeps the current one)."""
    check_password(new_password, username=user.username, display_name=user.display_name)
    user.password_hash = await hash_password_async(new_password, hashing)
    user.must_change_password = must_change
    user.password_changed_at = utcnow()
    session.add(user)
    await session.flush()


async def change_own_password(
    session: AsyncSession, user: User, *, current: str, new: str, hashing: PasswordHashing
) -> None:
    """A signed-in person changing their own password: the current one proves it is them."""
    if not await verify_password_async(current[:MAX_PASSWORD_LENGTH], user.password_hash, hashing):
        raise UserError("Your current password is not correct.")
    if new == current:
        raise UserError("The new password must be different from the current one.")
    await set_password(session, user, new, hashing=hashing, must_change=False)


async def end_sessions(session: AsyncSession, user_id: uuid.UUID, *, keep_token_hash: str = "") -> int:
    """End the account's sessions (all, or all but the one with `keep_token_hash`); how many."""
    query = delete(UserSession).where(col(UserSession.user_id) == user_id)
    if keep_token_hash:
        query = query.where(col(UserSession.token_hash) != keep_token_hash)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (
        (await session.execute(select(User).order_by(col(User.is_active).desc(), col(User.username))))
        .scalars()
        .all()
    )


async def count_active_admins(session: AsyncSession) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).where(col(User.role) == Role.ADMIN, col(User.is_active).is_(True))
            )
        ).scalar_one()
    )


async def record_account_event(
    session: AsyncSession, actor: Actor, action: str, account: User, *, ip: str = "", **detail: Any
) -> None:
    """An administrator's (or the command line's) action on an account, naming it by its username."""
    await record(
        session,
        actor,
        action,
        entity_type="user",
        entity_id=str(account.id),
        ip=ip,
        detail={"username": account.username, **detail},
    )
