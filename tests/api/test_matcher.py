"""/6/matcher: references and candidates of every kind, filters, limit/threshold/order, isolation,
index updates and start-up load, raw matching, bodies, errors."""

from __future__ import annotations

import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta

import msgpack
import numpy as np
import pytest
from sqlalchemy import delete

from api.app import create_app
from api.descriptors import DLIB_VERSION, Descriptor
from api.keys import DB, MATCHING
from api.matching import MatchingService
from api.storage.models import Face
from engines.face.pipeline import euclidean_distances, similarity_from_distance
from tests.api.test_attributes import raw_b64
from tests.api.test_faces import new_list, raw_item
from tests.api.test_lists import link
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, bearer, make_config

RNG = np.random.default_rng(11)
FACE_FIELDS = {
    "face_id",
    "account_id",
    "event_id",
    "user_data",
    "create_time",
    "external_id",
    "avatar",
    "lists",
}


def unit() -> np.ndarray:
    values = RNG.normal(size=128).astype(np.float32)
    return values / np.linalg.norm(values)


def at_distance(reference: np.ndarray, distance: float) -> np.ndarray:
    """A descriptor exactly ``distance`` (up to float32) away from a unit ``reference``."""
    other = unit()
    other -= (other @ reference) * reference
    return (reference + distance * other / np.linalg.norm(other)).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(similarity_from_distance(euclidean_distances(a, b))[0, 0])


