"""One server's HTTP rows: start the service and the ceiling app, prepare every row (a row that
cannot be prepared is reported, not fatal), drive each pair A/B interleaved with wrk, and read the
workers' memory peaks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import flows
from bench.http_rows import prepare_fhir_row, prepare_patient_rows, prepare_stored_pdf_row
from bench.loadgen import PreparedRequest, WrkResult, run_wrk, write_requests
from bench.options import Options
from bench.rows import (
    ESSENTIAL_TARGET,
    PROXY,
    RSS_LIMIT_MB,
    STORED_PDF_RATIO_MIN,
    WORKLIST_RATIO_MAX,
    DataSets,
    Pair,
    Row,
    log,
    summarise,
)
from bench.servers import RunningServer, service_server, start_pair


def service_env(database_url: str) -> dict[str, str]:
    """Production settings: real secret, https base URL (TLS ends at a proxy on loopback)."""
    return {
        "SDM_ENV": "production",
        "SDM_DATABASE_URL": database_url,
        "SDM_SECRET_KEY": secrets.token_urlsafe(48),
        "SDM_BASE_URL": "https://sdm.bench.invalid",
        # wrk addresses the server as 127.0.0.1 (a proxy would pass the public name).
        "SDM_ALLOWED_HOSTS": "127.0.0.1",
        # Every API request is still counted against the limit (that cost is measured), but the
        # limit is out of reach: a load test is not the abuse the limit exists for.
        "SDM_API_REQUESTS_PER_WINDOW": str(10**9),
    }


def _prepare_worklist_row(large: RunningServer, small: RunningServer, data: DataSets, folder: Path) -> Pair:
    row = Row(
        "worklist_p95",
        "Clinician worklist p95",
        f"worklist at {data.large.responses:,} responses",
        f"worklist at {data.small.responses:,} responses",
        "p95_ms",
        WORKLIST_RATIO_MAX,
        "<=",
        unit="ms p95",
    )
    files = []
    for server, seed, name in ((large, data.large, "large"), (small, data.small, "small")):
        cookie = flows.clinician_cookie(server.base_url, seed.clinician_username, seed.clinician_password)
        request = PreparedRequest("GET", flows.CLINICIAN_WORKLIST, {**PROXY, "Cookie": cookie})
        flows.check_get(server.base_url, request, f"clinician worklist ({name})", must_contain="MRN")
        files.append(write_requests(folder / f"worklist_{name}.req", [request]))
    return Pair(row, large.base_url, files[0], small.base_url, files[1])


def _attempt(rows: list[Row], pairs: list[Pair], row: Row, prepare: Callable[[], Any]) -> None:
    try:
        made = prepare()
    except Exception as exc:  # an endpoint not there yet or answering wrongly: report, keep going
        row.error = f"{type(exc).__name__}: {exc}"
        log(f"  {row.title}: NOT MEASURED: {row.error.splitlines()[0]}")
        rows.append(row)
        return
    for pair in made if isinstance(made, tuple) else (made,):
        pairs.append(pair)
        rows.append(pair.row)


def measure_http(server: str, data: DataSets, opts: Options, wrk: str, workdir: Path) -> dict[str, Any]:
    tag = f"{data.label}-{server}"
    folder = workdir / tag
    log(f"{tag}: starting the service ({server}, {opts.workers} worker(s)) and the ceiling app")
    service, ceiling = start_pair(
        server, opts.workers, service_env(data.large_url), workdir, f"{data.label}-large"
    )
    small: RunningServer | None = None
    rows: list[Row] = []
    pairs: list[Pair] = []
    try:
        small = service_server(
            server, opts.workers, service_env(data.small_url), workdir, f"{data.label}-small"
        ).start()
        placeholder = {
            "step": Row("step_get", "Step GET / essential", "", "", "rps", ESSENTIAL_TARGET, ">="),
            "fhir": Row("fhir_read", "FHIR QR read / essential", "", "", "rps", ESSENTIAL_TARGET, ">="),
            "work": Row("worklist_p95", "Clinician worklist p95", "", "", "p95_ms", WORKLIST_RATIO_MAX, "<="),
            "pdf": Row("stored_pdf", "Stored PDF GET / essential", "", "", "rps", STORED_PDF_RATIO_MIN, ">="),
        }
        _attempt(
            rows,
            pairs,
            placeholder["step"],
            lambda: prepare_patient_rows(service, data, opts, folder, ceiling),
        )
        if placeholder["step"].error:
            rows.append(
                Row(
                    "step_post",
                    "Step POST / essential",
                    "",
                    "",
                    "rps",
                    ESSENTIAL_TARGET,
                    ">=",
                    error=placeholder["step"].error,
                )
            )
        _attempt(rows, pairs, placeholder["fhir"], lambda: prepare_fhir_row(service, data, folder, ceiling))
        _attempt(
            rows, pairs, placeholder["pdf"], lambda: prepare_stored_pdf_row(service, data, folder, ceiling)
        )
        _attempt(
            rows, pairs, placeholder["work"], lambda: _prepare_worklist_row(service, small, data, folder)
        )

        def drive(pair: Pair, side: str, seconds: float) -> WrkResult:
            before = pair.before_a if side == "a" else pair.before_b
            if before is not None:
                before()
            url, file = (pair.a_url, pair.a_file) if side == "a" else (pair.b_url, pair.b_file)
            return run_wrk(
                wrk,
                url,
                file,
                connections=opts.connections,
                duration=seconds,
                threads=pair.threads or opts.threads,
                script=pair.script,
            )

        for pair in pairs if opts.warmup > 0 else ():  # warm-up: connection pools, caches, lazy imports
            drive(pair, "a", opts.warmup)
            drive(pair, "b", opts.warmup)
        for round_index in range(opts.rounds):
            for pair in pairs:
                sides = [("a", pair.a_results), ("b", pair.b_results)]
                for side, sink in sides if round_index % 2 == 0 else reversed(sides):
                    sink.append(drive(pair, side, opts.duration))
            log(f"{tag}: round {round_index + 1}/{opts.rounds} done")
        for pair in pairs:
            pair.row.service, pair.row.ceiling = summarise(pair.a_results), summarise(pair.b_results)
            metric = "p95_ms" if pair.row.metric == "p95_ms" else "rps"
            pair.row.round_ratios = [
                round(getattr(a, metric) / getattr(b, metric), 3)
                for a, b in zip(pair.a_results, pair.b_results, strict=True)
                if getattr(b, metric)
            ]
        rss = service.peak_rss_mb()
        rss_small = small.peak_rss_mb()
    finally:
        service.stop()
        ceiling.stop()
        if small is not None:
            small.stop()
    rss_row = {
        "row": "Peak RSS of one worker after the run",
        "key": "peak_rss",
        "service": {
            "mb": round(rss, 1) if rss else None,
            "small_data_set_mb": rss_small and round(rss_small, 1),
        },
        "target": f"<= {RSS_LIMIT_MB:.0f} MB",
        "pass": bool(rss and rss <= RSS_LIMIT_MB),
    }
    return {
        "server": server,
        "database": data.label,
        "rows": [row.as_dict() for row in rows],
        "peak_rss": rss_row,
        "logs": str(workdir),
    }
