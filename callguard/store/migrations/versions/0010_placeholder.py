"""console accounts, API tokens, web sessions, login throttling and the read audit (LOG-3)

Revision ID: 0010
Revises: 0009
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Placeholder keeping the revision chain whole; the owning change fills it in.
    pass


def downgrade() -> None:
    pass
