"""Users' tokens and sessions that expire (issue 12).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:40:00.000000
"""

from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa

from fleet import audit
from fleet.settings import get_settings


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tokens issued before expiry existed work for one full lifetime from now, so no caller is locked out by it.
    expires = datetime.now(UTC) + timedelta(days=get_settings().token_days)
    sqlite = op.get_bind().dialect.name == 'sqlite'
    # SQLite adds a NOT NULL column only with a constant default (and drops a default only by rebuilding the
    # table, which the foreign keys onto users forbid): there the constant stays, in SQLAlchemy's SQLite text
    # form; the application always sets the column.
    literal = expires.strftime('%Y-%m-%d %H:%M:%S.%f') if sqlite else expires.isoformat()
    op.add_column('users', sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=False,
                                     server_default=sa.text(f"'{literal}'")))
    if not sqlite:
        op.alter_column('users', 'token_expires_at', server_default=None)
    # The users' rows changed without the application: the log states them anew, or `audit verify` would not.
    audit.state_rows(op.get_bind(), reason="migration 0004: users' tokens given an expiry", entities=["user"])


def downgrade() -> None:
    op.drop_column('users', 'token_expires_at')
    audit.state_rows(op.get_bind(), reason="migration 0004 undone: users' tokens without an expiry", entities=["user"])
