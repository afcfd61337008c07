"""Settings come from the environment only (prefix ``SDM_``) and are validated once, at start-up."""

from __future__ import annotations

import importlib.util
import ipaddress
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from sdm_service.paths import SMART_TOKEN_PATH
from sdm_service.resources import CHECKOUT_ROOT, resource_path
from sdm_service.security import PASSWORD_MEMORY_KIB, PASSWORD_PARALLELISM, PASSWORD_TIME_COST
from sdm_service.settings_oidc import OidcSettings

PROJECT_ROOT = CHECKOUT_ROOT  # the source tree (tests and bench read it); the app uses resource_path
DEVELOPMENT_SECRET = "development-only-secret-change-me-0123456789"  # noqa: S105 - refused in production
MIN_SECRET_LENGTH = 32
DEFAULT_QUESTIONNAIRE_SLUG = "iort-sdm"  # the questionnaire of the start page and of invitations
# A production secret must look random, not only be long: an estimate of its entropy from its own
# character frequencies, a minimum of distinct characters, no repeated pattern and no alphabet run.
MIN_SECRET_ENTROPY_BITS = 80  # a random 32-character hex key scores 94 or more
MIN_SECRET_DISTINCT_CHARACTERS = 8
HOST_COOKIE_PREFIX = "__Host-"
SESSION_COOKIE = "sdm_session"  # clinician sign-in
PATIENT_COOKIE = "sdm_patient"  # the patient's own questionnaire
CSRF_COOKIE = "sdm_csrf"
MFA_PENDING_COOKIE = "sdm_mfa"  # between a right password and the second factor
OIDC_STATE_COOKIE = "sdm_oidc"  # between leaving for the identity provider and coming back
API_REQUESTS_PER_IP_FACTOR = 3  # default per-address API ceiling, as a multiple of the per-token limit
# Loopback and private networks: a Prometheus server inside the hospital's network or cluster.
DEFAULT_METRICS_ALLOW = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)


@dataclass(frozen=True)
class CookieNames:
    """The names of every cookie the service sets. In production each carries the __Host- prefix:
    the browser then keeps it only if it is Secure, set by this host (no Domain) and for path /,
    so no other host or subdomain can plant or overwrite it."""

    session: str
    patient: str
    csrf: str
    mfa_pending: str
    oidc_state: str

    @property
    def host_only(self) -> bool:
        return self.session.startswith(HOST_COOKIE_PREFIX)


