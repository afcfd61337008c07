"""`sdm questionnaires validate|list|export-fhir|schema`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sdm_service.content import ContentError, load_library


def _content_dir(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    from sdm_service.cli import settings_or_exit

    return settings_or_exit().content_dir


@click.group()
def questionnaires() -> None:
    """Questionnaire content in questionnaires/."""


@questionnaires.command("validate")
@click.option(
    "--dir", "directory", type=click.Path(path_type=Path), help="Content folder (default: settings)."
)
def validate(directory: Path | None) -> None:
    """Check every questionnaire, evidence and rules file; list every problem found."""
    folder = _content_dir(directory)
    try:
        library = load_library(folder)
    except ContentError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in {folder}") from None
    for q in library.questionnaires():
        click.echo(f"ok  {q.id} {q.version}: {len(q.steps)} steps, {len(q.items())} items")


@questionnaires.command("list")
@click.option(
    "--dir", "directory", type=click.Path(path_type=Path), help="Content folder (default: settings)."
)
def list_questionnaires(directory: Path | None) -> None:
    """List the questionnaires and their versions."""
    try:
        library = load_library(_content_dir(directory))
    except ContentError as exc:
        raise click.ClickException(
            f"Content is not valid; run 'sdm questionnaires validate'.\n{exc}"
        ) from None
    for q in library.questionnaires():
        click.echo(f"{q.id}\t{q.version}\t{q.title}")


@questionnaires.command("schema")
def schema() -> None:
    """Print the JSON Schema of questionnaire.yaml, for editors."""
    from sdm_service.content.schema import Questionnaire

    click.echo(json.dumps(Questionnaire.model_json_schema(), indent=2))
