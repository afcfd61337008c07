"""Helpers for the identity tests: clients that come from a chosen address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.web.clinician_support import PASSWORD, Client, post_form

ADDRESS_HEADER = b"x-test-client-address"


def with_client_addresses(app: Litestar) -> Any:
    """The app, answering each request as if it came from the address in ADDRESS_HEADER (what
    uvicorn's proxy-header handling does with X-Forwarded-For behind a trusted proxy)."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            address = dict(scope["headers"]).get(ADDRESS_HEADER)
            if address:
                scope = {**scope, "client": (address.decode(), 40000)}
        await app(scope, receive, send)

    return asgi


@asynccontextmanager
async def address_client(app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=with_client_addresses(app), base_url="http://testserver.local") as client:
        yield client


async def sign_in_from(client: Client, address: str, username: str, password: str = PASSWORD) -> Any:
    return await post_form(
        client,
        "/clinician/sign-in",
        {"username": username, "password": password},
        headers={ADDRESS_HEADER.decode(): address},
    )


class Browser:
    """A second browser sharing the `client` fixture's app and lifespan, with its own cookies and
    headers (a second test client would run the app's shutdown, or its own event loop)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.cookies = httpx.Cookies()
        self.headers: dict[str, str] = {}

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        own = self._client.cookies
        self._client.cookies = self.cookies
        try:
            headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
            response: httpx.Response = await getattr(self._client, method)(url, headers=headers, **kwargs)
            return response
        finally:
            self.cookies = self._client.cookies
            self._client.cookies = own

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self._send("get", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self._send("post", url, **kwargs)


@asynccontextmanager
async def another_browser(client: Client) -> AsyncIterator[Any]:
    yield Browser(client)
