"""/6/detector and /6/extractor: photos -> face samples -> temporary attributes (CORE.md §11).

Estimations Argus has no model for are refused with 400 naming them, never faked; the
capabilities are listed in README.md ("Face pipeline").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aiohttp import web

from api import errors
from api.descriptors import DLIB_VERSION, Descriptor
from api.errors import ErrorKind, LunaError
from api.face_service import FaceService, FoundFace
from api.image_input import InputImage, read_images
from api.keys import BLOBS, DB, FACES
from api.resources.attributes import DEFAULT_TTL, TTL_SECONDS, new_attribute
from api.responses import external_url, principal
from api.validation import UUID_RE, parse_query, q_enum, q_float, q_int, read_json
from engines.images import ImageError, decode_image, encode_image

FLAG = q_enum("0", "1")
# Query switches of /6/detector for estimations no installed model provides.
NO_MODEL = (
    "estimate_emotions",
    "estimate_mask",
    "extract_exif",
    "estimate_quality",
    "estimate_gaze",
    "estimate_eyes_attributes",
    "estimate_mouth_attributes",
    "estimate_face_quality",
)
NEEDS_68 = ("estimate_head_pose", "detect_landmarks68", "pitch_threshold", "roll_threshold", "yaw_threshold")
DETECTOR_QUERY = {
    "multiface_policy": q_enum("0", "1", "2"),
    "warped_image": FLAG,
    "use_exif_info": FLAG,
    **dict.fromkeys(NO_MODEL, FLAG),
    "estimate_head_pose": FLAG,
    "detect_landmarks68": FLAG,
    "pitch_threshold": q_int(0, 180),
    "roll_threshold": q_int(0, 180),
    "yaw_threshold": q_int(0, 180),
}
SUCCESS = {
    "error_code": 0,
    "desc": "Success",
    "detail": "Success",
    "link": "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-0",
}
# The spec gives no code for "more than one face with multiface_policy=0"; Argus's own range.
MULTIPLE_FACES = ErrorKind(99502, "Multiple faces found", 400)
FACES_DISABLED = ErrorKind(11071, "Forbidden", 403)


def faces(request: web.Request) -> FaceService:
    service = request.app.get(FACES)
    if service is None:
        raise LunaError(FACES_DISABLED, "Face detection is disabled in this Argus (faces.enabled = false)")
    return service


def check_capabilities(query: dict[str, Any], service: FaceService) -> None:
    """400 naming the first requested estimation without a model; never a silent omission."""
    for name in NO_MODEL:
        if query.get(name) == "1":
            raise LunaError(
                errors.BAD_QUERY,
                f"Bad query parameters '{name}': no model for this estimation is installed in Argus",
            )
    for name in NEEDS_68:
        if query.get(name) not in (None, "0") and not service.has_landmarks68:
            raise LunaError(
                errors.BAD_QUERY,
                f"Bad query parameters '{name}': needs the 68-point landmarks "
                "model, off by default (faces.landmarks68, non-commercial terms)",
            )


def _rect(box: np.ndarray, shape: tuple[int, ...]) -> dict[str, int]:
    height, width = shape[:2]
    x1, y1, x2, y2 = np.rint(box).astype(int).tolist()
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    return {"x": x1, "y": y1, "width": max(0, x2 - x1), "height": max(0, y2 - y1)}


def _points(points: np.ndarray) -> list[list[int]]:
    return np.rint(points).astype(int).tolist()


def _detection(face: FoundFace, shape: tuple[int, ...], query: dict[str, Any]) -> dict[str, Any]:
    detection: dict[str, Any] = {"rect": _rect(face.box, shape), "landmarks5": _points(face.landmarks5)}
    if query.get("detect_landmarks68") == "1" and face.landmarks68 is not None:
        detection["landmarks68"] = _points(face.landmarks68)
    if query.get("estimate_head_pose") == "1" and face.head_pose is not None:
        yaw, pitch, roll = face.head_pose
        detection["attributes"] = {"head_pose": {"yaw": yaw, "pitch": pitch, "roll": roll}}
    return detection


def _filter_reasons(face: FoundFace, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Head-pose thresholds: a face whose angle deviates more than the threshold is filtered."""
    if face.head_pose is None:
        return []
    reasons = []
    for name, value in zip(
        ("yaw_threshold", "pitch_threshold", "roll_threshold"), face.head_pose, strict=True
    ):
        if name in query and abs(value) > query[name]:
            reasons.append({"filter_name": name, "object_value": value, "threshold_value": query[name]})
    return reasons


async def _faces_on(image: InputImage, service: FaceService, query: dict[str, Any]) -> list[FoundFace]:
    if image.warped or query.get("warped_image") == "1":
        if image.pixels.shape[:2] != (250, 250):  # type: ignore[union-attr]
            raise LunaError(errors.BAD_SAMPLE_SIZE, "Image size is not equal to 250x250")
        return [service.from_warp(image.pixels)]  # type: ignore[arg-type]
    boxes = None
    if image.boxes is not None:
        boxes = np.array(
            [[b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]] for b in image.boxes], np.float32
        )
    details = any(query.get(name) not in (None, "0") for name in NEEDS_68)
    found = await service.find(image.pixels, boxes, details)  # type: ignore[arg-type]
    policy = query.get("multiface_policy", "1")
    if policy == "0" and len(found) > 1:
        raise LunaError(MULTIPLE_FACES, f"{len(found)} faces found, multiface_policy=0 allows one")
    return found[:1] if policy == "2" else found


