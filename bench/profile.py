"""Where a request's time goes, in process: SQL statements per request and a pyinstrument profile
of each benchmarked request kind, against a seeded database.

    python -m bench.profile --responses 100000 --requests 200 [--rows step_get,fhir_read] [--html DIR]

The app is driven through Litestar's test client (no HTTP server), so the figures show what the
service itself does per request; `python -m bench` measures the whole stack under load.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import httpx
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from sqlalchemy import event

from bench import flows
from bench.seed import SeedResult, seed_database
from sdm_service.app import create_app
from sdm_service.settings import load_settings

BASE_URL = "https://127.0.0.1"
ROWS = ("step_get", "step_post", "fhir_read", "stored_pdf", "fhir_binary", "clinician_pdf", "worklist")


class StatementCounter:
    def __init__(self) -> None:
        self.statements: collections.Counter[str] = collections.Counter()
        self.count = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        self.statements[" ".join(statement.split())[:140]] += 1


async def _prepare(client: httpx.AsyncClient, seed: SeedResult) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One request function per row, with cookies and tokens obtained through real requests."""
    token = seed.patient_tokens[0]
    client.cookies.set(flows.PATIENT_COOKIE, token)
    page = await client.get("/q/iort-sdm/step/3", follow_redirects=True)
    step_path = page.url.path
    form = next(f for f in flows.post_forms(page.text) if len(f.radios) >= flows.TARGET_CHOICE_GROUPS)
    body = dict(form.body(form.continue_button()))
    lock = {"version": int(body["lock_version"])}

    async def step_get() -> Any:
        return await client.get(step_path)

    async def step_post() -> Any:
        body["lock_version"] = str(lock["version"])
        response = await client.post(step_path, data=body)
        if response.status_code != 303:
            raise RuntimeError(f"step POST answered {response.status_code}: {response.text[:800]}")
        if response.status_code == 303:
            lock["version"] += 1
        return response

    api = {"Authorization": f"Bearer {seed.api_token}", "Accept": "application/fhir+json"}
    ids = seed.completed_response_ids

    async def fhir_read() -> Any:
        fhir_read.n = getattr(fhir_read, "n", 0) + 1  # type: ignore[attr-defined]
        return await client.get(f"/fhir/QuestionnaireResponse/{ids[fhir_read.n % len(ids)]}", headers=api)  # type: ignore[attr-defined]

    pdf_api = {"Authorization": f"Bearer {seed.api_token}"}
    for response_id in ids:  # the seeded rows predate their documents: the first GET stores each
        await client.get(f"/api/v1/responses/{response_id}/summary.pdf", headers=pdf_api)

    pdf_turn = {"n": 0}

    async def stored_pdf() -> Any:
        pdf_turn["n"] += 1
        return await client.get(
            f"/api/v1/responses/{ids[pdf_turn['n'] % len(ids)]}/summary.pdf", headers=pdf_api
        )

    async def fhir_binary() -> Any:
        pdf_turn["n"] += 1
        binary_id = ids[pdf_turn["n"] % len(ids)]
        return await client.get(f"/fhir/Binary/{binary_id}", headers={**pdf_api, "Accept": "application/pdf"})

    sign_in = await client.get(flows.CLINICIAN_SIGN_IN)
    sign_form = next(f for f in flows.post_forms(sign_in.text) if any(n == "password" for n, _ in f.fields))
    values = dict(sign_form.body())
    values.update(username=seed.clinician_username, password=seed.clinician_password)
    await client.post(flows.CLINICIAN_SIGN_IN, data=values)

    async def worklist() -> Any:
        return await client.get(flows.CLINICIAN_WORKLIST)

    async def clinician_pdf() -> Any:
        pdf_turn["n"] += 1
        return await client.get(f"/clinician/responses/{ids[pdf_turn['n'] % len(ids)]}/summary.pdf")

    return {
        "step_get": step_get,
        "step_post": step_post,
        "fhir_read": fhir_read,
        "stored_pdf": stored_pdf,
        "fhir_binary": fhir_binary,
        "clinician_pdf": clinician_pdf,
        "worklist": worklist,
    }


async def profile(url: str, seed: SeedResult, rows: list[str], requests: int, html_dir: Path | None) -> None:
    from pyinstrument import Profiler

    settings = load_settings(
        env="production",
        database_url=url,
        secret_key="profile-secret-key-long-enough-0123456789abcdef",
        base_url="https://127.0.0.1",
        allowed_hosts=["127.0.0.1"],
        api_requests_per_window=10**9,
    )
    app = create_app(settings)
    counter = StatementCounter()
    # Both pools: the request's unit of work and the side engine (rate limits, token lookups).
    plugin = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
    for engine in {app.state.side_engine, *(config.get_engine() for config in plugin.config)}:
        event.listen(engine.sync_engine, "before_cursor_execute", counter)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    transport = httpx.ASGITransport(app=cast(Any, app))
    # The app runs on this event loop (not a test client's thread), so the profile sees its frames.
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        calls = await _prepare(client, seed)
        for row in rows:
            call = calls[row]
            for _ in range(10):  # warm-up
                await call()
            counter.count, counter.statements = 0, collections.Counter()
            statuses: collections.Counter[int] = collections.Counter()
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            started = time.perf_counter()
            profiler.start()
            for _ in range(requests):
                statuses[(await call()).status_code] += 1
            profiler.stop()
            seconds = time.perf_counter() - started
            each = 1000 * seconds / requests
            print(f"\n===== {row}: {requests} requests, {each:.2f} ms each, statuses {dict(statuses)}")
            print(f"SQL statements per request: {counter.count / requests:.2f}")
            for statement, n in counter.statements.most_common(12):
                print(f"  {n / requests:5.2f} x {statement}")
            print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))
            if html_dir:
                html_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a local file, once
                (html_dir / f"{row}.html").write_text(profiler.output_html())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="requests profiled per row")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--database", type=Path, default=None, help="SQLite file to (re)create")
    parser.add_argument("--reuse", action="store_true", help="reuse --database if it was seeded before")
    parser.add_argument("--html", type=Path, default=None, help="also write pyinstrument HTML here")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    path = args.database or Path(tempfile.mkdtemp(prefix="sdm-profile-")) / "profile.db"
    url = f"sqlite:///{path}"
    saved = Path(f"{path}.seed.json")
    if args.reuse and path.exists() and saved.exists():
        seed = SeedResult(**json.loads(saved.read_text()))
    else:
        for suffix in ("", "-wal", "-shm", ".seed.json"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        seed = asyncio.run(seed_database(url, args.responses, patient_sessions=2))
        saved.write_text(json.dumps(dataclasses.asdict(seed)))
        print(f"seeded {seed.responses:,} responses in {seed.seconds:.1f}s ({path})")
    asyncio.run(profile(url, seed, rows, args.requests, args.html))


if __name__ == "__main__":
    main()
