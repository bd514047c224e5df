"""supervision recordings of sampled outside calls (LOG-6)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The stored recording's name (Asterisk's recordings/stored/<name>), on the call it recorded.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording", sa.String(256), nullable=True))
        batch.create_index("ix_calls_recording", ["recording"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_recording")
        batch.drop_column("recording")
