"""Temporary attributes: descriptor forms and versions, TTL, targets, msgpack, isolation."""

from __future__ import annotations

import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import msgpack
import numpy as np

from api import janitor
from api.app import create_app
from api.descriptors import DLIB_VERSION, Descriptor, from_sdk
from api.keys import BLOBS, DB
from api.storage.models import Attribute
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, basic, make_config

RNG = np.random.default_rng(7)


def vector() -> np.ndarray:
    values = RNG.normal(size=128).astype(np.float32)
    return values / np.linalg.norm(values)


def raw_b64(values: np.ndarray) -> str:
    return base64.b64encode(values.astype("<f4").tobytes()).decode()


async def create(client, body: dict, headers=ADMIN, **params) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/attributes", json=body, params=params, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_raw_descriptor_round_trip(client) -> None:
    values = vector()
    sample = str(uuid.uuid4())
    made = await create(
        client,
        {
            "face_descriptors": [{"descriptor": raw_b64(values), "version": DLIB_VERSION}],
            "face_descriptor_samples": [sample],
        },
    )
    assert made["url"] == f"/6/attributes/{made['attribute_id']}"
    got = await (await client.get(made["url"], headers=ADMIN)).json()
    assert np.array_equal(np.frombuffer(base64.b64decode(got["face_descriptor"]), "<f4"), values)
    assert got["face_descriptor_samples"] == [sample] and got["basic_attributes"] is None
    samples = await (await client.get(f"{made['url']}/samples", headers=ADMIN)).json()
    assert samples == {"samples": [sample]}


async def test_sdk_descriptor_form(client) -> None:
    values = vector()
    blob = Descriptor(DLIB_VERSION, values).sdk()
    made = await create(client, {"face_descriptors": [base64.b64encode(blob).decode()]})
    got = await client.get(made["url"], headers={**ADMIN, "Accept": "application/msgpack"})
    assert got.content_type == "application/msgpack"
    body = msgpack.unpackb(await got.read())
    assert np.array_equal(np.frombuffer(body["face_descriptor"], "<f4"), values)
    assert np.array_equal(from_sdk(blob).values, values)


async def test_msgpack_request_body(client) -> None:
    values = vector()
    payload = msgpack.packb(
        {
            "face_descriptors": [{"descriptor": values.astype("<f4").tobytes(), "version": DLIB_VERSION}],
            "basic_attributes": {"age": 30, "gender": 1, "ethnicity": 4},
        },
        use_bin_type=True,
    )
    resp = await client.post(
        "/6/attributes", data=payload, headers={**ADMIN, "Content-Type": "application/msgpack"}
    )
    assert resp.status == 201, await resp.text()
    got = await (await client.get((await resp.json())["url"], headers=ADMIN)).json()
    assert got["basic_attributes"] == {"age": 30, "gender": 1, "ethnicity": 4}


async def test_descriptor_errors(client) -> None:
    good = raw_b64(vector())
    cases = [
        (
            {"face_descriptors": [{"descriptor": good, "version": 59}]},
            12036,
            "Descriptor version 59 is not registered in the system",
        ),
        ({"face_descriptors": [{"descriptor": good, "version": 37}]}, 12022, None),  # not a version at all
        (
            {
                "face_descriptors": [
                    {"descriptor": base64.b64encode(b"x" * 200).decode(), "version": DLIB_VERSION}
                ]
            },
            12034,
            "Descriptor has incorrect length 200",
        ),
        ({"face_descriptors": [{"descriptor": "@@not base64@@", "version": DLIB_VERSION}]}, 18001, None),
        (
            {"face_descriptors": [base64.b64encode(b"garbage-bytes-here").decode()]},
            12038,
            "SDK descriptor is not valid",
        ),
        (
            {
                "face_descriptors": [
                    base64.b64encode(struct.pack("<4sII", b"AGD1", 59, 128) + b"\0" * 512).decode()
                ]
            },
            12036,
            None,
        ),
        ({"face_descriptors": []}, 12022, None),
        ({"face_descriptor_samples": []}, 12022, None),
        ({"basic_attributes": {"age": 101, "gender": 1, "ethnicity": 1}}, 12022, None),
    ]
    for body, code, detail in cases:
        await assert_error(await client.post("/6/attributes", json=body, headers=ADMIN), 400, code, detail)
    form = aiohttp.FormData()
    form.add_field("xpk_file", b"x", filename="f.xpk", content_type="application/x-vl-xpk")
    multipart = await client.post("/6/attributes", data=form, headers=ADMIN)
    await assert_error(multipart, 400, 12035)
    await assert_error(
        await client.post(
            "/6/attributes", data=b"\xc1", headers={**ADMIN, "Content-Type": "application/msgpack"}
        ),
        400,
        12022,
    )
    async with client.app[DB].session() as session:
        from sqlalchemy import func, select

        assert (await session.execute(select(func.count()).select_from(Attribute))).scalar_one() == 0


