"""staff invites carry a district: redeeming one makes district staff

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invites") as batch_op:
        batch_op.add_column(sa.Column("district_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_invites_district_id_districts"), "districts", ["district_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("invites") as batch_op:
        batch_op.drop_constraint(op.f("fk_invites_district_id_districts"), type_="foreignkey")
        batch_op.drop_column("district_id")
