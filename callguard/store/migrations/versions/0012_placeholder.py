"""supervision recordings of sampled outside calls (LOG-6)

Revision ID: 0012
Revises: 0011
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Placeholder keeping the revision chain whole; the owning change fills it in.
    pass


def downgrade() -> None:
    pass
