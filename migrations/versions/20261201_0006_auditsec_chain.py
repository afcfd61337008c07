"""audit chain: each audit event carries a SHA-256 hash chained to the previous one; on PostgreSQL
audit_events refuses UPDATE and DELETE

Revision ID: 0006_auditsec_chain
Revises: 0005_apidocs_pdf
Create Date: 2026-12-01 21:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from sdm_service.audit import GENESIS_HASH, event_digest

revision: str = "0006_auditsec_chain"
down_revision: str | None = "0005_apidocs_pdf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table(
    "audit_events",
    sa.column("id", sa.BigInteger()),
    sa.column("occurred_at", DateTimeUTC(timezone=True)),
    sa.column("actor_type", sa.String()),
    sa.column("actor_id", sa.String()),
    sa.column("actor_label", sa.String()),
    sa.column("action", sa.String()),
    sa.column("entity_type", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("ip", sa.String()),
    sa.column("detail", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.column("prev_hash", sa.String()),
    sa.column("event_hash", sa.String()),
)

# Refuses UPDATE and DELETE to every role but the table's owner (who runs the migrations and may
# restore a backup onto an emptied database). The application connects as another role (see
# docker-compose.yml), which can neither change events nor switch this off; what the owner changes
# still breaks the hash chain, which `sdm audit verify` reports.
_APPEND_ONLY = (
    """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
""",
    """
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
""",
)


def _hash_existing_rows() -> None:
    """Chain the events already recorded, oldest first (ids are assigned in insertion order)."""
    connection = op.get_bind()
    previous = GENESIS_HASH
    rows = connection.execute(sa.select(_events).order_by(_events.c.id)).all()
    update = (
        sa.update(_events)
        .where(_events.c.id == sa.bindparam("row_id"))
        .values(prev_hash=sa.bindparam("new_prev"), event_hash=sa.bindparam("new_hash"))
    )
    batch: list[dict[str, object]] = []
    for row in rows:
        digest = event_digest(row, previous)
        batch.append({"row_id": row.id, "new_prev": previous, "new_hash": digest})
        previous = digest
        if len(batch) >= 1000:
            connection.execute(update, batch)
            batch = []
    if batch:
        connection.execute(update, batch)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("event_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    _hash_existing_rows()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column(
            "prev_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )
        batch_op.alter_column(
            "event_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )
    if op.get_bind().dialect.name == "postgresql":
        for statement in _APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("event_hash")
        batch_op.drop_column("prev_hash")
