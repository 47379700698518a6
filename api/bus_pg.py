"""The event bus across server processes: PostgreSQL LISTEN/NOTIFY.

Every process publishes to its own subscribers at once and NOTIFYs the channel; the others
deliver what they hear. A NOTIFY payload must stay under 8000 bytes, so a larger message is
parked in ``bus_messages`` and the notification carries only its row id (the janitor clears
rows older than a minute). Each process tags its notifications with its own id and ignores
them when they come back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import asyncpg

from api.bus import EventBus, Published
from api.matching import MatchingService
from api.storage.db import Database

log = logging.getLogger("argus.bus")
CHANNEL = "argus_events"
FACES_CHANNEL = "argus_faces"  # matching-index changes: {"origin", "op", "account_id", "face_ids"}
INLINE_LIMIT = 7000  # bytes; PostgreSQL refuses NOTIFY payloads from 8000


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgBridge:
    def __init__(
        self, dsn: str, bus: EventBus, matching: MatchingService | None = None, db: Database | None = None
    ) -> None:
        self.dsn = dsn
        self.bus = bus
        self.matching = matching
        self.db = db
        self.origin = str(uuid.uuid4())
        self._listener: asyncpg.Connection | None = None
        self._sender: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._listener = await asyncpg.connect(self.dsn)
        await self._listener.add_listener(CHANNEL, self._heard)
        self.bus.forward = self.forward
        if self.matching is not None:
            await self._listener.add_listener(FACES_CHANNEL, self._faces_heard)
            self.matching.peers = self.share_faces

    async def stop(self) -> None:
        self.bus.forward = None
        if self.matching is not None:
            self.matching.peers = None
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        for conn in (self._listener, self._sender):
            if conn is not None:
                await conn.close()

    # -- sending ----------------------------------------------------------------------------
    def forward(self, item: Published) -> None:
        """Called by the bus after local delivery; sends in the background, never blocks."""
        task = asyncio.get_running_loop().create_task(self._send(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, item: Published) -> None:
        body = json.dumps(
            {
                "account_id": item.account_id,
                "message": item.message,
                "event": item.event,
                "event_type": item.event_type,
                "channel": item.channel,
            },
            default=str,
        )
        try:
            async with self._lock:
                if self._sender is None or self._sender.is_closed():
                    self._sender = await asyncpg.connect(self.dsn)
                if len(body.encode()) <= INLINE_LIMIT:
                    payload = json.dumps({"origin": self.origin, "item": json.loads(body)})
                else:
                    row_id = await self._sender.fetchval(
                        "INSERT INTO bus_messages (payload, created) VALUES ($1, now()) RETURNING id", body
                    )
                    payload = json.dumps({"origin": self.origin, "ref": row_id})
                await self._sender.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("could not share an event with other server processes: %s", exc)

    def share_faces(self, op: str, account_id: str, face_ids: list[str]) -> None:
        """Tell the other processes which faces changed (ids only; chunks keep NOTIFY small)."""
        for start in range(0, len(face_ids), 150):
            payload = json.dumps(
                {
                    "origin": self.origin,
                    "op": op,
                    "account_id": account_id,
                    "face_ids": face_ids[start : start + 150],
                }
            )
            self._spawn(self._notify(FACES_CHANNEL, payload))

    async def _notify(self, channel: str, payload: str) -> None:
        try:
            async with self._lock:
                if self._sender is None or self._sender.is_closed():
                    self._sender = await asyncpg.connect(self.dsn)
                await self._sender.execute("SELECT pg_notify($1, $2)", channel, payload)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("could not share a face change with other server processes: %s", exc)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _faces_heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        data = json.loads(payload)
        if data.get("origin") == self.origin or self.matching is None or self.db is None:
            return
        if data["op"] == "removed":
            self._spawn(self.matching.faces_removed(data["account_id"], data["face_ids"], from_peer=True))
        else:
            self._spawn(self.matching.faces_saved_by_peer(self.db, data["face_ids"]))

    # -- receiving --------------------------------------------------------------------------
    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        data = json.loads(payload)
        if data.get("origin") == self.origin:
            return  # our own notification: already delivered locally
        if "item" in data:
            self._deliver(data["item"])
            return
        task = asyncio.get_running_loop().create_task(self._fetch(data["ref"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, row_id: int) -> None:
        assert self._listener is not None
        body = await self._listener.fetchval("SELECT payload FROM bus_messages WHERE id = $1", row_id)
        if body is not None:
            self._deliver(json.loads(body))

    def _deliver(self, item: dict[str, Any]) -> None:
        self.bus.deliver(
            Published(
                item["account_id"],
                item["message"],
                item["event"],
                item["event_type"],
                item.get("channel", "events"),
            )
        )
