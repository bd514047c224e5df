"""OUT-3 PIN lockouts: wrong authorization codes survive a restart

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pin_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64)),
        sa.Column("call_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_pin_failures_at", "pin_failures", ["at"])


def downgrade() -> None:
    op.drop_table("pin_failures")