async def enroll(client, headers, values: np.ndarray | None = None, **fields) -> str:  # type: ignore[no-untyped-def]
    body = dict(fields)
    if values is not None:
        body["attribute"] = {"face_descriptors": [raw_item(values)]}
    resp = await client.post("/6/faces", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["face_id"]


async def match(client, headers, body: dict, status: int = 200, path: str = "/6/matcher/faces", **params):  # type: ignore[no-untyped-def]
    resp = await client.post(path, json=body, headers=headers, params=params)
    assert resp.status == status, await resp.text()
    return await resp.json()


def by_face(reference: dict, **candidate) -> dict:
    return {"references": [reference], "candidates": [{"filters": {"origin": "faces"}, **candidate}]}


def face_ref(face_id: str) -> dict:
    return {"type": "face", "id": face_id}


def result_ids(reply: list, reference: int = 0, candidate: int = 0) -> list[str]:
    return [item["face"]["face_id"] for item in reply[reference]["matches"][candidate]["result"]]


async def test_face_reference_against_faces(client, accounts: Accounts) -> None:
    user = await accounts.create()
    reference = unit()
    near, far = at_distance(reference, 0.3), at_distance(reference, 0.9)
    ref_id = await enroll(client, user, reference, external_id="ext", user_data="me")
    near_id = await enroll(client, user, near)
    far_id = await enroll(client, user, far)
    await enroll(client, user)  # no descriptor: never a candidate
    list_id = await new_list(client, user)
    assert (await link(client, user, list_id, "attach", [ref_id])).status == 204
    reply = await match(client, user, by_face(face_ref(ref_id), limit=10))
    assert reply[0]["reference"] == {"id": ref_id, "type": "face"}
    matches = reply[0]["matches"]
    assert len(matches) == 1 and matches[0]["filters"] == {"origin": "faces"}
    assert result_ids(reply) == [ref_id, near_id, far_id]
    first = matches[0]["result"][0]
    assert set(first["face"]) == FACE_FIELDS
    assert first["face"]["lists"] == [list_id] and first["face"]["external_id"] == "ext"
    assert first["face"]["user_data"] == "me" and first["face"]["account_id"] == user["account_id"]
    for item, values in zip(matches[0]["result"], (reference, near, far), strict=True):
        assert item["similarity"] == pytest.approx(similarity(reference, values), abs=1e-5)
    assert 0.0 <= matches[0]["result"][-1]["similarity"] < 0.05 < 0.95 < matches[0]["result"][1]["similarity"]
    default = await match(client, user, by_face(face_ref(ref_id)))
    assert len(result_ids(default)) == 3  # default limit


async def test_limit_threshold_and_order(client, accounts: Accounts) -> None:
    user = await accounts.create()
    reference = unit()
    distances = [0.1, 0.7, 0.2, 0.5, 0.3, 0.8, 0.4]  # similarity >= 0.5 <=> distance <= 0.6
    ids = [await enroll(client, user, at_distance(reference, d)) for d in distances]
    ref = {"type": "raw_descriptor", "id": "probe", "data": raw_item(reference)}
    above = [ids[i] for i in np.argsort(distances) if distances[i] <= 0.6]
    reply = await match(client, user, by_face(ref, threshold=0.5, limit=100))
    assert reply[0]["reference"] == {"id": "probe", "type": "descriptor"}
    assert result_ids(reply) == above
    assert all(item["similarity"] >= 0.5 for item in reply[0]["matches"][0]["result"])
    assert result_ids(await match(client, user, by_face(ref, threshold=0.5, limit=2))) == above[:2]
    created = [i for i in ids if i in above]  # creation order
    oldest = await match(client, user, by_face(ref, threshold=0.5, limit=3, order="create_time_asc"))
    assert result_ids(oldest) == created[:3]
    newest = await match(client, user, by_face(ref, threshold=0.5, limit=3, order="create_time_desc"))
    assert result_ids(newest) == created[::-1][:3]
    assert result_ids(await match(client, user, by_face(ref, threshold=1.0))) == []


async def test_filters_return_every_match(client, accounts: Accounts) -> None:
    """Filtered candidates are searched among themselves: far members are not crowded out."""
    user = await accounts.create()
    reference = unit()
    crowd = [await enroll(client, user, at_distance(reference, 0.05)) for _ in range(12)]
    members = [
        await enroll(
            client, user, at_distance(reference, 0.5 + 0.01 * i), external_id=f"m{i}", user_data=f"VIP {i}"
        )
        for i in range(4)
    ]
    list_id = await new_list(client, user)
    assert (await link(client, user, list_id, "attach", members)).status == 204
    ref = {"type": "raw_descriptor", "id": "probe", "data": raw_item(reference)}
    for filters in (
        {"list_id": list_id},
        {"face_ids": members},
        {"external_ids": [f"m{i}" for i in range(4)]},
        {"user_data": "vip"},
    ):
        body = {"references": [ref], "candidates": [{"filters": {"origin": "faces", **filters}, "limit": 10}]}
        reply = await match(client, user, body)
        assert result_ids(reply) == members, filters
        assert reply[0]["matches"][0]["filters"] == {"origin": "faces", **filters}
    everything = sorted([*crowd, *members])
    lower, upper = everything[3], everything[9]
    bounds = {"origin": "faces", "face_id__gte": lower, "face_id__lt": upper}
    reply = await match(
        client, user, {"references": [ref], "candidates": [{"filters": bounds, "limit": 100}]}
    )
    assert sorted(result_ids(reply)) == everything[3:9]
    missing = {"origin": "faces", "face_ids": [str(uuid.uuid4())]}
    reply = await match(client, user, {"references": [ref], "candidates": [{"filters": missing}]})
    assert reply[0]["matches"][0]["result"] == []


async def test_create_time_filters(client, accounts: Accounts) -> None:
    user = await accounts.create()
    reference = unit()
    first = await enroll(client, user, at_distance(reference, 0.1))
    middle = datetime.now(UTC)
    second = await enroll(client, user, at_distance(reference, 0.2))
    ref = {"type": "raw_descriptor", "id": "probe", "data": raw_item(reference)}
    iso = middle.isoformat().replace("+00:00", "Z")
    later = {"origin": "faces", "create_time__gte": iso}
    earlier = {"origin": "faces", "create_time__lt": iso}
    body = {"references": [ref], "candidates": [{"filters": later}, {"filters": earlier}]}
    reply = await match(client, user, body)
    assert result_ids(reply, 0, 0) == [second] and result_ids(reply, 0, 1) == [first]
    recent = {"origin": "faces", "create_time__gte": "now-1h", "list_id": await new_list(client, user)}
    reply = await match(client, user, {"references": [ref], "candidates": [{"filters": recent}]})
    assert result_ids(reply) == []
    bad = {"origin": "faces", "create_time__gte": "2020-13-45T10:00:00.1Z"}
    resp = await client.post(
        "/6/matcher/faces", json={"references": [ref], "candidates": [{"filters": bad}]}, headers=user
    )
    await assert_error(resp, 400, 12022)


async def test_targets(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await enroll(client, user, unit(), user_data="u")
    reply = await match(
        client, user, by_face(face_ref(face_id), targets=["face_id", "user_data", "similarity"])
    )
    item = reply[0]["matches"][0]["result"][0]
    assert item["face"] == {"face_id": face_id, "user_data": "u"} and item["similarity"] > 0.99
    reply = await match(client, user, by_face(face_ref(face_id), targets=["lists"]))
    assert reply[0]["matches"][0]["result"] == [{"face": {"lists": []}}]
    resp = await client.post(
        "/6/matcher/faces", json=by_face(face_ref(face_id), targets=["nope"]), headers=user
    )
    await assert_error(resp, 400, 12022)


async def test_reference_kinds_and_missing_references(client, accounts: Accounts) -> None:
    user = await accounts.create()
    values = unit()
    face_id = await enroll(client, user, values, external_id="person-1")
    resp = await client.post("/6/attributes", json={"face_descriptors": [raw_item(values)]}, headers=user)
    attribute_id = (await resp.json())["attribute_id"]
    sdk = base64.b64encode(Descriptor(DLIB_VERSION, values).sdk()).decode()
    missing_face, missing_attribute = str(uuid.uuid4()), str(uuid.uuid4())
    references = [
        face_ref(face_id),
        {"type": "attribute", "id": attribute_id},
        {"type": "face_external_id", "id": "person-1"},
        {"type": "sdk_descriptor", "id": "sdk", "data": sdk},
        {"type": "raw_descriptor", "id": "raw", "data": raw_item(values)},
        face_ref(missing_face),
        {"type": "attribute", "id": missing_attribute},
        {"type": "face_external_id", "id": "nobody"},
    ]
    candidates = [
        {"filters": {"origin": "faces"}, "limit": 1},
        {"filters": {"origin": "faces", "user_data": "x"}},
    ]
    reply = await match(client, user, {"references": references, "candidates": candidates})
    assert [r["reference"] for r in reply] == [
        {"id": face_id, "type": "face"},
        {"id": attribute_id, "type": "attribute"},
        {"id": "person-1", "type": "face_external_id", "face_id": face_id},
        {"id": "sdk", "type": "sdk_descriptor"},
        {"id": "raw", "type": "descriptor"},
        {"id": missing_face, "type": "face"},
        {"id": missing_attribute, "type": "attribute"},
        {"id": "nobody", "type": "face_external_id"},
    ]
    for found in reply[:5]:
        assert result_ids([found]) == [face_id] and found["matches"][1] == {
            "result": [],
            "filters": candidates[1]["filters"],
        }
    for found, code in zip(reply[5:], (22002, 22011, 11041), strict=True):
        assert [m["filters"] for m in found["matches"]] == [c["filters"] for c in candidates]
        for entry in found["matches"]:
            assert entry["error"]["error_code"] == code and set(entry["error"]) == {
                "error_code",
                "desc",
                "detail",
                "link",
            }
    assert reply[5]["matches"][0]["error"]["detail"] == f"Face with id '{missing_face}' not found"
    assert reply[7]["matches"][0]["error"]["detail"] == "No one face found with external id nobody"


async def test_attribute_candidates(client, accounts: Accounts) -> None:
    user = await accounts.create()
    reference = unit()
    made = []
    for distance in (0.2, 0.9, 0.4):
        body = {
            "face_descriptors": [raw_item(at_distance(reference, distance))],
            "basic_attributes": {"age": 30, "gender": 1, "ethnicity": 2},
        }
        made.append(
            (await (await client.post("/6/attributes", json=body, headers=user)).json())["attribute_id"]
        )
    filters = {"origin": "attributes", "attribute_ids": [*made, str(uuid.uuid4())]}
    ref = {"type": "raw_descriptor", "id": "probe", "data": raw_item(reference)}
    reply = await match(
        client, user, {"references": [ref], "candidates": [{"filters": filters, "threshold": 0.1}]}
    )
    result = reply[0]["matches"][0]["result"]
    assert [r["attribute"]["attribute_id"] for r in result] == [made[0], made[2]]
    assert set(result[0]["attribute"]) == {
        "attribute_id",
        "account_id",
        "basic_attributes",
        "basic_attributes_samples",
        "face_descriptor_samples",
        "create_time",
    }
    assert result[0]["attribute"]["basic_attributes"]["age"] == 30 and result[0]["similarity"] > 0.9
    other = await accounts.create()
    reply = await match(client, other, {"references": [ref], "candidates": [{"filters": filters}]})
    assert reply[0]["matches"][0]["result"] == []  # another account's attributes are invisible


async def test_account_isolation(client, accounts: Accounts) -> None:
    alice, bob = await accounts.create(), await accounts.create()
    values = unit()
    alice_face = await enroll(client, alice, values)
    bob_face = await enroll(client, bob, values)
    assert result_ids(await match(client, alice, by_face(face_ref(alice_face), limit=10))) == [alice_face]
    reply = await match(client, alice, by_face(face_ref(bob_face)))
    assert reply[0]["matches"][0]["error"]["error_code"] == 22002
    foreign = {"origin": "faces", "account_id": bob["account_id"]}
    body = {"references": [face_ref(alice_face)], "candidates": [{"filters": foreign}]}
    assert result_ids(await match(client, alice, body)) == []
    assert sorted(result_ids(await match(client, ADMIN, by_face(face_ref(bob_face), limit=10)))) == sorted(
        [alice_face, bob_face]
    )
    assert result_ids(await match(client, ADMIN, body)) == [bob_face]
    scoped = await match(
        client, ADMIN, by_face(face_ref(alice_face), limit=10), account_id=alice["account_id"]
    )
    assert result_ids(scoped) == [alice_face]


async def test_token_needs_matching_permission(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await enroll(client, user, unit())
    viewer = bearer(await accounts.token(user, {"face": ["view"]}))
    resp = await client.post("/6/matcher/faces", json=by_face(face_ref(face_id)), headers=viewer)
    await assert_error(resp, 403, 11059)
    matcher = bearer(await accounts.token(user, {"face": ["matching"]}))
    assert result_ids(await match(client, matcher, by_face(face_ref(face_id)))) == [face_id]
    attributes = {"origin": "attributes", "attribute_ids": [str(uuid.uuid4())]}
    body = {"references": [face_ref(face_id)], "candidates": [{"filters": attributes}]}
    await assert_error(await client.post("/6/matcher/faces", json=body, headers=matcher), 403, 11059)


async def test_index_follows_face_changes(client, accounts: Accounts) -> None:
    user = await accounts.create()
    first, second = unit(), unit()
    face_id = await enroll(client, user, first)
    other_id = await enroll(client, user, unit())
    probe = {"type": "raw_descriptor", "id": "probe", "data": raw_item(second)}
    top = by_face(probe, limit=1, threshold=0.5)
    assert result_ids(await match(client, user, top)) == []
    resp = await client.put(
        f"/6/faces/{face_id}/attributes", json={"face_descriptors": [raw_item(second)]}, headers=user
    )
    assert resp.status == 204
    reply = await match(client, user, top)
    assert result_ids(reply) == [face_id] and reply[0]["matches"][0]["result"][0]["similarity"] > 0.99
    assert (await client.delete(f"/6/faces/{face_id}/attributes", headers=user)).status == 204
    assert face_id not in result_ids(await match(client, user, by_face(probe, limit=10)))
    resp = await client.put(
        f"/6/faces/{face_id}/attributes", json={"face_descriptors": [raw_item(second)]}, headers=user
    )
    assert resp.status == 204 and result_ids(await match(client, user, top)) == [face_id]
    assert (await client.delete(f"/6/faces/{face_id}", headers=user)).status == 204
    assert result_ids(await match(client, user, by_face(probe, limit=10))) == [other_id]
    resp = await client.delete("/6/faces", json={"face_ids": [other_id]}, headers=user)
    assert resp.status == 204
    assert result_ids(await match(client, user, by_face(probe, limit=10))) == []


async def test_faces_changed_behind_the_index(client, accounts: Accounts) -> None:
    """Rows deleted or added by another process: stale matches are dropped, results stay complete."""
    user = await accounts.create()
    reference = unit()
    ids = [await enroll(client, user, at_distance(reference, 0.1 * (i + 1))) for i in range(5)]
    async with client.app[DB].session() as session:
        await session.execute(delete(Face).where(Face.face_id.in_(ids[:2])))
        foreign = Face(
            face_id=str(uuid.uuid4()),
            account_id=user["account_id"],
            create_time=datetime.now(UTC),
            descriptor=reference.astype("<f4").tobytes(),
            descriptor_version=DLIB_VERSION,
            samples={},
            attribute_create_time=datetime.now(UTC),
        )
        session.add(foreign)
        await session.commit()
    probe = {"type": "raw_descriptor", "id": "probe", "data": raw_item(reference)}
    assert result_ids(await match(client, user, by_face(probe, limit=3))) == [foreign.face_id, *ids[2:4]]
    filtered = {"origin": "faces", "face_ids": [foreign.face_id, ids[4]]}
    reply = await match(client, user, {"references": [probe], "candidates": [{"filters": filtered}]})
    assert result_ids(reply) == [foreign.face_id, ids[4]]


async def test_index_is_loaded_at_start_up(aiohttp_client, tmp_path, backend_url) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, backend_url)
    first = await aiohttp_client(create_app(config))
    user = await Accounts(first).create()
    reference = unit()
    ids = [await enroll(first, user, at_distance(reference, d)) for d in (0.3, 0.1, 0.2)]
    await first.close()
    second = await aiohttp_client(create_app(config))
    probe = {"type": "raw_descriptor", "id": "probe", "data": raw_item(reference)}
    reply = await match(second, user, by_face(probe, limit=10, threshold=0.5))
    assert result_ids(reply) == [ids[1], ids[2], ids[0]]
    newest = await match(second, user, by_face(probe, limit=1, order="create_time_desc"))
    assert result_ids(newest) == [ids[2]]
    filtered = {"origin": "faces", "face_ids": ids[:2]}
    reply = await match(second, user, {"references": [probe], "candidates": [{"filters": filtered}]})
    assert result_ids(reply) == [ids[1], ids[0]]


async def test_msgpack_request_and_reply(client, accounts: Accounts) -> None:
    user = await accounts.create()
    values = unit()
    face_id = await enroll(client, user, values)
    ref = {
        "type": "raw_descriptor",
        "id": "bin",
        "data": {"descriptor": values.astype("<f4").tobytes(), "version": DLIB_VERSION},
    }
    body = msgpack.packb(by_face(ref), use_bin_type=True)
    headers = {**user, "Content-Type": "application/msgpack", "Accept": "application/msgpack"}
    resp = await client.post("/6/matcher/faces", data=body, headers=headers)
    assert resp.status == 200 and resp.content_type == "application/msgpack"
    reply = msgpack.unpackb(await resp.read())
    assert reply[0]["matches"][0]["result"][0]["face"]["face_id"] == face_id


async def test_bad_input(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await enroll(client, user, unit())
    bare_id = await enroll(client, user)
    ref = face_ref(face_id)

    async def error(body: dict, status: int, code: int, **params) -> dict:  # type: ignore[no-untyped-def]
        resp = await client.post("/6/matcher/faces", json=body, headers=user, params=params)
        return await assert_error(resp, status, code)

    zero = await match(client, user, {"references": [ref], "candidates": []})
    assert zero == [{"reference": {"id": face_id, "type": "face"}, "matches": []}]
    await error({"references": [ref] * 31, "candidates": []}, 400, 12022)
    await error({"references": [], "candidates": []}, 400, 12022)
    await error({"references": [ref], "candidates": [{"filters": {"origin": "faces"}}] * 31}, 400, 12022)
    for candidate in ({"limit": 0}, {"limit": 101}, {"threshold": 1.5}, {"order": "random"}):
        await error(by_face(ref, **candidate), 400, 12022)
    await error({"references": [ref], "candidates": [{"filters": {"origin": "people"}}]}, 400, 12022)
    await error(
        {"references": [ref], "candidates": [{"filters": {"origin": "faces", "colour": 1}}]}, 400, 12022
    )
    await error({"references": [{"type": "face"}], "candidates": []}, 400, 12022)

    def raw(descriptor: str, version: int = DLIB_VERSION) -> dict:
        return by_face(
            {"type": "raw_descriptor", "id": "r", "data": {"descriptor": descriptor, "version": version}}
        )

    await error(raw("not base64!"), 400, 18001)
    await error(raw(base64.b64encode(b"\0" * 200).decode()), 400, 12034)
    body = await error(raw(raw_b64(unit()), 56), 400, 12037)
    assert "56" in body["detail"]
    await error(raw(raw_b64(unit()), 57000), 400, 12022)
    bad_sdk = base64.b64encode(struct.pack("<4sII", b"NOPE", 100, 128)).decode()
    await error(by_face({"type": "sdk_descriptor", "id": "s", "data": bad_sdk}), 400, 12038)
    body = await error(by_face({"type": "xpk_file", "id": "x", "data": "AAAA"}), 400, 12035)
    assert "XPK" in body["detail"]
    body = await error(by_face(face_ref(bare_id)), 400, 11034)
    assert bare_id in body["detail"]
    await error(by_face(ref), 400, 12012, account_id="nope")
    resp = await client.post("/6/matcher/faces", data=b"{}", headers={**user, "Content-Type": "text/plain"})
    await assert_error(resp, 400, 12017)


async def test_without_event_matching_events_answer_11040(client, accounts: Accounts) -> None:
    client.app[MATCHING].events = None  # a deployment without the event matcher
    user = await accounts.create()
    face_id = await enroll(client, user, unit())
    body = {
        "references": [{"type": "event", "id": str(uuid.uuid4())}],
        "candidates": [{"filters": {"origin": "faces"}}],
    }
    body = await assert_error(await client.post("/6/matcher/faces", json=body, headers=user), 403, 11040)
    assert "events" in body["detail"]
    events = {"references": [face_ref(face_id)], "candidates": [{"filters": {"origin": "events"}}]}
    await assert_error(await client.post("/6/matcher/faces", json=events, headers=user), 403, 11040)


async def test_raw_matching(client, accounts: Accounts) -> None:
    user = await accounts.create()
    reference = unit()
    candidates = [at_distance(reference, d) for d in (0.7, 0.2, 0.4)]
    sdk = base64.b64encode(Descriptor(DLIB_VERSION, candidates[2]).sdk()).decode()
    body = {
        "references": [{"type": "raw_descriptor", "id": "r", "data": raw_item(reference)}],
        "candidates": [
            {"type": "raw_descriptor", "id": "c0", "data": raw_item(candidates[0])},
            {"type": "raw_descriptor", "id": "c1", "data": raw_item(candidates[1])},
            {"type": "sdk_descriptor", "id": "c2", "data": sdk},
        ],
    }
    reply = await match(client, user, body, 201, "/6/matcher/raw")
    assert list(reply) == ["matches"] and reply["matches"][0]["reference_id"] == "r"
    found = reply["matches"][0]["matches"]
    assert [m["candidate_id"] for m in found] == ["c1", "c2", "c0"]
    for m, values in zip(found, (candidates[1], candidates[2], candidates[0]), strict=True):
        assert m["similarity"] == pytest.approx(similarity(reference, values), abs=1e-5)
    token = bearer(await accounts.token(user, grant_all=True))
    await assert_error(await client.post("/6/matcher/raw", json=body, headers=token), 403, 11064)
    xpk = {**body, "candidates": [{"type": "xpk_file", "id": "x", "data": "AAAA"}]}
    await assert_error(await client.post("/6/matcher/raw", json=xpk, headers=user), 400, 12035)
    await assert_error(
        await client.post("/6/matcher/raw", json={**body, "candidates": []}, headers=user), 400, 12022
    )
    wrong = {**body, "references": [{"type": "raw_descriptor", "id": "r", "data": raw_item(reference[:100])}]}
    await assert_error(await client.post("/6/matcher/raw", json=wrong, headers=user), 400, 12034)


async def test_bodies_need_a_body_model(client, accounts: Accounts) -> None:
    user = await accounts.create()
    body = {
        "references": [{"type": "raw_descriptor", "id": "b", "data": {"descriptor": "AAAA", "version": 104}}],
        "candidates": [{"filters": {"origin": "events"}}],
    }
    found = await assert_error(await client.post("/6/matcher/bodies", json=body, headers=user), 400, 12037)
    assert "body descriptor model" in found["detail"]
    await assert_error(
        await client.post("/6/matcher/bodies", json={"references": []}, headers=user), 400, 12022
    )


async def test_many_faces_batched_references(client, accounts: Accounts) -> None:
    """Several references in one request share one scan; each gets its own nearest faces."""
    user = await accounts.create()
    people = [unit() for _ in range(4)]
    ids = [await enroll(client, user, at_distance(p, 0.1)) for p in people]
    for _ in range(20):
        await enroll(client, user, unit())
    references = [
        {"type": "raw_descriptor", "id": f"p{i}", "data": raw_item(p)} for i, p in enumerate(people)
    ]
    body = {
        "references": references,
        "candidates": [{"filters": {"origin": "faces"}, "limit": 1, "threshold": 0.5}],
    }
    reply = await match(client, user, body)
    assert [result_ids(reply, i) for i in range(4)] == [[face_id] for face_id in ids]
    assert datetime.fromisoformat(reply[0]["matches"][0]["result"][0]["face"]["create_time"]) > datetime.now(
        UTC
    ) - timedelta(minutes=5)


async def test_hooks_during_start_up_load_are_replayed(client, accounts: Accounts) -> None:
    """The load reads a snapshot; hooks that ran meanwhile are applied again after it, in order."""
    user = await accounts.create()
    stored_id = await enroll(client, user, unit())
    now = datetime.now(UTC)
    unsaved = Face(
        face_id=str(uuid.uuid4()),
        account_id=user["account_id"],
        create_time=now,
        descriptor=unit().astype("<f4").tobytes(),
        descriptor_version=DLIB_VERSION,
    )
    service = MatchingService()
    try:
        await service.faces_saved([unsaved])
        await service.faces_removed(user["account_id"], [stored_id])  # the snapshot still has it
        await service.load(client.app[DB])
        index = service._shards[user["account_id"], DLIB_VERSION].index
        assert unsaved.face_id in index and stored_id not in index
    finally:
        service.close()
