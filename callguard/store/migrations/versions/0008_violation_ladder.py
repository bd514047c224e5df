"""violations ladder and appeals (LOG-5)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Violations stored before the ladder keep no step (they were never escalated) and are open.
    with op.batch_alter_table("violations") as batch:
        batch.add_column(sa.Column("step", sa.String(32), nullable=True))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="open"))
        batch.add_column(sa.Column("appeal_by", sa.Date(), nullable=True))
    op.create_table(
        "violation_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "violation_id",
            sa.Integer(),
            sa.ForeignKey("violations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_violation_events_violation_id", "violation_events", ["violation_id"])


def downgrade() -> None:
    op.drop_table("violation_events")
    with op.batch_alter_table("violations") as batch:
        batch.drop_column("appeal_by")
        batch.drop_column("status")
        batch.drop_column("step")
