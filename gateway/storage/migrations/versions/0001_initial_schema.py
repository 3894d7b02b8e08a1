"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 15:42:26.655363
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apps',
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_apps')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_apps_key_hash'))
    )
    op.create_table('idempotency_keys',
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('merchant_id', 'app_id', 'idempotency_key', name=op.f('pk_idempotency_keys'))
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)
    op.create_table('merchants',
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('settlement_account_verified', sa.Boolean(), nullable=False),
    sa.Column('business_category', sa.String(length=64), nullable=False),
    sa.Column('settlement_plan', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('merchant_id', name=op.f('pk_merchants'))
    )
    op.create_table('operators',
    sa.Column('operator_id', sa.String(length=40), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('operator_id', name=op.f('pk_operators')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_operators_key_hash'))
    )
    op.create_table('payments',
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('payment_id', sa.String(length=30), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('line_items', sa.JSON(), nullable=False),
    sa.Column('client', sa.JSON(), nullable=False),
    sa.Column('scenario', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('action', sa.JSON(), nullable=True),
    sa.Column('return_url', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('merchant_id', 'payment_id', name=op.f('pk_payments')),
    sa.UniqueConstraint('merchant_id', 'out_trade_no', name='uq_payments_merchant_out_trade_no')
    )
    op.create_index('ix_payments_merchant_state', 'payments', ['merchant_id', 'state', 'payment_id'], unique=False)
    op.create_table('app_merchants',
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.app_id'], name=op.f('fk_app_merchants_app_id_apps')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.merchant_id'], name=op.f('fk_app_merchants_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('merchant_id', 'app_id', name=op.f('pk_app_merchants'))
    )
    op.create_index('ix_app_merchants_app_id', 'app_merchants', ['app_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_app_merchants_app_id', table_name='app_merchants')
    op.drop_table('app_merchants')
    op.drop_index('ix_payments_merchant_state', table_name='payments')
    op.drop_table('payments')
    op.drop_table('operators')
    op.drop_table('merchants')
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_table('apps')
