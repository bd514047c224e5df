"""calls handled by the dialplan alone, imported from Asterisk (LOG-1)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every earlier record was written by callguard itself.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("handled_by", sa.String(16), nullable=False, server_default="callguard"))
    # Where `cdr import` stopped reading each CDR file (LOG-1): the next import goes on from there.
    op.create_table(
        "cdr_imports",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("file_id", sa.String(64), nullable=False),  # device:inode: a rotated file starts at 0
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("imported", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cdr_imports")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("handled_by")
