"""The real ``argus agent`` and ``argus run`` commands: an agent that waits for its server,
stops cleanly on signals, and the agent ``argus run`` embeds (never ``argus serve``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.rtsp import free_port

ARGUS = str(Path(sys.executable).parent / "argus")


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    return {**clean, **extra}


def wait_for_line(output: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in output.read_text(errors="replace"):
            return
        time.sleep(0.1)
    pytest.fail(f"no {text!r} in the output within {timeout} s:\n{output.read_text(errors='replace')}")


def start(args: list[str], output: Path, **extra: str) -> subprocess.Popen[bytes]:
    with output.open("wb") as sink:
        return subprocess.Popen([ARGUS, *args], stdout=sink, stderr=subprocess.STDOUT, env=env(**extra))


def finish(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout: float = 15) -> int:
    process.send_signal(signum)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_agent_waits_for_an_unreachable_server_and_exits_0_on_signal(tmp_path: Path, signum: int) -> None:
    output = tmp_path / "agent.log"
    server = f"http://127.0.0.1:{free_port()}"
    process = start(
        ["agent", "--server", server, "--data-dir", str(tmp_path / "data")], output, ARGUS_AGENT__KEY="k"
    )
    try:
        wait_for_line(output, "is unreachable", 20)
        time.sleep(1.5)
        assert process.poll() is None  # still trying, not given up
    finally:
        code = finish(process, signum)
    assert code == 0
    text = output.read_text()
    assert f"works for {server}" in text and "agent stopped" in text


def test_agent_without_a_key_says_where_to_find_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [ARGUS, "agent", "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, env=env()
    )
    assert done.returncode == 2
    assert "ARGUS_AGENT__KEY" in done.stderr


def test_agent_refuses_a_server_that_is_not_a_url(tmp_path: Path) -> None:
    done = subprocess.run(
        [ARGUS, "agent", "--server", "127.0.0.1:5000"], capture_output=True, text=True, env=env()
    )
    assert done.returncode == 2
    assert "not an http(s) URL" in done.stderr


def healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/6/healthcheck", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the server did not answer")


def test_run_embeds_an_agent_that_registers_with_its_own_server(tmp_path: Path) -> None:
    port, output = free_port(), tmp_path / "run.log"
    process = start(["run", "--port", str(port), "--data-dir", str(tmp_path / "data")], output)
    try:
        healthy(port, process)
        wait_for_line(output, f"registered with http://127.0.0.1:{port} as agent", 20)
    finally:
        code = finish(process)
    assert code == 0
    text = output.read_text()
    assert "agent stopped" in text
    assert "unreachable" not in text  # it waited for the server to listen


def test_serve_never_starts_an_agent(tmp_path: Path) -> None:
    port, output = free_port(), tmp_path / "serve.log"
    process = start(["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")], output)
    try:
        healthy(port, process)
        time.sleep(1.0)
    finally:
        finish(process)
    text = output.read_text()
    assert "argus.agent" not in text and "registered with" not in text
