"""Faces, lists and their membership.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _account_fk() -> sa.Column:
    return sa.Column(
        "account_id", sa.String(36), sa.ForeignKey("accounts.account_id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "faces",
        sa.Column("face_id", sa.String(36), primary_key=True),
        _account_fk(),
        sa.Column("external_id", sa.String(36), nullable=False),
        sa.Column("user_data", sa.String(128), nullable=False),
        sa.Column("avatar", sa.String(256), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("descriptor", sa.LargeBinary(), nullable=True),
        sa.Column("descriptor_version", sa.Integer(), nullable=True),
        sa.Column("basic_attributes", sa.JSON(), nullable=True),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("attribute_create_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_faces_account_create", "faces", ["account_id", "create_time"])
    op.create_index("ix_faces_external_id", "faces", ["external_id"])
    op.create_index("ix_faces_event_id", "faces", ["event_id"])
    op.create_table(
        "lists",
        sa.Column("list_id", sa.String(36), primary_key=True),
        _account_fk(),
        sa.Column("user_data", sa.String(128), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lists_account_create", "lists", ["account_id", "create_time"])
    op.create_table(
        "list_faces",
        sa.Column(
            "list_id", sa.String(36), sa.ForeignKey("lists.list_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "face_id", sa.String(36), sa.ForeignKey("faces.face_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("link_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_list_faces_face", "list_faces", ["face_id"])


def downgrade() -> None:
    op.drop_table("list_faces")
    op.drop_table("lists")
    op.drop_table("faces")
