"""The agent's on-disk event spool: an event counts as emitted once it is on disk, not on the wire.

Each batch a stream emits becomes one file ``<seq>_<stream_id>_<count>.msgpack`` under
``<data_dir>/agent/spool/`` holding exactly the body the server's events endpoint takes
(``{"events": [...]}``, images as msgpack bin). Files are written to a temporary name, fsynced
and renamed (then the folder fsynced), so a crash leaves either the whole batch or nothing.
The sequence number orders delivery and survives restarts: leftovers are delivered first, with
their event ids unchanged, so the server's de-duplication makes redelivery harmless.

The spool is bounded by ``agent.spool_max_bytes``: when the server stays away that long, the
oldest batches are dropped (and counted in the log) rather than filling the disk.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

log = logging.getLogger("argus.agent.spool")

_NAME = re.compile(r"^(\d{12})_([A-Za-z0-9-]{1,64})_(\d+)\.msgpack$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class Batch:
    """One spooled POST body: ``count`` events of ``stream_id``, ``size`` bytes on disk."""

    seq: int
    stream_id: str
    count: int
    size: int

    @property
    def name(self) -> str:
        return f"{self.seq:012d}_{self.stream_id}_{self.count}.msgpack"


def _plain(value: Any) -> Any:
    """msgpack fallback for numpy values an analytic may leave in a result."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} in a stream event")


def pack_events(events: list[dict[str, Any]]) -> bytes:
    return msgpack.packb({"events": events}, use_bin_type=True, default=_plain)


class Spool:
    """Ordered, bounded, crash-safe batches of stream events; thread-safe."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.dropped = 0  # events dropped over the byte bound since start
        self._batches: OrderedDict[int, Batch] = OrderedDict()
        self._bytes = 0
        self._events: dict[str, int] = {}  # undelivered events per stream
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        folder.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        """Index what a previous run left: whole batches in order; half-written ones removed."""
        found: list[Batch] = []
        for path in self.folder.iterdir():
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                continue
            match = _NAME.match(path.name)
            if match is None or not path.is_file():
                continue
            seq, stream_id, count = int(match[1]), match[2], int(match[3])
            found.append(Batch(seq, stream_id, count, path.stat().st_size))
        for batch in sorted(found, key=lambda b: b.seq):
            self._add(batch)
        self._next = max((b.seq for b in found), default=-1) + 1
        if found:
            log.info(
                "event spool: %d undelivered events in %d batches from the last run",
                sum(b.count for b in found),
                len(found),
            )

    def subscribe(self, callback: Callable[[], None]) -> None:
        """``callback()`` after every ``put`` (the sender's wake-up)."""
        self._listeners.append(callback)

    # -- writing -------------------------------------------------------------------------------

    def put(self, stream_id: str, events: list[dict[str, Any]]) -> None:
        """Store a batch durably; returns once it is on disk (fsynced)."""
        if not _SAFE_ID.match(stream_id):
            raise ValueError(f"stream id {stream_id!r} cannot name a spool file")
        body = pack_events(events)
        with self._lock:
            if len(body) > self.max_bytes:
                self._count_dropped(len(events), 1, "a batch larger than the whole spool")
                return
            self._make_room(len(body))
            batch = Batch(self._next, stream_id, len(events), len(body))
            self._next += 1
            self._write(batch, body)
            self._add(batch)
        for callback in self._listeners:
            callback()

    def _add(self, batch: Batch) -> None:
        self._batches[batch.seq] = batch
        self._bytes += batch.size
        self._events[batch.stream_id] = self._events.get(batch.stream_id, 0) + batch.count

    def _forget(self, batch: Batch) -> None:
        """Drop from the index and the disk (the lock is held)."""
        del self._batches[batch.seq]
        self._bytes -= batch.size
        left = self._events.pop(batch.stream_id, 0) - batch.count
        if left > 0:
            self._events[batch.stream_id] = left
        (self.folder / batch.name).unlink(missing_ok=True)

    def _write(self, batch: Batch, body: bytes) -> None:
        final = self.folder / batch.name
        temporary = final.with_name(final.name + ".tmp")
        with temporary.open("wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)

    def _make_room(self, size: int) -> None:
        events = batches = 0
        while self._batches and self._bytes + size > self.max_bytes:
            oldest = next(iter(self._batches.values()))
            self._forget(oldest)
            events += oldest.count
            batches += 1
        if batches:
            self._count_dropped(events, batches, f"the spool is full ({self.max_bytes} bytes)")

    def _count_dropped(self, events: int, batches: int, why: str) -> None:
        self.dropped += events
        log.error(
            "event spool: dropped the %d oldest undelivered events (%d batches): %s; %d dropped so far",
            events,
            batches,
            why,
            self.dropped,
        )

    # -- reading (the sender) ------------------------------------------------------------------

    def oldest(self) -> Batch | None:
        with self._lock:
            return next(iter(self._batches.values()), None)

    def read(self, batch: Batch) -> bytes | None:
        """The batch's body; None when it was dropped meanwhile."""
        try:
            return (self.folder / batch.name).read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, batch: Batch) -> None:
        """Delivered (or refused for good): forget it."""
        with self._lock:
            if batch.seq in self._batches:
                self._forget(batch)

    def drop_stream(self, stream_id: str) -> int:
        """Forget every batch of a stream the server no longer has; returns the event count."""
        with self._lock:
            gone = [b for b in self._batches.values() if b.stream_id == stream_id]
            for batch in gone:
                self._forget(batch)
        return sum(b.count for b in gone)

    def pending(self, stream_id: str) -> int:
        """Undelivered events of a stream."""
        with self._lock:
            return self._events.get(stream_id, 0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._batches)

    @property
    def size(self) -> int:
        with self._lock:
            return self._bytes
