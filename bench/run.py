"""`make bench`: the service measured against a bare-Litestar ceiling in the same run.

Each HTTP row drives the service and the ceiling app with the same wrk settings, A/B interleaved
(the order flips every round) over several rounds, and reports medians; the figure that matters is
the ratio, because absolute numbers drift on a shared machine. See bench/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.datasets import make_data_sets, postgres_databases
from bench.loadgen import ensure_wrk
from bench.measure import measure_http
from bench.options import Options, parse_args
from bench.report import pdf_report, print_table, server_comparison
from bench.rows import log
from bench.servers import PRODUCTION_SERVER


def run(opts: Options) -> dict[str, Any]:
    wrk = ensure_wrk()
    cleanup = opts.workdir is None and not opts.keep_workdir
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="sdm-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {
            "duration_s": opts.duration,
            "rounds": opts.rounds,
            "connections": opts.connections,
            "wrk_threads": opts.threads,
            "workers": opts.workers,
            "responses": opts.responses,
            "postgres_responses": opts.postgres_responses,
            "small_responses": opts.small_responses,
            "servers": list(opts.servers),
            "deliveries": opts.deliveries,
            "production_server": PRODUCTION_SERVER,
        },
        "http": [],
    }
    try:
        sqlite_sets = make_data_sets(
            "sqlite",
            f"sqlite:///{workdir / 'large.db'}",
            f"sqlite:///{workdir / 'small.db'}",
            opts,
            opts.responses,
        )
        for server in opts.servers:
            report["http"].append(measure_http(server, sqlite_sets, opts, wrk, workdir))
        if opts.postgres_url:
            suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
            names = [f"sdm_bench_{suffix}_large", f"sdm_bench_{suffix}_small"]
            with postgres_databases(opts.postgres_url, names) as (large_url, small_url):
                pg_sets = make_data_sets("postgresql", large_url, small_url, opts, opts.postgres_responses)
                for server in opts.postgres_servers:
                    report["http"].append(measure_http(server, pg_sets, opts, wrk, workdir))
        log("PDF: in-process renders")
        from bench.pdfbench import measure_pdf

        pdf = measure_pdf(opts.rounds, opts.pdf_seconds)
        report["pdf"] = pdf_report(pdf)
        if opts.deliveries:
            from bench.deliveries import measure_deliveries

            report["deliveries"] = measure_deliveries(opts.deliveries, opts.delivery_threads, workdir)
        report["server_comparison"] = server_comparison(report["http"])
        report["seconds"] = round(time.monotonic() - started, 1)
    finally:
        if cleanup:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        report = run(opts)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print_table(report)
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {opts.output} ({report['seconds']:.0f}s)")
    return 0
