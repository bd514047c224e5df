"""console: indexes for reads by person and department (LOG-3 scopes, XFER-3, LOG-5)

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The console narrows every read to a viewer's scope: a head's departments, an employee's
# person and lines. Without these, each such read scans the whole table.
INDEXES = (
    ("ix_calls_caller_department", "calls", "caller_department"),
    ("ix_calls_callee_department", "calls", "callee_department"),
    ("ix_call_legs_number", "call_legs", "number"),  # the phones that rang for a call
    ("ix_messages_for_person", "messages", "for_person"),  # XFER-3: the messages left for someone
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
