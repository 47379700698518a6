"""Background clean-up of expired temporary data (attributes, images, samples).

Expired rows are already invisible to every query; the janitor only reclaims their space.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from api.storage import attributes as attributes_repo
from api.storage.blobs import BlobStore
from api.storage.db import Database
from api.storage.models import BusMessage

log = logging.getLogger("argus.janitor")
PERIOD_SECONDS = 60.0


BUS_MESSAGE_SECONDS = 60  # large bus messages are fetched by other processes within moments


async def sweep(db: Database, blobs: BlobStore) -> tuple[int, int]:
    async with db.session() as session:
        attributes = await attributes_repo.purge_expired(session)
        cutoff = datetime.now(UTC) - timedelta(seconds=BUS_MESSAGE_SECONDS)
        await session.execute(delete(BusMessage).where(BusMessage.created < cutoff))
        await session.commit()
    return attributes, await blobs.purge_expired()


async def run(db: Database, blobs: BlobStore, period: float = PERIOD_SECONDS) -> None:
    while True:
        await asyncio.sleep(period)
        try:
            attributes, files = await sweep(db, blobs)
            if attributes or files:
                log.info("purged %d expired attributes and %d expired images/samples", attributes, files)
        except Exception:  # the next sweep tries again; never let clean-up kill the server
            log.exception("janitor sweep failed")
