"""console: messages passed on, appeal decisions by the console (XFER-3, LOG-5)

Revision ID: 0011
Revises: 0010
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Placeholder keeping the revision chain whole; the owning change fills it in.
    pass


def downgrade() -> None:
    pass
