"""The SMART configuration document (/fhir/.well-known/smart-configuration) and the
CapabilityStatement's security extension: both name the token endpoint."""

from __future__ import annotations

from typing import Any

from sdm_service import scopes
from sdm_service.smart.assertions import ALGORITHMS

OAUTH_URIS_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def scopes_supported() -> list[str]:
    """Every resource's full v2 scope; any subset of its letters may be asked for."""
    return [f"system/{resource}.cruds" for resource in scopes.RESOURCES]


def smart_configuration(token_url: str) -> dict[str, Any]:
    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": scopes_supported(),
        "capabilities": ["client-confidential-asymmetric"],
    }


def capability_security(token_url: str) -> dict[str, Any]:
    """CapabilityStatement.rest.security for SMART Backend Services (and the older static tokens)."""
    return {
        "extension": [{"url": OAUTH_URIS_EXTENSION, "extension": [{"url": "token", "valueUri": token_url}]}],
        "cors": False,
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR"}],
                "text": "OAuth2 using SMART-on-FHIR profile (Backend Services)",
            }
        ],
        "description": (
            "SMART Backend Services: sign a JWT with your registered key (RS384 or ES384), exchange it "
            f"at {token_url} (client_credentials, private_key_jwt) for an access token, and send it as "
            "'Authorization: Bearer <token>'. Scopes are SMART v2 system scopes such as "
            "system/QuestionnaireResponse.rs; static tokens from 'sdm api-clients create' are accepted "
            "where the operator allows them."
        ),
    }
