"""In a production process (one app), side work uses the side engine and the configured rate-limit
store, not the request pool: the SQLAlchemy plugin must not overwrite `app.state.side_engine`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sdm_service.app import SQLITE_SIDE_POOL_SIZE

PROBE = """
import asyncio, json, sys
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from sdm_service.app import create_app
from sdm_service.settings import load_settings

app = create_app(load_settings(database_url=sys.argv[1], rate_limit_store=sys.argv[2]))

async def main():
    async with app.lifespan():
        config = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin)).config[0]
        side = app.state.side_engine
        print(json.dumps({
            "side_is_request_engine": side is config.get_engine(),
            "side_pool_size": side.pool.size(),
            "store": type(app.state.rate_limit_store).__name__,
            "store_counts_on_side_engine": getattr(app.state.rate_limit_store, "engine", side) is side,
        }))

asyncio.run(main())
"""


def _probe(tmp_path: Path, store: str) -> dict[str, object]:
    url = f"sqlite:///{tmp_path / 'probe.db'}"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url, store], capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_side_engine_survives_start_up_in_a_fresh_process(tmp_path: Path) -> None:
    seen = _probe(tmp_path, "database")
    assert seen == {
        "side_is_request_engine": False,
        "side_pool_size": SQLITE_SIDE_POOL_SIZE,  # a fixed pool (writers queue at the driver's gate)
        "store": "DatabaseStore",
        "store_counts_on_side_engine": True,
    }


def test_configured_redis_store_is_the_one_used(tmp_path: Path) -> None:
    # Only the store object is inspected: no Redis server is contacted.
    assert _probe(tmp_path, "redis")["store"] == "RedisStore"
