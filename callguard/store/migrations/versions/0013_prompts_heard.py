"""the prompts a caller heard, on the call's row (issue 9)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A JSON list of prompt names (greeting_admin, enter_pin, ...), as played to the caller.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("prompts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("prompts")
