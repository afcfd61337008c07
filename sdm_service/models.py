"""Database tables. The schema changes only through Alembic migrations (see migrations/).

Answers live as one JSON document on the response so a step save is a single-row update guarded
by an optimistic version counter; the summary computed at completion is stored as an immutable
snapshot, so later content changes never alter an old summary or its PDF.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel

from sdm_service.settings import DEFAULT_QUESTIONNAIRE_SLUG

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ResponseStatus:
    INVITED = "invited"  # created with an invitation; the patient has not opened the link yet
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REVIEWED = "reviewed"
    ALL = (INVITED, IN_PROGRESS, COMPLETED, REVIEWED)


class TaskStatus:
    """FHIR Task.status values a Task of ours can have (SDC complete-questionnaire)."""

    REQUESTED = "requested"  # sent; the patient has not saved an answer yet
    IN_PROGRESS = "in-progress"  # the patient saved a first step
    COMPLETED = "completed"  # the response was completed; outputs name it and its summary
    CANCELLED = "cancelled"  # the EHR cancelled it; the patient's link ended then
    ALL = (REQUESTED, IN_PROGRESS, COMPLETED, CANCELLED)
    OPEN = (REQUESTED, IN_PROGRESS)


class Role:
    CLINICIAN = "clinician"
    ADMIN = "admin"
    ALL = (CLINICIAN, ADMIN)


class User(SQLModel, table=True):
    __tablename__ = "users"
    # An account signed in through OpenID Connect is the provider's (issuer, sub), never a name match.
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_users_oidc_identity"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.CLINICIAN, max_length=16)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    deactivated_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    # Set when an administrator sets the password: the person chooses their own at next sign-in.
    must_change_password: bool = Field(default=False)
    password_changed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    # TOTP second factor (services/mfa.py): the secret sealed with a key derived from SDM_SECRET_KEY,
    # set at enrolment and in use from totp_enabled_at; the last time step accepted (no replay).
    totp_secret: str | None = Field(default=None, max_length=255)
    totp_enabled_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)
    oidc_issuer: str | None = Field(default=None, max_length=500)
    oidc_subject: str | None = Field(default=None, max_length=255)
    # Deactivated because the provider's role claim went away (given back when it returns); an
    # account an administrator deactivated stays deactivated whatever the provider says.
    deactivated_by_provider: bool = Field(default=False)


class UserSession(SQLModel, table=True):
    """A signed-in clinician. The cookie holds a random token; only its SHA-256 is stored here."""

    __tablename__ = "user_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    expires_at: datetime = Field(sa_type=DateTimeUTC, index=True)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    # The identity provider said it checked a second factor (its `amr` claim): no TOTP asked here.
    provider_mfa: bool = Field(default=False)


class OidcSignIn(SQLModel, table=True):
    """A sign-in sent to the identity provider and not yet back: its `state` (SHA-256 only), used
    once. The nonce and PKCE verifier are derived from the state with the secret key (services/oidc.py)."""

    __tablename__ = "oidc_sign_ins"

    state_hash: str = Field(primary_key=True, max_length=64)
    next_path: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    expires_at: datetime = Field(sa_type=DateTimeUTC, index=True)


class RecoveryCode(SQLModel, table=True):
    """A single-use code that stands in for the TOTP code; only its SHA-256 is stored."""

    __tablename__ = "user_recovery_codes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    used_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class ApiClient(SQLModel, table=True):
    """An integration client (the EHR). A static-token client keeps only the SHA-256 of its bearer
    token; a SMART Backend Services client has no token but a public key set (JWKS), inline or by
    URL, and obtains short-lived access tokens (SmartAccessToken). Its SMART client_id is `id`."""

    __tablename__ = "api_clients"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=120)
    token_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    token_prefix: str = Field(default="", max_length=12)
    scopes: str = Field(default="", max_length=500)  # space-separated (sdm_service/scopes.py)
    jwks_url: str | None = Field(default=None, max_length=2000)
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDoc, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    last_used_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class Invitation(SQLModel, table=True):
    """A link a clinic sends a patient; it starts a response tied to that patient."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_patient", "patient_system", "patient_value"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    questionnaire_slug: str = Field(default=DEFAULT_QUESTIONNAIRE_SLUG, max_length=64)
    patient_system: str = Field(default="", max_length=200)
    patient_value: str = Field(max_length=100)
    patient_name: str = Field(default="", max_length=200)
    consult_date: date | None = Field(default=None)
    # The language the link opens in (the response keeps it).
    language: str = Field(default="en", max_length=8, sa_column_kwargs={"server_default": "en"})
    expires_at: datetime = Field(sa_type=DateTimeUTC)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    created_by_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_by_client_id: uuid.UUID | None = Field(default=None, foreign_key="api_clients.id")
    response_id: uuid.UUID | None = Field(default=None, foreign_key="responses.id", index=True)


