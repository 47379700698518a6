"""Matching against saved events: the :class:`api.matching.EventMatching` hook of /6/matcher/faces.

References. ``event`` (by id), ``event_external_id`` and ``event_track_id`` name one event of the
caller's readable accounts (the newest with a descriptor when several share the id).

Candidates. A ``candidate_event``'s filters become the SQL conditions of
:mod:`api.storage.event_filters` (the GET /6/events vocabulary, account scope included). The
matching events' descriptors are read in chunks of :data:`CHUNK` rows (keyset pages by event id),
each chunk compared with every reference by one matrix product, and the best ``limit`` above the
threshold kept across chunks: a search returns every match above the threshold up to ``limit``,
never fewer. Events without a descriptor (or of another descriptor version) are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.descriptors import REGISTERED, Descriptor
from api.matching import SIMILARITY, EventReference, threshold_distance
from api.resources.events import FILTERS
from api.responses import select_targets
from api.storage import event_filters as ef
from api.storage.event_filters import Clause
from api.storage.lists import chunks
from api.storage.models import Event
from api.validation import q_time
from engines.face.pipeline import euclidean_distances

# Descriptors read per round trip. Higher: fewer round trips, more memory per chunk
# (50k dlib descriptors ~ 25 MB, plus the (references x chunk) distance matrix).
CHUNK = 50_000
# Request filter keys that are not event filters.
NOT_FILTERS = ("origin", "account_id", "label")
REFERENCE_COLUMNS = {
    "event": Event.event_id,
    "event_external_id": Event.external_id,
    "event_track_id": Event.track_id,
}


def _meta_type(value: Any) -> str:
    """The value defines the type: JSON integers -> integer, other numbers -> numeric, else string."""
    items = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
    if items and all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        return "integer" if all(isinstance(v, int) for v in items) else "numeric"
    return "string"


def _meta_clauses(meta: dict[str, Any], path: str) -> list[Clause]:
    """``{"path.to.field[__operator]": value}`` (the ``meta`` candidate filter)."""
    clauses = []
    for key, value in meta.items():
        try:
            parsed = ef.parse_meta_key(f"meta.{key}")
        except ValueError:
            raise errors.bad_json(f"{path}.meta", f"'{key}' is not a valid meta filter key") from None
        op = parsed.op or "eq"
        if (value is None and op not in ("eq", "neq")) or (
            op in ("in", "nin") and not isinstance(value, list)
        ):
            raise errors.bad_json(f"{path}.meta.{key}", f"value does not fit operator '{op}'")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = [("true" if v else "false") if isinstance(v, bool) else v for v in value]
        meta_type = parsed.type or _meta_type(value)
        if op in ("like", "nlike") and meta_type != "string":
            raise errors.bad_json(f"{path}.meta.{key}", f"'{op}' needs a string value")
        clauses.append(Clause(".".join(("meta", *parsed.path)), op, value, meta_type))
    return clauses


def filter_clauses(
    filters: dict[str, Any], scope: str | None, path: str = "candidates.filters"
) -> list[Clause]:
    """A ``match_candidate_event_filters_for_request`` object (schema-checked) as clauses."""
    clauses = [Clause("account_id", "eq", scope)] if scope is not None else []
    for name, value in filters.items():
        if name in NOT_FILTERS:
            continue
        if name == "meta":
            if value is not None:
                clauses += _meta_clauses(value, path)
        elif name == "geo_position":
            clauses.append(
                Clause("geo_position", "eq", None) if value is None else Clause(name, "covered", value)
            )
        elif name in FILTERS:
            _, field, op = FILTERS[name]
            if op in ("gte", "lt") and FILTERS[name][0] is q_time:
                try:
                    value = q_time(value)
                except ValueError:
                    raise errors.bad_json(f"{path}.{name}", f"'{value}' is not a valid time") from None
            elif name == "gender":
                value = [value]
            clauses.append(Clause(field, op, value))
    return clauses


class EventMatcher:
    """Event references and ``candidate_event`` candidates, straight from the events table."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self.chunk = chunk

    async def reference(
        self, session: AsyncSession, kind: str, value: str, scope: str | None
    ) -> EventReference | None:
        query = select(Event.event_id, Event.descriptor_version, Event.descriptor).where(
            REFERENCE_COLUMNS[kind] == value
        )
        if scope is not None:
            query = query.where(Event.account_id == scope)
        query = query.order_by(Event.descriptor.is_(None), Event.create_time.desc()).limit(1)
        row = (await session.execute(query)).first()
        if row is None:
            return None
        descriptor = None
        size = REGISTERED.get(row.descriptor_version) if row.descriptor_version is not None else None
        if row.descriptor is not None and size is not None and len(row.descriptor) == 4 * size:
            descriptor = Descriptor(
                row.descriptor_version, np.frombuffer(row.descriptor, "<f4").astype(np.float32)
            )
        return EventReference(row.event_id, descriptor)

    async def candidates(
        self,
        session: AsyncSession,
        descriptors: Sequence[Descriptor],
        candidate: dict[str, Any],
        scope: str | None,
    ) -> list[list[dict[str, Any]]]:
        clauses = filter_clauses(candidate["filters"], scope)
        user_defined = any(ef.is_meta(c.field) for c in clauses)
        conditions = ef.conditions(clauses, ef.dialect_of(session))
        limit, order = candidate["limit"], candidate["order"]
        found: list[list[tuple[str, float]]] = [[] for _ in descriptors]
        for version in {d.version for d in descriptors} & set(SIMILARITY):
            positions = [i for i, d in enumerate(descriptors) if d.version == version]
            queries = np.stack([descriptors[i].values for i in positions]).astype(np.float32)
            bound = threshold_distance(version, candidate["threshold"])
            best = [_Best.empty() for _ in positions]
            last: str | None = None
            while True:
                query = select(Event.event_id, Event.descriptor, Event.create_time).where(
                    *conditions, Event.descriptor.is_not(None), Event.descriptor_version == version
                )
                if last is not None:
                    query = query.where(Event.event_id > last)
                query = query.order_by(Event.event_id).limit(self.chunk)
                rows = (await ef.execute(session, query, user_defined)).all()
                if not rows:
                    break
                last = rows[-1].event_id
                usable = [r for r in rows if len(r.descriptor) == 4 * REGISTERED[version]]
                if usable:
                    ids = np.array([r.event_id for r in usable], object)
                    vectors = np.frombuffer(b"".join(r.descriptor for r in usable), "<f4").reshape(
                        len(usable), -1
                    )
                    times = np.array([_seconds(r.create_time) for r in usable], np.float64)
                    distances = euclidean_distances(queries, vectors)
                    for j, row in enumerate(distances):
                        keep = np.flatnonzero(row <= bound) if bound is not None else np.arange(len(row))
                        best[j] = best[j].merge(ids[keep], row[keep], times[keep], limit, order)
                if len(rows) < self.chunk:
                    break
            similarity = SIMILARITY[version]
            for position, hits in zip(positions, best, strict=True):
                sims = similarity(hits.distances)
                found[position] = [(str(i), float(s)) for i, s in zip(hits.ids, sims, strict=True)]
        bodies = await _bodies(session, sorted({event_id for hits in found for event_id, _ in hits}))
        targets = candidate.get("targets")
        fields = [t for t in targets if t != "similarity"] if targets is not None else None
        results = []
        for hits in found:
            items = []
            for event_id, s in hits:
                if event_id not in bodies:
                    continue  # deleted meanwhile
                item: dict[str, Any] = {"event": select_targets(bodies[event_id], fields)}
                if targets is None or "similarity" in targets:
                    item["similarity"] = round(s, 7)
                items.append(item)
            results.append(items)
        return results


def _seconds(when: datetime) -> float:
    return when.timestamp()


class _Best:
    """The best hits so far of one reference, in the requested order."""

    def __init__(self, ids: np.ndarray, distances: np.ndarray, times: np.ndarray) -> None:
        self.ids, self.distances, self.times = ids, distances, times

    @classmethod
    def empty(cls) -> _Best:
        return cls(np.empty(0, object), np.empty(0, np.float32), np.empty(0, np.float64))

    def merge(self, ids: np.ndarray, distances: np.ndarray, times: np.ndarray, k: int, order: str) -> _Best:
        if not len(ids):
            return self
        ids = np.concatenate([self.ids, ids])
        distances = np.concatenate([self.distances, distances.astype(np.float32)])
        times = np.concatenate([self.times, times])
        if order == "similarity":
            keys: tuple[np.ndarray, ...] = (times, distances)
        else:
            keys = (distances, times if order == "create_time_asc" else -times)
        best = np.lexsort(keys)[:k]
        return _Best(ids[best], distances[best], times[best])


async def _bodies(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(event_ids):
        query = select(Event.event_id, Event.body).where(Event.event_id.in_(part))
        for event_id, body in (await session.execute(query)).all():
            found[event_id] = body
    return found