async def test_ttl_and_expiry(client) -> None:
    made = await create(client, {"basic_attributes": {"age": 20, "gender": 0, "ethnicity": 2}}, ttl="5")
    async with client.app[DB].session() as session:
        row = await session.get(Attribute, made["attribute_id"])
        assert timedelta(seconds=4) < row.expire_time - row.create_time <= timedelta(seconds=5)
        row.expire_time = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    await assert_error(await client.get(made["url"], headers=ADMIN), 404, 22011)
    listing = await (
        await client.get("/6/attributes", params={"attribute_ids": made["attribute_id"]}, headers=ADMIN)
    ).json()
    assert listing == {"attributes": []}
    assert await janitor.sweep(client.app[DB], client.app[BLOBS]) == (1, 0)
    for bad in ("0", "86401", "x"):
        await assert_error(
            await client.post("/6/attributes", params={"ttl": bad}, json={}, headers=ADMIN), 400, 12012
        )


async def test_targets_and_versions(client) -> None:
    made = await create(
        client, {"face_descriptors": [{"descriptor": raw_b64(vector()), "version": DLIB_VERSION}]}
    )
    url = made["url"]
    narrowed = await (
        await client.get(url, params={"targets": "attribute_id,create_time"}, headers=ADMIN)
    ).json()
    assert set(narrowed) == {"attribute_id", "create_time"}
    other_version = await (await client.get(url, params={"descriptor_version": "59"}, headers=ADMIN)).json()
    assert other_version["face_descriptor"] is None
    bad = await client.get(url, params={"targets": "not_a_target"}, headers=ADMIN)
    await assert_error(bad, 400, 22016)
    await assert_error(await client.get(url, params={"descriptor_version": "1"}, headers=ADMIN), 400, 12012)
    await assert_error(await client.get("/6/attributes", headers=ADMIN), 400, 12012)


async def test_attributes_isolated_between_accounts(client, accounts: Accounts) -> None:
    one, two = await accounts.create(), await accounts.create()
    made = await create(
        client,
        {"basic_attributes": {"age": 1, "gender": 0, "ethnicity": 1}},
        headers=basic(one["login"], "password1"),
    )
    other = basic(two["login"], "password1")
    await assert_error(await client.get(made["url"], headers=other), 404, 22011)
    assert (await client.head(made["url"], headers=other)).status == 404
    await assert_error(await client.delete(made["url"], headers=other), 404, 22011)
    listing = await (
        await client.get("/6/attributes", params={"attribute_ids": made["attribute_id"]}, headers=other)
    ).json()
    assert listing == {"attributes": []}
    owner = basic(one["login"], "password1")
    assert (await client.head(made["url"], headers=owner)).status == 200
    assert (await client.delete(made["url"], headers=owner)).status == 204
    await assert_error(await client.get(made["url"], headers=owner), 404, 22011)


async def test_attributes_on_postgresql(aiohttp_client, tmp_path: Path) -> None:
    from tests.conftest import PG_DSN, postgres_or_skip

    await postgres_or_skip()
    client = await aiohttp_client(create_app(make_config(tmp_path, PG_DSN)))
    values = vector()
    made = await create(
        client, {"face_descriptors": [{"descriptor": raw_b64(values), "version": DLIB_VERSION}]}
    )
    got = await (await client.get(made["url"], headers=ADMIN)).json()
    assert np.array_equal(np.frombuffer(base64.b64decode(got["face_descriptor"]), "<f4"), values)
