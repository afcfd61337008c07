"""language: the language a response is answered and summarised in, and an invitation opens in

Revision ID: 0011_language
Revises: 0012_deliveries
Create Date: 2026-12-07 14:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_language"
down_revision: str | None = "0012_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Everything before this migration was English.
    for table in ("responses", "invitations"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))


def downgrade() -> None:
    for table in ("invitations", "responses"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("language")
