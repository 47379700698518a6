"""Handlers: CRUD, defaults, refusals of policies without a model, lists named by policies."""

from __future__ import annotations

import uuid

from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, basic, bearer


async def create(client, body: dict, headers=ADMIN) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/handlers", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["handler_id"]


async def test_crud_with_defaults(client) -> None:  # type: ignore[no-untyped-def]
    handler_id = await create(
        client, {"description": "gate", "policies": {"detect_policy": {"multiface_policy": 2}}}
    )
    got = await (await client.get(f"/6/handlers/{handler_id}", headers=ADMIN)).json()
    assert got["description"] == "gate" and got["handler_type"] == 0 and got["is_dynamic"] is False
    policies = got["policies"]
    assert (
        policies["detect_policy"]["multiface_policy"] == 2 and policies["detect_policy"]["detect_face"] == 1
    )
    assert policies["storage_policy"]["face_sample_policy"]["store_sample"] == 1
    assert policies["storage_policy"]["event_policy"]["store_event"] == 1
    assert policies["extract_policy"]["extract_face_descriptor"] == 1
    assert (await client.head(f"/6/handlers/{handler_id}", headers=ADMIN)).status == 200
    put = await client.put(
        f"/6/handlers/{handler_id}", json={"description": "gate 2", "policies": {}}, headers=ADMIN
    )
    assert put.status == 204
    assert (await (await client.get(f"/6/handlers/{handler_id}", headers=ADMIN)).json())[
        "description"
    ] == "gate 2"
    listing = await (await client.get("/6/handlers", params={"description": "GATE"}, headers=ADMIN)).json()
    assert [h["handler_id"] for h in listing] == [handler_id]
    count = await (await client.get("/6/handlers/count", headers=ADMIN)).json()
    assert count == {"handlers_count": 1}
    assert (await client.delete(f"/6/handlers/{handler_id}", headers=ADMIN)).status == 204
    await assert_error(await client.get(f"/6/handlers/{handler_id}", headers=ADMIN), 404, 11033)


async def test_dynamic_handlers(client) -> None:  # type: ignore[no-untyped-def]
    handler_id = await create(client, {"handler_type": 1})
    got = await (await client.get(f"/6/handlers/{handler_id}", headers=ADMIN)).json()
    assert got["handler_type"] == 1 and got["is_dynamic"] is True
    dynamic = await (await client.get("/6/handlers", params={"is_dynamic": "1"}, headers=ADMIN)).json()
    assert [h["handler_id"] for h in dynamic] == [handler_id]


async def test_policies_without_a_model_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ({"detect_policy": {"estimate_emotions": 1}}, "policies.detect_policy.estimate_emotions"),
        ({"detect_policy": {"detect_body": 1}}, "policies.detect_policy.detect_body"),
        (
            {"detect_policy": {"estimate_liveness": {"estimate": 1}}},
            "policies.detect_policy.estimate_liveness.estimate",
        ),
        ({"detect_policy": {"estimate_head_pose": 1}}, "policies.detect_policy.estimate_head_pose"),
        (
            {"extract_policy": {"extract_basic_attributes": 1}},
            "policies.extract_policy.extract_basic_attributes",
        ),
        (
            {"storage_policy": {"face_policy": {"filters": {"gender": 1}}}},
            "policies.storage_policy.face_policy.filters",
        ),
    ]
    for policies, path in cases:
        body = await assert_error(
            await client.post("/6/handlers", json={"policies": policies}, headers=ADMIN), 400, 12022
        )
        assert f"Path: '{path}" in body["detail"], body["detail"]
    lambda_handler = await client.post("/6/handlers", json={"handler_type": 2}, headers=ADMIN)
    await assert_error(lambda_handler, 400, 12022)


