"""ORM models: one schema for SQLite and PostgreSQL.

UUIDs are stored as 36-character strings (portable, and the API speaks strings); times are
timezone-aware UTC. Changing a model needs an Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Index, LargeBinary, String
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
