"""A real server (``sdm run`` in a subprocess, uvicorn workers, PostgreSQL) and simulated patients
who fill in the questionnaire over HTTP on loopback, for the load and crash tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from sdm_service.content import Content
from sdm_service.security import hash_token
from sdm_service.web.patient import PATIENT_COOKIE, question_step_count
from tests.conftest import TEST_SECRET
from tests.web.patient_support import BASE, csrf_token, lock_version, step_values

SDM = Path(sys.executable).with_name("sdm")
READY_TIMEOUT_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def patient_address(number: int) -> str:
    """Each simulated patient comes from its own loopback address (all of 127/8 is loopback), as
    real patients come from their own homes; per-address limits then apply as in real life."""
    return f"127.0.{1 + number // 250}.{1 + number % 250}"


class Unexpected(Exception):
    """The server answered something a working service never answers at this point."""


def expect(response: httpx.Response, status: int, where: str) -> None:
    if response.status_code != status:
        raise Unexpected(f"HTTP {response.status_code} on {where} (expected {status})")


class LiveServer:
    def __init__(
        self, database_url: str, log_path: Path, *, workers: int = 2, env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.extra_env = env or {}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the server without waiting for it (several can then start side by side)."""
        env = {
            **os.environ,
            "SDM_DATABASE_URL": self.database_url,
            "SDM_ENV": "test",
            "SDM_SECRET_KEY": TEST_SECRET,
            "SDM_BASE_URL": self.base_url,
            "SDM_LOG_LEVEL": "WARNING",
            "SDM_DB_POOL_SIZE": "10",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(SDM),
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the master and its workers die together
        )
        log.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become ready:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL the master and every worker at once: a crash, with no chance to clean up."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def server_errors_logged(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "Traceback" in line or '" 500' in line]


class LiveWorker:
    """`sdm worker` (the delivery worker) in a subprocess, with the same settings as the apps."""

    def __init__(self, database_url: str, log_path: Path, env: dict[str, str], *, threads: int = 1) -> None:
        self.threads = threads
        self.environment = {
            **os.environ,
            "SDM_DATABASE_URL": database_url,
            "SDM_ENV": "test",
            "SDM_SECRET_KEY": TEST_SECRET,
            "SDM_LOG_LEVEL": "WARNING",
            **env,
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SDM), "worker", "--workers", str(self.threads)],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def errors_logged(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]


@dataclass
class Patient:
    number: int
    token: str | None = None  # the resume token (the patient cookie), once the start was answered
    saved_answers: dict[str, Any] = field(default_factory=dict)  # as of the last acknowledged save
    sent_answers: dict[str, Any] = field(default_factory=dict)  # including a save still in flight
    completed: bool = False  # the server acknowledged the submit
    statuses: list[int] = field(default_factory=list)
    stopped_by: str = ""  # why the patient stopped early (connection lost when the server died)

    @property
    def server_errors(self) -> list[int]:
        return [status for status in self.statuses if status >= 500]


def patient_client(server: LiveServer, patient: Patient) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=patient_address(patient.number), retries=0)
    client = httpx.AsyncClient(
        base_url=server.base_url, transport=transport, timeout=httpx.Timeout(60.0), follow_redirects=False
    )
    if patient.token:
        client.cookies.set(PATIENT_COOKIE, patient.token, domain="127.0.0.1")
    return client


async def _request(
    client: httpx.AsyncClient, patient: Patient, method: str, url: str, **kw: Any
) -> httpx.Response:
    response = await client.request(method, url, **kw)
    patient.statuses.append(response.status_code)
    return response


async def complete_questionnaire(
    server: LiveServer, content: Content, patient: Patient, *, on_ack: asyncio.Event | None = None
) -> Patient:
    """Start (unless resuming), answer every step, submit. Stops quietly if the server goes away."""
    async with patient_client(server, patient) as client:
        try:
            if patient.token is None:
                welcome = await _request(client, patient, "GET", BASE)
                started = await _request(
                    client, patient, "POST", f"{BASE}/start", data={"_csrf_token": csrf_token(welcome.text)}
                )
                expect(started, 303, "start")
                patient.token = client.cookies[PATIENT_COOKIE]
            answers = dict(patient.saved_answers)
            for index in range(question_step_count(content.questionnaire)):
                for _ in range(3):  # a step comes back when follow-ups appear or checks give feedback
                    page = await _request(client, patient, "GET", f"{BASE}/step/{index + 1}")
                    if page.status_code == 303 and page.headers["location"].startswith(f"{BASE}/summary"):
                        patient.completed = True  # completed before (its acknowledgement was lost)
                        return patient
                    expect(page, 200, f"step {index + 1} page")
                    values = step_values(content, answers, index)
                    answers.update(values)
                    patient.sent_answers = dict(answers)
                    saved = await _request(
                        client,
                        patient,
                        "POST",
                        f"{BASE}/step/{index + 1}",
                        data={
                            "_csrf_token": csrf_token(page.text),
                            "lock_version": lock_version(page.text),
                            "action": "continue",
                            **values,
                        },
                    )
                    expect(saved, 303, f"step {index + 1} save")
                    patient.saved_answers = dict(answers)
                    if "notice=" not in saved.headers["location"]:
                        break
            review = await _request(client, patient, "GET", f"{BASE}/review")
            expect(review, 200, "review page")
            submitted = await _request(
                client,
                patient,
                "POST",
                f"{BASE}/submit",
                data={"_csrf_token": csrf_token(review.text), "lock_version": lock_version(review.text)},
            )
            expect(submitted, 303, "submit")
            if not submitted.headers["location"].startswith(f"{BASE}/summary"):
                raise Unexpected(f"submit led to {submitted.headers['location']}, not the summary")
            patient.completed = True
            if on_ack is not None:
                on_ack.set()
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            patient.stopped_by = type(exc).__name__  # the server went away (the crash test)
        except Unexpected as exc:
            patient.stopped_by = str(exc)
    return patient


async def stored_responses(database_url: str) -> dict[str, dict[str, Any]]:
    """Every response row, by the hash of its resume token."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT id, status, answers::text AS answers, summary::text AS summary, completed_at, "
            "resume_token_hash FROM responses"
        )
    finally:
        await connection.close()
    import json

    return {
        row["resume_token_hash"]: {
            "id": str(row["id"]),
            "status": row["status"],
            "answers": json.loads(row["answers"]),
            "summary": json.loads(row["summary"]) if row["summary"] else None,
            "completed_at": row["completed_at"],
        }
        for row in rows
    }


def row_for(rows: dict[str, dict[str, Any]], patient: Patient) -> dict[str, Any] | None:
    assert patient.token
    return rows.get(hash_token(patient.token))


async def stored_deliveries(database_url: str) -> dict[str, str]:
    """Every delivery's status, by its response id."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch("SELECT response_id::text AS response_id, status FROM deliveries")
    finally:
        await connection.close()
    return {row["response_id"]: row["status"] for row in rows}
