"""Start the service and the ceiling app on the same HTTP server, and read their memory peaks.

The service starts with its production command (`sdm run`, uvicorn) or with granian for the
server comparison; the ceiling app gets the same server, worker count and options.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sdm_service.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SERVERS = ("uvicorn", "granian")
# The server `sdm run` (and so `make run` and the Dockerfile) uses; see sdm_service/cli.py.
PRODUCTION_SERVER = "uvicorn"
READY_TIMEOUT_S = 90.0


class ServerError(RuntimeError):
    """A server did not start; the message quotes the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _uvicorn_options(port: int, workers: int) -> list[str]:
    # The same options `sdm run` passes to uvicorn.run().
    return [
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--log-level",
        "info",
        "--no-server-header",
        "--no-access-log",  # `sdm run` logs no line per request unless --access-log / SDM_ACCESS_LOG
    ]


def _granian_options(port: int, workers: int) -> list[str]:
    return ["--interface", "asgi", "--host", HOST, "--port", str(port), "--workers", str(workers)]


def service_command(server: str, port: int, workers: int) -> list[str]:
    if server == "uvicorn":
        return [str(BIN / "sdm"), "run", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    if server == "granian":
        return [
            str(BIN / "granian"),
            *_granian_options(port, workers),
            "--factory",
            "sdm_service.app:create_app",
        ]
    raise ValueError(f"unknown server {server!r}")


def ceiling_command(server: str, port: int, workers: int) -> list[str]:
    if server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.ceiling:create_app",
            "--factory",
            *_uvicorn_options(port, workers),
        ]
    if server == "granian":
        return [
            str(BIN / "granian"),
            *_granian_options(port, workers),
            "--factory",
            "bench.ceiling:create_app",
        ]
    raise ValueError(f"unknown server {server!r}")


@dataclass
class RunningServer:
    label: str
    command: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> RunningServer:
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # Own process group, so stop() can end this server and its workers and nothing else.
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.label} exited with {self.process.returncode}:\n{self._log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerError(
            f"{self.label} did not answer /health within {READY_TIMEOUT_S:.0f}s:\n{self._log_tail()}"
        )

    def pids(self) -> list[int]:
        """The server process and every descendant (the workers)."""
        if self.process is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def peak_rss_mb(self) -> float | None:
        """The largest VmHWM (peak resident set) among the server's processes, in MB."""
        peaks = []
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return max(peaks) if peaks else None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session made it the group leader
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass


def service_server(
    server: str, workers: int, service_env: dict[str, str], workdir: Path, tag: str
) -> RunningServer:
    port = free_port()
    return RunningServer(
        f"service ({server}, {tag})",
        service_command(server, port, workers),
        port,
        workdir / f"service-{server}-{tag}.log",
        env=service_env,
    )


def start_pair(
    server: str, workers: int, service_env: dict[str, str], workdir: Path, tag: str
) -> tuple[RunningServer, RunningServer]:
    ceiling_port = free_port()
    service = service_server(server, workers, service_env, workdir, tag)
    ceiling = RunningServer(
        f"ceiling ({server})",
        ceiling_command(server, ceiling_port, workers),
        ceiling_port,
        workdir / f"ceiling-{server}-{tag}.log",
        # The service's settings: the essential-work ceilings read the same database with them.
        env=service_env,
    )
    service.start()
    try:
        ceiling.start()
    except BaseException:
        service.stop()
        raise
    return service, ceiling