class QuestionnaireVersion(SQLModel, table=True):
    """Every questionnaire version a response was ever pinned to, kept so old responses stay readable."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("slug", "version", name="uq_questionnaire_versions_slug_version"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    slug: str = Field(max_length=64)
    version: str = Field(max_length=32)
    content_hash: str = Field(max_length=64)
    definition: dict[str, Any] = Field(sa_column=Column(JsonDoc, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)


_response_lock_version = Column("lock_version", Integer, nullable=False, default=1)


class PatientResponse(SQLModel, table=True):
    """One patient's questionnaire response, pinned to a questionnaire version."""

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_worklist", "status", "consult_date"),
        Index("ix_responses_patient", "patient_system", "patient_value"),
        Index("ix_responses_updated", "updated_at", "id"),
        # Clinician worklist: walk consult dates in order (upcoming, undated, past) and find by identifier.
        Index("ix_responses_consult", "consult_date", "created_at", "id"),
        Index("ix_responses_patient_value", "patient_value"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    questionnaire_slug: str = Field(max_length=64)
    questionnaire_version: str = Field(max_length=32)
    status: str = Field(default=ResponseStatus.IN_PROGRESS, max_length=16)
    source: str = Field(default="web", max_length=16)  # web | api | fhir
    patient_system: str = Field(default="", max_length=200)
    patient_value: str = Field(default="", max_length=100)
    patient_name: str = Field(default="", max_length=200)
    consult_date: date | None = Field(default=None)
    # The patient's language: the questionnaire, the summary and its PDF are shown in it.
    language: str = Field(default="en", max_length=8, sa_column_kwargs={"server_default": "en"})
    invitation_id: uuid.UUID | None = Field(default=None)
    resume_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    current_step: int = Field(default=0)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonDoc, nullable=False))
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDoc, nullable=True))
    conflict_score: int | None = Field(default=None)
    conflict_flag: bool = Field(default=False, index=True)
    top_priority: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    completed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    reviewed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    # The patient's links: when one was last opened (the idle lifetime counts from the later of this
    # and updated_at), and when a clinician or the API ended the patient's access (services/patient_links).
    last_opened_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    access_ended_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    # Optimistic concurrency: SQLAlchemy adds "AND lock_version = :old" to every UPDATE and raises
    # StaleDataError when another writer got there first.
    lock_version: int = Field(default=1, sa_column=_response_lock_version)

    __mapper_args__ = {"version_id_col": _response_lock_version}


class SummaryDocument(SQLModel, table=True):
    """The summary PDF of a completed response, rendered once and kept: the document of record.

    The patient, clinicians, the JSON API and FHIR all serve these bytes, so a later release of the
    renderer never alters a document that was handed out. `sha256` (hex) and `size` describe `pdf`;
    `sha1_base64` is the digest FHIR R4 puts in Attachment.hash.
    """

    __tablename__ = "summary_documents"

    response_id: uuid.UUID = Field(primary_key=True, foreign_key="responses.id")
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)
    sha1_base64: str = Field(max_length=28)
    size: int = Field()
    filename: str = Field(max_length=120)  # the download name, so serving never parses the summary
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)


class Review(SQLModel, table=True):
    """A clinician marking a response reviewed; every review is kept (history), never edited."""

    __tablename__ = "reviews"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    response_id: uuid.UUID = Field(foreign_key="responses.id", index=True)
    reviewer_id: uuid.UUID = Field(foreign_key="users.id")
    note: str = Field(default="", max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)


