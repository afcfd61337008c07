"""The OpenID Connect part of the settings (SDM_OIDC_*, SDM_LOCAL_LOGIN): Settings inherits it, so
they are read from the environment and validated once, with everything else."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OidcSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SDM_", extra="ignore", frozen=True)

    # OpenID Connect sign-in (services/oidc.py), on when SDM_OIDC_ISSUER is set. Accounts get the
    # admin role when the role claim holds one of the admin values, else clinician for a clinician
    # value; without either, sign-in is refused (and a known account deactivated).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid profile email"
    oidc_role_claim: str = Field(default="roles", min_length=1, max_length=200)  # a.b reads nested claims
    oidc_clinician_values: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["clinician"])
    oidc_admin_values: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["admin"])
    # Off: the password form is hidden and refused; everyone signs in through the identity provider.
    local_login: bool = True

    @field_validator("oidc_clinician_values", "oidc_admin_values", mode="before")
    @classmethod
    def _split_values(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be the identity provider's https:// issuer URL")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> OidcSettings:
        if not self.oidc_issuer:
            if not self.local_login:
                raise ValueError(
                    "SDM_LOCAL_LOGIN=false needs OpenID Connect sign-in: set SDM_OIDC_ISSUER, "
                    "SDM_OIDC_CLIENT_ID and SDM_OIDC_CLIENT_SECRET"
                )
            return self
        missing = [
            name
            for name, value in (
                ("SDM_OIDC_CLIENT_ID", self.oidc_client_id),
                ("SDM_OIDC_CLIENT_SECRET", self.oidc_client_secret.get_secret_value()),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"SDM_OIDC_ISSUER is set, so {' and '.join(missing)} must be set too")
        if not self.oidc_clinician_values and not self.oidc_admin_values:
            raise ValueError(
                "SDM_OIDC_ISSUER is set, so SDM_OIDC_CLINICIAN_VALUES or SDM_OIDC_ADMIN_VALUES must name "
                f"the values of the {self.oidc_role_claim!r} claim that give access"
            )
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("SDM_OIDC_SCOPES must include openid")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)
