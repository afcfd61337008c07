"""identity: password lifecycle (forced change after an administrator's reset)

Revision ID: 0010_identity
Revises: 0007_links_expiry
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0010_identity"
down_revision: str | None = "0007_links_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        # The server default fills existing rows; the models set the value from then on.
        batch.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("password_changed_at", DateTimeUTC(timezone=True), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("must_change_password", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("must_change_password")
