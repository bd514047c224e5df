"""outside calls: number class, authorization, matter code; the violations ledger

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("number_class", sa.String(16)))
        batch.add_column(sa.Column("authorized_by", sa.String(64)))
        batch.add_column(sa.Column("matter", sa.String(16)))
    op.create_table(
        "violations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("extension", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64)),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("fine_yuan", sa.Numeric(10, 2), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("call_id", "rule", "extension", "person", "at"):
        op.create_index(f"ix_violations_{column}", "violations", [column])


def downgrade() -> None:
    op.drop_table("violations")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("matter")
        batch.drop_column("authorized_by")
        batch.drop_column("number_class")
