"""ORM models: one schema for SQLite and PostgreSQL.

UUIDs are stored as 36-character strings (portable, and the API speaks strings); times are
timezone-aware UTC. Changing a model needs an Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

UUID_LEN = 36


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Account(Base):
    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    login: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    account_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(128), default="")
    create_time: Mapped[datetime]
    last_update_time: Mapped[datetime]


class Token(Base):
    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_account_create", "account_id", "create_time"),)

    token_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    description: Mapped[str] = mapped_column(String(128), default="")
    expiration_time: Mapped[datetime | None]
    visibility_area: Mapped[str] = mapped_column(String(16))
    permissions: Mapped[dict[str, Any]]
    create_time: Mapped[datetime]
    last_update_time: Mapped[datetime]


class Blob(Base):
    """Metadata of a stored image or sample; the bytes live in the blob folder (see BlobStore)."""

    __tablename__ = "blobs"
    __table_args__ = (Index("ix_blobs_expire", "expire_time"),)

    blob_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # image | face_sample | body_sample
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    meta: Mapped[dict[str, Any]]
    create_time: Mapped[datetime]
    expire_time: Mapped[datetime | None]


class Attribute(Base):
    """A temporary attribute: a descriptor and/or basic attributes with a time to live."""

    __tablename__ = "attributes"
    __table_args__ = (Index("ix_attributes_expire", "expire_time"),)

    attribute_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE"), index=True
    )
    descriptor: Mapped[bytes | None] = mapped_column(LargeBinary)
    descriptor_version: Mapped[int | None]
    basic_attributes: Mapped[dict[str, Any] | None]
    # {"face_descriptor_samples": [...], "basic_attributes_samples": [...]}
    samples: Mapped[dict[str, Any]]
    score: Mapped[float | None]
    create_time: Mapped[datetime]
    expire_time: Mapped[datetime]


class Face(Base):
    """A persistent face: user fields plus at most one attribute set (descriptor, basic attributes)."""

    __tablename__ = "faces"
    __table_args__ = (
        Index("ix_faces_account_create", "account_id", "create_time"),
        Index("ix_faces_external_id", "external_id"),
        Index("ix_faces_event_id", "event_id"),
    )

    face_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(36), default="")
    user_data: Mapped[str] = mapped_column(String(128), default="")
    avatar: Mapped[str] = mapped_column(String(256), default="")
    event_id: Mapped[str | None] = mapped_column(String(UUID_LEN))
    create_time: Mapped[datetime]
    # The attribute set; attribute_create_time is None when the face has none.
    descriptor: Mapped[bytes | None] = mapped_column(LargeBinary)
    descriptor_version: Mapped[int | None]
    basic_attributes: Mapped[dict[str, Any] | None]
    # {"face_descriptor_samples": [...], "basic_attributes_samples": [...]}
    samples: Mapped[dict[str, Any]]
    attribute_create_time: Mapped[datetime | None]


class FaceList(Base):
    """A list of faces (LUNA "list"); named FaceList so it does not shadow ``list``."""

    __tablename__ = "lists"
    __table_args__ = (Index("ix_lists_account_create", "account_id", "create_time"),)

    list_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    user_data: Mapped[str] = mapped_column(String(128), default="")
    create_time: Mapped[datetime]
    last_update_time: Mapped[datetime]


class ListFace(Base):
    """Membership of a face in a list; the primary key (list_id, face_id) serves "faces of a list"."""

    __tablename__ = "list_faces"
    __table_args__ = (Index("ix_list_faces_face", "face_id"),)

    list_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("lists.list_id", ondelete="CASCADE"), primary_key=True
    )
    face_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("faces.face_id", ondelete="CASCADE"), primary_key=True
    )
    link_time: Mapped[datetime]


class Handler(Base):
    """A handler: the policies that turn images or stream detections into events (CORE.md §5)."""

    __tablename__ = "handlers"
    __table_args__ = (Index("ix_handlers_account_create", "account_id", "create_time"),)

    handler_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    description: Mapped[str] = mapped_column(String(128), default="")
    handler_type: Mapped[int] = mapped_column(default=1)
    policies: Mapped[dict[str, Any]]
    create_time: Mapped[datetime]
    last_update_time: Mapped[datetime]


class Event(Base):
    """A saved event. ``body`` is the event as the API returns it; the other columns are the
    filterable values taken from it (and the face descriptor, for matching against events)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_create", "account_id", "create_time"),
        Index("ix_events_stream_create", "stream_id", "create_time"),
        Index("ix_events_handler_create", "handler_id", "create_time"),
        Index("ix_events_track", "track_id"),
        Index("ix_events_face", "face_id"),
        Index("ix_events_external", "external_id"),
        Index("ix_events_create_id", "create_time", "event_id"),
    )

    event_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    # No foreign key: events outlive the handler or stream that made them.
    handler_id: Mapped[str | None] = mapped_column(String(UUID_LEN))
    stream_id: Mapped[str | None] = mapped_column(String(UUID_LEN))
    create_time: Mapped[datetime]
    end_time: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(String(128))
    external_id: Mapped[str | None] = mapped_column(String(36))
    user_data: Mapped[str] = mapped_column(String(128), default="")
    track_id: Mapped[str | None] = mapped_column(String(36))
    face_id: Mapped[str | None] = mapped_column(String(UUID_LEN))
    top_similar_object_id: Mapped[str | None] = mapped_column(String(UUID_LEN))
    top_similar_external_id: Mapped[str | None] = mapped_column(String(36))
    top_similarity: Mapped[float | None]
    top_matching_label: Mapped[str | None] = mapped_column(String(128))
    gender: Mapped[int | None]
    age: Mapped[int | None]
    emotion: Mapped[int | None]
    mask: Mapped[int | None]
    ethnic_group: Mapped[int | None]
    liveness: Mapped[int | None]
    deepfake: Mapped[int | None]
    city: Mapped[str | None] = mapped_column(String(36))
    area: Mapped[str | None] = mapped_column(String(36))
    district: Mapped[str | None] = mapped_column(String(36))
    street: Mapped[str | None] = mapped_column(String(36))
    house_number: Mapped[str | None] = mapped_column(String(36))
    longitude: Mapped[float | None]
    latitude: Mapped[float | None]
    meta: Mapped[dict[str, Any] | None]
    descriptor: Mapped[bytes | None] = mapped_column(LargeBinary)
    descriptor_version: Mapped[int | None]
    body: Mapped[dict[str, Any]]


