"""board mandate administrators and refused exchanges per flow (the school's application landscape)

Revision ID: 0009_landscape
Revises: 0007_progress
Create Date: 2026-11-30 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import eduketen.core.db


revision = '0009_landscape'
down_revision = '0008_release'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('board_administrator',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('board', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('created_at', eduketen.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_administrator')),
    sa.UniqueConstraint('board', 'name', name='uq_board_administrator')
    )
    with op.batch_alter_table('board_administrator', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_board_administrator_board'), ['board'], unique=False)

    op.create_table('consent_refusal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('api', sa.String(length=40), nullable=False),
    sa.Column('source_system_id', sa.Integer(), nullable=False),
    sa.Column('receiving_system_id', sa.Integer(), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.Column('first_at', eduketen.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', eduketen.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_reason', sa.String(length=400), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_consent_refusal_school_id_school'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_system_id'], ['system.id'], name=op.f('fk_consent_refusal_source_system_id_system'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['receiving_system_id'], ['system.id'], name=op.f('fk_consent_refusal_receiving_system_id_system'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_refusal')),
    sa.UniqueConstraint('school_id', 'api', 'source_system_id', 'receiving_system_id', name='uq_consent_refusal_flow')
    )
    with op.batch_alter_table('consent_refusal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_refusal_school_id'), ['school_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consent_refusal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_refusal_school_id'))
    op.drop_table('consent_refusal')
    with op.batch_alter_table('board_administrator', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_board_administrator_board'))
    op.drop_table('board_administrator')
