"""Subcommand groups of `sdm`, one module each, registered by register()."""

from __future__ import annotations

import importlib

import click

# module name -> attribute holding a click command or group ("a,b" when a module has several)
GROUPS = {
    "questionnaires": "questionnaires",
    "users": "users",
    "api_clients": "api_clients",
    "sample": "sample_pdf",
    "data": "export_command,import_command",
    "audit": "audit",
    "deliveries": "worker,deliveries",
}


def register(main: click.Group) -> None:
    for module_name, attribute in GROUPS.items():
        module = importlib.import_module(f"sdm_service.commands.{module_name}")
        for name in attribute.split(","):
            main.add_command(getattr(module, name))
