"""Dispatch runs that hold their window while they solve (issue 12).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:40:00.000000
"""

from alembic import op
import sqlalchemy as sa

from fleet import audit


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs recorded before this revision all finished (they ran inside one transaction).
    op.add_column('dispatch_runs', sa.Column(
        'status', sa.Enum('running', 'done', 'failed', name='runstatus', native_enum=False, length=32),
        nullable=False, server_default='done'))
    op.add_column('dispatch_runs', sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('dispatch_runs', sa.Column('holder', sa.String(length=200), nullable=True))
    op.create_index('ix_dispatch_runs_status', 'dispatch_runs', ['status'])
    op.add_column('trips', sa.Column('dispatch_note', sa.String(length=500), nullable=True))
    # The runs' new status column changed their rows' audited state: the log states them again.
    audit.state_rows(op.get_bind(), reason="migration 0005: dispatch runs given a status", entities=["dispatch_run"])


def downgrade() -> None:
    op.drop_column('trips', 'dispatch_note')
    op.drop_index('ix_dispatch_runs_status', 'dispatch_runs')
    op.drop_column('dispatch_runs', 'holder')
    op.drop_column('dispatch_runs', 'finished_at')
    op.drop_column('dispatch_runs', 'status')
    audit.state_rows(op.get_bind(), reason="migration 0005 undone: dispatch runs without a status",
                     entities=["dispatch_run"])
