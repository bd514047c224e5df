"""answering: rings at answer, transfers, messages

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("transfers", sa.JSON()))
    with op.batch_alter_table("call_legs") as batch:
        batch.add_column(sa.Column("rings_at_answer", sa.Integer()))
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(128), nullable=False, unique=True),
        sa.Column("for_ext", sa.String(16), nullable=False),
        sa.Column("for_person", sa.String(64)),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.String(128)),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float()),
        sa.Column("recording", sa.String(256), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("done_by", sa.String(64)),
    )
    op.create_index("ix_messages_for_ext", "messages", ["for_ext"])
    op.create_index("ix_messages_left_at", "messages", ["left_at"])


def downgrade() -> None:
    op.drop_table("messages")
    with op.batch_alter_table("call_legs") as batch:
        batch.drop_column("rings_at_answer")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("transfers")
