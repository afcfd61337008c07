"""links expiry: when a patient's link was last opened, and when their access was ended

Revision ID: 0007_links_expiry
Revises: 0006_auditsec_chain
Create Date: 2026-12-01 22:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0007_links_expiry"
down_revision: str | None = "0006_auditsec_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("last_opened_at", DateTimeUTC(timezone=True), nullable=True))
        batch.add_column(sa.Column("access_ended_at", DateTimeUTC(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("access_ended_at")
        batch.drop_column("last_opened_at")
