"""The command line of `python -m bench` (what `make bench` runs)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from bench.servers import PRODUCTION_SERVER, SERVERS

RESULTS_PATH = Path(__file__).parent / "results.json"


@dataclass(frozen=True)
class Options:
    duration: float
    rounds: int
    warmup: float
    connections: int
    threads: int
    workers: int
    responses: int
    postgres_responses: int
    small_responses: int
    sessions: int
    servers: tuple[str, ...]
    postgres_servers: tuple[str, ...]
    pdf_seconds: float
    deliveries: int
    delivery_threads: int
    postgres_url: str
    output: Path
    workdir: Path | None
    keep_workdir: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="`make bench`: the service measured against a bare-Litestar ceiling in the same run.",
    )
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="A/B rounds per row; medians reported (default 5)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=1,
        help="seconds of warm-up per side of each row before the rounds (default 1; 0: none)",
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: wrk gets one core)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server workers (default 1: the other core is wrk's)"
    )
    parser.add_argument("--responses", type=int, default=100_000, help="responses in the large data set")
    parser.add_argument(
        "--postgres-responses",
        type=int,
        default=1_000_000,
        help="responses in the large PostgreSQL data set (worklist row: this vs --small-responses)",
    )
    parser.add_argument("--small-responses", type=int, default=1_000, help="responses in the small data set")
    parser.add_argument(
        "--sessions", type=int, default=0, help="patient sessions to rotate (default: 2 x connections)"
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"servers to measure on SQLite, production ({PRODUCTION_SERVER}) first (default: all)",
    )
    parser.add_argument(
        "--postgres-servers", default=PRODUCTION_SERVER, help="servers to measure on PostgreSQL"
    )
    parser.add_argument("--pdf-seconds", type=float, default=2.0, help="seconds per PDF render run")
    parser.add_argument(
        "--deliveries",
        type=int,
        default=100,
        help="completions written back to the local FHIR server (0: none)",
    )
    parser.add_argument("--delivery-threads", type=int, default=4, help="`sdm worker --workers` (default 4)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SDM_BENCH_POSTGRES_URL", ""),
        help="admin URL; scratch databases are created in it and dropped (default $SDM_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--workdir", type=Path, default=None, help="where databases and logs go")
    parser.add_argument("--keep-workdir", action="store_true", help="keep databases and server logs")
    args = parser.parse_args(argv)

    def server_list(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
        unknown = [n for n in names if n not in SERVERS]
        if unknown:
            parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
        return names

    if args.duration <= 0 or args.rounds < 1 or args.connections < 1 or args.threads < 1 or args.workers < 1:
        parser.error("--duration, --rounds, --connections, --threads and --workers must be positive")
    if args.deliveries < 0 or args.delivery_threads < 1:
        parser.error("--deliveries must be 0 or more and --delivery-threads at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    if min(args.responses, args.postgres_responses, args.small_responses) < 1:
        parser.error("--responses and --small-responses must be at least 1")
    return Options(
        duration=args.duration,
        rounds=args.rounds,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        workers=args.workers,
        responses=args.responses,
        postgres_responses=args.postgres_responses,
        small_responses=args.small_responses,
        sessions=args.sessions or 2 * args.connections,
        servers=server_list(args.servers),
        postgres_servers=server_list(args.postgres_servers),
        pdf_seconds=args.pdf_seconds,
        deliveries=args.deliveries,
        delivery_threads=args.delivery_threads,
        postgres_url=args.postgres_url,
        output=args.output,
        workdir=args.workdir,
        keep_workdir=args.keep_workdir,
    )
