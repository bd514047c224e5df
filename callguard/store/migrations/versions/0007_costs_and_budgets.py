"""call costs, tariffs and budgets (LOG-4)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_MONEY = sa.Numeric(12, 4, asdecimal=True)


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add several columns in one ALTER; PostgreSQL alters in place.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("cost", _MONEY, nullable=True))
        batch.add_column(sa.Column("tariff", sa.String(64), nullable=True))
        batch.add_column(sa.Column("budget", sa.String(96), nullable=True))
    op.create_index("ix_calls_budget", "calls", ["budget"])
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("downgrade_to", sa.String(16)),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "name", name="ux_budgets_scope_name"),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("budget", sa.String(96), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("threshold_pct", sa.Integer(), nullable=False),
        sa.Column("spend", _MONEY, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("budget", "month", "threshold_pct", name="ux_budget_alerts_once"),
    )


def downgrade() -> None:
    op.drop_table("budget_alerts")
    op.drop_table("budgets")
    op.drop_index("ix_calls_budget", "calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("budget")
        batch.drop_column("tariff")
        batch.drop_column("cost")
