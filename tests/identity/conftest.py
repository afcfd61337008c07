"""The identity tests share one real OpenID provider per test session (oidc_support.py)."""

from tests.identity.oidc_support import identity_provider as identity_provider
