"""Streams, stream groups and their links, stream logs, and video agents.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


def _account_fk(nullable: bool = False) -> sa.Column:
    return sa.Column(
        "account_id",
        sa.String(36),
        sa.ForeignKey("accounts.account_id", ondelete="CASCADE"),
        nullable=nullable,
    )


def _stream_fk() -> sa.ForeignKey:
    return sa.ForeignKey("streams.stream_id", ondelete="CASCADE")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(36), primary_key=True),
        _account_fk(nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(512), nullable=False),
        sa.Column("max_stream_count", sa.Integer(), nullable=False),
        sa.Column("analytics", sa.JSON(), nullable=False),
        _time("create_time"),
        _time("last_seen_time", nullable=True),
    )
    op.create_index("ix_agents_account_id", "agents", ["account_id"])
    op.create_table(
        "streams",
        sa.Column("stream_id", sa.String(36), primary_key=True),
        _account_fk(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(512), nullable=False),
        sa.Column("stream_type", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(512), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("location", sa.JSON(), nullable=False),
        sa.Column("autorestart", sa.JSON(), nullable=False),
        sa.Column("autorestart_status", sa.String(16), nullable=False),
        sa.Column("current_attempt", sa.Integer(), nullable=True),
        _time("last_attempt_time", nullable=True),
        sa.Column("analytics", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("create_time"),
        _time("last_update_time"),
        sa.Column(
            "agent_id", sa.String(36), sa.ForeignKey("agents.agent_id", ondelete="SET NULL"), nullable=True
        ),
        _time("lease_expires_at", nullable=True),
    )
    op.create_index("ix_streams_account_create", "streams", ["account_id", "create_time"])
    op.create_index("ix_streams_status", "streams", ["status"])
    op.create_index("ix_streams_agent", "streams", ["agent_id"])
    op.create_table(
        "stream_groups",
        sa.Column("group_id", sa.String(36), primary_key=True),
        _account_fk(),
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        _time("create_time"),
        sa.UniqueConstraint("account_id", "group_name", name="uq_stream_groups_account_name"),
    )
    op.create_index("ix_stream_groups_account_create", "stream_groups", ["account_id", "create_time"])
    op.create_table(
        "stream_group_links",
        sa.Column(
            "group_id",
            sa.String(36),
            sa.ForeignKey("stream_groups.group_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream_id", sa.String(36), _stream_fk(), primary_key=True),
        _time("link_time"),
    )
    op.create_index("ix_stream_group_links_stream", "stream_group_links", ["stream_id"])
    op.create_table(
        "stream_logs",
        sa.Column("log_id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("stream_id", sa.String(36), _stream_fk(), nullable=False),
        _account_fk(),
        _time("log_time"),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_stream_logs_stream", "stream_logs", ["stream_id", "log_id"])
    op.create_index("ix_stream_logs_account_time", "stream_logs", ["account_id", "log_time"])
    op.create_index("ix_stream_logs_time", "stream_logs", ["log_time"])


def downgrade() -> None:
    op.drop_table("stream_logs")
    op.drop_table("stream_group_links")
    op.drop_table("stream_groups")
    op.drop_table("streams")
    op.drop_table("agents")
