"""reminder sends and staff digests (issue 4)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATUS = "status IN ('pending', 'claimed', 'sent', 'retry', 'blocked', 'failed', 'skipped')"


def upgrade() -> None:
    op.create_table(
        "reminder_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("form_key", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.String(length=32), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(_STATUS, name=op.f("ck_reminder_sends_status")),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["people.id"], name=op.f("fk_reminder_sends_recipient_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_reminder_sends_school_id_schools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_sends")),
        sa.UniqueConstraint("form_key", "period", "slot", "school_id", "recipient_id", name="uq_reminder_sends_key"),
    )
    with op.batch_alter_table("reminder_sends", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_sends_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminder_sends_recipient_id"), ["recipient_id"], unique=False)

    op.create_table(
        "digest_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_STATUS, name=op.f("ck_digest_sends_status")),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["people.id"], name=op.f("fk_digest_sends_recipient_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_sends")),
        sa.UniqueConstraint("kind", "day", "recipient_id", name="uq_digest_sends_key"),
    )
    with op.batch_alter_table("digest_sends", schema=None) as batch_op:
        batch_op.create_index("ix_digest_sends_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("digest_sends", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_sends_status")
    op.drop_table("digest_sends")
    with op.batch_alter_table("reminder_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_sends_recipient_id"))
        batch_op.drop_index("ix_reminder_sends_status")
    op.drop_table("reminder_sends")
