"""schools carry the land area of their labour-practice site (占地面积, 亩) from the roster

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        # Optional: a roster without the column leaves it empty, and the draft says 待补充.
        batch.add_column(sa.Column("site_area_mu", sa.Numeric(10, 2), nullable=True))
        batch.create_check_constraint(op.f("ck_schools_site_area_mu"), "site_area_mu >= 0")


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_constraint("ck_schools_site_area_mu", type_="check")
        batch.drop_column("site_area_mu")