class AuditEvent(SQLModel, table=True):
    """Append-only record of who did what to which record, when and from where; each event is
    chained to the one before it by hash, so a changed or removed event is detected."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id"),
        # Audit log viewer filters by entity id alone and by who acted.
        Index("ix_audit_events_entity_id", "entity_id"),
        Index("ix_audit_events_actor_label", "actor_label"),
    )

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, index=True)
    actor_type: str = Field(max_length=16)  # clinician | api_client | patient | system | anonymous
    actor_id: str = Field(default="", max_length=64)
    actor_label: str = Field(default="", max_length=200)
    action: str = Field(max_length=64, index=True)
    entity_type: str = Field(default="", max_length=32)
    entity_id: str = Field(default="", max_length=64)
    ip: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonDoc, nullable=False))
    # Tamper evidence (see audit.py): SHA-256 of this event's fields and the previous event's hash.
    prev_hash: str = Field(default="", max_length=64)
    event_hash: str = Field(default="", max_length=64)


class FhirTask(SQLModel, table=True):
    """An EHR's request that a patient complete the questionnaire (FHIR SDC Task). It owns one
    invitation and its response; the patient, the link expiry and the answers are read from those,
    so each fact has one home. `version` counts changes (meta.versionId and the ETag)."""

    __tablename__ = "fhir_tasks"
    __table_args__ = (Index("ix_fhir_tasks_updated", "updated_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    response_id: uuid.UUID = Field(foreign_key="responses.id", unique=True)
    invitation_id: uuid.UUID = Field(foreign_key="invitations.id")
    status: str = Field(default=TaskStatus.REQUESTED, max_length=16, index=True)
    questionnaire: str = Field(max_length=300)  # the canonical url|version asked for
    owner: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDoc, nullable=True))
    requester: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDoc, nullable=True))
    created_by_client_id: uuid.UUID | None = Field(default=None, foreign_key="api_clients.id")
    authored_on: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    version: int = Field(default=1)


class RateCounter(SQLModel, table=True):
    """Hits per bucket, key and time slot, shared by every worker because it lives in the database.

    A limit's sliding window is the sum of the slots it covers (slots are 1/60 of the window), so
    one upsert counts a hit and the rows read per check stay bounded whatever the traffic.
    `slot_start` and `expires_at` are whole seconds since the epoch; expired rows are purged now
    and then (see ratelimit.py)."""

    __tablename__ = "rate_counters"

    bucket: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=128)
    slot_start: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    hits: int = Field(default=0)
    expires_at: int = Field(sa_type=BigInteger, index=True)


class SmartAccessToken(SQLModel, table=True):
    """An access token issued at the SMART token endpoint. Only its SHA-256 is stored (like every
    other token here); it grants `scopes` (a subset of its client's) until `expires_at`."""

    __tablename__ = "smart_access_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    client_id: uuid.UUID = Field(foreign_key="api_clients.id", index=True)
    scopes: str = Field(max_length=500)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    expires_at: datetime = Field(sa_type=DateTimeUTC, index=True)


class SmartAssertionId(SQLModel, table=True):
    """A client assertion's jti, remembered until the assertion expires so it is never accepted
    twice (shared by every worker). `key` is SHA-256 of client id and jti; `expires_at` whole
    seconds since the epoch."""

    __tablename__ = "smart_assertion_ids"

    key: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(sa_type=BigInteger, index=True)


class DeliveryStatus:
    PENDING = "pending"  # waiting for its first or next attempt
    SENDING = "sending"  # claimed by a worker until lease_until
    DELIVERED = "delivered"
    FAILED = "failed"  # refused by the EHR (a 4xx other than 408/429) or by its token endpoint
    DEAD = "dead"  # dead-lettered: the last allowed attempt failed too
    ALL = (PENDING, SENDING, DELIVERED, FAILED, DEAD)
    OPEN = (PENDING, SENDING)


class Delivery(SQLModel, table=True):
    """The outbox: one row per completed response to write back into the EHR, written in the same
    transaction that completes the response, so an acknowledged completion cannot lose it. The job
    queue only carries its id; this row is the durable record, and `response_id` the dedup key."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    response_id: uuid.UUID = Field(foreign_key="responses.id", unique=True)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    lease_until: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    last_error: str = Field(default="", max_length=1000)
    # The EHR's OperationOutcome for the last refusal, kept as it came.
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDoc, nullable=True))
    # What the EHR created (e.g. "DocumentReference/123"); a Binary made first is reused by a retry.
    document_reference: str = Field(default="", max_length=200)
    binary_reference: str = Field(default="", max_length=200)
    response_reference: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC)
    delivered_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
