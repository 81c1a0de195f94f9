"""broadcasts people can act on: header, "report now" button, replies and answers (issue 15 point 5)

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        # "【office】sender" above the text, fixed at confirmation so a resend after a restart is identical.
        batch.add_column(sa.Column("header", sa.Text(), nullable=True))
        # The optional "report now" button: which form and period it opens.
        batch.add_column(sa.Column("report_form", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("report_period", sa.String(length=16), nullable=True))
    with op.batch_alter_table("broadcast_outbox") as batch:
        # The recipient's copy (first and last part): a Telegram reply to it names the broadcast.
        batch.add_column(sa.Column("message_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("last_message_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_broadcast_outbox_chat_message", ["chat_id", "message_id"], unique=False)
    op.create_table(
        "broadcast_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("author_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('reply', 'answer')", name=op.f("ck_broadcast_replies_kind")),
        sa.CheckConstraint("kind = 'reply' OR parent_id IS NOT NULL", name=op.f("ck_broadcast_replies_answer_has_parent")),
        sa.ForeignKeyConstraint(
            ["broadcast_id"], ["broadcasts.id"], name=op.f("fk_broadcast_replies_broadcast_id_broadcasts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["broadcast_replies.id"],
            name=op.f("fk_broadcast_replies_parent_id_broadcast_replies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_broadcast_replies_school_id_schools"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["author_id"], ["people.id"], name=op.f("fk_broadcast_replies_author_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_replies")),
    )
    op.create_index("ix_broadcast_replies_broadcast_id", "broadcast_replies", ["broadcast_id"])
    op.create_table(
        "broadcast_reply_messages",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"],
            ["broadcast_replies.id"],
            name=op.f("fk_broadcast_reply_messages_reply_id_broadcast_replies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", "message_id", name=op.f("pk_broadcast_reply_messages")),
    )


def downgrade() -> None:
    op.drop_table("broadcast_reply_messages")
    op.drop_index("ix_broadcast_replies_broadcast_id", table_name="broadcast_replies")
    op.drop_table("broadcast_replies")
    with op.batch_alter_table("broadcast_outbox") as batch:
        batch.drop_index("ix_broadcast_outbox_chat_message")
        batch.drop_column("last_message_id")
        batch.drop_column("message_id")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("report_period")
        batch.drop_column("report_form")
        batch.drop_column("header")
