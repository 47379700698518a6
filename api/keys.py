"""Typed application and request state keys: the only way state is hung on the app."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from api.auth import Authenticator, Principal
    from api.background import Background
    from api.bus import EventBus
    from api.catalogue import Operation
    from api.config import Config
    from api.deadlines import Deadlines
    from api.face_service import FaceService
    from api.matching import MatchingService
    from api.metrics import Metrics
    from api.storage.blobs import BlobStore
    from api.storage.db import Database
    from api.video import VideoAnalytics

CONFIG: web.AppKey[Config] = web.AppKey("config")
DB: web.AppKey[Database] = web.AppKey("db")
AUTH: web.AppKey[Authenticator] = web.AppKey("auth")
BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs")
# Absent when faces.enabled is off; face endpoints then answer 403.
FACES: web.AppKey[FaceService] = web.AppKey("faces")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
DEADLINES: web.AppKey[Deadlines] = web.AppKey("deadlines")
# Per-account face descriptor indexes for /6/matcher (api/matching.py).
MATCHING: web.AppKey[MatchingService] = web.AppKey("matching")
BUS: web.AppKey[EventBus] = web.AppKey("bus")
BACKGROUND: web.AppKey[Background] = web.AppKey("background")
# (method, spec path) -> Operation, for middlewares that need to know what was called.
OPERATIONS: web.AppKey[dict[tuple[str, str], Operation]] = web.AppKey("operations")
# The video pipeline the app was built with (agent/ provides it; absent = videosdk answers 501)
# and the worker threads /6/videosdk runs it in.
VIDEO: web.AppKey[VideoAnalytics] = web.AppKey("video")
VIDEO_POOL: web.AppKey[ThreadPoolExecutor] = web.AppKey("video_pool")
# The secret stream agents present in `Argus-Agent-Key` to the internal API (api/agent_key.py).
AGENT_KEY: web.AppKey[str] = web.AppKey("agent_key")

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
OPERATION: web.RequestKey[Operation | None] = web.RequestKey("operation")
