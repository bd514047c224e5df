"""api_tokens: an expiry for every API token (the console's least privilege)

Revision ID: 0015
Revises: 0014
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Tokens made before this migration had no end. They get the default lifetime from the upgrade
# on, so that a script using one keeps working for that long and then stops, as a new one would.
EXISTING_TOKENS_DAYS = 90


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    until = datetime.now(UTC) + timedelta(days=EXISTING_TOKENS_DAYS)
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None)).values(expires_at=until))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
