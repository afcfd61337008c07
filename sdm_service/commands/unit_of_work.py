"""Shared plumbing for subcommands that change the database: one session, one commit, plain errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


def run_unit_of_work(
    work: Callable[[AsyncSession], Awaitable[T]], *, user_errors: tuple[type[Exception], ...] = ()
) -> T:
    """Run one unit of work against the configured database and commit it.

    `user_errors` are the service's own refusals: their message is shown as is, without a traceback.
    """
    from sdm_service.commands.environment import settings_or_exit
    from sdm_service.db import create_engine

    settings = settings_or_exit()

    async def main() -> T:
        engine = create_engine(settings)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except user_errors as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"The database could not be used ({type(exc).__name__}). Is it running, and did you run "
            "'sdm db upgrade'?"
        ) from None
