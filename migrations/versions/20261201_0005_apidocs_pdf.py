"""summary_documents: the summary PDF of each completed response, rendered once and stored

Revision ID: 0005_apidocs_pdf
Revises: 0004_drop_rate_events
Create Date: 2026-12-01 21:30:00

Responses completed before this revision get their document on first request (see
services/documents.py): a migration must not depend on the application's PDF renderer.
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_apidocs_pdf"
down_revision: str | None = "0004_drop_rate_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "summary_documents",
        sa.Column("response_id", sa.Uuid(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sha1_base64", sqlmodel.sql.sqltypes.AutoString(length=28), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"]),
        sa.PrimaryKeyConstraint("response_id"),
    )


def downgrade() -> None:
    op.drop_table("summary_documents")
