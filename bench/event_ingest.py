"""Event ingest: events/s through POST /6/handlers/{id}/stream_events, SQLite and PostgreSQL.

A real `argus serve` process per backend; the load comes from this process (aiohttp client,
N requests in flight). Two handlers: "full" extracts a descriptor from each warp and stores the
sample and the event (what a camera pipeline does); "store only" skips extraction and samples,
so the figure is the storage path alone. Same warp, same run.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
import cv2
import msgpack
import numpy as np

from bench.results import write_section

EVENTS = 600
IN_FLIGHT = 8
PG_ADMIN = os.environ.get("ARGUS_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "argus_bench"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"bench@argus.local:bench-password").decode()}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _warp() -> bytes:
    """A real 250x250 face warp from the test photos when installed, else a textured stand-in."""
    path = Path("/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg")
    image = cv2.imread(str(path)) if path.is_file() else None
    if image is None:
        image = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", cv2.resize(image[40:420, 90:470], (250, 250)))[1].tobytes()


async def _reset_pg() -> str:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DB):
            await conn.execute(f"CREATE DATABASE {PG_DB}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}")
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    return PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{PG_DB}"


async def _drive(base: str, handler_id: str, payload: bytes) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(EVENTS):
        queue.put_nowait(n)
    headers = {**AUTH, "Content-Type": "application/msgpack"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            queue.get_nowait()
            async with session.post(
                f"{base}/6/handlers/{handler_id}/stream_events", data=payload, headers=headers
            ) as resp:
                assert resp.status == 201, await resp.text()

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(IN_FLIGHT)))
        return EVENTS / (time.perf_counter() - started)


async def _backend(db_url: str, payload: bytes, model_root: str) -> dict[str, float]:
    port, data = _port(), tempfile.mkdtemp()
    env = {**os.environ, "ARGUS_ADMIN_LOGIN": "bench@argus.local", "ARGUS_ADMIN_PASSWORD": "bench-password"}
    cmd = [
        sys.executable,
        "-m",
        "agent.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        data,
        "--db-url",
        db_url or "",
        "--config",
        "/dev/null",
    ]
    env["ARGUS_STORAGE__MODEL_ROOT"] = os.path.abspath(model_root)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{base}/6/healthcheck") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            handlers = {}
            for label, policies in (
                ("full", {}),
                (
                    "store only",
                    {
                        "extract_policy": {"extract_face_descriptor": 0},
                        "storage_policy": {"face_sample_policy": {"store_sample": 0}},
                    },
                ),
            ):
                async with session.post(
                    f"{base}/6/handlers", json={"policies": policies}, headers=AUTH
                ) as resp:
                    handlers[label] = (await resp.json())["handler_id"]
        return {label: await _drive(base, handler_id, payload) for label, handler_id in handlers.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def _run(model_root: str) -> dict[str, dict[str, float]]:
    payload = msgpack.packb(
        {
            "aggregate_attributes": 0,
            "sources": [
                {
                    "source_type": "detections",
                    "source": [{"face": {"warp": _warp()}}],
                    "source_data": {
                        "stream_id": "5a9a2d63-2f4d-4a53-9a7c-2f0b3f6a8a11",
                        "track_id": "t1",
                        "tags": ["bench"],
                    },
                }
            ],
        },
        use_bin_type=True,
    )
    results = {"SQLite": await _backend("", payload, model_root)}
    try:
        results["PostgreSQL"] = await _backend(await _reset_pg(), payload, model_root)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: {exc}")
    return results


def run(model_root: str = "./data") -> str:
    results = asyncio.run(_run(model_root))
    rows = "\n".join(
        f"| {backend} | {label} | {rate:.0f} |"
        for backend, by in results.items()
        for label, rate in by.items()
    )
    body = (
        "## Event ingest (issue 4)\n\n"
        f"{EVENTS} stream events (one 250x250 face warp each) through "
        f"`POST /6/handlers/{{id}}/stream_events`, {IN_FLIGHT} requests in flight, one `argus serve` "
        "process per backend on the same 2 cores as the client.\n\n"
        "| backend | handler | events/s |\n|---|---|---|\n" + rows + "\n\n"
        '"full": descriptor extraction (ONNX Runtime), sample and event stored; '
        '"store only": the event alone.\n'
    )
    write_section("event_ingest", body)
    return body


if __name__ == "__main__":
    print(run(sys.argv[1] if len(sys.argv) > 1 else "./data"))
