"""/6/detector and /6/extractor on real photos: samples, descriptors, identity, bad input."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from api.app import create_app
from engines.face.pipeline import MATCH_THRESHOLD, similarity_matrix
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, basic, make_config


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


@pytest.fixture
async def face_client(aiohttp_client, tmp_path: Path):  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(make_config(tmp_path, faces={"enabled": True})))


async def detect(client, image: np.ndarray, headers=ADMIN, **params) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(
        "/6/detector", data=jpeg(image), params=params, headers={**headers, "Content-Type": "image/jpeg"}
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def descriptor_of(client, image: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    found = await detect(client, image, multiface_policy="2")
    sample_id = found["images"][0]["detections"]["samples"][0]["face"]["sample_id"]
    extracted = await (await client.post("/6/extractor", json=[sample_id], headers=ADMIN)).json()
    attribute = await (await client.get(extracted[0]["url"], headers=ADMIN)).json()
    return np.frombuffer(base64.b64decode(attribute["face_descriptor"]), "<f4")


async def test_detect_stores_a_250_sample_with_landmarks(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    body = await detect(face_client, photos["grace_hopper"])
    (image,) = body["images"]
    assert image["status"] == 1 and image["error"]["error_code"] == 0 and image["filename"] == "Raw Image"
    (sample,) = image["detections"]["samples"]
    face = sample["face"]
    rect = face["detection"]["rect"]
    assert 80 < rect["width"] < 400 and 80 < rect["height"] < 400
    for x, y in face["detection"]["landmarks5"]:
        assert rect["x"] <= x <= rect["x"] + rect["width"] and rect["y"] <= y <= rect["y"] + rect["height"]
    got = await face_client.get(face["url"], headers=ADMIN)
    warp = cv2.imdecode(np.frombuffer(await got.read(), np.uint8), cv2.IMREAD_COLOR)
    assert warp.shape == (250, 250, 3)


async def test_same_person_matches_through_the_api(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    astronaut = await descriptor_of(face_client, photos["astronaut"])
    mirrored = await descriptor_of(face_client, cv2.flip(photos["astronaut"], 1))
    messi = await descriptor_of(face_client, photos["messi"])
    hopper = await descriptor_of(face_client, photos["grace_hopper"])
    same = similarity_matrix(astronaut, mirrored)[0, 0]
    others = similarity_matrix(astronaut, np.stack([messi, hopper]))[0]
    assert same >= MATCH_THRESHOLD > others.max()


async def test_multiface_policies(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    left = cv2.resize(photos["grace_hopper"], (400, 400))
    right = cv2.resize(photos["messi"], (600, 400))
    both = np.hstack([left, right])
    many = await detect(face_client, both)
    assert len(many["images"][0]["detections"]["samples"]) >= 2
    best = await detect(face_client, both, multiface_policy="2")
    assert len(best["images"][0]["detections"]["samples"]) == 1
    single = await detect(face_client, both, multiface_policy="0")
    (image,) = single["images"]
    assert image["status"] == 0 and image["error"]["error_code"] == 99502
    assert image["detections"]["samples"] == []


async def test_no_face_is_an_empty_success(face_client) -> None:  # type: ignore[no-untyped-def]
    texture = np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    body = await detect(face_client, texture)
    assert body["images"][0]["status"] == 1 and body["images"][0]["detections"]["samples"] == []


async def test_estimations_without_a_model_are_refused(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    for name in (
        "estimate_emotions",
        "estimate_mask",
        "estimate_quality",
        "estimate_head_pose",
        "detect_landmarks68",
    ):
        resp = await face_client.post(
            "/6/detector",
            data=jpeg(photos["messi"]),
            params={name: "1"},
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        )
        body = await assert_error(resp, 400, 12012)
        assert name in body["detail"]
    await assert_error(
        await face_client.post(
            "/6/detector",
            params={"yaw_threshold": "20"},
            data=b"",
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        ),
        400,
        12012,
    )


async def test_bad_images(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    good = jpeg(photos["messi"])
    for data, content_type, code in (
        (b"not an image", "image/jpeg", 18002),
        (good[:-100], "image/jpeg", 18002),
        (good, "text/plain", 12017),
        (b"@@@", "image/x-jpeg-base64", 18001),
    ):
        resp = await face_client.post(
            "/6/detector", data=data, headers={**ADMIN, "Content-Type": content_type}
        )
        await assert_error(resp, 400, code)


async def test_base64_and_json_forms(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    encoded = base64.b64encode(jpeg(photos["grace_hopper"]))
    resp = await face_client.post(
        "/6/detector", data=encoded, headers={**ADMIN, "Content-Type": "image/x-jpeg-base64"}
    )
    assert len((await resp.json())["images"][0]["detections"]["samples"]) == 1
    boxes = [{"x": 150, "y": 120, "width": 230, "height": 260}]
    resp = await face_client.post(
        "/6/detector",
        json={"image": encoded.decode(), "mimetype": "image/x-jpeg-base64", "face_bounding_boxes": boxes},
        headers=ADMIN,
    )
    (sample,) = (await resp.json())["images"][0]["detections"]["samples"]
    assert sample["face"]["detection"]["rect"] == boxes[0]


async def test_multipart_images_with_boxes(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    form = aiohttp.FormData()
    form.add_field("image", jpeg(photos["grace_hopper"]), filename="hopper.jpg", content_type="image/jpeg")
    form.add_field("image", b"broken", filename="broken.jpg", content_type="image/jpeg")
    form.add_field("image", jpeg(photos["messi"]), filename="messi.jpg", content_type="image/jpeg")
    boxes = [
        {"filename": "messi.jpg", "face_bounding_boxes": [{"x": 180, "y": 60, "width": 80, "height": 90}]}
    ]
    form.add_field("face_bounding_boxes", json.dumps(boxes), content_type="application/json")
    resp = await face_client.post("/6/detector", data=form, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    images = {image["filename"]: image for image in (await resp.json())["images"]}
    assert images["hopper.jpg"]["status"] == 1 and len(images["hopper.jpg"]["detections"]["samples"]) == 1
    assert images["broken.jpg"]["status"] == 0 and images["broken.jpg"]["error"]["error_code"] == 18002
    rect = images["messi.jpg"]["detections"]["samples"][0]["face"]["detection"]["rect"]
    assert rect == boxes[0]["face_bounding_boxes"][0]


async def test_warped_samples(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    found = await detect(face_client, photos["messi"], multiface_policy="2")
    sample_id = found["images"][0]["detections"]["samples"][0]["face"]["sample_id"]
    by_id = await face_client.post("/6/detector", json={"samples": [sample_id]}, headers=ADMIN)
    (sample,) = (await by_id.json())["images"][0]["detections"]["samples"]
    assert sample["face"]["sample_id"] == sample_id  # a warp is not stored twice
    warp = await (await face_client.get(f"/6/samples/faces/{sample_id}", headers=ADMIN)).read()
    warped = await face_client.post(
        "/6/detector",
        data=warp,
        params={"warped_image": "1"},
        headers={**ADMIN, "Content-Type": "image/jpeg"},
    )
    assert len((await warped.json())["images"][0]["detections"]["samples"]) == 1
    not_warp = await detect(face_client, photos["messi"], warped_image="1")
    assert not_warp["images"][0]["status"] == 0 and not_warp["images"][0]["error"]["error_code"] == 11030


async def test_extractor_rules(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for image in (photos["messi"], cv2.flip(photos["messi"], 1)):
        found = await detect(face_client, image, multiface_policy="2")
        ids.append(found["images"][0]["detections"]["samples"][0]["face"]["sample_id"])
    aggregated = await (
        await face_client.post("/6/extractor", json=ids, params={"aggregate_attributes": "1"}, headers=ADMIN)
    ).json()
    assert len(aggregated) == 1 and aggregated[0]["samples"] == ids
    separate = await (await face_client.post("/6/extractor", json=ids, headers=ADMIN)).json()
    assert [item["samples"] for item in separate] == [[ids[0]], [ids[1]]]
    await assert_error(
        await face_client.post("/6/extractor", json=[str(uuid.uuid4())], headers=ADMIN), 404, 13003
    )
    await assert_error(
        await face_client.post(
            "/6/extractor", json=ids, params={"extract_basic_attributes": "1"}, headers=ADMIN
        ),
        400,
        12012,
    )
    await assert_error(
        await face_client.post("/6/extractor", json=[str(uuid.uuid4())] * 9, headers=ADMIN), 400, 12022
    )
    await assert_error(await face_client.post("/6/extractor", json=[], headers=ADMIN), 400, 12022)


async def test_samples_of_another_account_cannot_be_extracted(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    accounts = Accounts(face_client)
    owner, other = await accounts.create(), await accounts.create()
    found = await detect(face_client, photos["messi"], headers=basic(owner["login"], "password1"))
    sample_id = found["images"][0]["detections"]["samples"][0]["face"]["sample_id"]
    resp = await face_client.post(
        "/6/extractor", json=[sample_id], headers=basic(other["login"], "password1")
    )
    await assert_error(resp, 404, 13003)


async def test_faces_disabled_is_403(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/detector", data=b"x", headers={**ADMIN, "Content-Type": "image/jpeg"})
    await assert_error(resp, 403, 11071)
