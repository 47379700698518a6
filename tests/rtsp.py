"""Start and stop the GStreamer RTSP test camera (``samples/rtsp_camera.py``) from pytest.

The server needs Debian's ``/usr/bin/python3`` with ``python3-gi`` and the GstRtspServer
typelib; without them the tests that need a camera are skipped (failed under ``CI=true``).
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.media import missing

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).resolve().parents[1] / "samples" / "rtsp_camera.py"
PACKAGES = "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it, then it is released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rtsp_available() -> bool:
    """Whether the system Python can load GStreamer's RTSP server bindings."""
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import GstRtspServer"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_rtsp(clip: Path | str, port: int, timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """Serve ``clip`` (H.264 MP4) at ``rtsp://127.0.0.1:{port}/vtest``; returns once it listens."""
    if not rtsp_available():
        missing(f"GStreamer RTSP server bindings are missing: apt-get install -y {PACKAGES}")
    # A file, not a pipe: GStreamer warnings must never fill a pipe nobody reads and stall it.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SCRIPT), str(clip), str(port)], stdout=subprocess.DEVNULL, stderr=errors
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                errors.seek(0)
                detail = errors.read().decode(errors="replace").strip()
                raise RuntimeError(f"RTSP test server exited with {process.returncode}: {detail}")
            if _accepts(port):
                return process  # the server keeps its own descriptor of the file
            time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"RTSP test server did not listen on port {port} within {timeout:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server (SIGTERM, then SIGKILL) and wait for it; idempotent."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def url(port: int) -> str:
    return f"rtsp://127.0.0.1:{port}/vtest"
