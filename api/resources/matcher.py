"""/6/matcher: faces 1:N against stored faces and attributes, raw descriptors, bodies (CORE.md §9).

Request bodies are checked against the spec's generated schemas (``api/spec/schemas``), with
the descriptor ``version`` enums widened to the versions Argus registers (its dlib descriptor
is version 100, outside LUNA's list).

Errors. A reference that does not exist gets the spec's per-reference error inside a 200 reply
(example ``nonexistent_references_errors``: 22002 face, 22011 attribute, 11041 external id);
candidates that match nothing give an empty ``result``. Malformed input answers 400: 12022
schema, 18001 base64, 12034 length, 12038 SDK descriptor, 12037 unregistered version (the code
the spec's matcher examples use; /6/attributes uses 12036), 12035 XPK (Argus reads no XPK
files), 11034 a reference without a descriptor. Event references (23001 / 11057 / 11058 when
missing) and ``candidate_event`` candidates go through ``MatchingService.events``
(api/event_matching.py, installed at start-up); without it they answer 403 11040.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.matching import DescriptorIndex
from api import descriptors, errors
from api.auth import Principal, require
from api.errors import LunaError
from api.keys import DB, MATCHING
from api.matching import ORDERS, SIMILARITY, MatchingService, threshold_distance
from api.resources.attributes import to_body as attribute_body
from api.resources.faces import to_json as face_json
from api.resources.match_references import events_disabled, parse_entity, resolve
from api.responses import principal, respond, select_targets
from api.spec.schemas import schema, with_defaults
from api.storage import attributes as attributes_repo
from api.storage import lists as lists_repo
from api.storage.faces import FaceFilter
from api.storage.lists import chunks
from api.storage.models import Attribute
from api.validation import parse_query, q_time, q_uuid, read_json_or_msgpack
from engines.face.pipeline import euclidean_distances

ATTRIBUTE_FIELDS = [
    "attribute_id",
    "account_id",
    "basic_attributes",
    "basic_attributes_samples",
    "face_descriptor_samples",
    "create_time",
]
# /6/matcher/raw answers every reference x candidate pair; the spec sets no size limit, so the
# pairs of one request are capped (1M pairs ~ 50 MB of JSON). Raising it raises memory per request.
MAX_RAW_PAIRS = 1_000_000


def _argus_versions(spec: Any) -> Any:
    """A copy of a request schema whose face descriptor ``version`` enums list Argus's versions."""
    spec = copy.deepcopy(spec)
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            version = node.get("version")
            if isinstance(version, dict) and version.get("enum") == list(descriptors.LUNA_VERSIONS):
                version["enum"] = list(descriptors.ALL_VERSIONS)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return spec


SCHEMAS = {
    (op, kind): _argus_versions(schema(op, kind))
    for op in ("matchFaces", "matchingRaw", "matchBodies")
    for kind in ("json", "msgpack")
}


async def _read(request: web.Request, operation: str) -> dict[str, Any]:
    kind = "msgpack" if request.content_type == "application/msgpack" else "json"
    spec = SCHEMAS[operation, kind]
    return with_defaults(spec, await read_json_or_msgpack(request, spec))


def _scope(who: Principal, wanted: str | None, query_account: str | None) -> tuple[str | None, bool]:
    """(account the candidates come from, None = all; False when the caller may not see it)."""
    own = who.read_scope()
    if own is None:
        return wanted or query_account, True
    return own, wanted is None or wanted == own


def _time(filters: dict[str, Any], name: str, path: str) -> Any:
    if name not in filters:
        return None
    try:
        return q_time(filters[name])
    except ValueError:
        raise errors.bad_json(f"{path}.filters.{name}", f"'{filters[name]}' is not a valid time") from None


