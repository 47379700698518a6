"""The API app with the agent's video pipeline plugged in: what every ``argus`` process serves."""

from __future__ import annotations

from aiohttp import web

from agent.videosdk import VideoSdk
from api.app import create_app
from api.config import Config


def build_app(config: Config) -> web.Application:
    """``api.app.create_app`` plus the PyAV/detector pipeline that /6/videosdk runs."""
    return create_app(config, video=VideoSdk(config))
