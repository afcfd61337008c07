"""oidc identity: accounts linked to an OpenID provider's (issuer, sub), pending sign-ins, provider MFA

Revision ID: 0013_oidc_identity
Revises: 0011_language
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0013_oidc_identity"
down_revision: str | None = "0011_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("oidc_issuer", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        # The server default fills existing rows; the models set the value from then on.
        batch.add_column(
            sa.Column("deactivated_by_provider", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_unique_constraint("uq_users_oidc_identity", ["oidc_issuer", "oidc_subject"])
    with op.batch_alter_table("users") as batch:
        batch.alter_column("deactivated_by_provider", server_default=None)
    with op.batch_alter_table("user_sessions") as batch:
        batch.add_column(sa.Column("provider_mfa", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("user_sessions") as batch:
        batch.alter_column("provider_mfa", server_default=None)
    op.create_table(
        "oidc_sign_ins",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash"),
    )
    op.create_index("ix_oidc_sign_ins_expires_at", "oidc_sign_ins", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_sign_ins_expires_at", table_name="oidc_sign_ins")
    op.drop_table("oidc_sign_ins")
    with op.batch_alter_table("user_sessions") as batch:
        batch.drop_column("provider_mfa")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_oidc_identity", type_="unique")
        batch.drop_column("deactivated_by_provider")
        batch.drop_column("oidc_subject")
        batch.drop_column("oidc_issuer")
