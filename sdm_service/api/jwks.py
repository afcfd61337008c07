"""Our public keys, for the EHR's authorization server to check the assertions we sign as its
SMART Backend Services client (sdm_service/delivery/keys.py)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

JWKS_PATH = "/.well-known/jwks.json"


@get(
    JWKS_PATH,
    tags=["operations"],
    summary="Our public JSON Web Key Set",
    description="The public halves of the keys in SDM_EHR_PRIVATE_KEY_FILE (RS384/ES384, each with "
    "its kid). The EHR registers this URL for our private_key_jwt client; empty when none is set.",
    cache=False,
)
async def jwks(our_jwks: NamedDependency[dict[str, Any]]) -> Response[dict[str, Any]]:
    return Response(
        our_jwks,
        media_type="application/json",
        headers={"cache-control": "public, max-age=300"},
    )


routes = [jwks]
