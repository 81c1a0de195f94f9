"""deputies: people and invites may have the role reporter, bound to a school like a principal

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TABLES = {
    # table: (roles before, roles after)
    "people": ("'principal', 'staff', 'admin'", "'principal', 'reporter', 'staff', 'admin'"),
    "invites": ("'principal', 'staff'", "'principal', 'reporter', 'staff'"),
}


def _recreate_checks(table: str, roles: str, school_rule: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_role"), type_="check")
        batch_op.drop_constraint(op.f(f"ck_{table}_principal_has_school"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_role"), f"role IN ({roles})")
        batch_op.create_check_constraint(op.f(f"ck_{table}_principal_has_school"), school_rule)


def upgrade() -> None:
    for table, (_, after) in _TABLES.items():
        _recreate_checks(table, after, "role NOT IN ('principal', 'reporter') OR school_id IS NOT NULL")


def downgrade() -> None:
    # Deputies cannot exist before this revision: they lose their role (history stays with the rows).
    op.execute("UPDATE people SET role = 'principal' WHERE role = 'reporter'")
    op.execute("UPDATE invites SET used_at = created_at WHERE role = 'reporter' AND used_at IS NULL")
    op.execute("UPDATE invites SET role = 'principal' WHERE role = 'reporter'")
    for table, (before, _) in _TABLES.items():
        _recreate_checks(table, before, "role <> 'principal' OR school_id IS NOT NULL")