class EventTag(Base):
    """One tag of an event; a table so "has all these tags" is an indexed query on both backends."""

    __tablename__ = "event_tags"
    __table_args__ = (Index("ix_event_tags_tag", "tag"),)

    event_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("events.event_id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(36), primary_key=True)


class BusMessage(Base):
    """An event-bus message too large for a NOTIFY payload; kept a minute (api/bus_pg.py)."""

    __tablename__ = "bus_messages"
    __table_args__ = (Index("ix_bus_messages_created", "created"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    payload: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime]


class Agent(Base):
    """A video agent that leases streams for processing (api/agents: register, heartbeat, expiry)."""

    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    # None for agents of the server itself; an account's own (external) agents carry its id.
    account_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(512), default="")
    max_stream_count: Mapped[int]
    analytics: Mapped[list[str]] = mapped_column(JSON)  # analytic names it can run
    create_time: Mapped[datetime]
    last_seen_time: Mapped[datetime | None]


class Stream(Base):
    """A video source and the analytics to run on it (CORE.md §2).

    ``data``/``location``/``autorestart``/``analytics`` hold the request's objects (data with
    its defaults filled); ``reference`` and ``stream_type`` repeat data fields for filtering.
    ``agent_id``/``lease_expires_at`` say which agent processes the stream and until when.
    """

    __tablename__ = "streams"
    __table_args__ = (
        Index("ix_streams_account_create", "account_id", "create_time"),
        Index("ix_streams_status", "status"),
        Index("ix_streams_agent", "agent_id"),
    )

    stream_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(String(512), default="")
    stream_type: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(512))
    data: Mapped[dict[str, Any]]
    location: Mapped[dict[str, Any]]
    autorestart: Mapped[dict[str, Any]]  # {restart, attempt_count, delay}
    autorestart_status: Mapped[str] = mapped_column(String(16))
    current_attempt: Mapped[int | None]
    last_attempt_time: Mapped[datetime | None]
    analytics: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    create_time: Mapped[datetime]
    last_update_time: Mapped[datetime]
    agent_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), ForeignKey("agents.agent_id", ondelete="SET NULL")
    )
    lease_expires_at: Mapped[datetime | None]
    # Not leased again before this time: set when a failure schedules an autorestart (0008).
    retry_after: Mapped[datetime | None]


class StreamGroup(Base):
    """A named group of streams; names are unique within an account (409, 44003)."""

    __tablename__ = "stream_groups"
    __table_args__ = (
        UniqueConstraint("account_id", "group_name", name="uq_stream_groups_account_name"),
        Index("ix_stream_groups_account_create", "account_id", "create_time"),
    )

    group_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    group_name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(256), default="")
    create_time: Mapped[datetime]


class StreamGroupLink(Base):
    """Membership of a stream in a group; the key (group_id, stream_id) serves "streams of a group"."""

    __tablename__ = "stream_group_links"
    __table_args__ = (Index("ix_stream_group_links_stream", "stream_id"),)

    group_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("stream_groups.group_id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("streams.stream_id", ondelete="CASCADE"), primary_key=True
    )
    link_time: Mapped[datetime]


class StreamLog(Base):
    """One status change of a stream (GET /6/streams/logs); goes with its stream."""

    __tablename__ = "stream_logs"
    __table_args__ = (
        Index("ix_stream_logs_stream", "stream_id", "log_id"),
        Index("ix_stream_logs_account_time", "account_id", "log_time"),
        Index("ix_stream_logs_time", "log_time"),
    )

    log_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    stream_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("streams.stream_id", ondelete="CASCADE")
    )
    account_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    log_time: Mapped[datetime]
    status: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)


class StreamDelivery(Base):
    """An analytic event an agent delivered, by its id: a repeated delivery is a duplicate (0008).

    Inserted in the transaction that stores what the event produced, so an event is either
    wholly delivered or not at all; kept a week (the janitor), longer than any agent spool.
    """

    __tablename__ = "stream_deliveries"
    __table_args__ = (
        Index("ix_stream_deliveries_stream", "stream_id"),
        Index("ix_stream_deliveries_received", "received_at"),
    )

    event_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    stream_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("streams.stream_id", ondelete="CASCADE")
    )
    received_at: Mapped[datetime]
