"""Bookings, assignments, users, dispatch runs; no vehicle or driver is ever booked twice at once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:14:08.730056
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# A vehicle (or driver) cannot hold two active assignments whose [starts_at, ends_at) intervals overlap. The database
# itself refuses it, so no code path, race or manual edit can double-book: PostgreSQL with exclusion constraints
# (btree_gist lets an integer equality share a GiST index with the range overlap), SQLite with triggers, which its
# single writer (BEGIN IMMEDIATE) makes race-free.
_OVERLAP = """EXISTS (SELECT 1 FROM assignments AS a WHERE a.active AND a.id != NEW.id
       AND a.{column} = NEW.{column} AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at)"""
SQLITE_TRIGGERS = tuple(
    f"""CREATE TRIGGER assignments_no_{column}_overlap_{event.split()[0].lower()} BEFORE {event} ON assignments
       WHEN NEW.active AND NEW.{column} IS NOT NULL AND {_OVERLAP.format(column=column)}
       BEGIN SELECT RAISE(ABORT, 'assignment overlaps another of the same {column}'); END"""
    for column in ("vehicle_id", "driver_id")
    for event in ("INSERT", "UPDATE OF active, vehicle_id, driver_id, starts_at, ends_at")
)
POSTGRES_CONSTRAINTS = (
    "CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public",
    """ALTER TABLE assignments ADD CONSTRAINT ex_assignments_vehicle_overlap
       EXCLUDE USING gist (vehicle_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (active)""",
    """ALTER TABLE assignments ADD CONSTRAINT ex_assignments_driver_overlap
       EXCLUDE USING gist (driver_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (active AND driver_id IS NOT NULL)""",
)


def upgrade() -> None:
    op.create_table('dispatch_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('time_limit_s', sa.Double(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_runs'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.Enum('requester', 'approver', 'dispatcher', 'driver', 'supervisor', 'admin', name='role', native_enum=False, length=32), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_users_agency_id_agencies')),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_users_driver_id_drivers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_users_token_hash'))
    )
    op.create_table('trips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('priority', sa.Enum('emergency', 'law_enforcement', 'routine', name='priority', native_enum=False, length=32), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('passengers', sa.Integer(), nullable=False),
    sa.Column('pickup_lat', sa.Double(), nullable=False),
    sa.Column('pickup_lon', sa.Double(), nullable=False),
    sa.Column('pickup_address', sa.String(length=200), nullable=False),
    sa.Column('dropoff_lat', sa.Double(), nullable=False),
    sa.Column('dropoff_lon', sa.Double(), nullable=False),
    sa.Column('dropoff_address', sa.String(length=200), nullable=False),
    sa.Column('earliest_pickup', sa.DateTime(timezone=True), nullable=False),
    sa.Column('latest_pickup', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dwell_min', sa.Integer(), nullable=False),
    sa.Column('planned_km', sa.Double(), nullable=False),
    sa.Column('status', sa.Enum('requested', 'approved', 'rejected', 'assigned', 'in_progress', 'completed', 'cancelled', name='tripstatus', native_enum=False, length=32), nullable=False),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('odometer_start_km', sa.Integer(), nullable=True),
    sa.Column('odometer_end_km', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('request_digest', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('latest_pickup >= earliest_pickup', name=op.f('ck_trips_window_ordered')),
    sa.CheckConstraint('odometer_end_km IS NULL OR odometer_end_km >= odometer_start_km', name=op.f('ck_trips_odometer_ordered')),
    sa.CheckConstraint('passengers > 0', name=op.f('ck_trips_passengers_positive')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_trips_agency_id_agencies')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_trips_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trips')),
    sa.UniqueConstraint('requested_by_id', 'idempotency_key', name=op.f('uq_trips_requested_by_id'))
    )
    with op.batch_alter_table('trips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trips_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index('ix_trips_status_pickup', ['status', 'earliest_pickup'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.Enum('dispatch', 'urgent', 'manual', name='assignmentsource', native_enum=False, length=32), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_assignments_interval_ordered')),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_assignments_driver_id_drivers')),
    sa.ForeignKeyConstraint(['run_id'], ['dispatch_runs.id'], name=op.f('fk_assignments_run_id_dispatch_runs')),
    sa.ForeignKeyConstraint(['trip_id'], ['trips.id'], name=op.f('fk_assignments_trip_id_trips')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_assignments_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_driver_starts', ['driver_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_assignments_vehicle_starts', ['vehicle_id', 'starts_at'], unique=False)
        batch_op.create_index('uq_assignments_active_trip', ['trip_id'], unique=True, sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_CONSTRAINTS}.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    # The triggers and exclusion constraints go with the table.
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_assignments_active_trip', sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
        batch_op.drop_index('ix_assignments_vehicle_starts')
        batch_op.drop_index('ix_assignments_driver_starts')

    op.drop_table('assignments')
    with op.batch_alter_table('trips', schema=None) as batch_op:
        batch_op.drop_index('ix_trips_status_pickup')
        batch_op.drop_index(batch_op.f('ix_trips_agency_id'))

    op.drop_table('trips')
    op.drop_table('users')
    op.drop_table('dispatch_runs')
