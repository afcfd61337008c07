"""The `sdm` command: run the server, migrate, and manage content, users and API clients.

Subcommand groups live in sdm_service/commands/ and are registered here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sdm_service.commands.environment import settings_or_exit
from sdm_service.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sdm-service", prog_name="sdm")
def main() -> None:
    """sdm-service: IORT shared decision-making questionnaire and summary."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--reload", is_flag=True, help="Restart on code changes (development only).")
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log one line per request with its route template and request id (default: SDM_ACCESS_LOG, off).",
)
@click.option(
    "--with-worker",
    is_flag=True,
    help="Also run one delivery worker (`sdm worker`) while serving, when an EHR is configured.",
)
def run(host: str, port: int, workers: int, reload: bool, access_log: bool | None, with_worker: bool) -> None:
    """Serve the application with uvicorn."""
    import atexit
    import os
    import shutil
    import subprocess
    import tempfile

    from sdm_service.content import ContentError, load_library
    from sdm_service.paths import questionnaire_path

    if access_log is not None:
        # The app's own request line (route template, request id) replaces uvicorn's, which shows
        # raw paths; the worker processes read the choice from the environment.
        os.environ["SDM_ACCESS_LOG"] = "true" if access_log else "false"
    if (workers > 1 or with_worker) and not reload and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker (and the delivery worker) is a process with its own metrics:
        # prometheus_client's multiprocess mode
        # writes them to files here, and /metrics in any worker adds them all up.
        metrics_dir = tempfile.mkdtemp(prefix="sdm-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    settings = settings_or_exit()
    try:
        load_library(settings.content_dir)
    except ContentError as exc:
        raise click.ClickException(f"Questionnaire content is not valid:\n{exc}") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only a display name
    local = f"http://{shown}:{port}"
    click.echo(f"sdm-service ({settings.env}) on {local}")
    click.echo(f"  Patient questionnaire: {local}{questionnaire_path(settings.questionnaire_slug)}")
    click.echo(f"  Clinician workspace:   {local}/clinician")
    click.echo(f"  Health:                {local}/health   API schema: {local}/schema")
    delivery_worker = None
    if with_worker and settings.ehr_enabled:
        click.echo(f"  Delivering summaries to {settings.ehr_fhir_base_url} (one `sdm worker` alongside)")
        delivery_worker = subprocess.Popen([sys.executable, "-m", "sdm_service.cli", "worker"])
    try:
        _serve(settings, host, port, workers, reload)
    finally:
        if delivery_worker is not None:
            delivery_worker.terminate()
            delivery_worker.wait(timeout=30)


# An idle keep-alive connection stays open this long. Longer than a balancer's own idle timeout
# (nginx and the cloud balancers default to 60 s), so the balancer, not the app, closes idle
# connections: uvicorn's 5 s default closes connections a busy balancer (or browser) is about to
# reuse, and a request sent just as one closes is reset ("connection reset", a 502 at a balancer).
KEEP_ALIVE_SECONDS = 75


def _serve(settings: Settings, host: str, port: int, workers: int, reload: bool) -> None:
    import uvicorn

    from sdm_service.observability.logs import uvicorn_log_config

    uvicorn.run(
        "sdm_service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers if not reload else None,
        reload=reload,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level.lower(),
        # Masks link tokens and query strings, stamps request ids, and formats (SDM_LOG_FORMAT).
        log_config=uvicorn_log_config(settings.log_format_in_use),
        access_log=False,  # the app writes its own request line (SDM_ACCESS_LOG)
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from sdm_service import migrate

    settings = settings_or_exit()
    try:
        migrate.upgrade(settings.database_url, revision)
    except Exception as exc:  # surface driver/network errors as one clear line
        raise click.ClickException(f"Migration failed: {exc}") from None
    click.echo(f"Database is at revision {revision}.")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes every table)."""
    from sdm_service import migrate

    settings = settings_or_exit()
    migrate.downgrade(settings.database_url, revision)
    click.echo(f"Database is at revision {revision}.")


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def db_backup(file: Path, force: bool) -> None:
    """Copy the database to FILE while the service runs (SQLite's online backup API). For
    PostgreSQL, explains how to use pg_dump and pg_restore instead."""
    from sdm_service import backup

    settings = settings_or_exit()
    if not settings.is_sqlite:
        click.echo(backup.postgres_guidance(settings.database_url))
        raise SystemExit(1)  # nothing was written
    try:
        result = backup.backup_sqlite(settings.database_url, file, overwrite=force)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backed up to {result.path} ({result.size} bytes, integrity {result.integrity}).")


def _register_groups() -> None:
    from sdm_service.commands import register

    register(main)


_register_groups()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
