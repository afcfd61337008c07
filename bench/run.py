"""`make bench`: the service measured against a bare-Litestar ceiling in the same run.

Each HTTP row drives the service and the ceiling app with the same wrk settings, A/B interleaved
(the order flips every round) over several rounds, and reports medians; the figure that matters is
the ratio, because absolute numbers drift on a shared machine. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import flows
from bench.loadgen import (
    REPLAY_SCRIPT,
    STEP_POST_SCRIPT,
    PreparedRequest,
    WrkResult,
    ensure_wrk,
    run_wrk,
    write_requests,
)
from bench.seed import SeedResult, seed_database
from bench.servers import PRODUCTION_SERVER, SERVERS, RunningServer, service_server, start_pair

RESULTS_PATH = Path(__file__).parent / "results.json"
PROXY = flows.PROXY_HEADERS
WORKLIST_RATIO_MAX = 1.5
# A stored PDF is read back, never rendered. Rendering per request could reach at most the PDF row's
# renders/s over the JSON GET's req/s (about 0.002 here: 2-12 renders/s against 1,500-7,000 req/s);
# a stored PDF's GET costs what any audited API read costs (the FHIR read row: about 0.02).
STORED_PDF_RATIO_MIN = 0.5  # issue 21: against the plain JSON GET ceiling
RSS_LIMIT_MB = 200.0
# Issue 21: each row against its essential-work ceiling (bench/essential.py).
ESSENTIAL_TARGET = 0.5
PDF_PER_PAGE_TARGET = 0.7
PDF_PEER_TARGET = 10.0  # our renders/s over WeasyPrint's, same summary
REFERENCE = "ref"  # a bare-framework row: printed for reference, no target


@dataclass(frozen=True)
class Options:
    duration: float
    rounds: int
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
    postgres_url: str
    output: Path
    workdir: Path | None
    keep_workdir: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="A/B rounds per row; medians reported (default 5)"
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
    if min(args.responses, args.postgres_responses, args.small_responses) < 1:
        parser.error("--responses and --small-responses must be at least 1")
    return Options(
        duration=args.duration,
        rounds=args.rounds,
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
        postgres_url=args.postgres_url,
        output=args.output,
        workdir=args.workdir,
        keep_workdir=args.keep_workdir,
    )


# ---------------------------------------------------------------- figures


def _summary(results: list[WrkResult]) -> dict[str, Any]:
    return {
        "rps": round(statistics.median(r.rps for r in results), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in results), 2),
        "p95_ms": round(statistics.median(r.p95_ms for r in results), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in results), 2),
        "errors": sum(r.error_count for r in results),
        "requests": sum(r.requests for r in results),
        "rounds_rps": [round(r.rps, 1) for r in results],
    }


@dataclass
class Row:
    key: str
    title: str
    service_label: str
    ceiling_label: str
    metric: str  # "rps" (higher is better) or "p95_ms" (lower is better)
    target: float
    comparison: str  # ">=" ratio at least target; "<=" at most
    unit: str = "req/s"
    service: dict[str, Any] | None = None
    ceiling: dict[str, Any] | None = None
    error: str | None = None
    note: str = ""

    round_ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """Median of the per-round ratios: each round's two runs are adjacent in time, so a
        machine that slows down or speeds up between rounds moves both sides together."""
        if self.round_ratios:
            return round(statistics.median(self.round_ratios), 3)
        if not self.service or not self.ceiling:
            return None
        a, b = self.service[self.metric], self.ceiling[self.metric]
        return round(a / b, 3) if b else None

    @property
    def passed(self) -> bool:
        ratio = self.ratio
        if ratio is None or self.error:
            return False
        if self.comparison == REFERENCE:
            return True
        if (self.service or {}).get("errors") or (self.ceiling or {}).get("errors"):
            return False
        return ratio >= self.target if self.comparison == ">=" else ratio <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.title,
            "key": self.key,
            "metric": self.metric,
            "unit": self.unit,
            "service_label": self.service_label,
            "ceiling_label": self.ceiling_label,
            "service": self.service,
            "ceiling": self.ceiling,
            "ratio": self.ratio,
            "round_ratios": self.round_ratios,
            "target": REFERENCE if self.comparison == REFERENCE else f"{self.comparison} {self.target}",
            "pass": self.passed,
            "error": self.error,
            "note": self.note,
        }


@dataclass
class Pair:
    """Two request files measured against each other, A/B interleaved."""

    row: Row
    a_url: str
    a_file: Path
    b_url: str
    b_file: Path
    a_results: list[WrkResult] = field(default_factory=list)
    b_results: list[WrkResult] = field(default_factory=list)
    script: Path = REPLAY_SCRIPT
    threads: int | None = None  # None: the --threads option
    before_a: Callable[[], None] | None = None  # refresh side A's request file before each run
    before_b: Callable[[], None] | None = None


# ---------------------------------------------------------------- environment


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


async def _postgres_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def postgres_databases(admin_url: str, names: list[str]) -> Iterator[list[str]]:
    base = admin_url.rpartition("/")[0]
    created: list[str] = []
    try:
        for name in names:
            asyncio.run(_postgres_admin(admin_url, f'CREATE DATABASE "{name}"'))
            created.append(name)
        yield [f"{base}/{name}" for name in names]
    finally:
        for name in created:
            with suppress(Exception):
                asyncio.run(_postgres_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------- HTTP rows


@dataclass(frozen=True)
class DataSets:
    label: str  # "sqlite" | "postgresql"
    large_url: str
    small_url: str
    large: SeedResult
    small: SeedResult


def log(message: str) -> None:
    print(f"bench {time.strftime('%H:%M:%S')} {message}", flush=True)


def _prepare_patient_rows(
    service: RunningServer, data: DataSets, opts: Options, folder: Path, ceiling: RunningServer
) -> tuple[Pair, ...]:
    get_row = Row(
        "step_get",
        "Step GET / essential",
        "GET step page (reads the in-progress response)",
        "1 indexed read + the same step template",
        "rps",
        ESSENTIAL_TARGET,
        ">=",
    )
    post_row = Row(
        "step_post",
        "Step POST / essential",
        "POST step (CSRF, validate, save)",
        "form parse + CSRF + 1 conditional UPDATE",
        "rps",
        ESSENTIAL_TARGET,
        ">=",
    )
    get_bare = Row(
        "step_get_bare",
        "Step GET / bare page",
        get_row.service_label,
        "GET template page",
        "rps",
        0,
        REFERENCE,
    )
    post_bare = Row(
        "step_post_bare", "Step POST / bare form", post_row.service_label, "POST form", "rps", 0, REFERENCE
    )
    # One patient walks in through the start page (proves the flow); the rest resume sessions the
    # seeder left at the same step, since starts are rate-limited per address (30 per 10 minutes).
    first, action = flows.start_patient_session(service.base_url)
    sessions = [first] + [
        flows.resume_patient_session(service.base_url, first.step_path, token)
        for token in data.large.patient_tokens[: max(opts.sessions, opts.connections) - 1]
    ]
    flows.check_get(service.base_url, sessions[0].get_request(), "patient step page")
    next_step = flows.check_step_post(service.base_url, sessions[0], action)
    # One wrk thread per connection for the POST row, each owning one session (see step_post.lua).
    post_sessions = sessions[: opts.connections]
    post_file = folder / "step_post.req"

    def refresh_post_file() -> None:
        fresh = [session.refreshed(service.base_url) for session in post_sessions]
        write_requests(post_file, [session.post_request(action) for session in fresh])

    refresh_post_file()
    post_row.note = (
        f"POST {action} -> 303 {next_step}; {len(post_sessions)} patient sessions, "
        f"one per connection (wrk threads = connections on both sides)"
    )
    get_row.note = f"GET {sessions[0].step_path}; {len(sessions)} patient sessions rotated"
    ceiling_page = PreparedRequest("GET", "/page", dict(PROXY))
    ceiling_form = PreparedRequest(
        "POST", "/form", {**PROXY, "Content-Type": flows.FORM_TYPE}, "answer=somewhat&lock_version=1"
    )
    flows.check_get(ceiling.base_url, ceiling_page, "ceiling page")
    step_get_file = write_requests(folder / "step_get.req", [s.get_request() for s in sessions])
    flows.check_get(ceiling.base_url, sessions[0].get_request(), "essential step page")
    get_pair = Pair(get_row, service.base_url, step_get_file, ceiling.base_url, step_get_file)
    get_bare_pair = Pair(
        get_bare,
        service.base_url,
        step_get_file,
        ceiling.base_url,
        write_requests(folder / "ceiling_page.req", [ceiling_page]),
    )
    # The essential save answers on the same path with the same sessions, cookies and CSRF pair
    # (same secret): both sides share the rows, so each run starts from freshly read lock versions.
    post_pair = Pair(
        post_row,
        service.base_url,
        post_file,
        ceiling.base_url,
        post_file,
        script=STEP_POST_SCRIPT,
        threads=opts.connections,
        before_a=refresh_post_file,
        before_b=refresh_post_file,
    )
    post_bare_pair = Pair(
        post_bare,
        service.base_url,
        post_file,
        ceiling.base_url,
        write_requests(folder / "ceiling_form.req", [ceiling_form] * opts.connections),
        script=STEP_POST_SCRIPT,
        threads=opts.connections,
        before_a=refresh_post_file,
    )
    post_bare.note, get_bare.note = post_row.note, get_row.note
    return get_pair, post_pair, get_bare_pair, post_bare_pair


def _prepare_fhir_row(
    service: RunningServer, data: DataSets, folder: Path, ceiling: RunningServer
) -> tuple[Pair, Pair]:
    row = Row(
        "fhir_read",
        "FHIR QR read / essential",
        "GET /fhir/QuestionnaireResponse/{id} (bearer)",
        "token + row read, 1 audit INSERT, same JSON",
        "rps",
        ESSENTIAL_TARGET,
        ">=",
    )
    bare = Row(
        "fhir_read_bare", "FHIR QR read / bare JSON", row.service_label, "GET JSON", "rps", 0, REFERENCE
    )
    headers = {**PROXY, "Authorization": f"Bearer {data.large.api_token}", "Accept": "application/fhir+json"}
    requests = [
        PreparedRequest("GET", f"/fhir/QuestionnaireResponse/{rid}", headers)
        for rid in data.large.completed_response_ids
    ]
    response = flows.check_get(service.base_url, requests[0], "FHIR QuestionnaireResponse read")
    if response.json().get("resourceType") != "QuestionnaireResponse":
        raise flows.FlowError("the FHIR read did not return a QuestionnaireResponse")
    row.note = f"{len(requests)} completed responses rotated"
    ceiling_json = PreparedRequest("GET", "/json", dict(PROXY))
    flows.check_get(ceiling.base_url, ceiling_json, "ceiling JSON")
    essential = flows.check_get(ceiling.base_url, requests[0], "essential FHIR read")
    if essential.json() != {**response.json(), "meta": essential.json().get("meta")}:
        raise flows.FlowError("the essential FHIR read does not serialise the same resource")
    bare.note = row.note
    fhir_file = write_requests(folder / "fhir_read.req", requests)
    return (
        Pair(row, service.base_url, fhir_file, ceiling.base_url, fhir_file),
        Pair(
            bare,
            service.base_url,
            fhir_file,
            ceiling.base_url,
            write_requests(folder / "ceiling_json.req", [ceiling_json]),
        ),
    )


def _prepare_stored_pdf_row(
    service: RunningServer, data: DataSets, folder: Path, ceiling: RunningServer
) -> Pair:
    """The stored summary PDF served over the JSON API: bytes read back, never rendered again."""
    row = Row(
        "stored_pdf",
        "Stored PDF GET / JSON GET",
        "GET /api/v1/responses/{id}/summary.pdf (bearer)",
        "GET JSON",
        "rps",
        STORED_PDF_RATIO_MIN,
        ">=",
    )
    headers = {**PROXY, "Authorization": f"Bearer {data.large.api_token}"}
    requests = [
        PreparedRequest("GET", f"/api/v1/responses/{rid}/summary.pdf", headers)
        for rid in data.large.completed_response_ids
    ]
    # The seeded rows predate their documents: the first GET of each renders and stores it (as for
    # a response completed before documents were stored), so under load every GET is a stored one.
    sizes = []
    for request in requests:
        response = flows.check_get(service.base_url, request, "stored PDF")
        if not response.content.startswith(b"%PDF"):
            raise flows.FlowError("the summary download is not a PDF")
        sizes.append(len(response.content))
    row.note = f"{len(requests)} stored PDFs rotated, median {statistics.median(sizes) / 1024:.0f} KiB"
    ceiling_json = PreparedRequest("GET", "/json", dict(PROXY))
    return Pair(
        row,
        service.base_url,
        write_requests(folder / "stored_pdf.req", requests),
        ceiling.base_url,
        write_requests(folder / "ceiling_json_pdf.req", [ceiling_json]),
    )


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
            "pdf": Row(
                "stored_pdf", "Stored PDF GET / JSON GET", "", "GET JSON", "rps", STORED_PDF_RATIO_MIN, ">="
            ),
        }
        _attempt(
            rows,
            pairs,
            placeholder["step"],
            lambda: _prepare_patient_rows(service, data, opts, folder, ceiling),
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
        _attempt(rows, pairs, placeholder["fhir"], lambda: _prepare_fhir_row(service, data, folder, ceiling))
        _attempt(
            rows, pairs, placeholder["pdf"], lambda: _prepare_stored_pdf_row(service, data, folder, ceiling)
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

        for pair in pairs:  # warm-up: connection pools, caches, lazy imports
            drive(pair, "a", 1)
            drive(pair, "b", 1)
        for round_index in range(opts.rounds):
            for pair in pairs:
                sides = [("a", pair.a_results), ("b", pair.b_results)]
                for side, sink in sides if round_index % 2 == 0 else reversed(sides):
                    sink.append(drive(pair, side, opts.duration))
            log(f"{tag}: round {round_index + 1}/{opts.rounds} done")
        for pair in pairs:
            pair.row.service, pair.row.ceiling = _summary(pair.a_results), _summary(pair.b_results)
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


# ---------------------------------------------------------------- data sets


def _remove_sqlite(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


def make_data_sets(label: str, large_url: str, small_url: str, opts: Options, responses: int) -> DataSets:
    for url in (large_url, small_url):
        _remove_sqlite(url)  # always a fresh data set
    log(f"{label}: seeding {responses:,} + {opts.small_responses:,} responses")
    sessions = max(opts.sessions, opts.connections)  # shared by the server runs (lock re-read each run)
    large = asyncio.run(seed_database(large_url, responses, patient_sessions=sessions))
    small = asyncio.run(seed_database(small_url, opts.small_responses))
    log(f"{label}: seeded in {large.seconds:.1f}s + {small.seconds:.1f}s")
    return DataSets(label, large_url, small_url, large, small)


# ---------------------------------------------------------------- output


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(report: dict[str, Any]) -> None:
    lines = []
    header = (
        f"{'row':<34} {'service':>10} {'ceiling':>10} {'ratio':>6} {'target':>7} {'':>4}"
        "  service p50/p99 ms   ceiling p50/p99 ms"
    )
    for run in report["http"]:
        lines.append("")
        lines.append(f"== {run['database']} / {run['server']}  ({report['config']['workers']} worker(s))")
        lines.append(header)
        for row in run["rows"]:
            s, c = row["service"] or {}, row["ceiling"] or {}
            metric = row["metric"]
            verdict = "ref" if row["target"] == REFERENCE else "PASS" if row["pass"] else "FAIL"
            if row["error"]:
                lines.append(f"{row['row']:<34} {'not measured: ' + row['error'].splitlines()[0][:90]}")
                continue
            lat = (
                f"{_fmt(s.get('p50_ms'), 2):>7}/{_fmt(s.get('p99_ms'), 2):<9}"
                f"  {_fmt(c.get('p50_ms'), 2):>7}/{_fmt(c.get('p99_ms'), 2):<9}"
            )
            errors = ""
            if s.get("errors") or c.get("errors"):
                errors = f"  errors: service {s.get('errors')}, ceiling {c.get('errors')}"
            lines.append(
                f"{row['row']:<34} {_fmt(s.get(metric)):>10} {_fmt(c.get(metric)):>10} "
                f"{_fmt(row['ratio'], 2):>6} {row['target']:>7} {verdict:>4}  {lat}{errors}"
            )
        rss = run["peak_rss"]
        lines.append(
            f"{rss['row']:<34} {_fmt(rss['service']['mb']):>7} MB {'':>10} {'':>6} {rss['target']:>7} "
            f"{'PASS' if rss['pass'] else 'FAIL':>4}"
        )
    pdf = report.get("pdf")
    if pdf:
        lines.append("")
        lines.append("== in process")
        lines.append(
            f"{pdf['row']:<34} {_fmt(pdf['service']['renders_per_s']):>10} "
            f"{_fmt(pdf['ceiling']['renders_per_s']):>10} {_fmt(pdf['ratio'], 2):>6} {pdf['target']:>7} "
            f"{'PASS' if pdf['pass'] else 'FAIL':>4}  renders/s; the summary has {pdf['summary_pdf_pages']} "
            f"pages (per page: {_fmt(pdf['ratio_per_page'], 2)} of the one-page ceiling, target "
            f"{pdf['target']})"
        )
        peer = pdf["peer"]
        lines.append(
            f"{'PDF: ours vs WeasyPrint peer':<34} {_fmt(pdf['service']['renders_per_s']):>10} "
            f"{_fmt(peer['renders_per_s'], 2):>10} {_fmt(peer['speedup'], 1) + 'x':>6} {peer['target']:>7} "
            f"{'PASS' if peer['pass'] else 'FAIL':>4}  renders/s; WeasyPrint makes {peer['pages']} pages "
            "from the web summary page"
        )
    comparison = report.get("server_comparison")
    if comparison:
        lines.append("")
        lines.append(
            "== server comparison on SQLite: service / ceiling = ratio (req/s; worklist: p95 ms, "
            "large / small data set); the winner has the better service figure"
        )
        for line in comparison["lines"]:
            lines.append(line)
    print("\n".join(lines), flush=True)


def server_comparison(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    sqlite_runs = [run for run in runs if run["database"] == "sqlite"]
    if len(sqlite_runs) < 2:
        return None
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    for run in sqlite_runs:
        for row in run["rows"]:
            if row["service"]:
                by_row.setdefault(row["key"], {})[run["server"]] = row
    lines, winners = [], {}
    for key, per_server in by_row.items():
        parts = []
        for server, row in per_server.items():
            metric = row["metric"]
            parts.append(
                f"{server}: {_fmt(row['service'][metric])} / {_fmt(row['ceiling'][metric])}"
                f" = {_fmt(row['ratio'], 2)}"
            )
        lower_is_better = next(iter(per_server.values()))["metric"] == "p95_ms"
        pick = min if lower_is_better else max
        best = pick(per_server, key=lambda s: per_server[s]["service"][per_server[s]["metric"]])
        winners[key] = best
        lines.append(f"{key:<14} " + " | ".join(parts) + f"  -> {best}")
    return {"winners_by_row": winners, "lines": lines}


# ---------------------------------------------------------------- main


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
        round_ratios = [round(a / b, 3) for a, b in zip(pdf.service_rps, pdf.ceiling_rps, strict=True) if b]
        ratio = round(statistics.median(round_ratios), 3) if round_ratios else None
        peer_rounds = [round(a / b, 2) for a, b in zip(pdf.service_rps, pdf.peer_rps, strict=True) if b]
        peer_speedup = round(statistics.median(peer_rounds), 2) if peer_rounds else None
        report["pdf"] = {
            "row": "PDF summary render (in process)",
            "key": "pdf_render",
            "unit": "renders/s",
            "service": {
                "renders_per_s": round(pdf.service, 1),
                "rounds": [round(x, 1) for x in pdf.service_rps],
            },
            "ceiling": {
                "renders_per_s": round(pdf.ceiling, 1),
                "rounds": [round(x, 1) for x in pdf.ceiling_rps],
                "what": "one-page ReportLab document, 20 paragraphs",
            },
            "summary_pdf_bytes": pdf.summary_bytes,
            "summary_pdf_pages": pdf.summary_pages,
            # The ceiling is one page; per page the summary costs this fraction of it.
            "ratio_per_page": round(ratio * pdf.summary_pages, 3) if ratio else None,
            "ratio": ratio,
            "round_ratios": round_ratios,
            "target": f">= {PDF_PER_PAGE_TARGET} per page",
            "pass": bool(ratio and ratio * pdf.summary_pages >= PDF_PER_PAGE_TARGET),
            "peer": {
                "what": "WeasyPrint: the web summary page (patient/summary.html) HTML to PDF",
                "renders_per_s": round(pdf.peer, 2),
                "rounds": [round(x, 2) for x in pdf.peer_rps],
                "pages": pdf.peer_pages,
                "speedup": peer_speedup,
                "round_speedups": peer_rounds,
                "target": f">= {PDF_PEER_TARGET:.0f}x",
                "pass": bool(peer_speedup and peer_speedup >= PDF_PEER_TARGET),
            },
        }
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
