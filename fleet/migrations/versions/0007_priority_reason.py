"""A booking's stated reason for an emergency or law-enforcement priority (应急事由) (issue 13).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 13:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

from fleet import audit


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL in every row: a row's audit digest leaves NULLs out, so every trip is still as the log states it.
    with op.batch_alter_table('trips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority_reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trips', schema=None) as batch_op:
        batch_op.drop_column('priority_reason')
    # The trips that had a reason changed without the application: the log states them anew.
    audit.state_rows(op.get_bind(), reason="migration 0007 undone: trips without a priority reason", entities=["trip"])
