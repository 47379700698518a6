"""human_tracking end to end on vtest.avi against decoding the same file, in the same run.

Each run in a fresh process (peak RSS is its own), alternating rounds: PyAV decode-only, then
``/6/videosdk``'s pipeline with human_tracking at every frame (the analytic's default rate) for
``body`` tracking (YOLO people) and ``human`` tracking (people + dlib faces, face samples and
descriptors). Reports frames/s, the ratio to decode-only and the track count next to the
hand count of distinct people in ``tests/data/vtest_people_tracks.json`` when present.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from bench.people_count import VTEST, _decode_only, _in_child, _peak_rss_mib
from bench.results import write_section

ROUNDS = 2
HAND_COUNT = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_people_tracks.json"
RUNS: dict[str, dict[str, Any]] = {
    "body tracking (YOLO 1024x768 int8)": {
        "targets": ["body_detection", "aggregated_body_samples", "aggregated_body_thumbnail"],
        "parameters": {"tracking": {"detector_type": "body"}},
    },
    "human tracking (bodies + dlib faces, descriptors)": {
        "targets": [
            "face_detection",
            "body_detection",
            "aggregated_face_descriptor",
            "aggregated_body_samples",
        ],
        "parameters": {"tracking": {"detector_type": "human"}},
    },
}


def _tracking(data_dir: str, analytic: dict[str, Any]) -> dict[str, float]:
    from agent.videosdk import VideoSdk
    from api.analytics_schemas import with_analytic_defaults
    from api.config import load_config
    from api.video import VideoJob

    config = load_config(environ={}, overrides={"storage": {"data_dir": data_dir}})
    sdk = VideoSdk(config)
    sdk.detector()
    sdk.face_pipeline()  # model loads are not part of the measurement
    job = VideoJob(
        source=str(VTEST), analytics=[with_analytic_defaults({"name": "human_tracking", **analytic})]
    )
    start = time.perf_counter()
    result = sdk.analyse(job, threading.Event())
    seconds = time.perf_counter() - start
    tracking = result["analytics"][0]["result"]["tracking"]
    return {
        "frames": result["video_data"]["frames_count"],
        "seconds": seconds,
        "rss": _peak_rss_mib(),
        "tracks": tracking["track_count"],
    }


def run(data_dir: str) -> str:
    fps: dict[str, list[float]] = {}
    info: dict[str, dict[str, float]] = {}
    for _ in range(ROUNDS):
        runs = {"decode-only (PyAV)": _in_child(_decode_only, str(VTEST))}
        runs |= {name: _in_child(_tracking, data_dir, analytic) for name, analytic in RUNS.items()}
        for name, sample in runs.items():
            fps.setdefault(name, []).append(sample["frames"] / sample["seconds"])
            info[name] = sample
    base = max(fps["decode-only (PyAV)"])
    hand = json.loads(HAND_COUNT.read_text()) if HAND_COUNT.is_file() else None
    lines = [
        "## human_tracking end to end on vtest.avi (issue 6)",
        "",
        "vtest.avi (768x576, 10 fps, 795 frames), every frame processed (the analytic's default rate), "
        f"best of {ROUNDS} alternating rounds, each run in a fresh process; person detector = the default "
        "config (1024x768 int8, 1 thread per inference, one frame per core detected at once), "
        "faces = dlib HOG at upsample 0 + ONNX descriptors.",
        "",
        "| run | frames/s | vs decode-only | track_count | peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    for name, values in fps.items():
        tracks = info[name].get("tracks", "")
        value = max(values)
        lines.append(f"| {name} | {value:.1f} | {value / base:.3f} | {tracks} | {info[name]['rss']:.0f} |")
    if hand is not None:
        lines += [
            "",
            f"Hand count (`tests/data/vtest_people_tracks.json`): {hand['distinct_people']} distinct people, "
            f"{hand.get('short_or_partial', 0)} of them only briefly or partly visible.",
        ]
    body = "\n".join(lines)
    write_section("human_tracking", body)
    return body
