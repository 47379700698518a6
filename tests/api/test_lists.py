"""Lists: creation, filters, update, attach/detach of faces, deletion with and without faces."""

from __future__ import annotations

import uuid

from tests.api.test_faces import get_json, new_face, new_list
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, bearer


async def link(client, headers, list_id: str, action: str, face_ids: list[str]):  # type: ignore[no-untyped-def]
    body = {"action": action, "face_ids": face_ids}
    return await client.patch(f"/6/lists/{list_id}/faces", json=body, headers=headers)


async def members(client, headers, list_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    faces = await get_json(client, "/6/faces", headers, list_id=list_id, page_size="1000")
    return sorted(face["face_id"] for face in faces["faces"])


async def test_create_get_head_patch(client, accounts: Accounts) -> None:
    user = await accounts.create()
    resp = await client.post("/6/lists", headers=user)  # the body is optional
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["url"] == f"/6/lists/{made['list_id']}" == resp.headers["Location"]
    got = await get_json(client, made["url"], user)
    assert got == {
        "list_id": made["list_id"],
        "user_data": "",
        "account_id": user["account_id"],
        "create_time": got["create_time"],
        "last_update_time": got["create_time"],
    }
    assert (await client.head(made["url"], headers=user)).status == 200
    assert (await client.patch(made["url"], json={"user_data": "watch"}, headers=user)).status == 204
    patched = await get_json(client, made["url"], user)
    assert patched["user_data"] == "watch" and patched["last_update_time"] > patched["create_time"]
    for body in ({"userData": "x"}, {"user_data": "x" * 129}, {"user_data": 1}):
        await assert_error(await client.post("/6/lists", json=body, headers=user), 400, 12022)
        await assert_error(await client.patch(made["url"], json=body, headers=user), 400, 12022)
    text = await client.post("/6/lists", data="user_data", headers={**user, "Content-Type": "text/plain"})
    await assert_error(text, 400, 12017, "Bad content type")
    assert (await get_json(client, "/6/lists/count", user))["lists_count"] == 1
    missing = f"/6/lists/{uuid.uuid4()}"
    detail = f"List with id '{missing.rsplit('/', 1)[1]}' not found"
    await assert_error(await client.get(missing, headers=user), 404, 22003, detail)
    await assert_error(await client.patch(missing, json={}, headers=user), 404, 22003, detail)
    assert (await client.head(missing, headers=user)).status == 404
    await assert_error(await client.get(made["url"], params={"x": "1"}, headers=user), 400, 12012)


async def test_list_filters_and_pagination(client, accounts: Accounts) -> None:
    user = await accounts.create()
    names = ["Good guys", "bad guys", "good", "other"]
    ids = [await new_list(client, user, name) for name in names]
    created = [(await get_json(client, f"/6/lists/{i}", user))["create_time"] for i in ids]
    assert (
        await client.patch(f"/6/lists/{ids[0]}", json={"user_data": "Good guys"}, headers=user)
    ).status == 204
    touched = (await get_json(client, f"/6/lists/{ids[0]}", user))["last_update_time"]

    async def listed(**params) -> list[str]:  # type: ignore[no-untyped-def]
        return [item["list_id"] for item in (await get_json(client, "/6/lists", user, **params))["lists"]]

    assert await listed() == ids[::-1]
    assert await listed(page_size="3", page="2") == [ids[0]]
    assert await listed(user_data="GOOD") == [ids[2], ids[0]]
    assert await listed(user_data="guys") == [ids[1], ids[0]]
    assert await listed(user_data__eq="good") == [ids[2]]
    assert await listed(list_ids=f"{ids[1]},{ids[3]}") == [ids[3], ids[1]]
    assert await listed(create_time__gte=created[2]) == [ids[3], ids[2]]
    assert await listed(create_time__lt=created[1]) == [ids[0]]
    assert await listed(last_update_time__gte=touched) == [ids[0]]
    assert await listed(last_update_time__lt=touched) == ids[:0:-1]
    by_id = sorted(ids)
    assert sorted(await listed(list_id__gte=by_id[2])) == by_id[2:]
    assert sorted(await listed(list_id__lt=by_id[2])) == by_id[:2]
    count = await get_json(client, "/6/lists/count", user, user_data="guys", create_time__gte=created[1])
    assert count == {"lists_count": 1}
    for name, value in (
        ("page_size", "0"),
        ("list_ids", "x,y"),
        ("last_update_time__lt", "x"),
        ("order", "asc"),
    ):
        resp = await client.get("/6/lists", params={name: value}, headers=user)
        await assert_error(resp, 400, 12012, f"Bad query parameters '{name}'")
    await assert_error(await client.get("/6/lists/count", params={"page": "1"}, headers=user), 400, 12012)


async def test_attach_and_detach(client, accounts: Accounts) -> None:
    user = await accounts.create()
    list_id = await new_list(client, user)
    faces = [await new_face(client, user) for _ in range(3)]
    before = (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"]
    assert (await link(client, user, list_id, "attach", faces[:2])).status == 204
    assert await members(client, user, list_id) == sorted(faces[:2])
    after_attach = (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"]
    assert after_attach > before
    assert (await link(client, user, list_id, "attach", faces)).status == 204  # attaching again is harmless
    assert await members(client, user, list_id) == sorted(faces)
    assert (await get_json(client, f"/6/faces/{faces[0]}", user))["lists"] == [list_id]
    assert (await link(client, user, list_id, "detach", [faces[0]])).status == 204
    assert await members(client, user, list_id) == sorted(faces[1:])
    assert (await get_json(client, f"/6/faces/{faces[0]}", user))["lists"] == []
    assert (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"] > after_attach


async def test_link_errors_change_nothing(client, accounts: Accounts) -> None:
    user, other = await accounts.create(), await accounts.create()
    list_id = await new_list(client, user)
    mine = await new_face(client, user)
    foreign = await new_face(client, other)
    missing = str(uuid.uuid4())
    stamp = (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"]
    for face_id in (missing, foreign):
        for action in ("attach", "detach"):
            resp = await link(client, user, list_id, action, [mine, face_id])
            detail = f"One or more faces not found, including face with id '{face_id}'"
            await assert_error(resp, 400, 22004, detail)
    too_many = [str(uuid.uuid4()) for _ in range(1001)]
    bad_bodies = [
        {"action": "attach", "face_ids": too_many},
        {"action": "attach", "face_ids": []},
        {"action": "attach", "face_ids": [mine, mine]},
        {"action": "detach1", "face_ids": [mine]},
        {"face_ids": [mine]},
        {"action": "attach", "face_ids": ["not-a-uuid"]},
        {"action": "attach", "face_ids": [mine], "extra": 1},
    ]
    for body in bad_bodies:
        resp = await client.patch(f"/6/lists/{list_id}/faces", json=body, headers=user)
        await assert_error(resp, 400, 12022)
    assert await members(client, user, list_id) == []
    assert (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"] == stamp
    # The other account cannot attach its face to this list, nor this account to its own missing list.
    await assert_error(await link(client, other, list_id, "attach", [foreign]), 404, 22003)
    await assert_error(await link(client, user, missing, "attach", [mine]), 404, 22003)
    # 1000 ids is the limit: all must exist, so the error is about the faces, not the size.
    resp = await link(client, user, list_id, "attach", [mine, *too_many[:999]])
    await assert_error(resp, 400, 22004)


async def test_delete_list_without_and_with_faces(client, accounts: Accounts) -> None:
    user = await accounts.create()
    keep, purge, second = [await new_list(client, user) for _ in range(3)]
    kept_face = await new_face(client, user, lists=[keep])
    shared = await new_face(client, user, lists=[purge, second])
    alone = await new_face(client, user, lists=[purge])
    bystander = await new_face(client, user)
    resp = await client.delete(f"/6/lists/{keep}", headers=user)
    assert resp.status == 204
    assert (await get_json(client, f"/6/faces/{kept_face}", user))["lists"] == []  # face stays, link gone
    second_stamp = (await get_json(client, f"/6/lists/{second}", user))["last_update_time"]
    resp = await client.delete(f"/6/lists/{purge}", params={"with_faces": "1"}, headers=user)
    assert resp.status == 202
    # Argus removes the faces before answering 202.
    assert (await client.head(f"/6/faces/{shared}", headers=user)).status == 404
    assert (await client.head(f"/6/faces/{alone}", headers=user)).status == 404
    assert (await client.head(f"/6/faces/{bystander}", headers=user)).status == 200
    assert await members(client, user, second) == []
    assert (await get_json(client, f"/6/lists/{second}", user))["last_update_time"] > second_stamp
    await assert_error(await client.delete(f"/6/lists/{purge}", headers=user), 404, 22003)
    resp = await client.delete(f"/6/lists/{second}", params={"with_faces": "2"}, headers=user)
    await assert_error(resp, 400, 12012)
    assert (await get_json(client, "/6/lists/count", user))["lists_count"] == 1


async def test_delete_lists_in_bulk(client, accounts: Accounts) -> None:
    user, other = await accounts.create(), await accounts.create()
    plain = [await new_list(client, user) for _ in range(2)]
    foreign = await new_list(client, other)
    face = await new_face(client, user, lists=[plain[0]])
    body = {"list_ids": [*plain, foreign, str(uuid.uuid4())]}
    assert (await client.delete("/6/lists", json=body, headers=user)).status == 204
    assert (await get_json(client, "/6/lists/count", user))["lists_count"] == 0
    assert (await client.head(f"/6/lists/{foreign}", headers=other)).status == 200  # skipped, not deleted
    assert (await get_json(client, f"/6/faces/{face}", user))["lists"] == []
    doomed = await new_list(client, user)
    face = await new_face(client, user, lists=[doomed])
    resp = await client.delete(
        "/6/lists", params={"with_faces": "1"}, json={"list_ids": [doomed]}, headers=user
    )
    assert resp.status == 202
    assert (await client.head(f"/6/faces/{face}", headers=user)).status == 404
    for bad in ({"list_ids": []}, {"list_ids": [doomed, doomed]}, {"lists": [doomed]}, {"list_ids": ["x"]}):
        await assert_error(await client.delete("/6/lists", json=bad, headers=user), 400, 12022)


async def test_lists_are_isolated_between_accounts(client, accounts: Accounts) -> None:
    owner, other = await accounts.create(), await accounts.create()
    list_id = await new_list(client, owner, "private")
    face = await new_face(client, owner, lists=[list_id])
    url = f"/6/lists/{list_id}"
    await assert_error(await client.get(url, headers=other), 404, 22003)
    assert (await client.head(url, headers=other)).status == 404
    await assert_error(await client.patch(url, json={"user_data": "x"}, headers=other), 404, 22003)
    await assert_error(await client.delete(url, params={"with_faces": "1"}, headers=other), 404, 22003)
    assert await get_json(client, "/6/lists", other, account_id=owner["account_id"]) == {"lists": []}
    assert (await get_json(client, "/6/lists/count", other))["lists_count"] == 0
    assert (await get_json(client, "/6/faces", other, list_id=list_id))["faces"] == []
    resp = await client.post("/6/faces", json={"lists": [list_id]}, headers=other)
    await assert_error(resp, 400, 22003)
    assert (await get_json(client, url, ADMIN))["user_data"] == "private"  # the admin reads all
    await assert_error(await client.delete(url, headers=ADMIN), 404, 22003)
    assert (await get_json(client, url, owner))["user_data"] == "private"
    assert await members(client, owner, list_id) == [face]


async def test_list_token_permissions(client, accounts: Accounts) -> None:
    user = await accounts.create()
    list_id = await new_list(client, user)
    face = await new_face(client, user)
    viewer = bearer(await accounts.token(user, {"list": ["view"], "face": ["view", "modification"]}))
    assert (await client.get(f"/6/lists/{list_id}", headers=viewer)).status == 200
    denied = [
        (await client.post("/6/lists", headers=viewer), "creation"),
        (await client.patch(f"/6/lists/{list_id}", json={}, headers=viewer), "modification"),
        (await link(client, viewer, list_id, "attach", [face]), "modification"),
        (await client.delete(f"/6/lists/{list_id}", headers=viewer), "deletion"),
        (await client.delete("/6/lists", json={"list_ids": [list_id]}, headers=viewer), "deletion"),
    ]
    for resp, action in denied:
        detail = f"Request denied due to token restrictions, required '{action}' permission for 'list'"
        await assert_error(resp, 403, 11059, detail)
    faces_only = bearer(await accounts.token(user, {"face": ["view"]}))
    await assert_error(await client.get("/6/lists", headers=faces_only), 403, 11059)
    assert await members(client, user, list_id) == []


async def test_lists_on_postgresql(pg_client) -> None:  # type: ignore[no-untyped-def]
    accounts = Accounts(pg_client)
    user, other = await accounts.create(), await accounts.create()
    list_id = await new_list(pg_client, user, "Watch List")
    faces = [await new_face(pg_client, user) for _ in range(3)]
    foreign = await new_face(pg_client, other)
    assert (await link(pg_client, user, list_id, "attach", faces)).status == 204
    assert (await link(pg_client, user, list_id, "attach", faces[:1])).status == 204
    await assert_error(await link(pg_client, user, list_id, "attach", [faces[0], foreign]), 400, 22004)
    assert await members(pg_client, user, list_id) == sorted(faces)
    assert (await link(pg_client, user, list_id, "detach", faces[:1])).status == 204
    listed = await get_json(pg_client, "/6/lists", user, user_data="watch")
    assert [item["list_id"] for item in listed["lists"]] == [list_id]
    resp = await pg_client.delete(f"/6/lists/{list_id}", params={"with_faces": "1"}, headers=user)
    assert resp.status == 202
    assert (await get_json(pg_client, "/6/faces/count", user))["faces_count"] == 1
    assert (await get_json(pg_client, "/6/faces/count", other))["faces_count"] == 1
