"""calls and legs

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("dialed", sa.String(64), nullable=False),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.String(128)),
        sa.Column("caller_department", sa.String(64)),
        sa.Column("callee_number", sa.String(64)),
        sa.Column("callee_name", sa.String(128)),
        sa.Column("callee_department", sa.String(64)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ringing_at", sa.DateTime(timezone=True)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("talk_s", sa.Float()),
        sa.Column("disposition", sa.String(32), nullable=False),
        sa.Column("hangup_cause", sa.Integer()),
        sa.Column("hangup_by", sa.String(16)),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("readopted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_calls_call_id", "calls", ["call_id"], unique=True)
    op.create_index("ix_calls_caller_number", "calls", ["caller_number"])
    op.create_index("ix_calls_callee_number", "calls", ["callee_number"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_disposition", "calls", ["disposition"])
    op.create_table(
        "call_legs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_pk", sa.Integer(), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("channel_id", sa.String(160), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ringing_at", sa.DateTime(timezone=True)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("hangup_cause", sa.Integer()),
        sa.Column("hangup_cause_text", sa.String(128)),
    )
    op.create_index("ix_call_legs_call_pk", "call_legs", ["call_pk"])


def downgrade() -> None:
    op.drop_table("call_legs")
    op.drop_table("calls")
