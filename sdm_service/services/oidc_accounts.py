"""Accounts for people who sign in through the identity provider.

An account is linked to the provider's (issuer, sub), never matched by name. It is created at the
first sign-in from the mapped claims; its role follows the role claim at every sign-in; when the
claim no longer maps to a role the account is deactivated (and the sign-in refused), and given back
when the role returns. An account an administrator deactivated stays deactivated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.audit import Actor
from sdm_service.models import Role, User
from sdm_service.services import users
from sdm_service.settings import Settings

# RFC 8176 methods that are a second factor (or say outright that several were used).
MFA_METHODS = frozenset({"mfa", "mca", "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm"})
# Never a password: no password hash can match it, so the password form cannot open this account.
NO_PASSWORD = "!oidc"  # noqa: S105 - a marker that no password can match


PROVIDER_ACTOR = Actor("system", "", "identity provider")  # who made the account changes below


def provider_did_mfa(amr: object) -> bool:
    """Does the ID token's `amr` say the provider checked a second factor?"""
    return isinstance(amr, list) and any(isinstance(method, str) and method in MFA_METHODS for method in amr)


def claim_values(claims: dict[str, Any], claim: str) -> set[str]:
    """The values of a claim (`a.b` reads a nested claim, e.g. Keycloak's realm_access.roles); a
    single string counts as one value."""
    value: object = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def role_from_claims(claims: dict[str, Any], settings: Settings) -> str | None:
    """admin when the role claim holds an admin value, clinician for a clinician value, else None."""
    values = claim_values(claims, settings.oidc_role_claim)
    if values & set(settings.oidc_admin_values):
        return Role.ADMIN
    if values & set(settings.oidc_clinician_values):
        return Role.CLINICIAN
    return None


def username_from_claims(claims: dict[str, Any]) -> str | None:
    """preferred_username when it is a valid username here, else sub; None when neither is."""
    for candidate in (claims.get("preferred_username"), claims.get("sub")):
        if isinstance(candidate, str):
            name = users.normalise_username(candidate)
            if users.USERNAME_PATTERN.fullmatch(name):
                return name
    return None


@dataclass(frozen=True)
class Accepted:
    user: User
    changes: list[str] = field(default_factory=list)  # "created", "role", "reactivated"
    previous_role: str | None = None


@dataclass(frozen=True)
class Refused:
    reason: str  # no_role, deactivated, username_taken, bad_username
    user: User | None = None
    deactivated_now: bool = False  # the role claim went away: the account was deactivated just now


async def find_linked(session: AsyncSession, issuer: str, subject: str) -> User | None:
    return (
        await session.execute(
            select(User).where(col(User.oidc_issuer) == issuer, col(User.oidc_subject) == subject)
        )
    ).scalar_one_or_none()


async def _audit(session: AsyncSession, action: str, user: User, ip: str, **detail: object) -> None:
    await users.record_account_event(session, PROVIDER_ACTOR, action, user, ip=ip, **detail)


async def sign_in(
    session: AsyncSession, settings: Settings, claims: dict[str, Any], *, ip: str
) -> Accepted | Refused:
    """Find, create or update the account for checked ID token claims, auditing each change
    (flushed, not committed)."""
    issuer, subject = settings.oidc_issuer, str(claims["sub"])
    role = role_from_claims(claims, settings)
    user = await find_linked(session, issuer, subject)
    if user is None:
        if role is None:
            return Refused("no_role")
        username = username_from_claims(claims)
        if username is None:
            return Refused("bad_username")
        if await users.find_by_username(session, username) is not None:
            # Never take over a local account by name: an administrator links or renames it.
            return Refused("username_taken")
        name = claims.get("name")
        user = User(
            username=username,
            display_name=name[:200] if isinstance(name, str) else "",
            password_hash=NO_PASSWORD,
            role=role,
            oidc_issuer=issuer,
            oidc_subject=subject,
        )
        session.add(user)
        await session.flush()
        await _audit(session, "user.create", user, ip, role=role, via="oidc")
        return Accepted(user, ["created"])
    if not user.is_active and not user.deactivated_by_provider:
        return Refused("deactivated", user)
    if role is None:
        deactivated = await users.deactivate_user(session, user)
        user.deactivated_by_provider = True
        session.add(user)
        await session.flush()
        if deactivated:
            await _audit(session, "user.deactivate", user, ip, reason="role claim no longer maps to a role")
        return Refused("no_role", user, deactivated_now=deactivated)
    changes: list[str] = []
    previous = user.role
    if not user.is_active:
        user.is_active, user.deactivated_at, user.deactivated_by_provider = True, None, False
        changes.append("reactivated")
        await _audit(session, "user.reactivate", user, ip)
    if user.role != role:
        user.role = role
        changes.append("role")
        await _audit(session, "user.role.change", user, ip, **{"from": previous, "to": role})
    if changes:
        session.add(user)
        await session.flush()
    return Accepted(user, changes, previous_role=previous)
