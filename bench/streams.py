"""How many live RTSP cameras one agent keeps in real time on this machine.

A GStreamer RTSP camera (``samples/rtsp_camera.py``, one independent live stream per client)
serves vtest.avi as H.264 at 10 fps. For N = 4, 8, 12, ... the agent's real stream runners
(``agent.stream_runner.StreamRunner``: RTSP decode thread, people_count at ``rate {unit:
second, period: 1}``, event making) process N connections at once in one process with one
shared detector (the default config), each N in a fresh process. Each runner measures its lag:
how much later than at its best moment it analyses a frame (wall clock minus video time); a
stream is real time while it stays < 2 s. CPU (process time / wall time, in cores) and RSS are
read for the whole agent process and per stream. Events go to an in-memory sink: delivery is
measured by ``event_ingest``.
"""

from __future__ import annotations

import resource
import subprocess
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from bench.people_count import _in_child
from bench.results import write_section

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CAMERA = Path(__file__).resolve().parents[1] / "samples" / "rtsp_camera.py"
COUNTS = (4, 8, 12, 16, 20, 24)
WARMUP = 10.0  # seconds before lag is judged (connections, model warm-up)
WINDOW = 30.0  # seconds of steady state measured
REAL_TIME = 2.0  # lag bound, seconds


class Sink:
    """Keeps events in memory: the benchmark is about analysis, not delivery."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def put(self, stream_id: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self.count += len(events)

    def pending(self, stream_id: str) -> int:
        return 0


def camera_clip(folder: Path) -> Path:
    """vtest.avi re-encoded to H.264 MP4 (the RTSP server's input), cached."""
    path = folder / "vtest_h264.mp4"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    # One encoder thread and a key frame a second, as the stream tests' clips (tests/videos.py).
    options = {"crf": "23", "preset": "veryfast", "threads": "1", "g": "10"}
    with av.open(str(VTEST)) as src, av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(10), options=options)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for index, frame in enumerate(src.decode(video=0)):
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
            picture.pts, picture.time_base = index, Fraction(1, 10)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    tmp.rename(path)
    return path


def start_camera(clip: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["/usr/bin/python3", str(CAMERA), str(clip), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if line != "ready":
        process.kill()
        raise RuntimeError(f"RTSP camera did not start (said {line!r}); see samples/rtsp_camera.py")
    return process


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lease(url: str) -> dict[str, Any]:
    from api.analytics_schemas import with_stream_analytic_defaults

    analytic = {
        "analytic_name": "people_count",
        "parameters": {"parameters": {"rate": {"unit": "second", "period": 1}, "people_count_threshold": 5}},
    }
    filled = with_stream_analytic_defaults(analytic)
    return {
        "stream_id": str(uuid.uuid4()),
        "version": 1,
        "data": {
            "type": "stream",
            "reference": url,
            "rotation": 0,
            "timestamp_source": "auto",
            "pts": {"start_time": 0},
        },
        "analytics": [
            {
                "analytic_name": "people_count",
                "parameters": {k: filled[k] for k in ("targets", "callbacks", "parameters")},
            }
        ],
    }


def measure(count: int, url: str, data_dir: str) -> dict[str, float]:
    from agent.analytics_feed import Engines
    from agent.stream_runner import StreamRunner
    from api.config import load_config

    config = load_config(environ={}, overrides={"storage": {"data_dir": data_dir}})
    engines = Engines(config)
    engines.detector()
    sink = Sink()
    base_rss = rss_mib()
    runners = [StreamRunner(lease(url), config, engines, sink) for _ in range(count)]
    for runner in runners:
        runner.start()
    time.sleep(WARMUP)
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    worst = [0.0] * count
    while time.monotonic() - wall0 < WINDOW:
        time.sleep(1.0)
        worst = [max(w, r.lag) for w, r in zip(worst, runners, strict=True)]
    cores = (cpu_seconds() - cpu0) / (time.monotonic() - wall0)
    rss = rss_mib()
    flowing = sum(1 for r in runners if r.status == 1)
    for runner in runners:
        runner.stop()
    for runner in runners:
        runner.join(10)
    engines.close()
    return {
        "streams": count,
        "flowing": flowing,
        "max_lag": max(worst),
        "cores": cores,
        "rss": rss,
        "rss_per_stream": (rss - base_rss) / count,
        "events": sink.count,
    }


def run(data_dir: str) -> str:
    clip = camera_clip(Path(data_dir) / "bench")
    port = 18554
    camera = start_camera(clip, port)
    rows = []
    try:
        for count in COUNTS:
            result = _in_child(measure, count, f"rtsp://127.0.0.1:{port}/vtest", data_dir)
            rows.append(result)
            print(result, flush=True)
            if result["max_lag"] >= REAL_TIME or result["flowing"] < count:
                break
    finally:
        camera.terminate()
        camera.wait(timeout=10)
    kept = [r for r in rows if r["max_lag"] < REAL_TIME and r["flowing"] == r["streams"]]
    best = max((int(r["streams"]) for r in kept), default=0)
    lines = [
        "## Concurrent RTSP streams per machine (issue 7)",
        "",
        "GStreamer RTSP camera on loopback (`samples/rtsp_camera.py`) serving vtest.avi as H.264 768x576 "
        "at 10 fps, one independent live stream per connection; one agent process running N stream "
        "runners with people_count at `rate {unit: second, period: 1}` and the default detector (YOLOv3-tiny "
        "1024x768 int8, one shared ONNX Runtime session, 1 intra-op thread, at most 2 inferences at once), "
        "each N in a fresh process. Lag = how much later than at its best moment a stream analyses a frame "
        f"(wall clock minus video time); worst over a {WINDOW:g} s window after {WARMUP:g} s of warm-up. "
        "CPU and RSS of the agent process (the camera process excluded; RSS per stream = (RSS - RSS with "
        "the model loaded) / N).",
        "",
        "| streams | all flowing | worst lag s | CPU cores | CPU per stream | RSS MiB | RSS per stream MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['streams']:.0f} | {'yes' if r['flowing'] == r['streams'] else 'no'} | {r['max_lag']:.2f} "
            f"| {r['cores']:.2f} | {r['cores'] / r['streams']:.3f} | {r['rss']:.0f} "
            f"| {r['rss_per_stream']:.1f} |"
        )
    lines += ["", f"Real time (lag < {REAL_TIME:g} s) up to **{best} streams** on this machine (goal >= 8)."]
    body = "\n".join(lines)
    write_section("streams", body)
    return body
