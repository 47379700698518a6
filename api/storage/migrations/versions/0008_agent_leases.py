"""Agent leases: when a failed stream may be retried, and the stream events agents delivered.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("streams", sa.Column("retry_after", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "stream_deliveries",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column(
            "stream_id",
            sa.String(36),
            sa.ForeignKey("streams.stream_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stream_deliveries_stream", "stream_deliveries", ["stream_id"])
    op.create_index("ix_stream_deliveries_received", "stream_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_table("stream_deliveries")
    # Batch mode: SQLite cannot drop a column in place on every version Alembic supports.
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("retry_after")
