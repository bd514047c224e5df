"""records by node: calls keyed by (node, call_id); the caller's line

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# 0004 created messages.call_id UNIQUE inline: unnamed in SQLite (batch mode names it by this
# convention so that it can be dropped), `messages_call_id_key` in PostgreSQL.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _drop_messages_call_id_unique() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("messages", naming_convention=_NAMES, recreate="always") as batch:
            batch.drop_constraint("uq_messages_call_id", type_="unique")
    else:
        op.drop_constraint("messages_call_id_key", "messages", type_="unique")


def upgrade() -> None:
    # A call id is unique per Asterisk only: two nodes may both have "1700000000.42".
    op.drop_index("ix_calls_call_id", table_name="calls")
    op.create_index("ix_calls_call_id", "calls", ["call_id"])
    op.create_index("ux_calls_node_call_id", "calls", ["node", "call_id"], unique=True)
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("caller_line", sa.String(64)))
    for table in ("violations", "messages"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("node", sa.String(64)))
        # Until now call ids were unique in `calls`: the call's row names the node.
        op.execute(
            f"UPDATE {table} SET node = (SELECT calls.node FROM calls WHERE calls.call_id = {table}.call_id)"
        )
    _drop_messages_call_id_unique()
    op.create_index("ux_messages_node_call_id", "messages", ["node", "call_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_messages_node_call_id", table_name="messages")
    with op.batch_alter_table("messages", naming_convention=_NAMES) as batch:
        batch.create_unique_constraint("uq_messages_call_id", ["call_id"])
    for table in ("messages", "violations"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("node")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("caller_line")
    op.drop_index("ux_calls_node_call_id", table_name="calls")
    op.drop_index("ix_calls_call_id", table_name="calls")
    op.create_index("ix_calls_call_id", "calls", ["call_id"], unique=True)
