"""Background clean-up: expired temporary data (attributes, images, samples), lost agents.

Expired rows are already invisible to every query; the janitor only reclaims their space.
Expired stream leases are also reclaimed at every agent registration and heartbeat; the sweep
covers the case where no agent is left to send one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from api.agents import leases
from api.config import AgentConfig
from api.storage import attributes as attributes_repo
from api.storage.blobs import BlobStore
from api.storage.db import Database
from api.storage.models import BusMessage, StreamDelivery

log = logging.getLogger("argus.janitor")
PERIOD_SECONDS = 60.0


BUS_MESSAGE_SECONDS = 60  # large bus messages are fetched by other processes within moments
# Delivered stream event ids are remembered this long: far longer than an agent's spool keeps
# an event it could not deliver (raising it only costs rows; lowering it below the longest
# server outage would let a retried event be stored twice).
DELIVERY_DAYS = 7


async def sweep(
    db: Database, blobs: BlobStore, lease_seconds: float = AgentConfig.lease_seconds
) -> tuple[int, int]:
    now = datetime.now(UTC)
    async with db.session() as session:
        attributes = await attributes_repo.purge_expired(session)
        cutoff = now - timedelta(seconds=BUS_MESSAGE_SECONDS)
        await session.execute(delete(BusMessage).where(BusMessage.created < cutoff))
        await session.execute(
            delete(StreamDelivery).where(StreamDelivery.received_at < now - timedelta(days=DELIVERY_DAYS))
        )
        await session.commit()
    async with db.session() as session:
        reclaimed = await leases.reclaim(session, now, lease_seconds)
        await session.commit()
    if reclaimed:
        log.info("returned %d streams of lost agents to pending", reclaimed)
    return attributes, await blobs.purge_expired()


async def run(
    db: Database,
    blobs: BlobStore,
    period: float = PERIOD_SECONDS,
    lease_seconds: float = AgentConfig.lease_seconds,
) -> None:
    while True:
        await asyncio.sleep(period)
        try:
            attributes, files = await sweep(db, blobs, lease_seconds)
            if attributes or files:
                log.info("purged %d expired attributes and %d expired images/samples", attributes, files)
        except Exception:  # the next sweep tries again; never let clean-up kill the server
            log.exception("janitor sweep failed")
