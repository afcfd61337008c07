"""`sdm questionnaires validate|list|export-fhir SLUG|schema [questionnaire|evidence|rules]`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sdm_service.content import ContentError, ContentLibrary, load_library


def _content_dir(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    from sdm_service.commands.environment import settings_or_exit

    return settings_or_exit().content_dir


def _valid_library(directory: Path | None) -> ContentLibrary:
    """The content, or a stop that points to `validate` (which lists every problem)."""
    try:
        return load_library(_content_dir(directory))
    except ContentError as exc:
        raise click.ClickException(
            f"Content is not valid; run 'sdm questionnaires validate'.\n{exc}"
        ) from None


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
    library = _valid_library(directory)
    for q in library.questionnaires():
        click.echo(f"{q.id}\t{q.version}\t{q.title}")


@questionnaires.command("export-fhir")
@click.argument("slug")
@click.option(
    "--dir", "directory", type=click.Path(path_type=Path), help="Content folder (default: settings)."
)
@click.option("--base-url", help="Base URL for the canonical url and code systems (default: SDM_BASE_URL).")
def export_fhir(slug: str, directory: Path | None, base_url: str | None) -> None:
    """Print questionnaire SLUG as a FHIR R4 Questionnaire (JSON)."""
    from sdm_service.content.fhir import questionnaire_to_fhir

    library = _valid_library(directory)
    if slug not in library:
        known = ", ".join(sorted(library.by_slug)) or "none"
        raise click.ClickException(f"No questionnaire '{slug}' (known: {known}).")
    if base_url is None:
        from sdm_service.commands.environment import settings_or_exit

        base_url = settings_or_exit().base_url
    content = library.get(slug)
    resource = questionnaire_to_fhir(content.questionnaire, base_url, content.translated_questionnaires())
    click.echo(json.dumps(resource, indent=2, ensure_ascii=False))


SCHEMA_MODELS = {"questionnaire": "Questionnaire", "evidence": "EvidenceLibrary", "rules": "RuleFile"}


@questionnaires.command("schema")
@click.argument("file", type=click.Choice(sorted(SCHEMA_MODELS)), default="questionnaire")
def schema(file: str) -> None:
    """Print the JSON Schema of questionnaire.yaml (or evidence.yaml, rules.yaml), for editors."""
    from sdm_service.content import schema as content_schema

    model = getattr(content_schema, SCHEMA_MODELS[file])
    click.echo(json.dumps(model.model_json_schema(by_alias=True), indent=2))
