"""Face descriptors on the wire: LUNA's raw form and Argus's own versioned binary form.

* raw: the descriptor's float32 values (little-endian) as bytes; base64 in JSON, bytes in
  msgpack. Sent with a version: ``{"descriptor": ..., "version": 100}``.
* Argus binary ("SDK descriptor" slot of the spec): ``b"AGD1"`` + uint32 version + uint32
  length + float32 values, all little-endian; self-describing, so it needs no version beside it.

Only versions of installed models are registered; any other answers 12036. Argus's dlib
ResNet descriptor is version 100, outside LUNA's 46-64 so the two can never be confused.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

import numpy as np

from api import errors
from api.errors import LunaError

MAGIC = b"AGD1"
HEADER = struct.Struct("<4sII")
# version -> number of float32 values. Registered by the face engine that produces them.
DLIB_VERSION = 100
REGISTERED: dict[int, int] = {DLIB_VERSION: 128}
LUNA_VERSIONS = (46, 52, 54, 56, 57, 58, 59, 60, 62, 64)
ALL_VERSIONS = (*LUNA_VERSIONS, *REGISTERED)


@dataclass(frozen=True)
class Descriptor:
    version: int
    values: np.ndarray  # float32 (n,)

    @property
    def raw(self) -> bytes:
        return self.values.astype("<f4").tobytes()

    def sdk(self) -> bytes:
        return HEADER.pack(MAGIC, self.version, len(self.values)) + self.raw


def _check_version(version: int) -> int:
    if version not in REGISTERED:
        raise LunaError(
            errors.DESCRIPTOR_VERSION, f"Descriptor version {version} is not registered in the system"
        )
    return REGISTERED[version]


def _b64(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LunaError(errors.BAD_BASE64, "Failed convert data from base64 to bytes") from None


def from_raw(data: str | bytes, version: int) -> Descriptor:
    size = _check_version(version)
    raw = _b64(data)
    if len(raw) != size * 4:
        raise LunaError(errors.DESCRIPTOR_LENGTH, f"Descriptor has incorrect length {len(raw)}")
    values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.isfinite(values).all():
        raise LunaError(errors.DESCRIPTOR_LENGTH, "Descriptor has non-finite values")
    return Descriptor(version, values)


def from_sdk(data: str | bytes) -> Descriptor:
    blob = _b64(data)
    if len(blob) < HEADER.size or blob[:4] != MAGIC:
        raise LunaError(errors.BAD_SDK_DESCRIPTOR, "SDK descriptor is not valid")
    _, version, length = HEADER.unpack_from(blob)
    size = _check_version(version)
    if length != size or len(blob) != HEADER.size + 4 * size:
        raise LunaError(
            errors.DESCRIPTOR_LENGTH, f"Descriptor has incorrect length {len(blob) - HEADER.size}"
        )
    return from_raw(blob[HEADER.size :], version)


def parse(item: str | bytes | dict) -> Descriptor:
    """One entry of a ``face_descriptors`` list: ``{descriptor, version}`` or an SDK blob."""
    if isinstance(item, dict):
        return from_raw(item["descriptor"], int(item["version"]))
    return from_sdk(item)
