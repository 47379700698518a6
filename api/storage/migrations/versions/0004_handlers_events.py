"""Handlers, events and event tags.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UUID = sa.String(36)


def _account_fk() -> sa.Column:
    return sa.Column(
        "account_id", UUID, sa.ForeignKey("accounts.account_id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "handlers",
        sa.Column("handler_id", UUID, primary_key=True),
        _account_fk(),
        sa.Column("description", sa.String(128), nullable=False),
        sa.Column("handler_type", sa.Integer(), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handlers_account_create", "handlers", ["account_id", "create_time"])
    op.create_table(
        "events",
        sa.Column("event_id", UUID, primary_key=True),
        _account_fk(),
        sa.Column("handler_id", UUID, nullable=True),
        sa.Column("stream_id", UUID, nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(128), nullable=True),
        sa.Column("external_id", sa.String(36), nullable=True),
        sa.Column("user_data", sa.String(128), nullable=False),
        sa.Column("track_id", sa.String(36), nullable=True),
        sa.Column("face_id", UUID, nullable=True),
        sa.Column("top_similar_object_id", UUID, nullable=True),
        sa.Column("top_similar_external_id", sa.String(36), nullable=True),
        sa.Column("top_similarity", sa.Float(), nullable=True),
        sa.Column("top_matching_label", sa.String(128), nullable=True),
        *(
            sa.Column(name, sa.Integer(), nullable=True)
            for name in ("gender", "age", "emotion", "mask", "ethnic_group", "liveness", "deepfake")
        ),
        *(
            sa.Column(name, sa.String(36), nullable=True)
            for name in ("city", "area", "district", "street", "house_number")
        ),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("descriptor", sa.LargeBinary(), nullable=True),
        sa.Column("descriptor_version", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
    )
    for name, columns in (
        ("ix_events_account_create", ["account_id", "create_time"]),
        ("ix_events_stream_create", ["stream_id", "create_time"]),
        ("ix_events_handler_create", ["handler_id", "create_time"]),
        ("ix_events_track", ["track_id"]),
        ("ix_events_face", ["face_id"]),
        ("ix_events_external", ["external_id"]),
    ):
        op.create_index(name, "events", columns)
    op.create_table(
        "event_tags",
        sa.Column("event_id", UUID, sa.ForeignKey("events.event_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(36), primary_key=True),
    )
    op.create_index("ix_event_tags_tag", "event_tags", ["tag"])


def downgrade() -> None:
    op.drop_table("event_tags")
    op.drop_table("events")
    op.drop_table("handlers")
