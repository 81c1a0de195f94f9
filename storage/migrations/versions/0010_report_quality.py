"""report quality: units as typed, flags confirmed with a reason, withdrawn versions, draft notes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_values") as batch:
        # The words as typed when a unit was converted ("1200斤" for 600 公斤).
        batch.add_column(sa.Column("original", sa.Text(), nullable=True))
    with op.batch_alter_table("reports") as batch:
        # A version that takes the entry back: kept in history, excluded from every sum.
        batch.add_column(sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("drafts") as batch:
        # Conversation notes beside the answers: originals of converted units, reasons given for warnings.
        batch.add_column(sa.Column("notes", sa.JSON(), nullable=True))
    op.create_table(
        "report_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("field_key", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_report_flags_report_id_reports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_flags")),
    )
    op.create_index("ix_report_flags_report_id", "report_flags", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_report_flags_report_id", table_name="report_flags")
    op.drop_table("report_flags")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("notes")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("withdrawn")
    with op.batch_alter_table("report_values") as batch:
        batch.drop_column("original")
