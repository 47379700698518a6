"""Cost of the middleware stack: requests/s of GET /6/healthcheck, full Argus vs a bare handler.

Server and load generator run in separate processes pinned to separate cores (when `taskset`
exists), alternating bare and full rounds so drift hits both. The load generator is `wrk`
when installed, else an aiohttp client loop in a child process.
"""

from __future__ import annotations

import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench.results import write_section

ROUNDS = 3
SECONDS = 8
CONNECTIONS = 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


def _start(kind: str, data_dir: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    cmd = [
        *_pin(0),
        sys.executable,
        "-m",
        "bench.http_servers",
        kind,
        "--port",
        str(port),
        "--data-dir",
        data_dir,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/6/healthcheck", timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def _load(url: str) -> float:
    """Requests per second that the load generator achieved against ``url``."""
    if shutil.which("wrk"):
        out = subprocess.run(
            [*_pin(1), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    out = subprocess.run(
        [*_pin(1), sys.executable, "-m", "bench.http_load", url, str(SECONDS), str(CONNECTIONS)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def measure(path: str) -> dict[str, float]:
    rates: dict[str, list[float]] = {"bare": [], "full": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            for kind in ("bare", "full"):
                proc, port = _start(kind, tmp)
                try:
                    target = path if kind == "full" else "/6/healthcheck"
                    _load(f"http://127.0.0.1:{port}{target}")  # warm-up
                    rates[kind].append(_load(f"http://127.0.0.1:{port}{target}"))
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
    return {kind: statistics.median(values) for kind, values in rates.items()}


def run() -> str:
    health = measure("/6/healthcheck")
    version = measure("/version")
    tool = "wrk" if shutil.which("wrk") else "aiohttp client (bench/http_load.py)"
    body = (
        "## HTTP stack cost (issue 2)\n\n"
        f"Load: {tool}, {CONNECTIONS} connections, {SECONDS} s per round, median of {ROUNDS} rounds; "
        "server pinned to core 0, load generator to core 1.\n\n"
        "| server | route | requests/s | vs bare handler |\n|---|---|---|---|\n"
        f"| bare aiohttp handler | GET /6/healthcheck | {health['bare']:.0f} | 1.00 |\n"
        f"| Argus full stack | GET /6/healthcheck (with database ping) | {health['full']:.0f} | "
        f"{health['full'] / health['bare']:.2f} |\n"
        f"| Argus full stack | GET /version (middlewares only) | {version['full']:.0f} | "
        f"{version['full'] / version['bare']:.2f} |\n\n"
        "Goal: the full stack serves at least 70% of the bare handler's rate.\n"
    )
    write_section("http_stack", body)
    return body


if __name__ == "__main__":
    print(run())
