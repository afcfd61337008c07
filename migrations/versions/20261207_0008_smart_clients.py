"""SMART Backend Services: clients with a JWKS, issued access tokens, used assertion ids

Revision ID: 0008_smart_clients
Revises: 0009_fhir_tasks (main landed the Task tables first; this revision follows them)
Create Date: 2026-12-07 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_smart_clients"
down_revision: str | None = "0009_fhir_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        # A SMART client has no static token (a unique index allows many NULLs).
        batch.alter_column(
            "token_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        )
        batch.add_column(sa.Column("jwks_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch.add_column(
            sa.Column(
                "jwks",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    op.create_table(
        "smart_access_tokens",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("issued_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["api_clients.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_smart_access_tokens_client_id", "smart_access_tokens", ["client_id"])
    op.create_index("ix_smart_access_tokens_expires_at", "smart_access_tokens", ["expires_at"])
    op.create_table(
        "smart_assertion_ids",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_smart_assertion_ids_expires_at", "smart_assertion_ids", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_smart_assertion_ids_expires_at", table_name="smart_assertion_ids")
    op.drop_table("smart_assertion_ids")
    op.drop_index("ix_smart_access_tokens_expires_at", table_name="smart_access_tokens")
    op.drop_index("ix_smart_access_tokens_client_id", table_name="smart_access_tokens")
    op.drop_table("smart_access_tokens")
    # SMART clients have no token to go back to: a placeholder no token hashes to (not hex).
    op.execute(
        "UPDATE api_clients SET token_hash = 'smart-client-' || CAST(id AS VARCHAR(40)) "
        "WHERE token_hash IS NULL"
    )
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("jwks")
        batch.drop_column("jwks_url")
        batch.alter_column(
            "token_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )
