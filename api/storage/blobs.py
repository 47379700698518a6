"""Images and samples: bytes in files under ``<data_dir>/blobs``, metadata in SQL.

A write puts the file first (temp name + atomic rename), then commits the row; if the commit
fails the file is removed, so a failed request never leaves half an object behind. A row
without its file (disk trouble) reads as "not found" rather than a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.db import Database
from api.storage.models import Blob

KINDS = ("image", "face_sample", "body_sample")


@dataclass(frozen=True)
class StoredBlob:
    row: Blob
    data: bytes


class BlobStore:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        for kind in KINDS:
            (root / kind).mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, blob_id: str) -> Path:
        return self.root / kind / blob_id

    def _row(
        self,
        account_id: str,
        kind: str,
        data: bytes,
        content_type: str,
        ttl_days: int | None,
        meta: dict[str, Any] | None = None,
        blob_id: str | None = None,
    ) -> Blob:
        now = datetime.now(UTC)
        return Blob(
            blob_id=blob_id or str(uuid.uuid4()),
            account_id=account_id,
            kind=kind,
            content_type=content_type,
            size=len(data),
            meta=meta or {},
            create_time=now,
            expire_time=now + timedelta(days=ttl_days) if ttl_days not in (None, -1) else None,
        )

    async def stage(
        self,
        session: AsyncSession,
        written: list[Path],
        account_id: str,
        kind: str,
        data: bytes,
        content_type: str,
        ttl_days: int | None = None,
    ) -> Blob:
        """Write the file and add the row to the caller's transaction (SQLite has one writer: a
        second session here would wait on the caller's own lock). The caller commits and, if that
        fails, removes the files listed in ``written``."""
        row = self._row(account_id, kind, data, content_type, ttl_days)
        target = self.path(kind, row.blob_id)
        await asyncio.to_thread(_write_atomic, target, data)
        written.append(target)
        session.add(row)
        return row

    async def put(
        self,
        account_id: str,
        kind: str,
        data: bytes,
        content_type: str,
        ttl_days: int | None = None,
        meta: dict[str, Any] | None = None,
        blob_id: str | None = None,
    ) -> Blob:
        row = self._row(account_id, kind, data, content_type, ttl_days, meta, blob_id)
        target = self.path(kind, row.blob_id)
        await asyncio.to_thread(_write_atomic, target, data)
        try:
            async with self.db.session() as session:
                session.add(row)
                await session.commit()
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return row

    async def head(self, kind: str, blob_id: str, account_id: str | None) -> Blob | None:
        """The live row of this kind, or None (absent, expired or another account's)."""
        async with self.db.session() as session:
            row = await session.get(Blob, blob_id)
        if row is None or row.kind != kind or (account_id is not None and row.account_id != account_id):
            return None
        if row.expire_time is not None and row.expire_time <= datetime.now(UTC):
            return None
        return row

    async def get(self, kind: str, blob_id: str, account_id: str | None) -> StoredBlob | None:
        row = await self.head(kind, blob_id, account_id)
        if row is None:
            return None
        try:
            data = await asyncio.to_thread(self.path(kind, blob_id).read_bytes)
        except FileNotFoundError:
            return None
        return StoredBlob(row, data)

    async def delete(self, kind: str, blob_id: str, account_id: str | None) -> bool:
        row = await self.head(kind, blob_id, account_id)
        if row is None:
            return False
        async with self.db.session() as session:
            await session.execute(delete(Blob).where(Blob.blob_id == blob_id))
            await session.commit()
        self.path(kind, blob_id).unlink(missing_ok=True)
        return True

    async def purge_expired(self) -> int:
        """Delete expired blobs (rows and files); returns how many."""
        now = datetime.now(UTC)
        async with self.db.session() as session:
            expired = (
                await session.execute(select(Blob.blob_id, Blob.kind).where(Blob.expire_time <= now))
            ).all()
            if expired:
                await session.execute(delete(Blob).where(Blob.blob_id.in_([b for b, _ in expired])))
                await session.commit()
        for blob_id, kind in expired:
            self.path(kind, blob_id).unlink(missing_ok=True)
        return len(expired)


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
