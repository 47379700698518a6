"""Index events by (create_time, event_id): GET /6/events without a stream or account filter.

Measured by bench/events_query.py on 1,000,000 events (bench/RESULTS.md, section events_query):
the default listing (last month, newest first, no stream) took ~1.2 s on SQLite and ~0.5 s on
PostgreSQL as a full scan plus sort; with this index both read the newest rows in ~1.5 ms.
"stream_id + time range" is already served by 0004's (stream_id, create_time). event_id follows
create_time so the index also gives GET /6/events's tie-break order, and statistics `period`
bounds become range scans. The model (api/storage/models.py Event.__table_args__) should declare
the same index.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_create_id", "events", ["create_time", "event_id"])


def downgrade() -> None:
    op.drop_index("ix_events_create_id", table_name="events")
