"""The audit log's keyed MACs and row digests (issue 12).

Records written before this revision keep NULL in both columns: they cannot be MAC'd after the fact without
vouching for whatever the table holds now. Instead, on a database that already has records or rows, this
migration appends ``audit.upgraded`` records, MAC'd under the audit key (``fleet.settings.audit_key``, so run it
with the application's key), stating every audited row as it stands. ``audit verify`` accepts records without a MAC
only before such a record: its MAC covers its ``prev_hash``, and so pins every record before it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:40:00.000000
"""

from alembic import op
import sqlalchemy as sa

from fleet import audit


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_log', sa.Column('mac', sa.String(length=64), nullable=True))
    op.add_column('audit_log', sa.Column('state', sa.JSON(), nullable=True))
    audit.state_rows(op.get_bind(), reason="migration 0003: the rows as they stood when the log began stating them")


def downgrade() -> None:
    keyed = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE mac IS NOT NULL")).scalar_one()
    if keyed:
        # Their hashes cover their state: without the column they would no longer verify, and the log can only grow.
        raise RuntimeError(f"cannot downgrade below 0003: {keyed} audit records carry a MAC and a row state")
    op.drop_column('audit_log', 'state')
    op.drop_column('audit_log', 'mac')
