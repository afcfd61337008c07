"""Run Alembic programmatically (used by `sdm db ...` and the test suite)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from sdm_service.resources import resource_path


def alembic_config(database_url: str, *, configure_logging: bool = True) -> Config:
    config = Config(str(resource_path("alembic.ini")))
    config.set_main_option("script_location", str(resource_path("migrations")))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = configure_logging
    return config


def upgrade(database_url: str, revision: str = "head", *, configure_logging: bool = True) -> None:
    command.upgrade(alembic_config(database_url, configure_logging=configure_logging), revision)


def downgrade(database_url: str, revision: str, *, configure_logging: bool = True) -> None:
    command.downgrade(alembic_config(database_url, configure_logging=configure_logging), revision)
