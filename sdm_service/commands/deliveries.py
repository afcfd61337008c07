"""`sdm worker` (delivers completed summaries into the EHR) and `sdm deliveries list|retry`."""

from __future__ import annotations

import logging
import uuid

import click

from sdm_service.models import DeliveryStatus


@click.command("worker")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32), help="Delivery threads.")
def worker(workers: int) -> None:
    """Deliver completed summaries into the EHR (SDM_EHR_FHIR_BASE_URL) from the job queue, with
    retries and a sweep each minute. Runs until interrupted. Without an EHR configured it says so
    and exits."""
    from sdm_service.commands.environment import settings_or_exit
    from sdm_service.delivery.keys import KeyFileError, load_signing_keys
    from sdm_service.delivery.queue import DeliveryQueue

    settings = settings_or_exit()
    if not settings.ehr_enabled:
        click.echo(
            "sdm worker: no EHR is configured (SDM_EHR_FHIR_BASE_URL), so there is nothing to deliver."
        )
        return
    try:
        load_signing_keys(settings.ehr_private_key_file)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    queue = DeliveryQueue(settings)
    click.echo(f"sdm worker: delivering to {settings.ehr_fhir_base_url} with {workers} thread(s)")
    try:
        queue.run_worker(workers)
    finally:
        queue.close()


@click.group("deliveries")
def deliveries() -> None:
    """Deliveries of summaries into the EHR."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(DeliveryStatus.ALL), help="Only deliveries in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def list_command(status: str | None, limit: int) -> None:
    """One line per delivery, newest first: id, response, state, attempts, what the EHR holds or why
    it failed."""
    from sdm_service.commands.unit_of_work import run_unit_of_work
    from sdm_service.delivery.outbox import list_deliveries

    rows = run_unit_of_work(lambda session: list_deliveries(session, status=status, limit=limit))
    if not rows:
        click.echo("No deliveries.")
    for row in rows:
        where = row.document_reference or row.last_error or "-"
        click.echo(f"{row.id}  response {row.response_id}  {row.status:<9}  attempts {row.attempts}  {where}")


@deliveries.command("retry")
@click.argument("delivery_id", type=click.UUID)
def retry_command(delivery_id: uuid.UUID) -> None:
    """Give a failed or dead-lettered delivery a fresh set of attempts, starting now."""
    from sdm_service.audit import Actor
    from sdm_service.commands.environment import settings_or_exit
    from sdm_service.commands.unit_of_work import run_unit_of_work
    from sdm_service.delivery.outbox import DeliveryNotFound, DeliveryNotRetryable, retry_now
    from sdm_service.delivery.queue import DeliveryQueue

    settings = settings_or_exit()
    actor = Actor("system", "cli", "sdm deliveries retry")
    row = run_unit_of_work(
        lambda session: retry_now(session, delivery_id, actor),
        user_errors=(DeliveryNotFound, DeliveryNotRetryable),
    )
    if settings.ehr_enabled:
        DeliveryQueue(settings).enqueue(row.id)
    click.echo(f"Delivery {row.id} is pending again; a worker sends it now.")
