"""reports filed by the office on a school's behalf: the flag and the reason given

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
# Main's head when this was written; the merger re-chains it after 0011 and 0012.
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        # Filed by office staff for the school (reporter_id names the staff member, or none from the CLI).
        batch.add_column(sa.Column("on_behalf", sa.Boolean(), nullable=False, server_default=sa.false()))
        # Why the office filed it: required when on_behalf.
        batch.add_column(sa.Column("behalf_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("behalf_reason")
        batch.drop_column("on_behalf")
