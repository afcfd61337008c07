"""/health/live and /health/ready for probes; /health keeps its old answer."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.observability.health import ReadinessCheck
from tests.conftest import make_settings


async def test_live_and_ready_answer_with_every_check(client: AsyncTestClient[Litestar]) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json()["status"] == "ok"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "content": "ok"}}
    old = await client.get("/health")
    assert old.status_code == 200
    assert old.json()["database"] == "ok"


async def test_ready_is_503_naming_the_database_when_it_is_down_while_live_stays_up() -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/none")  # nothing listens on port 1
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "failing"
    assert ready.json()["status"] == "unavailable"
    assert live.status_code == 200


async def test_a_check_added_by_another_part_counts_and_a_raising_check_is_failing(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url))

    async def queue_down() -> bool:
        raise ConnectionError("queue unreachable")

    app.state.readiness_checks.append(ReadinessCheck("queue", queue_down))
    async with AsyncTestClient(app=app) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "content": "ok", "queue": "failing"}


async def test_probes_answer_on_any_host(client: AsyncTestClient[Litestar]) -> None:
    # Kubernetes probes call the pod's own address, which is not an allowed host.
    for path in ("/health/live", "/health/ready"):
        response = await client.get(path, headers={"Host": "10.1.2.3:8000"})
        assert response.status_code == 200, path


def test_the_image_and_compose_probe_readiness() -> None:
    import yaml

    from sdm_service.settings import PROJECT_ROOT

    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :]
    assert "http://127.0.0.1:8000/health/ready" in healthcheck.splitlines()[1]
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert "http://127.0.0.1:8000/health/ready" in " ".join(compose["services"]["app"]["healthcheck"]["test"])


async def test_the_queue_check_fails_when_the_queue_storage_does_not_answer() -> None:
    from sdm_service.observability.health import queue_check, run_checks

    def unreachable() -> int:
        raise ConnectionError("redis down")

    checks = [queue_check(lambda: 3), ReadinessCheck("queue2", queue_check(unreachable).check)]
    results = await run_checks(checks)
    assert results == {"queue": "ok", "queue2": "failing"}
