"""Telematics (issue 15): registered JT/T 808 terminals, positions (partitioned by month on PostgreSQL), each
vehicle's latest fix, and raw frames kept for a while.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 11:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_SOURCE = sa.Enum('jt808', 'osmand', name='positionsource', length=32, native_enum=False)


def upgrade() -> None:
    op.create_table('terminals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('auth_digest', sa.String(length=64), nullable=False),
    sa.Column('protocol_version', sa.Integer(), nullable=True),
    sa.Column('province', sa.Integer(), nullable=False),
    sa.Column('city', sa.Integer(), nullable=False),
    sa.Column('maker', sa.String(length=11), nullable=False),
    sa.Column('model', sa.String(length=30), nullable=False),
    sa.Column('device_no', sa.String(length=30), nullable=False),
    sa.Column('plate_colour', sa.Integer(), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_terminals_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terminals')),
    sa.UniqueConstraint('phone', name=op.f('uq_terminals_phone'))
    )
    op.create_index('uq_terminals_active_vehicle', 'terminals', ['vehicle_id'], unique=True,
                    sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
    # Partitions of positions are made by fleet.positions when a month's first fix comes (no DEFAULT partition: a
    # month could not be split off it later while it held that month's rows).
    op.create_table('positions',
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('fixed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('speed_kmh', sa.Double(), nullable=False),
    sa.Column('course', sa.Integer(), nullable=True),
    sa.Column('altitude_m', sa.Integer(), nullable=True),
    sa.Column('accuracy_m', sa.Double(), nullable=True),
    sa.Column('acc', sa.Boolean(), nullable=True),
    sa.Column('alarm', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.BigInteger(), nullable=True),
    sa.Column('mileage_km', sa.Double(), nullable=True),
    sa.Column('source', _SOURCE, nullable=False),
    sa.Column('backfill', sa.Boolean(), nullable=False),
    sa.Column('extras', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_positions_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('vehicle_id', 'fixed_at', name=op.f('pk_positions')),
    postgresql_partition_by='RANGE (fixed_at)'
    )
    op.create_table('latest_positions',
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('fixed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('speed_kmh', sa.Double(), nullable=False),
    sa.Column('course', sa.Integer(), nullable=True),
    sa.Column('acc', sa.Boolean(), nullable=True),
    sa.Column('alarm', sa.BigInteger(), nullable=False),
    sa.Column('source', _SOURCE, nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_latest_positions_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('vehicle_id', name=op.f('pk_latest_positions'))
    )
    op.create_table('raw_frames',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', _SOURCE, nullable=False),
    sa.Column('device', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_frames'))
    )
    op.create_index(op.f('ix_raw_frames_received_at'), 'raw_frames', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_raw_frames_received_at'), table_name='raw_frames')
    op.drop_table('raw_frames')
    op.drop_table('latest_positions')
    op.drop_table('positions')  # its partitions go with it on PostgreSQL
    op.drop_index('uq_terminals_active_vehicle', table_name='terminals')
    op.drop_table('terminals')
