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


def _start(kind: str, data_dir: str, *extra: str) -> tuple[subprocess.Popen, int]:
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
        *extra,
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


# (label, server kind, extra server args, path)
CASES = (
    ("bare aiohttp handler | GET /6/healthcheck", "bare", (), "/6/healthcheck"),
    (
        "Argus full stack | GET /6/healthcheck (database check reused for 0.1 s, the default)",
        "full",
        (),
        "/6/healthcheck",
    ),
    (
        "Argus full stack | GET /6/healthcheck (database checked on every request)",
        "full",
        ("--health-interval", "0"),
        "/6/healthcheck",
    ),
    ("Argus full stack | GET /version (middlewares only)", "full", (), "/version"),
)


def measure() -> dict[str, float]:
    """Median requests/s per case, the cases alternating within each round."""
    rates: dict[str, list[float]] = {label: [] for label, *_ in CASES}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            for label, kind, extra, path in CASES:
                proc, port = _start(kind, tmp, *extra)
                try:
                    _load(f"http://127.0.0.1:{port}{path}")  # warm-up
                    rates[label].append(_load(f"http://127.0.0.1:{port}{path}"))
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
    return {label: statistics.median(values) for label, values in rates.items()}


def run() -> str:
    rates = measure()
    bare = rates[CASES[0][0]]
    tool = "wrk" if shutil.which("wrk") else "aiohttp client (bench/http_load.py)"
    rows = "\n".join(f"| {label} | {rate:.0f} | {rate / bare:.2f} |" for label, rate in rates.items())
    body = (
        "## HTTP stack cost (issue 2)\n\n"
        f"Load: {tool}, {CONNECTIONS} connections, {SECONDS} s per round, median of {ROUNDS} rounds with the "
        "cases alternating; server pinned to core 0, load generator to core 1. The full stack runs every "
        "middleware concern (request id, CORS, metrics, errors, timeout, auth lookup) and the real "
        "handler.\n\n"
        "| server | route | requests/s | vs bare handler |\n|---|---|---|---|\n" + rows + "\n\n"
        "Goal: the full stack serves at least 70% of the bare handler's rate. The healthcheck's own "
        "database check (SQLite: stat of the file + a read of its schema over a kept read-only "
        "connection) is shown both reused for `storage.health_interval` (0.1 s, the default) and "
        "forced on every request.\n"
    )
    write_section("http_stack", body)
    return body


if __name__ == "__main__":
    print(run())
