"""Checking a client assertion (RFC 7523, as SMART Backend Services profiles it), with joserfc.

Pure: the caller supplies the client's keys, the token URL and the time. Every refusal is an
OAuthError carrying the RFC 6749 error code and status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ("RS384", "ES384")  # what SMART requires servers to support; never none or HS*
MAX_LIFETIME_SECONDS = 300  # exp at most five minutes ahead
CLOCK_SKEW_SECONDS = 30  # tolerated difference between the client's clock and ours
MAX_ASSERTION_BYTES = 16 * 1024
MAX_JTI_LENGTH = 255
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class OAuthError(Exception):
    """A refused token request: error code (RFC 6749 5.2), description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.client_id: str | None = None  # the client the request claimed to be, once read


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


@dataclass(frozen=True)
class Unverified:
    """What an assertion says about itself before its signature is checked: which client and key."""

    issuer: str
    kid: str
    alg: str


def peek(assertion: str) -> Unverified:
    """Read the header and issuer (to find the client and its key); nothing here is trusted yet."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise OAuthError("invalid_request", "The client_assertion is too long.")
    try:
        compact = jws.extract_compact(assertion.encode("ascii"))
        header = compact.headers()
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise OAuthError(
            "invalid_request", "The client_assertion is not a signed JWT (compact JWS)."
        ) from None
    if not isinstance(claims, dict):
        raise OAuthError("invalid_request", "The client_assertion's payload is not a JSON object.")
    alg, kid, issuer = header.get("alg"), header.get("kid"), claims.get("iss")
    if alg not in ALGORITHMS:
        raise invalid_client(
            f"The assertion is signed with {alg!r}; only {' or '.join(ALGORITHMS)} are accepted."
        )
    if not isinstance(kid, str) or not kid:
        raise invalid_client("The assertion's header has no kid naming the key that signed it.")
    if not isinstance(issuer, str) or not issuer:
        raise invalid_client("The assertion has no iss (the client id).")
    return Unverified(issuer=issuer, kid=kid, alg=alg)


def has_key(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def verify(
    assertion: str, keys: KeySet, *, client_id: str, audience: str, alg: str, now: int
) -> dict[str, Any]:
    """The verified claims, or OAuthError: signature by the named key, iss = sub = client id,
    aud = the token URL, exp within five minutes, iat and nbf not in the future, a jti."""
    try:
        token = jwt.decode(assertion, keys, algorithms=[alg])
    except (JoseError, ValueError) as exc:
        raise invalid_client(
            f"The assertion's signature does not verify with the client's key ({exc})."
        ) from None
    claims: dict[str, Any] = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": client_id},
        sub={"essential": True, "value": client_id},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise invalid_client(f"The assertion's claims are not acceptable: {exc}.") from None
    audiences = claims.get("aud")
    if audiences != audience and not (isinstance(audiences, list) and audience in audiences):
        raise invalid_client(f"The assertion's aud must be the token URL, {audience}.")
    exp = claims["exp"]
    if not isinstance(exp, int | float) or exp > now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise invalid_client("The assertion's exp must be at most five minutes ahead.")
    for name in ("iat", "nbf"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int | float) or value > now + CLOCK_SKEW_SECONDS):
            raise invalid_client(f"The assertion's {name} is in the future.")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise invalid_client(f"The assertion's jti must be a string of 1 to {MAX_JTI_LENGTH} characters.")
    return claims
