"""Browser tests: Debian chromium driven by Playwright against a real `sdm run` server.

They skip with a reason when chromium or axe-core (npm ci) is missing, except when
SDM_REQUIRE_BROWSER=1 (as in .ci/run), where a missing browser fails the run instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sdm_service.content import Content, load_library
from tests.live import ROOT, free_port, running_sdm

CHROMIUM = Path("/usr/bin/chromium")
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
REQUIRE_BROWSER = os.environ.get("SDM_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
CLINIC_NAME = "Riverside Cancer Center"

pytestmark = pytest.mark.browser


def browser_unavailable_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if not AXE_SCRIPT.exists():
        return f"{AXE_SCRIPT.relative_to(ROOT)} is missing (run npm ci)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def need_browser() -> None:
    reason = browser_unavailable_reason()
    if reason:
        if REQUIRE_BROWSER:
            pytest.fail(f"Browser tests are required here (SDM_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)


@dataclass(frozen=True)
class LiveServer:
    url: str
    content: Content
    env: dict[str, str] = field(default_factory=dict)  # the server's settings, for `sdm` commands


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`sdm db upgrade` on a fresh SQLite file, then `sdm run` on a free port until the session ends."""
    need_browser()
    workdir = tmp_path_factory.mktemp("live-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SDM_DATABASE_URL": f"sqlite:///{workdir / 'browser.db'}",
        "SDM_BASE_URL": url,
        "SDM_ENV": "development",
        "SDM_CLINIC_NAME": CLINIC_NAME,
        "SDM_LOG_LEVEL": "WARNING",
    }
    with running_sdm(env, port, workdir):
        library = load_library(ROOT / "questionnaires")
        yield LiveServer(url=url, content=library.get("iort-sdm"), env=env)


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Any]:
    """Debian's chromium under Playwright, with the flags this machine needs, closed at the end."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser(live_server: LiveServer) -> AsyncIterator[object]:
    async with launched_chromium() as launched:
        yield launched
