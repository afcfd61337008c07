"""The SMART token endpoint's rules, and the access tokens it issues.

Access tokens are random strings of which only the SHA-256 is stored (smart_access_tokens), not
self-contained signed JWTs: revoking a client ends its tokens at once, there is no signing key to
keep and rotate, and checking one is the same single indexed read a static token costs. They carry
a recognisable prefix so the API guard looks in one table only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import KeySet
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service import scopes
from sdm_service.models import ApiClient, SmartAccessToken
from sdm_service.security import hash_token, new_token
from sdm_service.smart import assertions
from sdm_service.smart.assertions import JWT_BEARER, OAuthError, invalid_client
from sdm_service.smart.jwks import JwksCache, JwksError, check_jwks
from sdm_service.smart.replay import ReplayStore, replay_key

logger = logging.getLogger("sdm_service.smart")

# "." never occurs in a static token (URL-safe base64), so the prefix says which table to look in.
ACCESS_TOKEN_PREFIX = "smart."  # noqa: S105 - a prefix, not a secret
CLIENT_CREDENTIALS = "client_credentials"
PURGE_ONE_IN = 100


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str
    client_assertion_type: str
    client_assertion: str
    scope: str | None
    client_id: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    client: ApiClient


@dataclass(frozen=True)
class Principal:
    """Who is calling the API and what they may do."""

    client: ApiClient
    permissions: frozenset[scopes.Permission]
    via: str  # "smart" or "static"


# Built once (see services/api_clients._BY_TOKEN_HASH): every API request looks its token up.
_LIVE_TOKEN = (
    select(SmartAccessToken, ApiClient)
    .join(ApiClient, col(ApiClient.id) == col(SmartAccessToken.client_id))
    .where(col(SmartAccessToken.token_hash) == bindparam("token_hash"))
)


class SmartAuthority:
    """Issues access tokens for client assertions and recognises them afterwards."""

    def __init__(
        self,
        *,
        token_url: str,
        token_seconds: int,
        replay: ReplayStore,
        jwks: JwksCache,
        clock: Callable[[], datetime],
    ) -> None:
        self.token_url = token_url
        self.token_seconds = token_seconds
        self.replay = replay
        self.jwks = jwks
        self.clock = clock

    async def exchange(self, session: AsyncSession, request: TokenRequest) -> IssuedToken:
        """Check the request and the assertion; the token, or OAuthError (the refused client id in
        `client_id` of the error when known)."""
        if request.grant_type != CLIENT_CREDENTIALS:
            raise OAuthError("unsupported_grant_type", "Only grant_type=client_credentials is supported.")
        if request.client_assertion_type != JWT_BEARER:
            raise OAuthError("invalid_request", f"client_assertion_type must be {JWT_BEARER}.")
        if not request.client_assertion:
            raise OAuthError("invalid_request", "Send the signed JWT as client_assertion.")
        unverified = assertions.peek(request.client_assertion)
        try:
            return await self._exchange(session, request, unverified)
        except OAuthError as exc:
            exc.client_id = unverified.issuer[:64]  # claimed, not proven: for the audit record
            raise

    async def _exchange(
        self, session: AsyncSession, request: TokenRequest, unverified: assertions.Unverified
    ) -> IssuedToken:
        if request.client_id and request.client_id != unverified.issuer:
            raise invalid_client("client_id does not match the assertion's iss.")
        client = await self._client(session, unverified.issuer)
        keys = await self._keys(client, unverified.kid)
        now = int(self.clock().timestamp())
        claims = assertions.verify(
            request.client_assertion,
            keys,
            client_id=str(client.id),
            audience=self.token_url,
            alg=unverified.alg,
            now=now,
        )
        granted = self._granted_scope(client, request.scope)
        key = replay_key(str(client.id), str(claims["jti"]))
        expires_at = int(claims["exp"]) + assertions.CLOCK_SKEW_SECONDS
        if not await self.replay.first_use(key, expires_at=expires_at, now=now):
            raise invalid_client(
                "This assertion's jti was used already; sign a new assertion for every request."
            )
        return await self._issue(session, client, granted)

    async def _client(self, session: AsyncSession, issuer: str) -> ApiClient:
        try:
            client_id = uuid.UUID(issuer)
        except ValueError:
            raise invalid_client("The assertion's iss is not a registered client id.") from None
        client = await session.get(ApiClient, client_id)
        if client is None or client.revoked_at is not None or not (client.jwks or client.jwks_url):
            raise invalid_client("No active SMART client has this id.")
        return client

    async def _keys(self, client: ApiClient, kid: str) -> KeySet:
        try:
            if client.jwks:
                keys = check_jwks(client.jwks)
            else:
                assert client.jwks_url is not None
                keys = await self.jwks.keys(client.jwks_url)
                if not assertions.has_key(keys, kid):  # the client may have rotated its keys
                    keys = await self.jwks.refetch(client.jwks_url) or keys
        except JwksError as exc:
            raise invalid_client(str(exc)) from None
        if not assertions.has_key(keys, kid):
            raise invalid_client(f"The client's registered JWKS has no key with kid {kid!r}.")
        return keys

    @staticmethod
    def _granted_scope(client: ApiClient, requested: str | None) -> frozenset[scopes.Permission]:
        allowed = scopes.parse_grant(client.scopes)
        if requested is None or not requested.strip():
            return allowed  # RFC 6749 3.3: the registered scopes are the default
        try:
            wanted = scopes.parse_grant(requested)
        except scopes.ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        beyond = wanted - allowed
        if beyond:
            raise OAuthError(
                "invalid_scope",
                f"This client was not granted {scopes.format_grant(beyond)}; "
                f"it may ask for {scopes.format_grant(allowed)}.",
            )
        return wanted

    async def _issue(
        self, session: AsyncSession, client: ApiClient, granted: frozenset[scopes.Permission]
    ) -> IssuedToken:
        now = self.clock()
        token = ACCESS_TOKEN_PREFIX + new_token()
        scope = scopes.format_grant(granted)
        session.add(
            SmartAccessToken(
                token_hash=hash_token(token),
                client_id=client.id,
                scopes=scope,
                issued_at=now,
                expires_at=now + timedelta(seconds=self.token_seconds),
            )
        )
        client.last_used_at = now
        session.add(client)
        if uuid.uuid4().int % PURGE_ONE_IN == 0:  # now and then, forget long-expired tokens
            await session.execute(
                delete(SmartAccessToken).where(col(SmartAccessToken.expires_at) < now - timedelta(hours=1))
            )
        await session.flush()
        return IssuedToken(access_token=token, expires_in=self.token_seconds, scope=scope, client=client)

    async def authenticate(self, session: AsyncSession, token: str) -> Principal | None:
        """The client and granted permissions of a live access token, or None."""
        if not token.startswith(ACCESS_TOKEN_PREFIX) or len(token) > 200:
            return None
        row = (await session.execute(_LIVE_TOKEN, {"token_hash": hash_token(token)})).first()
        if row is None:
            return None
        access, client = row
        if client.revoked_at is not None or access.expires_at <= self.clock():
            return None
        return Principal(client, scopes.parse_grant(access.scopes), "smart")
