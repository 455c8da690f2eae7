"""Registry and rules without holes (issue 14): go-live dates, registration bases, reminders' dates, agencies'
successors, users' scopes and offices, rental providers, trips' approval basis, back-fill and rental.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from fleet import audit, clock


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_ENUM = dict(length=32, native_enum=False)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def _add(table: str, column: sa.Column, *, references: tuple[str, str] | None = None) -> None:
    """Add a nullable column; ``references`` = (the table it refers to, the constraint name's last part)."""
    if references is None:
        op.add_column(table, column)
        return
    target, tail = references
    name = f'fk_{table}_{column.name}_{tail}'
    if _sqlite():
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column.name} INTEGER CONSTRAINT {name} REFERENCES {target} (id)')
    else:
        op.add_column(table, column)
        op.create_foreign_key(name, table, target, [column.name], ['id'])


def upgrade() -> None:
    op.create_table('rental_providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.Column('base_cny', sa.BigInteger(), nullable=False),
    sa.Column('per_km_cny', sa.BigInteger(), nullable=False),
    sa.Column('per_hour_cny', sa.BigInteger(), nullable=False),
    sa.Column('max_seats', sa.Integer(), nullable=False),
    sa.Column('contract_until', sa.Date(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('base_cny >= 0 AND per_km_cny >= 0 AND per_hour_cny >= 0',
                       name=op.f('ck_rental_providers_tariff_not_negative')),
    sa.CheckConstraint('max_seats > 0', name=op.f('ck_rental_providers_seats_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_providers')),
    sa.UniqueConstraint('code', name=op.f('uq_rental_providers_code'))
    )
    # Every new column is NULL in every row (a row's audit digest leaves NULLs out), except the go-live date,
    # set below and stated in the log. Plain ADD COLUMNs, also on SQLite (a column REFERENCES another table there
    # too): a batch copy of a table others refer to would fail its foreign keys on a database with rows.
    _add('jurisdictions', sa.Column('live_on', sa.Date(), nullable=True))
    _add('agencies', sa.Column('dissolved_on', sa.Date(), nullable=True))
    _add('agencies', sa.Column('successor_id', sa.Integer(), nullable=True), references=('agencies', 'agencies'))
    _add('vehicles', sa.Column('registration_basis', sa.Enum(
        'pre_platform_purchase', 'transfer_in', 'donation', 'confiscation', 'other_approved',
        name='registrationbasis', **_ENUM), nullable=True))
    _add('vehicles', sa.Column('rental_provider_id', sa.Integer(), nullable=True),
         references=('rental_providers', 'rental_providers'))
    for column in (sa.Column('registration_note', sa.String(length=500), nullable=True),
                   sa.Column('terminal_id', sa.String(length=20), nullable=True),
                   sa.Column('colour', sa.String(length=20), nullable=True),
                   sa.Column('insurance_expires_on', sa.Date(), nullable=True),
                   sa.Column('inspected_on', sa.Date(), nullable=True),
                   sa.Column('serviced_on', sa.Date(), nullable=True),
                   sa.Column('serviced_km', sa.Integer(), nullable=True),
                   sa.Column('service_interval_km', sa.Integer(), nullable=True),
                   sa.Column('service_interval_months', sa.Integer(), nullable=True)):
        _add('vehicles', column)
    op.create_index('uq_vehicles_terminal_id', 'vehicles', ['terminal_id'], unique=True)
    for column in (sa.Column('licence_no', sa.String(length=32), nullable=True),
                   sa.Column('licence_expires_on', sa.Date(), nullable=True),
                   sa.Column('phone', sa.String(length=20), nullable=True)):
        _add('drivers', column)
    _add('users', sa.Column('jurisdiction_id', sa.Integer(), nullable=True),
         references=('jurisdictions', 'jurisdictions'))
    _add('users', sa.Column('office', sa.Enum('discipline', 'finance', 'audit', name='oversightoffice', **_ENUM),
                            nullable=True))
    _add('trips', sa.Column('approval_basis', sa.String(length=500), nullable=True))
    _add('trips', sa.Column('backfill_reason', sa.String(length=500), nullable=True))
    _add('trips', sa.Column('rental_provider_id', sa.Integer(), nullable=True),
         references=('rental_providers', 'rental_providers'))
    _add('trips', sa.Column('rental_cost_cny', sa.BigInteger(), nullable=True))
    _add('trips', sa.Column('rental_km', sa.Double(), nullable=True))
    # A platform already running went live before this migration: the fleet it holds stays as registered, and what
    # is registered from now on is judged against today.
    today = clock.today()
    bind = op.get_bind()
    changed = bind.execute(sa.text('UPDATE jurisdictions SET live_on = :today'), {'today': today}).rowcount
    if changed:
        audit.state_rows(bind, reason='migration 0008: each jurisdiction went live on the day of the upgrade',
                         entities=['jurisdiction'])


def downgrade() -> None:
    # SQLite drops a column in place (3.35+) unless a constraint or an index names it: those tables are copied.
    for table, columns in (('trips', ('rental_km', 'rental_cost_cny', 'backfill_reason', 'approval_basis')),
                           ('users', ('office',)),
                           ('drivers', ('phone', 'licence_expires_on', 'licence_no')),
                           ('vehicles', ('service_interval_months', 'service_interval_km', 'serviced_km',
                                         'serviced_on', 'inspected_on', 'insurance_expires_on', 'colour',
                                         'registration_note', 'registration_basis')),
                           ('agencies', ('dissolved_on',)),
                           ('jurisdictions', ('live_on',))):
        for column in columns:
            op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    op.drop_index('uq_vehicles_terminal_id', 'vehicles')
    op.execute('ALTER TABLE vehicles DROP COLUMN terminal_id')
    for table, column, name in (('trips', 'rental_provider_id', 'fk_trips_rental_provider_id_rental_providers'),
                                ('vehicles', 'rental_provider_id', 'fk_vehicles_rental_provider_id_rental_providers'),
                                ('users', 'jurisdiction_id', 'fk_users_jurisdiction_id_jurisdictions'),
                                ('agencies', 'successor_id', 'fk_agencies_successor_id_agencies')):
        if _sqlite():
            with op.batch_alter_table(table) as batch_op:
                batch_op.drop_column(column)
        else:
            op.drop_constraint(name, table, type_='foreignkey')
            op.drop_column(table, column)
    op.drop_table('rental_providers')
    # Rows that had values in the dropped columns changed without the application: the log states them anew.
    audit.state_rows(op.get_bind(), reason='migration 0008 undone', entities=['jurisdiction', 'agency', 'vehicle',
                                                                               'driver', 'user', 'trip'])
