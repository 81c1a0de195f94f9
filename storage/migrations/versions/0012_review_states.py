"""review states: every report version is submitted, approved or returned; reasons asked of staff survive a restart

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


_STATES = "review IN ('submitted', 'approved', 'returned')"


def upgrade() -> None:
    # Versions saved before review existed start submitted, as every new version does.
    if op.get_bind().dialect.name == "sqlite":
        # ADD COLUMN with its constraints inline: a batch "move and copy" of ``reports`` would drop
        # the table, and with foreign keys on, cascade-delete every report's values and flags.
        op.execute(
            "ALTER TABLE reports ADD COLUMN review VARCHAR(16) DEFAULT 'submitted' NOT NULL "
            f"CONSTRAINT ck_reports_review CHECK ({_STATES})"
        )
        op.execute(
            "ALTER TABLE reports ADD COLUMN reviewed_by_id INTEGER "
            "CONSTRAINT fk_reports_reviewed_by_id_people REFERENCES people (id)"
        )
        op.add_column("reports", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column("reports", sa.Column("review_reason", sa.Text(), nullable=True))
    else:
        op.add_column("reports", sa.Column("review", sa.String(length=16), nullable=False, server_default="submitted"))
        op.add_column("reports", sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        op.add_column("reports", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column("reports", sa.Column("review_reason", sa.Text(), nullable=True))
        op.create_foreign_key(op.f("fk_reports_reviewed_by_id_people"), "reports", "people", ["reviewed_by_id"], ["id"])
        op.create_check_constraint(op.f("ck_reports_review"), "reports", _STATES)
    op.create_table(
        "review_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_review_prompts_person_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_review_prompts_report_id_reports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_prompts")),
        sa.UniqueConstraint("person_id", name=op.f("uq_review_prompts_person_id")),
    )


def downgrade() -> None:
    op.drop_table("review_prompts")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("ck_reports_review", "reports", type_="check")
        op.drop_constraint("fk_reports_reviewed_by_id_people", "reports", type_="foreignkey")
    # SQLite (3.35+) drops a column only without constraints: review states are kept there.
    for column in ("review_reason", "reviewed_at") + (
        ("reviewed_by_id", "review") if op.get_bind().dialect.name != "sqlite" else ()
    ):
        op.drop_column("reports", column)
