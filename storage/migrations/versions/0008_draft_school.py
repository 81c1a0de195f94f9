"""drafts remember the school they were started for: a principal moved meanwhile never files it elsewhere

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        # Nullable: drafts in flight at the upgrade have none (a correction's school is its report's).
        batch_op.add_column(sa.Column("school_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_drafts_school_id_schools", "schools", ["school_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.drop_constraint("fk_drafts_school_id_schools", type_="foreignkey")
        batch_op.drop_column("school_id")
