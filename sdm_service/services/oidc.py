"""OpenID Connect sign-in: authorization code with PKCE (S256), through authlib.

The provider is found by discovery from SDM_OIDC_ISSUER (its /.well-known/openid-configuration),
fetched on first use and kept for the life of the process; its keys (JWKS) are fetched again when
an ID token names a key id not seen yet (the provider rotated its keys).

Each sign-in sends a random `state`; only its SHA-256 is stored (oidc_sign_ins) and it is used
once: the row is deleted, on its own commit, before anything else happens at the callback, so a
replayed callback finds nothing. The nonce and PKCE verifier are derived from the state with the
secret key, so nothing secret is stored. The ID token is checked (signature by the provider's
keys, iss, aud, exp, iat, nonce) before any claim is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from sdm_service.models import OidcSignIn, utcnow
from sdm_service.oauth_client import AsyncOAuth2Client
from sdm_service.paths import CLINICIAN_PREFIX
from sdm_service.security import hash_token
from sdm_service.settings import Settings

DISCOVERY_PATH = "/.well-known/openid-configuration"
START_PATH = f"{CLINICIAN_PREFIX}/sign-in/oidc"
CALLBACK_PATH = f"{CLINICIAN_PREFIX}/oidc/callback"  # the redirect URI registered at the provider (DESIGN.md)
SIGNED_OUT_PATH = f"{CLINICIAN_PREFIX}/sign-in?signed_out=1"
PENDING_SECONDS = 10 * 60  # time to sign in at the provider and come back
LEEWAY_SECONDS = 60  # clock difference tolerated on exp / iat
HTTP_TIMEOUT_SECONDS = 10.0
MAX_STATE_LENGTH = 200
MAX_LOGIN_HINT_LENGTH = 200


class OidcError(Exception):
    """The provider was unreachable, or an answer or token failed a check. The message is for the
    log and the audit trail; users get a plain sentence."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    signing_algorithms: list[str]


