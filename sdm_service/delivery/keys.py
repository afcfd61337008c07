"""Our signing keys as a SMART Backend Services client of the EHR (joserfc).

SDM_EHR_PRIVATE_KEY_FILE names one file or a comma list, each a PEM private key or a private JWK
(JSON): the first signs our client assertions; every one is published, public half only, at
/.well-known/jwks.json. To rotate, add the new key first (the EHR sees it in the JWKS), then move
it to the front, then drop the old one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwk

# SMART Backend Services asks for RS384 or ES384.
RSA_ALGORITHM = "RS384"
EC_ALGORITHM = "ES384"
EC_CURVE = "P-384"


class KeyFileError(ValueError):
    """A key file that cannot serve as our signing key; the message says which and why."""


@dataclass(frozen=True)
class SigningKey:
    key: jwk.RSAKey | jwk.ECKey
    algorithm: str

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def public_jwk(self) -> dict[str, Any]:
        public = dict(self.key.as_dict(private=False))
        public.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return public


def _import(path: Path) -> jwk.RSAKey | jwk.ECKey:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        if text.lstrip().startswith("{"):
            key = jwk.import_key(json.loads(text))
        elif "EC PRIVATE KEY" in text or _is_ec_pem(text):
            key = jwk.import_key(text, "EC")
        else:
            key = jwk.import_key(text, "RSA")
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an RSA or EC private key in PEM or JWK form ({exc})") from None
    if not isinstance(key, jwk.RSAKey | jwk.ECKey) or not key.is_private:
        raise KeyFileError(f"{path}: must hold a private RSA or EC (P-384) key")
    return key


def _is_ec_pem(text: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return isinstance(load_pem_private_key(text.encode(), password=None), ec.EllipticCurvePrivateKey)
    except (ValueError, TypeError):
        return False


def load_signing_keys(paths: list[Path]) -> list[SigningKey]:
    """The keys in `paths`, in order (the first signs). Raises KeyFileError."""
    keys = []
    for path in paths:
        key = _import(path)
        if isinstance(key, jwk.ECKey):
            if key.curve_name != EC_CURVE:
                raise KeyFileError(f"{path}: an EC key must use the {EC_CURVE} curve (ES384)")
            algorithm = EC_ALGORITHM
        else:
            algorithm = RSA_ALGORITHM
        key.ensure_kid()  # a JWK's own kid is kept; otherwise its RFC 7638 thumbprint
        keys.append(SigningKey(key, algorithm))
    return keys


def public_jwks(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}
