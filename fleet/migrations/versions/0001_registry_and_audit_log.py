"""Registry and audit log; triggers make the audit log append-only.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 02:23:56.959436
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None



# The audit log is append-only at the database itself, whatever code connects to it.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


def _create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect, ()):
        op.execute(statement)


def _drop_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")

def upgrade() -> None:

    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_log_hash'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entity', ['entity', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_actor'), ['actor'], unique=False)

    op.create_table('jurisdictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Enum('province', 'city', 'county', name='jurisdictionlevel', native_enum=False, length=32), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['jurisdictions.id'], name=op.f('fk_jurisdictions_parent_id_jurisdictions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jurisdictions')),
    sa.UniqueConstraint('code', name=op.f('uq_jurisdictions_code'))
    )
    op.create_table('agencies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], name=op.f('fk_agencies_jurisdiction_id_jurisdictions')),
    sa.ForeignKeyConstraint(['parent_id'], ['agencies.id'], name=op.f('fk_agencies_parent_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agencies')),
    sa.UniqueConstraint('code', name=op.f('uq_agencies_code'))
    )
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agencies_jurisdiction_id'), ['jurisdiction_id'], unique=False)

    op.create_table('closed_years',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], name=op.f('fk_closed_years_jurisdiction_id_jurisdictions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closed_years')),
    sa.UniqueConstraint('jurisdiction_id', 'year', name=op.f('uq_closed_years_jurisdiction_id'))
    )
    op.create_table('drivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('licence_class', sa.Enum('A1', 'A2', 'A3', 'B1', 'B2', 'C1', 'C2', name='licenceclass', native_enum=False, length=32), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('shift_start', sa.Time(), nullable=False),
    sa.Column('shift_end', sa.Time(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_drivers_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drivers'))
    )
    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drivers_agency_id'), ['agency_id'], unique=False)

    op.create_table('plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'submitted', 'approved', 'rejected', name='planstatus', native_enum=False, length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_plans_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans'))
    )
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_year'), ['year'], unique=False)

    op.create_table('quotas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.Enum('confidential_comms', 'emergency', 'law_enforcement', 'special_technical', 'general', name='category', native_enum=False, length=32), nullable=False),
    sa.Column('vehicle_limit', sa.Integer(), nullable=False),
    sa.CheckConstraint('vehicle_limit >= 0', name=op.f('ck_quotas_limit_not_negative')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_quotas_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotas')),
    sa.UniqueConstraint('agency_id', 'category', name=op.f('uq_quotas_agency_id'))
    )
    op.create_table('plan_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('new', 'renewal', name='planlinekind', native_enum=False, length=32), nullable=False),
    sa.Column('category', sa.Enum('confidential_comms', 'emergency', 'law_enforcement', 'special_technical', 'general', name='category', native_enum=False, length=32), nullable=False),
    sa.Column('powertrain', sa.Enum('ice', 'hev', 'phev', 'bev', 'fcev', name='powertrain', native_enum=False, length=32), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('unit_price_cny', sa.BigInteger(), nullable=False),
    sa.Column('displacement_l', sa.BigInteger(), nullable=True),
    sa.Column('justification', sa.Text(), nullable=True),
    sa.Column('new_energy_exemption', sa.Text(), nullable=True),
    sa.Column('early_renewal_basis', sa.Enum('accident_beyond_repair', 'safety_hazard', 'excessive_mileage', 'other_approved', 'post_change', name='earlyrenewalbasis', native_enum=False, length=32), nullable=True),
    sa.Column('early_renewal_reason', sa.Text(), nullable=True),
    sa.Column('acquired', sa.Integer(), nullable=False),
    sa.CheckConstraint('acquired <= count', name=op.f('ck_plan_lines_acquired_within_count')),
    sa.CheckConstraint('count > 0', name=op.f('ck_plan_lines_count_positive')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_lines_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_lines'))
    )
    with op.batch_alter_table('plan_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_lines_plan_id'), ['plan_id'], unique=False)

    op.create_table('quota_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quota_id', sa.Integer(), nullable=False),
    sa.Column('old_limit', sa.Integer(), nullable=True),
    sa.Column('new_limit', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['quota_id'], ['quotas.id'], name=op.f('fk_quota_changes_quota_id_quotas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quota_changes'))
    )
    with op.batch_alter_table('quota_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quota_changes_quota_id'), ['quota_id'], unique=False)

    op.create_table('vehicles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('vin', sa.String(length=17), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.Enum('confidential_comms', 'emergency', 'law_enforcement', 'special_technical', 'general', name='category', native_enum=False, length=32), nullable=False),
    sa.Column('powertrain', sa.Enum('ice', 'hev', 'phev', 'bev', 'fcev', name='powertrain', native_enum=False, length=32), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('price_cny', sa.BigInteger(), nullable=False),
    sa.Column('displacement_l', sa.BigInteger(), nullable=True),
    sa.Column('range_km', sa.Integer(), nullable=True),
    sa.Column('acquired_on', sa.Date(), nullable=False),
    sa.Column('odometer_km', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'maintenance', 'sealed', 'disposed', name='vehiclestatus', native_enum=False, length=32), nullable=False),
    sa.Column('home_lat', sa.Double(), nullable=True),
    sa.Column('home_lon', sa.Double(), nullable=True),
    sa.Column('marking', sa.Enum('marked', 'exempt', 'unmarked', name='markingstatus', native_enum=False, length=32), nullable=False),
    sa.Column('marking_exemption', sa.String(length=500), nullable=True),
    sa.Column('source', sa.Enum('retained', 'platform', 'rental', name='vehiclesource', native_enum=False, length=32), nullable=False),
    sa.Column('plan_line_id', sa.Integer(), nullable=True),
    sa.Column('disposed_on', sa.Date(), nullable=True),
    sa.CheckConstraint('odometer_km >= 0', name=op.f('ck_vehicles_odometer_not_negative')),
    sa.CheckConstraint('seats > 0', name=op.f('ck_vehicles_seats_positive')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_vehicles_agency_id_agencies')),
    sa.ForeignKeyConstraint(['plan_line_id'], ['plan_lines.id'], name=op.f('fk_vehicles_plan_line_id_plan_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicles')),
    sa.UniqueConstraint('plate', name=op.f('uq_vehicles_plate')),
    sa.UniqueConstraint('vin', name=op.f('uq_vehicles_vin'))
    )
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vehicles_agency_id'), ['agency_id'], unique=False)

    op.create_table('cost_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('fuel', 'charging', 'maintenance', 'insurance', 'tolls', 'parking', 'other', name='costkind', native_enum=False, length=32), nullable=False),
    sa.Column('incurred_on', sa.Date(), nullable=False),
    sa.Column('amount_cny', sa.BigInteger(), nullable=False),
    sa.Column('odometer_km', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.CheckConstraint('amount_cny >= 0', name=op.f('ck_cost_entries_amount_not_negative')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_cost_entries_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_entries'))
    )
    with op.batch_alter_table('cost_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_entries_incurred_on'), ['incurred_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_cost_entries_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('disposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.Enum('auction', 'manufacturer_recycling', 'scrap', 'transfer_out', name='disposalmethod', native_enum=False, length=32), nullable=False),
    sa.Column('disposed_on', sa.Date(), nullable=False),
    sa.Column('proceeds_cny', sa.BigInteger(), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint('proceeds_cny >= 0', name=op.f('ck_disposals_proceeds_not_negative')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_disposals_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disposals')),
    sa.UniqueConstraint('vehicle_id', name=op.f('uq_disposals_vehicle_id'))
    )
    op.create_table('odometer_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('read_on', sa.Date(), nullable=False),
    sa.Column('km', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_odometer_readings_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_odometer_readings'))
    )
    with op.batch_alter_table('odometer_readings', schema=None) as batch_op:
        batch_op.create_index('ix_odometer_vehicle_on', ['vehicle_id', 'read_on'], unique=False)

    op.create_table('plan_line_replacements',
    sa.Column('plan_line_id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['plan_line_id'], ['plan_lines.id'], name=op.f('fk_plan_line_replacements_plan_line_id_plan_lines')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_plan_line_replacements_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('plan_line_id', 'vehicle_id', name=op.f('pk_plan_line_replacements'))
    )
    op.create_table('transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('from_agency_id', sa.Integer(), nullable=False),
    sa.Column('to_agency_id', sa.Integer(), nullable=False),
    sa.Column('transferred_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['from_agency_id'], ['agencies.id'], name=op.f('fk_transfers_from_agency_id_agencies')),
    sa.ForeignKeyConstraint(['to_agency_id'], ['agencies.id'], name=op.f('fk_transfers_to_agency_id_agencies')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_transfers_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_vehicle_id'), ['vehicle_id'], unique=False)
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()

    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfers_vehicle_id'))

    op.drop_table('transfers')
    op.drop_table('plan_line_replacements')
    with op.batch_alter_table('odometer_readings', schema=None) as batch_op:
        batch_op.drop_index('ix_odometer_vehicle_on')

    op.drop_table('odometer_readings')
    op.drop_table('disposals')
    with op.batch_alter_table('cost_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cost_entries_vehicle_id'))
        batch_op.drop_index(batch_op.f('ix_cost_entries_incurred_on'))

    op.drop_table('cost_entries')
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vehicles_agency_id'))

    op.drop_table('vehicles')
    with op.batch_alter_table('quota_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quota_changes_quota_id'))

    op.drop_table('quota_changes')
    with op.batch_alter_table('plan_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_lines_plan_id'))

    op.drop_table('plan_lines')
    op.drop_table('quotas')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_year'))
        batch_op.drop_index(batch_op.f('ix_plans_agency_id'))

    op.drop_table('plans')
    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drivers_agency_id'))

    op.drop_table('drivers')
    op.drop_table('closed_years')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agencies_jurisdiction_id'))

    op.drop_table('agencies')
    op.drop_table('jurisdictions')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_actor'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))
        batch_op.drop_index('ix_audit_entity')

    op.drop_table('audit_log')

