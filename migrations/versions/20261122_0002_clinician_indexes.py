"""clinician worklist and audit log indexes

Revision ID: 0002_clinician_indexes
Revises: 0001
Create Date: 2026-11-22 20:31:12.855785
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_clinician_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_label", ["actor_label"], unique=False)
        batch_op.create_index("ix_audit_events_entity_id", ["entity_id"], unique=False)

    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index("ix_responses_consult", ["consult_date", "created_at", "id"], unique=False)
        batch_op.create_index("ix_responses_patient_value", ["patient_value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_patient_value")
        batch_op.drop_index("ix_responses_consult")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_entity_id")
        batch_op.drop_index("ix_audit_events_actor_label")
