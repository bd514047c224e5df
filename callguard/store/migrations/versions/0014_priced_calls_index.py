"""budgets: indexes of the priced calls only, for the month's spend (LOG-4, issue 12)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The budget watcher sums the month's spend every few seconds (store.costs.month_spend). By
# department it walked every call of the department, internal ones included: ~50 ms a refresh
# at 100,000 calls, more each day of the month. Only calls with a cost count, and those are the
# outside calls: partial indexes hold them alone (SQLite and PostgreSQL both have them).
PRICED = sa.text("cost IS NOT NULL")
INDEXES = (
    ("ix_calls_priced_department", ["caller_department", "started_at"]),
    ("ix_calls_priced_budget", ["budget", "started_at"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "calls", columns, sqlite_where=PRICED, postgresql_where=PRICED)


def downgrade() -> None:
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="calls")