def secret_weakness(secret: str) -> str:
    """Why a secret key is guessable despite its length, or "" when it looks random."""
    if len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS:
        return f"it uses fewer than {MIN_SECRET_DISTINCT_CHARACTERS} different characters"
    for period in range(1, len(secret) // 2 + 1):
        if len(secret) % period == 0 and secret == secret[:period] * (len(secret) // period):
            return f"it repeats a {period}-character pattern"
    steps = sum(abs(ord(b) - ord(a)) == 1 for a, b in itertools.pairwise(secret))
    if steps * 2 > len(secret) - 1:
        return "it is mostly a run of consecutive characters"
    counts = Counter(secret)
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    if bits < MIN_SECRET_ENTROPY_BITS:
        return f"its characters carry about {bits:.0f} bits of entropy, fewer than {MIN_SECRET_ENTROPY_BITS}"
    return ""


class SettingsError(Exception):
    """Raised with a readable, multi-line explanation when the environment is not valid."""


def normalise_database_url(url: str) -> str:
    """Accept the URLs people usually write and pick the async driver the service runs on."""
    url = url.strip()
    for prefix, replacement in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


class Settings(OidcSettings):
    model_config = SettingsConfigDict(env_prefix="SDM_", extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///var/sdm.db"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    base_url: str = "http://127.0.0.1:8000"
    clinic_name: str = Field(default="Your cancer center", min_length=1, max_length=120)
    questionnaire_slug: str = Field(default=DEFAULT_QUESTIONNAIRE_SLUG, min_length=1, max_length=64)
    # The summary's funding and conflict-of-interest line (IPDAS); the default says honestly that
    # the clinic has not stated one yet.
    summary_funding_note: str = Field(
        default=(
            "Funding and conflicts of interest: this clinic has not yet stated who paid for this "
            "summary or any conflict of interest. Ask your care team."
        ),
        min_length=1,
        max_length=500,
    )
    # Default: the copies inside an installed wheel, or the checkout's folders (sdm_service/resources.py).
    content_dir: Path = resource_path("questionnaires")
    templates_dir: Path = resource_path("templates")
    static_dir: Path = resource_path("static")
    # Host names the service answers to (comma-separated in SDM_ALLOWED_HOSTS; "*" allows any, "*.x.org"
    # any subdomain). Empty means: the host of SDM_BASE_URL, plus loopback names outside production.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    invitation_ttl_days: int = Field(default=30, ge=1, le=365)
    # A patient's links (resume link, cookie, invitation link) stop working after this many days
    # without use, and this many days after the answers were sent (services/patient_links.py).
    resume_idle_days: int = Field(default=30, ge=1, le=365)
    resume_after_completion_days: int = Field(default=90, ge=1, le=3650)
    clinician_session_minutes: int = Field(default=480, ge=5, le=24 * 60)
    # The pause before checking the password of an account locked by failed sign-ins, when it comes
    # from an address without failures (services/signin.py: slowed, never refused).
    signin_slowdown_seconds: float = Field(default=3.0, ge=0, le=30)
    # TOTP second factor (services/mfa.py): always for administrators; for everyone when this is on.
    mfa_required_for_all: bool = False
    # Only for test suites of unrelated features; refused in production.
    mfa_required_for_admins: bool = True
    # argon2id cost for clinician passwords (security.PASSWORD_*: OWASP's recommended configuration).
    password_hash_time_cost: int = Field(default=PASSWORD_TIME_COST, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=PASSWORD_MEMORY_KIB, ge=8, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(default=PASSWORD_PARALLELISM, ge=1, le=64)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object per line for a log pipeline; text: for people. Unset: json in
    # production, text elsewhere (see log_format_in_use).
    log_format: Literal["json", "text"] | None = None
    # /metrics answers these networks (comma-separated CIDRs), or a request with the bearer token.
    metrics_allow: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_METRICS_ALLOW))
    metrics_token: SecretStr | None = None
    # Traces: OTLP/HTTP to this collector (the standard OpenTelemetry variable); unset: no tracing.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    # One log line per request from the server (uvicorn). Off by default: the app logs its own
    # errors and audit events, and the per-request line costs time on every request.
    access_log: bool = False
    # Addresses of the reverse proxy whose X-Forwarded-For is trusted for the client address
    # (rate limits and the audit log's "from where"); comma-separated, or * behind a private network.
    forwarded_allow_ips: str = "127.0.0.1"
    # PostgreSQL connections per process: the pool keeps this many, opens as many again in a burst,
    # and a request finding all in use waits up to the timeout before the answer is 503.
    db_pool_size: int = Field(default=10, ge=1, le=100)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Request body limits (bytes): forms are small; JSON and FHIR bodies may carry a whole response.
    max_form_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    # Rate limits: where hits are counted (shared by every worker), and how many per window.
    rate_limit_store: Literal["database", "redis"] = "database"
    redis_url: str = "redis://127.0.0.1:6379/0"
    link_lookups_per_window: int = Field(default=30, ge=1)  # /i/ and /r/ per client address
    link_lookup_window_seconds: int = Field(default=300, ge=1)
    api_requests_per_window: int = Field(default=600, ge=1)  # /api and /fhir per bearer token
    api_request_window_seconds: int = Field(default=60, ge=1)
    # /api and /fhir per client address, whatever token is sent (a fresh random token per request
    # would otherwise never be limited); unset means API_REQUESTS_PER_IP_FACTOR x the per-token limit.
    api_requests_per_ip_per_window: int | None = Field(default=None, ge=1)
    # SMART Backend Services (sdm_service/smart/): access tokens live at most 5 minutes; static
    # bearer tokens (`sdm api-clients create NAME --scopes ...` without a JWKS) can be switched off.
    static_api_tokens: bool = True
    smart_token_seconds: int = Field(default=300, ge=1, le=300)
    # Write-back to the EHR (sdm_service/delivery/): unset base URL = nothing is sent or queued.
    ehr_fhir_base_url: str = ""
    ehr_client_id: str = Field(default="", max_length=200)
    # One PEM or JWK file, or a comma list: the first signs, all are published at /.well-known/jwks.json
    # (a new key is added before the old one is removed).
    ehr_private_key_file: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    ehr_token_url: str = ""  # empty: read from {base}/.well-known/smart-configuration
    ehr_scope: str = "system/DocumentReference.c system/Binary.c system/QuestionnaireResponse.c"
    ehr_attachment: Literal["inline", "binary"] = "inline"  # PDF in attachment.data, or a Binary first
    ehr_send_questionnaire_response: bool = False
    ehr_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # The job queue: empty = a SQLite file beside the app (one machine); redis://... for many machines.
    delivery_queue_url: str = ""
    delivery_max_attempts: int = Field(default=10, ge=1, le=100)
    delivery_backoff_seconds: float = Field(default=30.0, gt=0, le=3600)  # first retry; doubles each time
    delivery_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)
    # A claimed delivery not finished by then (its worker died) is taken up again by the sweep.
    delivery_lease_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        url = normalise_database_url(value)
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return url

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):  # a JSON list is accepted too
                value = json.loads(value)
            else:
                return [host.strip().lower() for host in value.split(",") if host.strip()]
        if isinstance(value, list):
            return [str(host).strip().lower() for host in value if str(host).strip()]
        return value

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for network in value:
                try:
                    ipaddress.ip_network(str(network), strict=False)
                except ValueError:
                    raise ValueError(f"{network!r} is not an address or CIDR network") from None
        return value

    @field_validator("ehr_private_key_file", mode="before")
    @classmethod
    def _split_key_files(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value

    @field_validator("ehr_fhir_base_url", "ehr_token_url")
    @classmethod
    def _http_url_or_empty(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("delivery_queue_url")
    @classmethod
    def _known_queue(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("sqlite:///", "redis://", "rediss://")):
            raise ValueError("must be a sqlite:///FILE or redis:// URL")
        return value

    @model_validator(mode="after")
    def _ehr_needs_client_and_key(self) -> Settings:
        if self.ehr_fhir_base_url:
            if not self.ehr_client_id:
                raise ValueError("SDM_EHR_CLIENT_ID is required when SDM_EHR_FHIR_BASE_URL is set")
            if not self.ehr_private_key_file:
                raise ValueError("SDM_EHR_PRIVATE_KEY_FILE is required when SDM_EHR_FHIR_BASE_URL is set")
        for path in self.ehr_private_key_file:
            if not path.is_file():
                raise ValueError(f"SDM_EHR_PRIVATE_KEY_FILE: {path} is not a readable file")
        if self.delivery_queue_url.startswith("redis") and importlib.util.find_spec("redis") is None:
            raise ValueError("SDM_DELIVERY_QUEUE_URL=redis://... needs the 'redis' extra installed")
        return self

    @property
    def ehr_enabled(self) -> bool:
        return bool(self.ehr_fhir_base_url)

    @field_validator("base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_needs_real_secret(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.env == "production":
            if secret == DEVELOPMENT_SECRET:
                raise ValueError(
                    "SDM_SECRET_KEY must be set to your own random value when SDM_ENV=production"
                )
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"SDM_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters in production"
                )
            weakness = secret_weakness(secret)
            if weakness:
                raise ValueError(
                    f"SDM_SECRET_KEY is too easy to guess ({weakness}); in production use a random value, "
                    'e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"'
                )
            if not self.base_url.startswith("https://"):
                raise ValueError("SDM_BASE_URL must use https:// when SDM_ENV=production")
            if self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
                raise ValueError("SDM_OIDC_ISSUER must use https:// when SDM_ENV=production")
            if not self.mfa_required_for_admins:
                raise ValueError("SDM_MFA_REQUIRED_FOR_ADMINS cannot be turned off when SDM_ENV=production")
        return self

    @model_validator(mode="after")
    def _redis_store_needs_the_client(self) -> Settings:
        if self.rate_limit_store == "redis" and importlib.util.find_spec("redis") is None:
            raise ValueError(
                "SDM_RATE_LIMIT_STORE=redis needs the Redis client, which is not installed: "
                "install the 'redis' extra (pip install 'sdm-service[redis]'), or unset "
                "SDM_RATE_LIMIT_STORE to count rate limits in the database"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def log_format_in_use(self) -> str:
        return self.log_format or ("json" if self.is_production else "text")

    @property
    def api_address_limit(self) -> int:
        """API and FHIR requests allowed per client address in one API window."""
        if self.api_requests_per_ip_per_window is not None:
            return self.api_requests_per_ip_per_window
        return API_REQUESTS_PER_IP_FACTOR * self.api_requests_per_window

    @property
    def trusted_hosts(self) -> list[str]:
        """Host names (without port) a request's Host header may carry."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        hosts = [(urlsplit(self.base_url).hostname or "").lower()]
        if not self.is_production:
            hosts += ["localhost", "127.0.0.1", "::1", "testserver.local"]
        return [host for host in dict.fromkeys(hosts) if host]

    @property
    def password_hash_parameters(self) -> tuple[int, int, int]:
        """(time cost, memory in KiB, parallelism) for security.password_hashing."""
        return (self.password_hash_time_cost, self.password_hash_memory_kib, self.password_hash_parallelism)

    @property
    def smart_token_url(self) -> str:
        """The SMART token endpoint: the `aud` every client assertion must name."""
        return f"{self.base_url}{SMART_TOKEN_PATH}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        # Development and the test suite run on plain http://127.0.0.1; everything else gets Secure cookies.
        return self.env == "production"

    @property
    def cookies(self) -> CookieNames:
        prefix = HOST_COOKIE_PREFIX if self.secure_cookies else ""
        return CookieNames(
            session=prefix + SESSION_COOKIE,
            patient=prefix + PATIENT_COOKIE,
            csrf=prefix + CSRF_COOKIE,
            mfa_pending=prefix + MFA_PENDING_COOKIE,
            oidc_state=prefix + OIDC_STATE_COOKIE,
        )


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation failures into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = ["Invalid configuration:"]
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            name = f"SDM_{field.upper()}" if field != "settings" else "settings"
            lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("\n".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
