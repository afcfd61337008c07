"""Subcommand groups of `sdm`, one module each, registered by register()."""

from __future__ import annotations

import importlib

import click

# module name -> attribute holding a click command or group
GROUPS = {
    "questionnaires": "questionnaires",
}


def register(main: click.Group) -> None:
    for module_name, attribute in GROUPS.items():
        module = importlib.import_module(f"sdm_service.commands.{module_name}")
        main.add_command(getattr(module, attribute))
