"""fhir tasks: the EHR's SDC Task asking a patient to complete the questionnaire

Revision ID: 0009_fhir_tasks
Revises: 0007_links_expiry
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0009_fhir_tasks"
down_revision: str | None = "0007_links_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "fhir_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("response_id", sa.Uuid(), nullable=False),
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("questionnaire", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("owner", JSON_DOC, nullable=True),
        sa.Column("requester", JSON_DOC, nullable=True),
        sa.Column("created_by_client_id", sa.Uuid(), nullable=True),
        sa.Column("authored_on", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_client_id"], ["api_clients.id"]),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"]),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("response_id"),
    )
    with op.batch_alter_table("fhir_tasks") as batch:
        batch.create_index("ix_fhir_tasks_status", ["status"], unique=False)
        batch.create_index("ix_fhir_tasks_updated", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("fhir_tasks")