def _rendered(
    similarity: float, targets: list[str] | None, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    item: dict[str, Any] = {name: body}
    if targets is None or "similarity" in targets:
        item["similarity"] = round(similarity, 7)
    return item


def face_filter(filters: dict[str, Any], path: str) -> FaceFilter:
    """A ``candidate_face``'s filters (the account is set per request, see ``_scope``)."""
    return FaceFilter(
        create_time__gte=_time(filters, "create_time__gte", path),
        create_time__lt=_time(filters, "create_time__lt", path),
        **{name: filters.get(name) for name in ("face_ids", "external_ids", "user_data", "list_id")},
        face_id__gte=filters.get("face_id__gte"),
        face_id__lt=filters.get("face_id__lt"),
    )


async def face_candidates(
    session: AsyncSession,
    service: MatchingService,
    refs: list[descriptors.Descriptor],
    cand: dict[str, Any],
    scope: str | None,
    path: str,
) -> list[list[dict[str, Any]]]:
    """Per reference descriptor, ``face_candidate_match_result`` items for one ``candidate_face``
    (``filters``, ``limit``, ``threshold``, ``order``, optional ``targets``) among the faces of
    ``scope`` (None = every account). ``path`` names the filters in 12022 errors. Public: the
    handlers' match policies use it too."""
    flt = dataclasses.replace(face_filter(cand["filters"], path), account_id=scope)
    return await _matched_faces(session, service, refs, cand, flt)


# The name api/generation/match_adapter.py imports; new code should import face_candidates.


async def _matched_faces(
    session: AsyncSession,
    service: MatchingService,
    refs: list[descriptors.Descriptor],
    cand: dict[str, Any],
    flt: FaceFilter,
) -> list[list[dict[str, Any]]]:
    found = await service.search_faces(session, refs, flt, cand["limit"], cand["threshold"], cand["order"])
    targets = cand.get("targets")
    fields = [t for t in targets if t != "similarity"] if targets is not None else None
    want_lists = fields is None or "lists" in fields
    ids = sorted({m.face.face_id for matches in found for m in matches})
    lists = await lists_repo.lists_of(session, ids) if want_lists and ids else {}
    return [
        [
            _rendered(
                m.similarity,
                targets,
                "face",
                select_targets(face_json(m.face, lists.get(m.face.face_id, [])), fields),
            )
            for m in matches
        ]
        for matches in found
    ]


async def _attribute_candidates(
    session: AsyncSession, refs: list[descriptors.Descriptor], cand: dict[str, Any], scope: str | None
) -> list[list[dict[str, Any]]]:
    rows: list[Attribute] = []
    for part in chunks(list(dict.fromkeys(cand["filters"]["attribute_ids"]))):
        rows.extend(await attributes_repo.many(session, list(part), scope))
    targets = cand.get("targets")
    fields = [t for t in targets if t != "similarity"] if targets is not None else ATTRIBUTE_FIELDS
    results: list[list[dict[str, Any]]] = [[] for _ in refs]
    for version in {r.version for r in refs} & set(SIMILARITY):
        usable = [a for a in rows if a.descriptor_version == version and a.descriptor is not None]
        if not usable:
            continue
        index = DescriptorIndex(descriptors.REGISTERED[version], len(usable))
        vectors = np.frombuffer(b"".join(a.descriptor for a in usable), "<f4").reshape(len(usable), -1)
        index.upsert([a.attribute_id for a in usable], vectors, [a.create_time.timestamp() for a in usable])
        by_id = {a.attribute_id: a for a in usable}
        positions = [i for i, r in enumerate(refs) if r.version == version]
        hits = index.search(
            np.stack([refs[i].values for i in positions]),
            cand["limit"],
            max_distance=threshold_distance(version, cand["threshold"]),
            order=ORDERS[cand["order"]],
        )
        for position, found in zip(positions, hits, strict=True):
            sims = SIMILARITY[version](found.distances)
            results[position] = [
                _rendered(
                    float(s), targets, "attribute", select_targets(attribute_body(by_id[i], None), fields)
                )
                for i, s in zip(found.ids, sims, strict=True)
            ]
    return results


# Reference types and candidate origins -> the token permission object they need 'matching' on.
RIGHTS = {
    "face": "face",
    "face_external_id": "face",
    "attribute": "attribute",
    "event": "event",
    "event_external_id": "event",
    "event_track_id": "event",
    "faces": "face",
    "attributes": "attribute",
    "events": "event",
}


def _check_rights(who: Principal, body: dict[str, Any]) -> None:
    """Token permissions: ``matching`` on every kind of object the request reads."""
    kinds = [r["type"] for r in body["references"]] + [c["filters"]["origin"] for c in body["candidates"]]
    for obj in sorted({RIGHTS[kind] for kind in kinds if kind in RIGHTS}):
        require(who, obj, "matching")


async def _candidate(
    session: AsyncSession,
    service: MatchingService,
    refs: list[descriptors.Descriptor],
    cand: dict[str, Any],
    scope: str | None,
    flt: FaceFilter | None,
) -> list[list[dict[str, Any]]]:
    """One candidate batch matched against every usable reference descriptor."""
    origin = cand["filters"]["origin"]
    if flt is not None:
        return await _matched_faces(session, service, refs, cand, dataclasses.replace(flt, account_id=scope))
    if origin == "attributes":
        return await _attribute_candidates(session, refs, cand, scope)
    if service.events is None:  # ``events`` hook not connected
        raise events_disabled()
    return await service.events.candidates(session, refs, cand, scope)


async def match_faces(request: web.Request) -> web.Response:
    query = parse_query(request, {"account_id": q_uuid})
    body = await _read(request, "matchFaces")
    who = principal(request)
    _check_rights(who, body)
    service = request.app[MATCHING]
    if service.events is None and any(c["filters"]["origin"] == "events" for c in body["candidates"]):
        raise events_disabled()
    query_account = query.get("account_id")
    ref_scope, _ = _scope(who, None, query_account)
    filters = [
        face_filter(c["filters"], f"candidates.{i}") if c["filters"]["origin"] == "faces" else None
        for i, c in enumerate(body["candidates"])
    ]
    async with request.app[DB].session() as session:
        refs = [await resolve(session, item, ref_scope, service) for item in body["references"]]
        usable = [r.descriptor for r in refs if r.descriptor is not None]
        per_candidate: list[list[list[dict[str, Any]]]] = []
        for cand, flt in zip(body["candidates"], filters, strict=True):
            scope, visible = _scope(who, cand["filters"].get("account_id"), query_account)
            if visible and usable:
                found = await _candidate(session, service, usable, cand, scope, flt)
            else:
                found = [[] for _ in usable]
            per_candidate.append(found)
    reply, position = [], 0
    for ref in refs:
        if ref.error is not None:
            matches = [{"filters": c["filters"], "error": ref.error} for c in body["candidates"]]
        else:
            matches = [
                {"result": found[position], "filters": c["filters"]}
                for c, found in zip(body["candidates"], per_candidate, strict=True)
            ]
            position += 1
        reply.append({"reference": ref.body, "matches": matches})
    return respond(request, reply)


async def match_raw(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await _read(request, "matchingRaw")
    if len(body["references"]) * len(body["candidates"]) > MAX_RAW_PAIRS:
        raise errors.bad_json("candidates", f"references x candidates must not exceed {MAX_RAW_PAIRS}")
    refs = [(item["id"], parse_entity(item)) for item in body["references"]]
    cands = [(item["id"], parse_entity(item)) for item in body["candidates"]]
    matches = []
    for ref_id, ref in refs:
        same = [(cand_id, cand) for cand_id, cand in cands if cand.version == ref.version]
        if not same:
            matches.append({"reference_id": ref_id, "matches": []})
            continue
        distances = euclidean_distances(ref.values, np.stack([c.values for _, c in same]))[0]
        sims = SIMILARITY[ref.version](distances)
        order = np.argsort(-sims, kind="stable")
        found = [{"candidate_id": same[j][0], "similarity": round(float(sims[j]), 7)} for j in order]
        matches.append({"reference_id": ref_id, "matches": found})
    return respond(request, {"matches": matches}, status=201)


async def match_bodies(request: web.Request) -> web.Response:
    """No body descriptor model is installed: a valid request answers 400 12037 (the spec's
    code for a descriptor version not registered in the system, which is exactly the case)."""
    parse_query(request, {"account_id": q_uuid})
    await _read(request, "matchBodies")
    raise LunaError(
        errors.MATCH_DESCRIPTOR_VERSION,
        "Body descriptors are not supported: no body descriptor model is installed, so no body "
        "descriptor version (102-116) is registered in the system",
    )
