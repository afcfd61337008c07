"""Building SMART client assertions the way an EHR does, with joserfc and real keys."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

from sdm_service.smart.assertions import JWT_BEARER

TOKEN_URL = "http://testserver.local/auth/token"
ALL_SMART_SCOPES = (
    "system/QuestionnaireResponse.rs system/DocumentReference.rs system/Binary.r "
    "system/Questionnaire.rs system/Task.cru"
)


def public_jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def alg_of(key: Key) -> str:
    return "ES384" if isinstance(key, ECKey) else "RS384"


def assertion(
    client_id: str,
    key: Key,
    *,
    now: datetime | None = None,
    aud: str = TOKEN_URL,
    lifetime: int = 240,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed client assertion; claims given as keyword arguments replace (None removes) the usual."""
    at = int((now or datetime.now(UTC)).timestamp())
    payload: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": at + lifetime,
        "iat": at,
        "jti": uuid.uuid4().hex,
    }
    for name, value in claims.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    protected = {"alg": alg_of(key), "kid": key.kid, "typ": "JWT", **(header or {})}
    return jwt.encode(protected, payload, key, algorithms=[protected["alg"]])


def token_form(signed: str, scope: str | None = None, **extra: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": signed,
        **extra,
    }
    if scope is not None:
        form["scope"] = scope
    return form


def new_rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def new_ec(kid: str) -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": kid})


class Clock:
    """The app's clock in these tests: real time plus whatever the test moved it on by."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: int) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class JwksServer:
    """A local HTTP server publishing key sets at /<name>.json, counting the fetches."""

    documents: dict[str, bytes] = field(default_factory=dict)
    cache_control: dict[str, str] = field(default_factory=dict)
    fetches: dict[str, int] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def publish(
        self, name: str, document: dict[str, Any] | bytes, *, cache_control: str = "max-age=600"
    ) -> str:
        self.documents[name] = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.cache_control[name] = cache_control
        self.fetches[name] = 0
        return f"{self.base}/{name}.json"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/").removesuffix(".json")
                body = owner.documents.get(name)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                owner.fetches[name] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", owner.cache_control[name])
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
