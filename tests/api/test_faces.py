"""Faces: creation from temporary attributes and explicit data, filters, targets, attributes, isolation."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import msgpack
import numpy as np

from api.descriptors import DLIB_VERSION, Descriptor, from_sdk
from tests.api.test_attributes import raw_b64, vector
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, bearer

BASIC = {"age": 33, "gender": 1, "ethnicity": 4}
FACE_TARGETS = [
    "face_id",
    "account_id",
    "event_id",
    "user_data",
    "create_time",
    "external_id",
    "avatar",
    "lists",
]


def raw_item(values: np.ndarray) -> dict:
    return {"descriptor": raw_b64(values), "version": DLIB_VERSION}


async def new_face(client, headers, **body) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/faces", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["url"] == f"/6/faces/{made['face_id']}" == resp.headers["Location"]
    assert made["external_url"].endswith(made["url"])
    return made["face_id"]


async def new_list(client, headers, user_data: str = "") -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/lists", json={"user_data": user_data}, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["list_id"]


async def get_json(client, url: str, headers, status: int = 200, **params) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(url, params=params, headers=headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def face_count(client, headers) -> int:  # type: ignore[no-untyped-def]
    return (await get_json(client, "/6/faces/count", headers))["faces_count"]


async def test_create_face_from_temporary_attribute(client, accounts: Accounts) -> None:
    user = await accounts.create()
    values, samples = vector(), [str(uuid.uuid4()), str(uuid.uuid4())]
    resp = await client.post(
        "/6/attributes",
        json={
            "face_descriptors": [raw_item(values)],
            "face_descriptor_samples": samples[:1],
            "basic_attributes": BASIC,
            "basic_attributes_samples": samples,
        },
        headers=user,
    )
    attribute_id = (await resp.json())["attribute_id"]
    list_id = new_list_id = await new_list(client, user)
    before = (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"]
    event_id = str(uuid.uuid4())
    face_id = await new_face(
        client,
        user,
        attribute={"attribute_id": attribute_id},
        external_id="ext-1",
        user_data="Alice",
        avatar="/6/samples/faces/x",
        event_id=event_id,
        lists=[new_list_id],
    )
    face = await get_json(client, f"/6/faces/{face_id}", user)
    assert face == {
        "face_id": face_id,
        "external_id": "ext-1",
        "user_data": "Alice",
        "avatar": "/6/samples/faces/x",
        "lists": [list_id],
        "event_id": event_id,
        "account_id": user["account_id"],
        "create_time": face["create_time"],
    }
    assert (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"] > before
    # The face keeps a copy: deleting the temporary attribute does not touch it.
    assert (await client.delete(f"/6/attributes/{attribute_id}", headers=user)).status == 204
    got = (await get_json(client, f"/6/faces/{face_id}/attributes", user))["attributes"]
    assert got["face_descriptor"]["descriptor_version"] == DLIB_VERSION
    assert np.array_equal(
        np.frombuffer(base64.b64decode(got["face_descriptor"]["descriptor"]), "<f4"), values
    )
    assert got["basic_attributes"] == BASIC
    assert got["face_descriptor_samples"] == samples[:1] and got["basic_attributes_samples"] == samples
    assert datetime.fromisoformat(got["create_time"]) >= datetime.fromisoformat(face["create_time"])
    assert await get_json(client, f"/6/faces/{face_id}/attributes/samples", user) == {"samples": samples}
    assert (await get_json(client, "/6/faces/attributes/count", user))["faces_count"] == 1


async def test_attribute_of_another_account_is_refused(client, accounts: Accounts) -> None:
    owner, other = await accounts.create(), await accounts.create()
    resp = await client.post("/6/attributes", json={"basic_attributes": BASIC}, headers=owner)
    attribute_id = (await resp.json())["attribute_id"]
    for given in (attribute_id, str(uuid.uuid4())):
        body = {"attribute": {"attribute_id": given}}
        await assert_error(
            await client.post("/6/faces", json=body, headers=other),
            400,
            22011,
            f"Attribute with id '{given}' not found",
        )
    assert await face_count(client, other) == 0


async def test_explicit_descriptors_sdk_raw_and_msgpack(client, accounts: Accounts) -> None:
    user = await accounts.create()
    values = vector()
    sdk = Descriptor(DLIB_VERSION, values).sdk()
    by_sdk = await new_face(client, user, attribute={"face_descriptors": [base64.b64encode(sdk).decode()]})
    payload = msgpack.packb(
        {
            "attribute": {
                "face_descriptors": [{"descriptor": values.astype("<f4").tobytes(), "version": DLIB_VERSION}],
                "basic_attributes": BASIC,
            },
            "user_data": "packed",
        },
        use_bin_type=True,
    )
    resp = await client.post(
        "/6/faces", data=payload, headers={**user, "Content-Type": "application/msgpack"}
    )
    assert resp.status == 201, await resp.text()
    by_msgpack = (await resp.json())["face_id"]
    for face_id in (by_sdk, by_msgpack):
        url = f"/6/faces/{face_id}/attributes"
        got = (await get_json(client, url, user, descriptor_format="sdk"))["attributes"]
        assert base64.b64decode(got["face_descriptor"]) == sdk
        packed = await client.get(
            url, params={"descriptor_format": "sdk"}, headers={**user, "Accept": "application/msgpack"}
        )
        assert packed.content_type == "application/msgpack"
        assert np.array_equal(
            from_sdk(msgpack.unpackb(await packed.read())["attributes"]["face_descriptor"]).values, values
        )
        raw = (await get_json(client, url, user, descriptor_format="raw"))["attributes"]["face_descriptor"]
        assert np.array_equal(np.frombuffer(base64.b64decode(raw["descriptor"]), "<f4"), values)
    assert (await get_json(client, f"/6/faces/{by_msgpack}", user))["user_data"] == "packed"


async def test_face_without_attributes(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await new_face(client, user)
    await new_face(client, user, attribute={"basic_attributes": BASIC})
    face = await get_json(client, f"/6/faces/{face_id}", user)
    assert (face["external_id"], face["user_data"], face["avatar"], face["lists"], face["event_id"]) == (
        "",
        "",
        "",
        [],
        None,
    )
    got = await get_json(client, f"/6/faces/{face_id}/attributes", user)
    assert got == {
        "attributes": {
            "basic_attributes": None,
            "face_descriptor_samples": [],
            "face_descriptor": None,
            "basic_attributes_samples": [],
            "create_time": None,
        }
    }
    assert await face_count(client, user) == 2
    assert (await get_json(client, "/6/faces/attributes/count", user))["faces_count"] == 1


async def test_create_errors_store_nothing(client, accounts: Accounts) -> None:
    user, other = await accounts.create(), await accounts.create()
    foreign_list = await new_list(client, other)
    mine = await new_list(client, user)
    missing = str(uuid.uuid4())
    cases = [
        (
            {"userdata": "x"},
            12022,
            "Failed to validate input json. Path: '', message: "
            "'Additional properties are not allowed ('userdata' was unexpected)'",
        ),
        ({"user_data": "x" * 129}, 12022, None),
        ({"external_id": "x" * 37}, 12022, None),
        ({"avatar": "x" * 257}, 12022, None),
        ({"lists": []}, 12022, None),
        ({"lists": [mine, mine]}, 12022, None),
        ({"event_id": "not-a-uuid"}, 12022, None),
        ({"attribute": {}}, 12022, None),
        ({"attribute": {"attribute_id": "nope"}}, 12022, None),
        ({"attribute": {"attribute_id": missing, "basic_attributes": BASIC}}, 12022, None),
        (
            {"attribute": {"face_descriptors": [{"descriptor": raw_b64(vector()), "version": 59}]}},
            12036,
            None,
        ),
        ({"lists": [mine, missing]}, 22003, f"List with id '{missing}' not found"),
        ({"lists": [foreign_list]}, 22003, f"List with id '{foreign_list}' not found"),
    ]
    for body, code, detail in cases:
        await assert_error(await client.post("/6/faces", json=body, headers=user), 400, code, detail)
    bad_type = await client.post("/6/faces", data="{}", headers={**user, "Content-Type": "text/plain"})
    await assert_error(bad_type, 400, 12017)
    assert await face_count(client, user) == 0
    assert (await get_json(client, f"/6/lists/{mine}", user))["last_update_time"] == (
        await get_json(client, f"/6/lists/{mine}", user)
    )["create_time"]


async def test_filters_ordering_and_pagination(client, accounts: Accounts) -> None:
    user = await accounts.create()
    list_id = await new_list(client, user)
    event_id = str(uuid.uuid4())
    ids = []
    for index in range(5):
        body: dict = {"user_data": f"Person {index}", "external_id": f"ext-{index % 2}"}
        if index == 1:
            body.update(event_id=event_id, lists=[list_id])
        ids.append(await new_face(client, user, **body))
    times = [(await get_json(client, f"/6/faces/{i}", user))["create_time"] for i in ids]

    async def listed(**params) -> list[str]:  # type: ignore[no-untyped-def]
        return [f["face_id"] for f in (await get_json(client, "/6/faces", user, **params))["faces"]]

    newest_first = ids[::-1]
    assert await listed() == newest_first
    assert await listed(page_size="2") == newest_first[:2]
    assert await listed(page_size="2", page="3") == newest_first[4:]
    assert await listed(page="4", page_size="2") == []
    assert await listed(event_id=event_id) == [ids[1]]
    assert await listed(list_id=list_id) == [ids[1]]
    assert await listed(external_ids="ext-1,nope") == [ids[3], ids[1]]
    assert await listed(face_ids=f"{ids[0]},{ids[2]}") == [ids[2], ids[0]]
    assert await listed(user_data="person 3") == [ids[3]]  # substring, case-insensitive
    assert await listed(user_data="%") == []  # LIKE wildcards are literal
    assert await listed(create_time__gte=times[3]) == [ids[4], ids[3]]
    assert await listed(create_time__lt=times[1]) == [ids[0]]
    by_id = sorted(ids, reverse=True)
    assert await listed(face_id__gte=by_id[-1]) == by_id  # id bound: sorted by id, descending
    assert await listed(face_id__lt=by_id[1], page_size="2") == by_id[2:4]
    count = await get_json(client, "/6/faces/count", user, external_ids="ext-0", create_time__gte=times[1])
    assert count == {"faces_count": 2}
    bad = [
        ("page", "0"),
        ("page_size", "1001"),
        ("face_ids", "x"),
        ("create_time__lt", "yesterday"),
        ("list_id", "1"),
        ("unknown", "1"),
    ]
    for name, value in bad:
        resp = await client.get("/6/faces", params={name: value}, headers=user)
        await assert_error(resp, 400, 12012, f"Bad query parameters '{name}'")
    await assert_error(await client.get("/6/faces/count", params={"page": "1"}, headers=user), 400, 12012)
    await assert_error(
        await client.get("/6/faces/attributes/count", params={"list_id": list_id}, headers=user), 400, 12012
    )


async def test_targets(client, accounts: Accounts) -> None:
    user = await accounts.create()
    list_id = await new_list(client, user)
    face_id = await new_face(client, user, user_data="u", lists=[list_id])
    narrowed = await get_json(client, "/6/faces", user, targets="face_id,lists")
    assert narrowed == {"faces": [{"face_id": face_id, "lists": [list_id]}]}
    assert await get_json(client, f"/6/faces/{face_id}", user, targets="user_data") == {"user_data": "u"}
    detail = f"'not_a_target' is not valid target to get faces. Valid target should be one of {FACE_TARGETS}."
    for url in ("/6/faces", f"/6/faces/{face_id}"):
        await assert_error(
            await client.get(url, params={"targets": "face_id,not_a_target"}, headers=user),
            400,
            22016,
            detail,
        )
    assert (await client.head(f"/6/faces/{face_id}", params={"targets": "nope"}, headers=user)).status == 400
    assert (await client.head(f"/6/faces/{face_id}", params={"targets": "lists"}, headers=user)).status == 200
    attributes = await get_json(client, f"/6/faces/{face_id}/attributes", user, targets="create_time")
    assert attributes == {"attributes": {"create_time": None}}
    resp = await client.get(f"/6/faces/{face_id}/attributes", params={"targets": "face_id"}, headers=user)
    body = await assert_error(resp, 400, 22016)
    allowed = ["basic_attributes", "face_descriptor_samples", "face_descriptor", "basic_attributes_samples"]
    assert body["detail"].endswith(f"Valid target should be one of {[*allowed, 'create_time']}.")


async def test_patch_face(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await new_face(client, user, user_data="old", event_id=str(uuid.uuid4()))
    url = f"/6/faces/{face_id}"
    update = {"user_data": "new", "external_id": "e", "avatar": "a", "event_id": None}
    assert (await client.patch(url, json=update, headers=user)).status == 204
    face = await get_json(client, url, user)
    assert {key: face[key] for key in update} == update
    event_id = str(uuid.uuid4())
    assert (await client.patch(url, json={"event_id": event_id}, headers=user)).status == 204
    assert (await get_json(client, url, user))["event_id"] == event_id
    assert (await get_json(client, url, user))["user_data"] == "new"
    await assert_error(await client.patch(url, json={"userdata": "x"}, headers=user), 400, 12022)
    await assert_error(await client.patch(url, json={"user_data": "x" * 129}, headers=user), 400, 12022)
    missing = str(uuid.uuid4())
    await assert_error(
        await client.patch(f"/6/faces/{missing}", json={}, headers=user),
        404,
        22002,
        f"Face with id '{missing}' not found",
    )


async def test_put_get_delete_attributes(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await new_face(client, user)
    url = f"/6/faces/{face_id}/attributes"
    samples = [str(uuid.uuid4())]
    put = await client.put(
        url, json={"basic_attributes": BASIC, "basic_attributes_samples": samples}, headers=user
    )
    assert put.status == 204, await put.text()
    got = (await get_json(client, url, user))["attributes"]
    assert got["basic_attributes"] == BASIC and got["face_descriptor"] is None and got["create_time"]
    values = vector()
    resp = await client.post("/6/attributes", json={"face_descriptors": [raw_item(values)]}, headers=user)
    attribute_id = (await resp.json())["attribute_id"]
    assert (await client.put(url, json={"attribute_id": attribute_id}, headers=user)).status == 204
    got = (await get_json(client, url, user))["attributes"]
    assert got["basic_attributes"] is None and got["basic_attributes_samples"] == []  # replaced, not merged
    assert np.array_equal(
        np.frombuffer(base64.b64decode(got["face_descriptor"]["descriptor"]), "<f4"), values
    )
    other_version = await get_json(client, url, user, descriptor_version="59")
    assert other_version["attributes"]["face_descriptor"] is None
    for name, value in (("descriptor_format", "xml"), ("descriptor_version", "1"), ("account_id", "x")):
        await assert_error(await client.get(url, params={name: value}, headers=user), 400, 12012)
    await assert_error(
        await client.put(url, json={"attribute_id": str(uuid.uuid4())}, headers=user), 400, 22011
    )
    await assert_error(await client.put(url, json={"basic_attributes": {"age": 1}}, headers=user), 400, 12022)
    assert (await get_json(client, url, user))["attributes"]["face_descriptor"] is not None  # unchanged
    assert (await client.delete(url, headers=user)).status == 204
    assert (await get_json(client, url, user))["attributes"]["face_descriptor"] is None
    assert await get_json(client, f"{url}/samples", user) == {"samples": []}
    missing = f"/6/faces/{uuid.uuid4()}/attributes"
    await assert_error(await client.put(missing, json={"basic_attributes": BASIC}, headers=user), 404, 22002)
    await assert_error(await client.get(missing, headers=user), 404, 22002)
    await assert_error(await client.delete(missing, headers=user), 404, 22002)
    await assert_error(await client.get(f"{missing}/samples", headers=user), 404, 22002)


async def test_delete_faces(client, accounts: Accounts) -> None:
    user = await accounts.create()
    list_id = await new_list(client, user)
    ids = [await new_face(client, user, lists=[list_id]) for _ in range(3)]
    missing = str(uuid.uuid4())
    resp = await client.delete("/6/faces", json={"face_ids": [ids[0], missing]}, headers=user)
    await assert_error(resp, 404, 22002, f"Face with id '{missing}' not found")
    assert await face_count(client, user) == 3  # nothing deleted
    before = (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"]
    resp = await client.delete(
        "/6/faces", params={"ignore": "1"}, json={"face_ids": [ids[0], missing]}, headers=user
    )
    assert resp.status == 204
    assert await face_count(client, user) == 2
    assert (await get_json(client, f"/6/lists/{list_id}", user))["last_update_time"] > before
    for body in ({"face_ids": []}, {"face_ids": [ids[1], ids[1]]}, {"faces": [ids[1]]}, {"face_ids": ["x"]}):
        await assert_error(await client.delete("/6/faces", json=body, headers=user), 400, 12022)
    await assert_error(
        await client.delete("/6/faces", params={"ignore": "2"}, json={"face_ids": [ids[1]]}, headers=user),
        400,
        12012,
    )
    assert (await client.delete(f"/6/faces/{ids[1]}", headers=user)).status == 204
    await assert_error(await client.delete(f"/6/faces/{ids[1]}", headers=user), 404, 22002)
    assert (await client.head(f"/6/faces/{ids[1]}", headers=user)).status == 404
    assert (await client.head(f"/6/faces/{ids[2]}", headers=user)).status == 200
    assert [f["face_id"] for f in (await get_json(client, "/6/faces", user, list_id=list_id))["faces"]] == [
        ids[2]
    ]


async def test_faces_are_isolated_between_accounts(client, accounts: Accounts) -> None:
    owner, other = await accounts.create(), await accounts.create()
    face_id = await new_face(client, owner, user_data="secret", attribute={"basic_attributes": BASIC})
    url = f"/6/faces/{face_id}"
    for resp in (
        await client.get(url, headers=other),
        await client.patch(url, json={"user_data": "x"}, headers=other),
        await client.delete(url, headers=other),
        await client.get(f"{url}/attributes", headers=other),
        await client.put(f"{url}/attributes", json={"basic_attributes": BASIC}, headers=other),
        await client.delete(f"{url}/attributes", headers=other),
        await client.get(f"{url}/attributes/samples", headers=other),
    ):
        await assert_error(resp, 404, 22002)
    assert (await client.head(url, headers=other)).status == 404
    assert await get_json(client, "/6/faces", other, account_id=owner["account_id"]) == {"faces": []}
    assert (await get_json(client, "/6/faces/count", other, account_id=owner["account_id"]))[
        "faces_count"
    ] == 0
    assert (await get_json(client, "/6/faces/attributes/count", other))["faces_count"] == 0
    await assert_error(
        await client.delete("/6/faces", json={"face_ids": [face_id]}, headers=other), 404, 22002
    )
    ignored = await client.delete(
        "/6/faces", params={"ignore": "1"}, json={"face_ids": [face_id]}, headers=other
    )
    assert ignored.status == 204
    # The admin reads every account, but mutations act on its own account only.
    assert (await get_json(client, url, ADMIN))["user_data"] == "secret"
    await assert_error(await client.patch(url, json={"user_data": "x"}, headers=ADMIN), 404, 22002)
    face = await get_json(client, url, owner)
    assert face["user_data"] == "secret"
    assert (await get_json(client, f"{url}/attributes", owner))["attributes"]["basic_attributes"] == BASIC
    assert [
        f["face_id"]
        for f in (await get_json(client, "/6/faces", ADMIN, account_id=owner["account_id"]))["faces"]
    ] == [face_id]


async def test_face_token_permissions(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_id = await new_face(client, user)
    viewer = bearer(await accounts.token(user, {"face": ["view"]}))
    assert (await client.get(f"/6/faces/{face_id}", headers=viewer)).status == 200
    assert (await client.get("/6/faces/count", headers=viewer)).status == 200
    denied = [
        (await client.post("/6/faces", json={}, headers=viewer), "creation"),
        (await client.patch(f"/6/faces/{face_id}", json={}, headers=viewer), "modification"),
        (
            await client.put(
                f"/6/faces/{face_id}/attributes", json={"basic_attributes": BASIC}, headers=viewer
            ),
            "modification",
        ),
        (await client.delete(f"/6/faces/{face_id}", headers=viewer), "deletion"),
        (await client.delete("/6/faces", json={"face_ids": [face_id]}, headers=viewer), "deletion"),
    ]
    for resp, action in denied:
        detail = f"Request denied due to token restrictions, required '{action}' permission for 'face'"
        await assert_error(resp, 403, 11059, detail)
    creator = bearer(await accounts.token(user, {"face": ["creation"]}))
    assert (await client.post("/6/faces", json={}, headers=creator)).status == 201
    await assert_error(await client.get(f"/6/faces/{face_id}", headers=creator), 403, 11059)
    assert await face_count(client, user) == 2


async def test_faces_on_postgresql(pg_client) -> None:  # type: ignore[no-untyped-def]
    accounts = Accounts(pg_client)
    user = await accounts.create()
    resp = await pg_client.post(
        "/6/attributes", json={"face_descriptors": [raw_item(vector())]}, headers=user
    )
    attribute_id = (await resp.json())["attribute_id"]
    list_id = await new_list(pg_client, user)
    face_id = await new_face(
        pg_client, user, attribute={"attribute_id": attribute_id}, user_data="Mixed Case", lists=[list_id]
    )
    listed = await get_json(pg_client, "/6/faces", user, user_data="mixed", list_id=list_id)
    assert [f["face_id"] for f in listed["faces"]] == [face_id]
    got = await get_json(pg_client, f"/6/faces/{face_id}/attributes", user, descriptor_format="sdk")
    assert from_sdk(base64.b64decode(got["attributes"]["face_descriptor"])).version == DLIB_VERSION
    resp = await pg_client.post("/6/faces", json={"lists": [str(uuid.uuid4())]}, headers=user)
    await assert_error(resp, 400, 22003)
    assert (await get_json(pg_client, "/6/faces/count", user))["faces_count"] == 1
    assert (await pg_client.delete("/6/faces", json={"face_ids": [face_id]}, headers=user)).status == 204
    assert (await get_json(pg_client, "/6/faces/count", user))["faces_count"] == 0
