"""`sdm deliveries list|retry` and `sdm worker` without an EHR, from the shell."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sdm_service.app import create_app
from sdm_service.cli import main
from sdm_service.models import Delivery, DeliveryStatus
from tests.api.conftest import completed_response, db
from tests.conftest import TEST_SECRET, make_settings


def test_list_shows_the_reason_and_retry_makes_it_pending(
    sqlite_url: str, ehr_key_files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {
        "SDM_DATABASE_URL": sqlite_url,
        "SDM_ENV": "test",
        "SDM_SECRET_KEY": TEST_SECRET,
        "SDM_EHR_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
        "SDM_EHR_CLIENT_ID": "sdm",
        "SDM_EHR_PRIVATE_KEY_FILE": str(ehr_key_files[0]),
        "SDM_DELIVERY_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(
        sqlite_url, **{k[4:].lower(): v for k, v in environment.items() if k != "SDM_DATABASE_URL"}
    )
    app = create_app(settings)

    async def dead_delivery() -> Delivery:
        await completed_response(app, settings, value="MRN-CLI")
        async with db(app) as session:
            delivery = (await session.execute(select(Delivery))).scalar_one()
            delivery.status = DeliveryStatus.DEAD
            delivery.last_error = "DocumentReference: the EHR answered 503"
            await session.commit()
            return delivery

    async def reread(delivery: Delivery) -> Delivery | None:
        async with db(app) as session:
            return await session.get(Delivery, delivery.id)

    delivery = asyncio.run(dead_delivery())

    runner = CliRunner()
    listed = runner.invoke(main, ["deliveries", "list", "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert str(delivery.id) in listed.output
    assert "the EHR answered 503" in listed.output

    retried = runner.invoke(main, ["deliveries", "retry", str(delivery.id)])
    assert retried.exit_code == 0, retried.output
    again = runner.invoke(main, ["deliveries", "retry", str(delivery.id)])
    assert again.exit_code == 0  # a pending one may be nudged again
    row = asyncio.run(reread(delivery))
    assert row is not None
    assert row.status == DeliveryStatus.PENDING

    unknown = runner.invoke(main, ["deliveries", "retry", "00000000-0000-0000-0000-000000000000"])
    assert unknown.exit_code == 1
    assert "no delivery" in unknown.output


def test_the_worker_without_an_ehr_says_so(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDM_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SDM_ENV", "test")
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 0
    assert "no EHR is configured" in result.output
