"""Blobs (images, samples) and temporary attributes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _account_fk() -> sa.Column:
    return sa.Column(
        "account_id", sa.String(36), sa.ForeignKey("accounts.account_id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("blob_id", sa.String(36), primary_key=True),
        _account_fk(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_blobs_account_id", "blobs", ["account_id"])
    op.create_index("ix_blobs_expire", "blobs", ["expire_time"])
    op.create_table(
        "attributes",
        sa.Column("attribute_id", sa.String(36), primary_key=True),
        _account_fk(),
        sa.Column("descriptor", sa.LargeBinary(), nullable=True),
        sa.Column("descriptor_version", sa.Integer(), nullable=True),
        sa.Column("basic_attributes", sa.JSON(), nullable=True),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_attributes_account_id", "attributes", ["account_id"])
    op.create_index("ix_attributes_expire", "attributes", ["expire_time"])


def downgrade() -> None:
    op.drop_table("attributes")
    op.drop_table("blobs")
