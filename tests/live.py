"""Helpers for tests that start the real server (`sdm run`) as a process: the `sdm` command, a free
port, waiting until it answers /health, and running it for the length of a block."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The `sdm` of the interpreter running the tests (its venv), whatever PATH says.
SDM = shutil.which("sdm", path=str(Path(sys.executable).parent)) or "sdm"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sdm run exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"sdm run did not answer {url}/health in {timeout:.0f}s")


@contextmanager
def running_sdm(env: dict[str, str], port: int, workdir: Path) -> Iterator[str]:
    """`sdm db upgrade`, then `sdm run` on the port (output in workdir/server.log) until the block
    ends; yields its URL once /health answers."""
    url = f"http://127.0.0.1:{port}"
    subprocess.run([SDM, "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)
    with (workdir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [SDM, "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_health(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