async def _detect_image(request: web.Request, image: InputImage, query: dict[str, Any]) -> dict[str, Any]:
    empty = {"samples": [], "filtered_detections": {"face_detections": []}}
    if image.error is not None:
        return {"filename": image.filename, "status": 0, "error": image.error.body(), "detections": empty}
    try:
        found = await _faces_on(image, faces(request), query)
    except LunaError as exc:
        return {"filename": image.filename, "status": 0, "error": exc.body(), "detections": empty}
    samples, filtered = [], []
    for face in found:
        detection = _detection(face, image.pixels.shape, query)  # type: ignore[union-attr]
        reasons = _filter_reasons(face, query)
        if reasons:
            filtered.append({"filter_reasons": reasons, "detection": detection})
            continue
        sample_id = image.sample_id
        if sample_id is None:
            row = await request.app[BLOBS].put(
                principal(request).account_id, "face_sample", encode_image(face.warp), "image/jpeg"
            )
            sample_id = row.blob_id
        url = f"/6/samples/faces/{sample_id}"
        samples.append({"face": {"sample_id": sample_id, "url": url, "detection": detection}})
    detections = {"samples": samples, "filtered_detections": {"face_detections": filtered}}
    return {"filename": image.filename, "status": 1, "error": SUCCESS, "detections": detections}


async def post_detector(request: web.Request) -> web.Response:
    query = parse_query(request, DETECTOR_QUERY)
    check_capabilities(query, faces(request))
    images = (await read_images(request)).images
    if len(images) == 1 and images[0].error is not None:
        raise images[0].error  # one image that cannot be used: the request as a whole is bad
    results = [await _detect_image(request, image, query) for image in images]
    return web.json_response({"images": results}, status=201)


# -- extractor ------------------------------------------------------------------------------
EXTRACTOR_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 8,
    "items": {"type": "string", "pattern": UUID_RE},
}
EXTRACTOR_QUERY = {
    "score_threshold": q_float(0, 1),
    "extract_descriptor": FLAG,
    "extract_basic_attributes": FLAG,
    "aggregate_attributes": FLAG,
    "ttl": TTL_SECONDS,
}


async def _load_warps(request: web.Request, sample_ids: list[str]) -> list[np.ndarray]:
    warps = []
    for sample_id in sample_ids:
        stored = await request.app[BLOBS].get("face_sample", sample_id, principal(request).read_scope())
        if stored is None:
            raise LunaError(errors.IMAGE_NOT_FOUND, f"Image with id '{sample_id}' not found")
        try:
            warps.append(decode_image(stored.data, 250 * 250))
        except ImageError as exc:
            raise LunaError(errors.BAD_IMAGE, f"Sample '{sample_id}' cannot be decoded: {exc}") from None
    return warps


async def post_extractor(request: web.Request) -> web.Response:
    query = parse_query(request, EXTRACTOR_QUERY, {"ttl": DEFAULT_TTL, "extract_descriptor": "1"})
    if query.get("extract_basic_attributes") == "1":
        raise LunaError(
            errors.BAD_QUERY,
            "Bad query parameters 'extract_basic_attributes': no model for basic "
            "attributes (age, gender, ethnicity) is installed in Argus",
        )
    if query.get("score_threshold", 0) > 0:
        raise LunaError(
            errors.BAD_QUERY,
            "Bad query parameters 'score_threshold': no descriptor quality model "
            "is installed in Argus, so only 0 is meaningful",
        )
    if query["extract_descriptor"] == "0":
        raise LunaError(
            errors.BAD_QUERY,
            "Bad query parameters 'extract_descriptor': with no descriptor and "
            "no basic attributes there is nothing to extract",
        )
    service = faces(request)
    sample_ids = list(dict.fromkeys(await read_json(request, EXTRACTOR_SCHEMA)))
    warps = await _load_warps(request, sample_ids)
    values = await service.describe(warps)
    if query.get("aggregate_attributes") == "1":
        # One attribute for all samples: the mean descriptor (dlib descriptors compare by
        # Euclidean distance, so the mean is the point closest to all of them).
        groups, vectors = [sample_ids], [values.mean(axis=0)]
    else:
        groups, vectors = [[s] for s in sample_ids], list(values)
    account_id = principal(request).account_id
    results, rows = [], []
    for group, vector in zip(groups, vectors, strict=True):
        row = new_attribute(
            account_id, query["ttl"], Descriptor(DLIB_VERSION, vector.astype(np.float32)), None, group, []
        )
        rows.append(row)
        url = f"/6/attributes/{row.attribute_id}"
        results.append(
            {
                "attribute_id": row.attribute_id,
                "url": url,
                "external_url": external_url(request, url),
                "samples": group,
            }
        )
    async with request.app[DB].session() as session:
        session.add_all(rows)
        await session.commit()
    return web.json_response(results, status=201)
