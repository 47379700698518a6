#!/usr/bin/python3
"""An RTSP camera for tests, benchmarks and demos: an H.264 MP4 looped at rtsp://127.0.0.1:PORT/vtest.

Run with Debian's ``/usr/bin/python3`` (the GObject bindings do not load in the venv)::

    /usr/bin/python3 samples/rtsp_camera.py clip.mp4 8554

Why appsrc instead of ``filesrc ! qtdemux ! ...``: a file pipeline ends at EOS, and re-seeking
an RTSP media makes timestamps jump back (clients see a broken stream). Here the clip's access
units are read once into memory and pushed again and again with ever-increasing timestamps, so
every client sees one endless, well-formed live stream, paced in real time by the server's
sinks. Each client gets its own media (not shared) starting at the clip's first key frame.
SIGTERM/SIGINT stop the server; it prints ``ready`` once it listens.
"""

from __future__ import annotations

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

CAPS = "video/x-h264,stream-format=byte-stream,alignment=au"


def read_clip(path: str) -> tuple[Gst.Caps, list[tuple[bytes, int, int, bool]], int]:
    """(caps, [(data, pts, duration, is_delta)], clip length in ns) of the MP4's H.264 track."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! {CAPS} '
        "! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units: list[tuple[bytes, int, int, bool]] = []
    caps = None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        caps = caps or sample.get_caps()
        buffer = sample.get_buffer()
        ok, info = buffer.map(Gst.MapFlags.READ)
        if not ok:
            continue
        try:
            units.append(
                (
                    bytes(info.data),
                    buffer.pts,
                    buffer.duration,
                    bool(buffer.get_flags() & Gst.BufferFlags.DELTA_UNIT),
                )
            )
        finally:
            buffer.unmap(info)
    pipeline.set_state(Gst.State.NULL)
    if not units or caps is None:
        raise SystemExit(f"no H.264 video in {path}")
    first = units[0][1]
    frame = units[1][1] - first if len(units) > 1 else Gst.SECOND // 10
    units = [(data, pts - first, duration or frame, delta) for data, pts, duration, delta in units]
    length = units[-1][1] + units[-1][2]
    return caps, units, length


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    """A media per client whose appsrc replays the clip endlessly."""

    def __init__(self, caps: Gst.Caps, units: list[tuple[bytes, int, int, bool]], length: int) -> None:
        super().__init__()
        self.caps, self.units, self.length = caps, units, length
        self.set_launch(
            "( appsrc name=src format=time is-live=false "
            "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.set_shared(False)
        self.connect("media-configure", self._configure)

    def _configure(self, factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_child_by_name("src")
        src.set_property("caps", self.caps)
        position = {"index": 0, "base": 0}
        src.connect("need-data", self._need_data, position)

    def _need_data(self, src: Gst.Element, _length: int, position: dict[str, int]) -> None:
        data, pts, duration, delta = self.units[position["index"]]
        buffer = Gst.Buffer.new_wrapped(data)
        buffer.pts = buffer.dts = position["base"] + pts
        buffer.duration = duration
        if delta:
            buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
        position["index"] += 1
        if position["index"] == len(self.units):
            position["index"] = 0
            position["base"] += self.length
        src.emit("push-buffer", buffer)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} CLIP.mp4 PORT", file=sys.stderr)
        return 2
    Gst.init(None)
    caps, units, length = read_clip(argv[1])
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(argv[2])
    server.get_mount_points().add_factory("/vtest", LoopFactory(caps, units, length))
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{argv[2]}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
