"""`sdm users create|deactivate|list|set-password|unlock`: clinician and administrator accounts."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import ratelimit
from sdm_service.audit import SYSTEM
from sdm_service.commands.environment import settings_or_exit
from sdm_service.commands.unit_of_work import run_unit_of_work
from sdm_service.models import Role, User
from sdm_service.services import signin
from sdm_service.services import users as service

T = TypeVar("T")


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return run_unit_of_work(work, user_errors=(service.UserError,))


def _read_password_from_stdin() -> str:
    """The first line of standard input, without its line ending. Never echoed or logged."""
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


@click.group("users")
def users() -> None:
    """Clinician and administrator accounts."""


@users.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(list(Role.ALL)),
    default=Role.CLINICIAN,
    show_default=True,
    help="Account role.",
)
@click.option("--name", "display_name", default="", help="Full name shown in the workspace.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (e.g. from a secrets manager).",
)
def create(username: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Create account USERNAME. The password comes from stdin, or is asked for without echo."""
    if password_stdin:
        password = _read_password_from_stdin()
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        # Refuse before touching the database.
        service.check_password(password, username=username, display_name=display_name)
    except service.UserError as exc:
        raise click.ClickException(str(exc)) from None

    async def work(session: AsyncSession) -> tuple[str, str]:
        user = await service.create_user(
            session,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            hashing=service.hashing_for(settings_or_exit()),
        )
        await service.record_account_event(session, SYSTEM, "user.create", user, role=user.role)
        return user.username, user.role

    name, created_role = _run(work)
    click.echo(f"Created {created_role} account {name!r}.")


@users.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """Deactivate account USERNAME and end its sessions at once."""

    async def work(session: AsyncSession) -> bool:
        user = await service.find_by_username(session, username)
        if user is None:
            raise service.UserError(f"There is no account named {service.normalise_username(username)!r}.")
        changed = await service.deactivate_user(session, user)
        if changed:
            await service.record_account_event(session, SYSTEM, "user.deactivate", user)
        return changed

    if _run(work):
        click.echo(f"Deactivated {service.normalise_username(username)!r}; its sessions have ended.")
    else:
        click.echo(f"{service.normalise_username(username)!r} was already deactivated.")


@users.command("list")
def list_users() -> None:
    """List accounts: username, role, state, name."""

    async def work(session: AsyncSession) -> list[tuple[str, str, bool, str]]:
        return [(u.username, u.role, u.is_active, u.display_name) for u in await service.list_users(session)]

    rows = _run(work)
    if not rows:
        click.echo(
            "No accounts yet. Create one with: sdm users create USERNAME --role admin --password-stdin"
        )
        return
    for username, role, active, display_name in rows:
        click.echo(f"{username}\t{role}\t{'active' if active else 'deactivated'}\t{display_name}")


async def _existing(session: AsyncSession, username: str) -> User:
    user = await service.find_by_username(session, username)
    if user is None:
        raise service.UserError(f"There is no account named {service.normalise_username(username)!r}.")
    return user


@users.command("set-password")
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input.",
)
def set_password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (an administrator's reset): its sessions end and the person
    must choose their own password at their next sign-in."""
    if password_stdin:
        password = _read_password_from_stdin()
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)

    async def work(session: AsyncSession) -> int:
        user = await _existing(session, username)
        settings = settings_or_exit()
        await service.set_password(
            session, user, password, hashing=service.hashing_for(settings), must_change=True
        )
        ended = await service.end_sessions(session, user.id)
        await service.record_account_event(session, SYSTEM, "user.password.reset", user, sessions_ended=ended)
        return ended

    ended = _run(work)
    click.echo(
        f"Password set for {service.normalise_username(username)!r}; {ended} session(s) ended. "
        "The new password must be changed at the next sign-in."
    )


@users.command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Forget USERNAME's failed sign-ins, so it is no longer locked."""

    async def work(session: AsyncSession) -> bool:
        user = await _existing(session, username)
        engine = session.bind
        assert isinstance(engine, AsyncEngine)
        store = ratelimit.store_from_settings(settings_or_exit(), engine)
        try:
            was_locked = await signin.unlock(store, user.username)
        finally:
            await store.close()
        await service.record_account_event(session, SYSTEM, "user.unlock", user, was_locked=was_locked)
        return was_locked

    name = service.normalise_username(username)
    click.echo(f"Unlocked {name!r}." if _run(work) else f"{name!r} was not locked; nothing to do.")
