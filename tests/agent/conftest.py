"""Fixtures the agent tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.analytics_feed import Engines
from tests.agent.fake_server import FakeServer
from tests.conftest import make_config
from tests.rtsp import free_port


@pytest.fixture(scope="module")
def engines() -> Iterator[Engines]:
    """Models loaded once per module: the 416x416 person detector (faces load on first use)."""
    shared = Engines(
        make_config(Path("/nonexistent"), person_detector={"input_width": 416, "input_height": 416})
    )
    yield shared
    shared.close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """The fake Argus server an agent talks to, on a free port; stopped afterwards."""
    fake = FakeServer(free_port())
    yield fake
    fake.stop()
