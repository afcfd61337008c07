"""What every command needs first: the settings, or a clear message and a non-zero exit."""

from __future__ import annotations

import click

from sdm_service.settings import Settings, SettingsError, load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
