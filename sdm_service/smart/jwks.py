"""A SMART client's public keys (JWKS): checked when registered, fetched by URL when needed.

A JWKS URL is fetched with httpx (timeout, size cap, no redirects), cached for the response's
Cache-Control max-age, and fetched again when an assertion names a kid the cached set lacks (a
client rotating its keys), at most JWKS_REFETCH_LIMIT times a minute per URL so a stream of bogus
kids cannot turn us into a request cannon. Only http(s) URLs; https only in production.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sdm_service import ratelimit

logger = logging.getLogger("sdm_service.smart")

JWKS_MAX_BYTES = 64 * 1024  # dozens of keys; anything bigger is not a key set
JWKS_TIMEOUT_SECONDS = 5.0
JWKS_DEFAULT_CACHE_SECONDS = 300  # when the response says nothing about caching
JWKS_MAX_CACHE_SECONDS = 24 * 3600
JWKS_REFETCH_LIMIT = ratelimit.Limit("jwks-refetch", 6, 60)
MAX_URL_LENGTH = 2000
KEY_TYPES = ("RSA", "EC")
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class JwksError(ValueError):
    """A key set or JWKS URL that cannot be used; the message is meant for the operator or client."""


def check_jwks_url(url: str, *, production: bool) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise JwksError("The JWKS URL must be an absolute http(s) URL of at most 2000 characters.")
    if production and parts.scheme != "https":
        raise JwksError("The JWKS URL must use https:// when SDM_ENV=production.")
    return url


def check_jwks(document: object) -> KeySet:
    """The public keys of a JWKS document: {"keys": [...]}, each RSA or EC, with a kid, no private part."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise JwksError('A JWKS is a JSON object {"keys": [...]} with at least one key.')
    kids: set[str] = set()
    for number, key in enumerate(document["keys"], start=1):
        if not isinstance(key, dict):
            raise JwksError(f"Key {number} of the JWKS is not a JSON object.")
        if key.get("kty") not in KEY_TYPES:
            raise JwksError(f"Key {number} has kty {key.get('kty')!r}; RSA (RS384) or EC (ES384) keys only.")
        if any(member in key for member in PRIVATE_MEMBERS):
            raise JwksError(f"Key {number} contains private key material: register only the public key.")
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid or kid in kids:
            raise JwksError(f"Key {number} needs its own non-empty kid (assertions name their key by kid).")
        kids.add(kid)
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:
        raise JwksError(f"The JWKS does not hold valid keys: {exc}") from None


def load_jwks_file(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JwksError(f"The JWKS file is not JSON: {exc.msg} (line {exc.lineno}).") from None
    check_jwks(document)
    return {"keys": document["keys"]}


def cache_seconds(cache_control: str) -> int:
    """How long a fetched key set may be used, from the response's Cache-Control."""
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return JWKS_DEFAULT_CACHE_SECONDS
    return min(int(match.group(1)), JWKS_MAX_CACHE_SECONDS)


@dataclass
class _Cached:
    keys: KeySet
    until: float


class JwksCache:
    """Key sets fetched by URL, per process (each worker fetches its own; the keys are public)."""

    def __init__(
        self,
        *,
        production: bool,
        limits: ratelimit.RateLimitStore,
        clock: Callable[[], datetime],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.production = production
        self.limits = limits
        self.clock = clock
        self.transport = transport
        self._cache: dict[str, _Cached] = {}

    async def keys(self, url: str) -> KeySet:
        """The cached key set, or a fresh one when the cache ran out."""
        now = self.clock().timestamp()
        cached = self._cache.get(url)
        if cached is not None and cached.until > now:
            return cached.keys
        return await self._fetch(url)

    async def refetch(self, url: str) -> KeySet | None:
        """A fresh key set after an unknown kid, or None when this URL was re-fetched too often."""
        if await ratelimit.admit(self.limits, JWKS_REFETCH_LIMIT, url) is not None:
            logger.warning("JWKS re-fetch of %s skipped: too many unknown kids this minute", url)
            return None
        return await self._fetch(url)

    async def _fetch(self, url: str) -> KeySet:
        check_jwks_url(url, production=self.production)
        try:
            async with (
                httpx.AsyncClient(
                    timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False, transport=self.transport
                ) as http,
                http.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise JwksError(f"The client's JWKS URL answered HTTP {response.status_code}.")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > JWKS_MAX_BYTES:
                        raise JwksError("The client's JWKS is larger than 64 KiB.")
                cache_control = response.headers.get("cache-control", "")
        except httpx.HTTPError as exc:
            logger.warning("could not fetch the JWKS at %s: %s", url, exc)
            raise JwksError("The client's JWKS URL could not be fetched.") from None
        try:
            document = json.loads(bytes(body))
        except ValueError:
            raise JwksError("The client's JWKS URL did not answer JSON.") from None
        keys = check_jwks(document)
        self._cache[url] = _Cached(keys, self.clock().timestamp() + cache_seconds(cache_control))
        return keys
