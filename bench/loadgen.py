"""wrk, the external load generator: find or install it, write request files, run it, read results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPLAY_SCRIPT = Path(__file__).parent / "wrk" / "replay.lua"
STEP_POST_SCRIPT = Path(__file__).parent / "wrk" / "step_post.lua"
RESULT_PREFIX = "BENCH_RESULT "


class LoadGeneratorError(RuntimeError):
    pass


def ensure_wrk() -> str:
    """Path of wrk, installing the Debian package when it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("bench: wrk is missing; installing the Debian package 'wrk'", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "update", "-qq"], check=False, env=env)
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=False, env=env)
        found = shutil.which("wrk")
        if found:
            return found
    how = "sudo apt-get install wrk" if apt else "install wrk (https://github.com/wg/wrk)"
    raise LoadGeneratorError(f"wrk is needed to drive the HTTP rows and could not be installed; run: {how}")


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""

    def line(self) -> str:
        header_text = "\n".join(f"{name}: {value}" for name, value in self.headers.items())
        fields = (self.method, self.path, header_text, self.body)
        return "\t".join(quote(field, safe="") for field in fields)


def write_requests(path: Path, requests: Sequence[PreparedRequest]) -> Path:
    if not requests:
        raise LoadGeneratorError(f"no requests to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(request.line() + "\n" for request in requests))
    return path


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(
    wrk: str,
    base_url: str,
    requests_file: Path,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    timeout_s: int = 10,
    script: Path = REPLAY_SCRIPT,
) -> WrkResult:
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={max(connections, threads)}",
        f"--duration={max(1, round(duration))}s",
        f"--timeout={timeout_s}s",
        "--latency",
        f"--script={script}",
        base_url,
    ]
    env = {**os.environ, "BENCH_REQUESTS": str(requests_file), "BENCH_THREADS": str(threads)}
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                errors=data["errors"],
                p50_ms=data["p50_us"] / 1000,
                p95_ms=data["p95_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
            )
    raise LoadGeneratorError(
        f"wrk gave no result (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    )
