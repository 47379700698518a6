"""Register a camera (RTSP) or a video file with people_count and print what arrives live.

    make run                                   # in another terminal (API + embedded agent)
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi ./data/media/
    python samples/watch_stream.py --login admin@argus.local --password PASSWORD vtest.avi
    python samples/watch_stream.py --login ... --password ... rtsp://camera.local:554/stream1

It creates a handler (so crowd events are stored and searchable), a stream whose people_count
analytic posts to that handler (`luna-event`) and to the stream's websocket
(`luna-ws-notification`), then prints the stream websocket's messages (crowd started /
finished, stream status) and the stored events pushed on `/6/ws`, until the video ends or
Ctrl-C. Only aiohttp is needed; it speaks the LUNA v6 API like any client would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json

import aiohttp


def stream_body(reference: str, handler_id: str, threshold: int) -> dict:
    live = reference.split(":", 1)[0].lower() in ("rtsp", "rtsps")
    return {
        "name": "watch_stream sample",
        "data": {"type": "stream" if live else "videofile", "reference": reference},
        "analytics": [
            {
                "analytic_name": "people_count",
                "parameters": {
                    "targets": ["overview", "coordinates"],
                    "callbacks": [
                        {"type": "luna-event", "handler_id": handler_id},
                        {"type": "luna-ws-notification"},
                    ],
                    "parameters": {
                        "people_count_threshold": threshold,
                        "probe_count": 2,
                        "rate": {"unit": "second", "period": 1},
                    },
                },
            }
        ],
    }


def short(message: dict) -> str:
    """The message without image bytes (base64 strings) so it fits a terminal line."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: ("<image>" if k == "image" else strip(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(message))[:400]


async def print_stream_ws(session: aiohttp.ClientSession, server: str, stream_id: str) -> None:
    async with session.ws_connect(f"{server}/6/streams/{stream_id}/ws") as ws:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = msg.json()
            print("stream ws:", short(data))
            if data.get("stream_status") in ("finished", "error"):
                return


async def print_events(session: aiohttp.ClientSession, server: str, stream_id: str) -> None:
    """Stored events as /6/ws pushes them; the stored event itself carries the crowd's meta."""
    async with session.ws_connect(f"{server}/6/ws", params={"stream_ids": stream_id}) as ws:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = msg.json().get("event", {})
            async with session.get(f"{server}/6/events/{event['event_id']}") as resp:
                stored = await resp.json()
            print("stored event:", event["event_id"], "meta:", json.dumps(stored.get("meta")))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("reference", help="rtsp:// URL, or a file name under the server's media folder")
    parser.add_argument("--server", default="http://127.0.0.1:5000")
    parser.add_argument("--login", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--threshold", type=int, default=3, help="people_count_threshold")
    args = parser.parse_args()
    auth = {"Authorization": aiohttp.encode_basic_auth(args.login, args.password)}
    async with aiohttp.ClientSession(headers=auth, raise_for_status=True) as session:
        async with session.post(f"{args.server}/6/handlers", json={"policies": {}}) as resp:
            handler_id = (await resp.json())["handler_id"]
        body = stream_body(args.reference, handler_id, args.threshold)
        async with session.post(f"{args.server}/6/streams", json=body) as resp:
            stream_id = (await resp.json())["stream_id"]
        print(f"stream {stream_id} created; waiting for an agent to pick it up")
        events = asyncio.create_task(print_events(session, args.server, stream_id))
        for _ in range(60):  # the websocket answers 422 until an agent leases the stream
            try:
                await print_stream_ws(session, args.server, stream_id)
                break
            except aiohttp.WSServerHandshakeError:
                await asyncio.sleep(1)
        await asyncio.sleep(2)  # last stored events
        events.cancel()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
