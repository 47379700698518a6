"""Images and samples: store, read back, meta, TTL, isolation, and bad input that stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from api.app import create_app
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, basic, bearer, make_config


def picture(width: int = 64, height: int = 48, ext: str = ".jpg") -> bytes:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(ext, pixels)[1].tobytes()


def stored_files(tmp_path: Path) -> int:
    root = tmp_path / "data" / "blobs"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


async def test_image_round_trip_with_meta_and_ttl(client) -> None:
    data = picture()
    resp = await client.post(
        "/6/images",
        data=data,
        params={"ttl": "7"},
        headers={**ADMIN, "Content-Type": "image/jpeg", "X-Luna-Meta-camera": "gate-1"},
    )
    assert resp.status == 201
    body = await resp.json()
    assert resp.headers["Location"] == body["url"] == f"/6/images/{body['image_id']}"
    got = await client.get(body["url"], headers=ADMIN)
    assert got.status == 200 and got.content_type == "image/jpeg" and await got.read() == data
    expiry = datetime.now(UTC).date() + timedelta(days=7)
    assert got.headers["X-Luna-Expiry-Date"] == expiry.isoformat()
    assert "X-Luna-Meta-camera" not in got.headers
    with_meta = await client.head(body["url"], params={"with_meta": "1"}, headers=ADMIN)
    assert with_meta.status == 200 and with_meta.headers["X-Luna-Meta-camera"] == "gate-1"
    assert (await client.delete(body["url"], headers=ADMIN)).status == 204
    await assert_error(await client.get(body["url"], headers=ADMIN), 404, 13003)
    assert (await client.head(body["url"], headers=ADMIN)).status == 404


@pytest.mark.parametrize("content_type", ["image/bmp", "image/tiff", "image/x-portable-pixmap"])
async def test_other_formats_are_stored_as_jpeg(client, content_type: str) -> None:
    ext = {"image/bmp": ".bmp", "image/tiff": ".tiff", "image/x-portable-pixmap": ".ppm"}[content_type]
    resp = await client.post(
        "/6/images", data=picture(ext=ext), headers={**ADMIN, "Content-Type": content_type}
    )
    assert resp.status == 201
    got = await client.get((await resp.json())["url"], headers=ADMIN)
    assert got.content_type == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(await got.read(), np.uint8), 1).shape == (48, 64, 3)


async def test_bad_images_store_nothing(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path, images={"max_pixels": 100 * 100})))
    good = picture()
    cases = [
        (b"", "image/jpeg", 18002),
        (b"definitely not an image", "image/jpeg", 18002),
        (good[: len(good) - 40], "image/jpeg", 18002),  # truncated
        (picture(200, 200), "image/jpeg", 18002),  # over max_pixels
        (picture(200, 200, ".png"), "image/png", 18002),  # over max_pixels, refused from the header
        (good, "text/plain", 12017),
    ]
    for data, content_type, code in cases:
        resp = await client.post("/6/images", data=data, headers={**ADMIN, "Content-Type": content_type})
        await assert_error(resp, 400, code)
    await assert_error(
        await client.post(
            "/6/images", params={"ttl": "8"}, data=good, headers={**ADMIN, "Content-Type": "image/jpeg"}
        ),
        400,
        12012,
    )
    assert stored_files(tmp_path) == 0


async def test_images_are_isolated_between_accounts(client, accounts: Accounts) -> None:
    one, two = await accounts.create(), await accounts.create()
    resp = await client.post(
        "/6/images",
        data=picture(),
        headers={**basic(one["login"], "password1"), "Content-Type": "image/jpeg"},
    )
    url = (await resp.json())["url"]
    other = basic(two["login"], "password1")
    await assert_error(await client.get(url, headers=other), 404, 13003)
    await assert_error(await client.delete(url, headers=other), 404, 13003)
    assert (await client.get(url, headers=basic(one["login"], "password1"))).status == 200
    # admins read every account's data, but deleting stays with the owner
    assert (await client.get(url, headers=ADMIN)).status == 200
    await assert_error(await client.delete(url, headers=ADMIN), 404, 13003)


async def test_image_token_permissions(client, accounts: Accounts) -> None:
    user = await accounts.create()
    viewer = await accounts.token(user, {"image": ["view"]})
    resp = await client.post(
        "/6/images", data=picture(), headers={**bearer(viewer), "Content-Type": "image/jpeg"}
    )
    await assert_error(resp, 403, 11059)


async def test_face_sample_must_be_250(client, tmp_path: Path) -> None:
    ok = await client.post(
        "/6/samples/faces", data=picture(250, 250), headers={**ADMIN, "Content-Type": "image/jpeg"}
    )
    assert ok.status == 201
    body = await ok.json()
    assert body["url"] == f"/6/samples/faces/{body['sample_id']}"
    assert (await client.get(body["url"], headers=ADMIN)).status == 200
    # the legacy path reads face samples too
    assert (await client.get(f"/6/samples/{body['sample_id']}", headers=ADMIN)).status == 200
    # a face sample is not a body sample
    await assert_error(await client.get(f"/6/samples/bodies/{body['sample_id']}", headers=ADMIN), 404, 13003)
    bad = await client.post(
        "/6/samples/faces", data=picture(200, 250), headers={**ADMIN, "Content-Type": "image/jpeg"}
    )
    await assert_error(bad, 400, 11030, "Image size is not equal to 250x250")
    assert stored_files(tmp_path) == 1


async def test_body_samples_and_their_permission(client, accounts: Accounts) -> None:
    user = await accounts.create()
    face_only = await accounts.token(user, {"face_sample": ["creation", "view"]})
    headers = {**bearer(face_only), "Content-Type": "image/jpeg"}
    await assert_error(
        await client.post("/6/samples/bodies", data=picture(128, 256), headers=headers), 403, 11059
    )
    resp = await client.post(
        "/6/samples/bodies",
        data=picture(128, 256),
        headers={**basic(user["login"], "password1"), "Content-Type": "image/jpeg"},
    )
    assert resp.status == 201
    await assert_error(await client.get("/6/samples/bodies/not-a-uuid", headers=ADMIN), 404, 12013)


async def test_expired_blobs_vanish_and_are_purged(aiohttp_client, tmp_path: Path) -> None:
    from api.keys import BLOBS

    app = create_app(make_config(tmp_path))
    client = await aiohttp_client(app)
    store = app[BLOBS]
    account = (await (await client.get("/6/account", headers=ADMIN)).json())["account_id"]
    row = await store.put(account, "image", picture(), "image/jpeg", ttl_days=1)
    assert await store.head("image", row.blob_id, None) is not None
    async with store.db.session() as session:  # age it past its TTL
        from api.storage.models import Blob

        stored = await session.get(Blob, row.blob_id)
        stored.expire_time = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    await assert_error(await client.get(f"/6/images/{row.blob_id}", headers=ADMIN), 404, 13003)
    assert await store.purge_expired() == 1
    assert stored_files(tmp_path) == 0
