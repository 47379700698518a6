"""/6/matcher/faces against saved events: event references, ``candidate_event`` filters,
threshold/limit/order, account isolation, missing references, events without descriptors."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np

from api.descriptors import DLIB_VERSION
from api.keys import DB
from api.storage import events as events_repo
from tests.api.test_events import NOW, S1, S2, event_body
from tests.api.test_matcher import enroll, face_ref, match, result_ids, similarity
from tests.conftest import Accounts

RNG = np.random.default_rng(5)


def unit() -> np.ndarray:
    values = RNG.normal(size=128).astype(np.float32)
    return values / np.linalg.norm(values)


def near(values: np.ndarray, noise: float) -> np.ndarray:
    other = values + noise * RNG.normal(size=128).astype(np.float32)
    return (other / np.linalg.norm(other)).astype(np.float32)


def raw_ref(values: np.ndarray) -> dict:
    from tests.api.test_faces import raw_item

    return {"type": "raw_descriptor", "id": "r", "data": raw_item(values)}


async def save(client, bodies_and_values) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for body, values in bodies_and_values:
        raw = values.astype("<f4").tobytes() if values is not None else None
        rows.append(events_repo.event_row(body, raw, DLIB_VERSION if raw else None))
    async with client.app[DB].session() as session:
        await events_repo.insert(session, rows)
        await session.commit()


def events_candidate(**kwargs) -> dict:  # type: ignore[no-untyped-def]
    filters = {"origin": "events", **kwargs.pop("filters", {})}
    return {"filters": filters, **kwargs}


def event_ids(reply: list, reference: int = 0, candidate: int = 0) -> list[str]:
    return [r["event"]["event_id"] for r in reply[reference]["matches"][candidate]["result"]]


async def test_event_reference_against_faces(client, accounts: Accounts) -> None:
    user = await accounts.create()
    me = (await (await client.get("/6/account", headers=user)).json())["account_id"]
    base = unit()
    face_id = await enroll(client, user, near(base, 0.01))
    event = event_body(me, NOW, external_id="ext-1", track_id="trk_1")
    await save(client, [(event, base)])
    for ref in (
        {"type": "event", "id": event["event_id"]},
        {"type": "event_external_id", "id": "ext-1"},
        {"type": "event_track_id", "id": "trk_1"},
    ):
        reply = await match(
            client, user, {"references": [ref], "candidates": [{"filters": {"origin": "faces"}}]}
        )
        assert result_ids(reply) == [face_id]
        if ref["type"] != "event":
            assert reply[0]["reference"]["event_id"] == event["event_id"]
    missing = str(uuid.uuid4())
    body = {
        "references": [{"type": "event", "id": missing}, face_ref(face_id)],
        "candidates": [{"filters": {"origin": "faces"}}],
    }
    reply = await match(client, user, body)
    assert reply[0]["matches"][0]["error"]["error_code"] == 23001
    assert result_ids(reply, 1) == [face_id]
    ext = {
        "references": [{"type": "event_external_id", "id": "nope"}],
        "candidates": [{"filters": {"origin": "faces"}}],
    }
    assert (await match(client, user, ext))[0]["matches"][0]["error"]["error_code"] == 11057
    # another account's event is not found
    other = await accounts.create()
    reply = await match(client, other, {**body, "references": [{"type": "event", "id": event["event_id"]}]})
    assert reply[0]["matches"][0]["error"]["error_code"] == 23001


async def test_descriptor_against_events(client, accounts: Accounts) -> None:
    user = await accounts.create()
    me = (await (await client.get("/6/account", headers=user)).json())["account_id"]
    base = unit()
    close, mid, far = near(base, 0.01), near(base, 0.05), unit()
    e_close = event_body(me, NOW - timedelta(hours=3), stream_id=S1, tags=["a", "b"])
    e_mid = event_body(me, NOW - timedelta(hours=2), stream_id=S2, tags=["a"])
    e_far = event_body(me, NOW - timedelta(hours=1), stream_id=S1)
    e_none = event_body(me, NOW, stream_id=S1)
    await save(client, [(e_close, close), (e_mid, mid), (e_far, far), (e_none, None)])
    ref = raw_ref(base)

    async def found(**cand) -> list[str]:  # type: ignore[no-untyped-def]
        reply = await match(client, user, {"references": [ref], "candidates": [events_candidate(**cand)]})
        return event_ids(reply)

    assert await found(limit=10) == [e_close["event_id"], e_mid["event_id"], e_far["event_id"]]
    reply = await match(client, user, {"references": [ref], "candidates": [events_candidate()]})
    first = reply[0]["matches"][0]["result"][0]
    assert abs(first["similarity"] - similarity(base, close)) < 1e-5
    assert first["event"] == e_close
    assert await found(filters={"stream_ids": [S1]}) == [e_close["event_id"], e_far["event_id"]]
    assert await found(filters={"tags": ["a"]}) == [e_close["event_id"], e_mid["event_id"]]
    assert await found(filters={"tags": ["a", "b"]}) == [e_close["event_id"]]
    since = (NOW - timedelta(hours=2, minutes=30)).isoformat()
    assert await found(filters={"create_time__gte": since}) == [e_mid["event_id"], e_far["event_id"]]
    threshold = (similarity(base, mid) + similarity(base, far)) / 2
    assert await found(threshold=threshold) == [e_close["event_id"], e_mid["event_id"]]
    assert await found(limit=1) == [e_close["event_id"]]
    assert await found(order="create_time_desc") == [
        e_far["event_id"],
        e_mid["event_id"],
        e_close["event_id"],
    ]
    assert await found(order="create_time_asc", limit=2) == [e_close["event_id"], e_mid["event_id"]]
    reply = await match(
        client,
        user,
        {"references": [ref], "candidates": [events_candidate(targets=["event_id", "similarity"])]},
    )
    assert set(reply[0]["matches"][0]["result"][0]["event"]) == {"event_id"}
    # account isolation
    other = await accounts.create()
    reply = await match(client, other, {"references": [ref], "candidates": [events_candidate()]})
    assert event_ids(reply) == []


async def test_chunks_keep_the_best(client, accounts: Accounts) -> None:
    user = await accounts.create()
    me = (await (await client.get("/6/account", headers=user)).json())["account_id"]
    base = unit()
    items = [(event_body(me, NOW - timedelta(minutes=i)), near(base, 0.01 * (i + 1))) for i in range(7)]
    await save(client, items)
    from api.keys import MATCHING

    client.app[MATCHING].events.chunk = 2
    reply = await match(
        client, user, {"references": [raw_ref(base)], "candidates": [events_candidate(limit=4)]}
    )
    expected = sorted(items, key=lambda item: -similarity(base, item[1]))[:4]
    assert event_ids(reply) == [body["event_id"] for body, _ in expected]


async def test_event_candidates_postgres(pg_client, accounts: Accounts) -> None:
    del accounts
    from tests.conftest import Accounts as Acc

    client = pg_client
    user = await Acc(client).create()
    me = (await (await client.get("/6/account", headers=user)).json())["account_id"]
    base = unit()
    a = event_body(me, NOW, stream_id=S1, tags=["x"], meta={"n": 5})
    b = event_body(me, NOW, stream_id=S2, meta={"n": 1})
    await save(client, [(a, near(base, 0.01)), (b, near(base, 0.02))])
    reply = await match(client, user, {"references": [raw_ref(base)], "candidates": [events_candidate()]})
    assert event_ids(reply) == [a["event_id"], b["event_id"]]
    cand = events_candidate(filters={"meta": {"n__gte": 2}})
    assert event_ids(await match(client, user, {"references": [raw_ref(base)], "candidates": [cand]})) == [
        a["event_id"]
    ]
    ref = {"type": "event", "id": b["event_id"]}
    reply = await match(
        client, user, {"references": [ref], "candidates": [events_candidate(filters={"tags": ["x"]})]}
    )
    assert event_ids(reply) == [a["event_id"]]
