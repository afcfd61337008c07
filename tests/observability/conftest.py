"""A real `sdm run` (two uvicorn workers, SQLite) with JSON logs and the access log on, shared by
the operations tests of one session. Its stderr goes to a file the log test reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sdm_service import migrate
from tests.conftest import TEST_SECRET
from tests.reliability.live import free_port

SDM = Path(sys.executable).with_name("sdm")
READY_TIMEOUT_SECONDS = 90
METRICS_TOKEN = "metrics-token-for-tests-0123456789"
# Only this loopback address may scrape without the token: requests from others (127.0.0.1, the
# patients' 127.0.x.y) show the refusal.
SCRAPER_ADDRESS = "127.0.0.2"


@dataclass
class OpsServer:
    base_url: str
    stderr: Path
    database_url: str

    def wait_for_log(self, text: str) -> str:
        """The stderr so far, once `text` has been written (the log is written by a queue thread)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            written = self.stderr.read_text(errors="replace")
            if text in written:
                return written
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never reached the log:\n{written[-3000:]}")

    def marker(self) -> str:
        """A request whose id ends the log lines of everything asked before it."""
        request_id = f"marker-{uuid.uuid4().hex}"
        httpx.get(f"{self.base_url}/health/live", headers={"X-Request-ID": request_id}, timeout=10)
        return request_id


@pytest.fixture(scope="session")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsServer]:
    workdir = tmp_path_factory.mktemp("ops-server")
    database = workdir / "ops.db"
    migrate.upgrade(f"sqlite:///{database}", configure_logging=False)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SDM_DATABASE_URL": f"sqlite:///{database}",
        "SDM_ENV": "test",
        "SDM_SECRET_KEY": TEST_SECRET,
        "SDM_BASE_URL": base_url,
        "SDM_LOG_FORMAT": "json",
        "SDM_LOG_LEVEL": "INFO",
        "SDM_METRICS_ALLOW": f"{SCRAPER_ADDRESS}/32",
        "SDM_METRICS_TOKEN": METRICS_TOKEN,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    stderr_path = workdir / "stderr.log"
    with stderr_path.open("wb") as stderr, (workdir / "stdout.log").open("wb") as stdout:
        process = subprocess.Popen(
            [str(SDM), "run", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--access-log"],
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # the master and its workers stop together
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sdm run exited:\n{stderr_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sdm run never became ready:\n{stderr_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield OpsServer(base_url=base_url, stderr=stderr_path, database_url=f"sqlite+aiosqlite:///{database}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
