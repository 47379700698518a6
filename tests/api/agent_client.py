"""Speaks the internal agent protocol (api/agents/protocol.py) for tests, as an agent would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import msgpack
import numpy as np
from aiohttp.test_utils import TestClient

from api.config import Config
from tests.conftest import make_config

KEY = "agent-test-key"


def agent_config(tmp_path: Path, backend_url: str, lease_seconds: float = 30.0, **sections: dict) -> Config:
    """A server on ``backend_url`` with a known agent key; local videos under ``tmp_path/media``."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    (media / "clip.mp4").write_bytes(b"\0")
    return make_config(
        tmp_path,
        backend_url,
        agent={"key": KEY, "lease_seconds": lease_seconds},
        video={"media_dirs": [str(media)]},
        **sections,
    )


def stream_body(tmp_path: Path, analytics: list[dict] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "data": {"type": "videofile", "reference": str(tmp_path / "media" / "clip.mp4")},
        "analytics": analytics or [{"analytic_name": "people_count", "parameters": {}}],
        **fields,
    }


async def new_stream(client: TestClient, headers: dict, body: dict[str, Any]) -> str:
    resp = await client.post("/6/streams", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["stream_id"]


async def get_stream(client: TestClient, headers: dict, stream_id: str) -> dict[str, Any]:
    resp = await client.get(f"/6/streams/{stream_id}", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def report(lease: dict, status: int, error: str | None = None, logs: list[dict] | None = None) -> dict:
    """One stream of a heartbeat."""
    return {
        "stream_id": lease["stream_id"],
        "version": lease["version"],
        "status": status,
        "error": error,
        "logs": logs or [],
    }


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def people_count_event(status: str = "finished", people: int = 3, overview: bytes | None = None) -> dict:
    """An analytic event as an agent sends it: ``people_count_frame_aggregated``, images as bytes."""
    result: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "track_id": str(uuid.uuid4()),
        "people_count": people,
        "video_segment": {"start_time_offset": 1.0, "end_time_offset": 3.5},
        "frames_estimations": [{"time_offset": 1.0, "people_count": people}],
    }
    if overview is not None:
        result["overview"] = {"time_offset": 2.0, "image": overview, "people_coordinates": [[10, 20]]}
    return {
        "event_id": str(uuid.uuid4()),
        "analytic_name": "people_count",
        "event_status": status,
        "time": datetime.now(UTC).isoformat(),
        "result": result,
    }


class AgentClient:
    """One agent: register, heartbeat, deliver events."""

    def __init__(self, client: TestClient, key: str = KEY) -> None:
        self.client = client
        self.headers = {"Argus-Agent-Key": key}
        self.agent_id = ""
        self.lease_seconds = 0.0

    async def register(self, name: str = "test-agent", max_stream_count: int = 8) -> dict[str, Any]:
        body = {"name": name, "max_stream_count": max_stream_count}
        resp = await self.client.post("/internal/agents", json=body, headers=self.headers)
        assert resp.status == 201, await resp.text()
        reply = await resp.json()
        self.agent_id, self.lease_seconds = reply["agent_id"], reply["lease_seconds"]
        return reply

    async def beat_raw(self, streams: list[dict] | None = None, free: int = 8):  # type: ignore[no-untyped-def]
        url = f"/internal/agents/{self.agent_id}/heartbeat"
        return await self.client.post(
            url, json={"streams": streams or [], "free": free}, headers=self.headers
        )

    async def heartbeat(self, streams: list[dict] | None = None, free: int = 8) -> dict[str, Any]:
        resp = await self.beat_raw(streams, free)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def deliver_raw(self, stream_id: str, events: list[dict]):  # type: ignore[no-untyped-def]
        return await self.client.post(
            f"/internal/agents/{self.agent_id}/streams/{stream_id}/events",
            data=msgpack.packb({"events": events}, use_bin_type=True),
            headers={**self.headers, "Content-Type": "application/msgpack"},
        )

    async def deliver(self, stream_id: str, events: list[dict]) -> dict[str, Any]:
        resp = await self.deliver_raw(stream_id, events)
        assert resp.status == 200, await resp.text()
        return await resp.json()