def _derive(settings: Settings, purpose: str, state: str) -> str:
    """43 URL-safe characters bound to this state and this service's secret (a valid PKCE verifier)."""
    key = settings.secret_key.get_secret_value().encode()
    digest = hmac.new(key, f"oidc-{purpose}:{state}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def nonce_for(settings: Settings, state: str) -> str:
    return _derive(settings, "nonce", state)


def verifier_for(settings: Settings, state: str) -> str:
    return _derive(settings, "pkce", state)


class OidcProvider:
    """The configured identity provider, as the service talks to it (one per app)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._lock = anyio.Lock()

    @property
    def redirect_uri(self) -> str:
        """The address to register at the provider."""
        return f"{self.settings.base_url}{CALLBACK_PATH}"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.settings.base_url}{SIGNED_OUT_PATH}"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"could not read {url}: {exc}") from exc
        if not isinstance(body, dict):
            raise OidcError(f"{url} did not answer a JSON object")
        return body

    async def metadata(self) -> ProviderMetadata:
        async with self._lock:
            if self._metadata is None:
                issuer = self.settings.oidc_issuer
                found = await self._get_json(issuer + DISCOVERY_PATH)
                # The discovery document must speak for the configured issuer (OpenID Discovery 4.3).
                if found.get("issuer") != issuer:
                    raise OidcError(
                        f"the discovery document names issuer {found.get('issuer')!r}, not {issuer!r}"
                    )
                try:
                    self._metadata = ProviderMetadata(
                        issuer=issuer,
                        authorization_endpoint=str(found["authorization_endpoint"]),
                        token_endpoint=str(found["token_endpoint"]),
                        jwks_uri=str(found["jwks_uri"]),
                        end_session_endpoint=found.get("end_session_endpoint") or None,
                        signing_algorithms=list(
                            found.get("id_token_signing_alg_values_supported") or ["RS256"]
                        ),
                    )
                except KeyError as exc:
                    raise OidcError(f"the discovery document has no {exc.args[0]}") from None
            return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        metadata = await self.metadata()
        if self._keys is None or refresh:
            try:
                self._keys = KeySet.import_key_set(await self._get_json(metadata.jwks_uri))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as exc:
                raise OidcError(f"the provider's key set is not usable: {exc}") from exc
        return self._keys

    def _client(self, state: str = "") -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret.get_secret_value(),
            scope=self.settings.oidc_scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            state=state or None,
            timeout=HTTP_TIMEOUT_SECONDS,
        )

    async def begin(
        self, side_engine: AsyncEngine, *, next_path: str, login_hint: str = ""
    ) -> tuple[str, str]:
        """Record a new sign-in and return (the provider's authorization URL, the state)."""
        metadata = await self.metadata()
        state = secrets.token_urlsafe(32)
        now = utcnow()
        async with AsyncSession(side_engine) as session:
            # Abandoned sign-ins are cleared as new ones start.
            await session.execute(delete(OidcSignIn).where(col(OidcSignIn.expires_at) <= now))
            session.add(
                OidcSignIn(
                    state_hash=hash_token(state),
                    next_path=next_path,
                    created_at=now,
                    expires_at=now + timedelta(seconds=PENDING_SECONDS),
                )
            )
            await session.commit()
        extra = {"login_hint": login_hint[:MAX_LOGIN_HINT_LENGTH]} if login_hint else {}
        async with self._client(state) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=verifier_for(self.settings, state),
                nonce=nonce_for(self.settings, state),
                **extra,
            )
        return url, state

    async def take_state(self, side_engine: AsyncEngine, state: str) -> str | None:
        """Use up a pending sign-in: its next path, or None when it is unknown, expired or used."""
        if not state or len(state) > MAX_STATE_LENGTH:
            return None
        async with AsyncSession(side_engine) as session:
            result = await session.execute(
                delete(OidcSignIn)
                .where(col(OidcSignIn.state_hash) == hash_token(state), col(OidcSignIn.expires_at) > utcnow())
                .returning(col(OidcSignIn.next_path))
            )
            next_path = result.scalar_one_or_none()
            await session.commit()
        return next_path

    async def exchange(self, state: str, code: str) -> dict[str, Any]:
        """Trade the code (with the PKCE verifier) for tokens at the token endpoint."""
        metadata = await self.metadata()
        async with self._client(state) as client:
            try:
                token = await client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier_for(self.settings, state),
                )
            except Exception as exc:  # authlib raises OAuthError or httpx errors
                raise OidcError(f"the token endpoint refused the code: {exc}") from exc
        if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
            raise OidcError("the token endpoint answered without an ID token")
        return dict(token)

    async def verify_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce are right."""
        metadata = await self.metadata()
        registry = JWSRegistry(algorithms=metadata.signing_algorithms)
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, await self._key_set(refresh=True), registry=registry)
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.settings.oidc_client_id}
            if access_token:
                params["access_token"] = access_token
            options = {
                "iss": {"essential": True, "value": metadata.issuer},
                "aud": {"essential": True, "value": self.settings.oidc_client_id},
            }
            claims = CodeIDToken(decoded.claims, decoded.header, options, params)
            claims.validate(leeway=LEEWAY_SECONDS)
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError(f"the ID token failed a check: {exc}") from exc
        return dict(claims)

    async def finish(self, state: str, code: str) -> dict[str, Any]:
        """The checked ID token claims for a callback whose state was just taken."""
        token = await self.exchange(state, code)
        return await self.verify_id_token(
            token["id_token"], nonce=nonce_for(self.settings, state), access_token=token.get("access_token")
        )

    async def end_session_url(self) -> str | None:
        """Where to send the browser to end the provider's session too (RP-Initiated Logout), or
        None when the provider has no end_session_endpoint or cannot be reached."""
        try:
            metadata = await self.metadata()
        except OidcError:
            return None
        if not metadata.end_session_endpoint:
            return None
        query = urlencode(
            {
                "client_id": self.settings.oidc_client_id,
                "post_logout_redirect_uri": self.post_logout_redirect_uri,
            }
        )
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{query}"
