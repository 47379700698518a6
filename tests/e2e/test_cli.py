"""The real `argus` command: starts, serves, reports its version and refuses bad config."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ARGUS = str(Path(sys.executable).parent / "argus")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(extra)
    return env


def test_version() -> None:
    out = subprocess.run([ARGUS, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("argus ")


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 5\n")
    out = subprocess.run(
        [ARGUS, "serve", "--config", str(config)], capture_output=True, text=True, env=_env()
    )
    assert out.returncode == 2
    assert "server.prot" in out.stderr


def test_run_serves_healthcheck_and_prints_generated_password(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [ARGUS, "run", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        status = None
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/6/healthcheck", timeout=1) as resp:
                    status = resp.status
                    request_id = resp.headers["Luna-Request-Id"]
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "server did not answer"
        assert request_id
        assert (tmp_path / "data" / "argus.db").exists()
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert "generated password" in output