async def test_bad_handler_bodies(client) -> None:  # type: ignore[no-untyped-def]
    too_many = [{"candidates": {"origin": "faces"}}] * 31
    for body in (
        {"policies": {"match_policy": too_many}},
        {"description": "x" * 129},
        {"nope": 1},
        {"policies": {"detect_policy": {"multiface_policy": 7}}},
    ):
        await assert_error(await client.post("/6/handlers", json=body, headers=ADMIN), 400, 12022)
    missing_list = {
        "policies": {"match_policy": [{"candidates": {"origin": "faces", "list_id": str(uuid.uuid4())}}]}
    }
    await assert_error(await client.post("/6/handlers", json=missing_list, headers=ADMIN), 400, 22003)
    await assert_error(
        await client.post("/6/handlers/validator", json=missing_list, headers=ADMIN), 400, 22003
    )
    ok = await client.post(
        "/6/handlers/validator", json={"policies": {"detect_policy": {"multiface_policy": 0}}}, headers=ADMIN
    )
    assert ok.status == 204


async def test_handlers_are_isolated(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    one, two = await accounts.create(), await accounts.create()
    handler_id = await create(client, {"policies": {}}, headers=basic(one["login"], "password1"))
    other = basic(two["login"], "password1")
    await assert_error(await client.get(f"/6/handlers/{handler_id}", headers=other), 404, 11033)
    await assert_error(await client.delete(f"/6/handlers/{handler_id}", headers=other), 404, 11033)
    await assert_error(
        await client.post(f"/6/handlers/{handler_id}/events/raw", json={}, headers=other), 404, 11033
    )
    assert await (await client.get("/6/handlers", headers=other)).json() == []
    # another account's list cannot be named by a policy
    list_id = (
        await (await client.post("/6/lists", json={}, headers=basic(one["login"], "password1"))).json()
    )["list_id"]
    foreign = {"policies": {"match_policy": [{"candidates": {"origin": "faces", "list_id": list_id}}]}}
    await assert_error(await client.post("/6/handlers", json=foreign, headers=other), 400, 22003)


async def test_emit_events_token_rule(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    user = await accounts.create()
    handler_id = await create(client, {"handler_type": 1}, headers=basic(user["login"], "password1"))
    denied = await accounts.token(user, {"event": ["creation"], "emit_events": {"allowed": 0}})
    resp = await client.post(f"/6/handlers/{handler_id}/events/raw", json={}, headers=bearer(denied))
    await assert_error(resp, 403, 11068)
    blacklisted = await accounts.token(user, {"emit_events": {"allowed": 1, "black_list": [handler_id]}})
    resp = await client.post(
        f"/6/handlers/{handler_id}/stream_events",
        data=b"",
        headers={**bearer(blacklisted), "Content-Type": "application/msgpack"},
    )
    await assert_error(resp, 403, 11067)


async def test_raw_events_are_saved(client) -> None:  # type: ignore[no-untyped-def]
    handler_id = await create(client, {"handler_type": 1})
    static = await create(client, {"policies": {}})
    face_id = str(uuid.uuid4())
    body = {
        "source": "camera-1",
        "tags": ["night"],
        "user_data": "raw",
        "create_time": "2026-11-01T10:00:00+00:00",
        "matches": [{"label": "vip", "candidates": [{"face": {"face_id": face_id}, "similarity": 0.93}]}],
    }
    resp = await client.post(f"/6/handlers/{handler_id}/events/raw", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    saved = await resp.json()
    assert saved["url"] == f"/6/events/{saved['event_id']}"
    event = await (await client.get(saved["url"], headers=ADMIN)).json()
    assert event["source"] == "camera-1" and event["tags"] == ["night"] and event["handler_id"] == handler_id
    assert "top_match" in event, event
    assert event["top_match"] == {"face_id": face_id, "similarity": 0.93, "label": "vip", "external_id": None}
    assert event["create_time"].startswith("2026-11-01T10:00:00")
    later = await client.post(
        f"/6/handlers/{handler_id}/events/raw",
        params={"wait_saving": "0"},
        json={"user_data": "later"},
        headers=ADMIN,
    )
    assert later.status == 202
    await assert_error(
        await client.post(f"/6/handlers/{static}/events/raw", json={}, headers=ADMIN), 400, 12022
    )
