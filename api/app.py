"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from api import janitor
from api.agent_key import agent_key
from api.auth import Authenticator
from api.background import Background
from api.bus import EventBus
from api.bus_pg import PgBridge, asyncpg_dsn
from api.config import Config
from api.deadlines import Deadlines
from api.event_matching import EventMatcher
from api.face_service import FaceService
from api.keys import (
    AGENT_KEY,
    AUTH,
    BACKGROUND,
    BLOBS,
    BUS,
    CONFIG,
    DB,
    DEADLINES,
    FACES,
    MATCHING,
    METRICS,
    VIDEO,
    VIDEO_POOL,
)
from api.matching import MatchingService
from api.metrics import Metrics
from api.middlewares import MIDDLEWARES
from api.passwords import hash_password
from api.resources import videosdk, websockets
from api.routes import setup_routes
from api.storage import accounts as accounts_repo
from api.storage.blobs import BlobStore
from api.storage.db import Database
from api.storage.models import Account
from api.video import VideoAnalytics

log = logging.getLogger("argus.api")


def jwt_secret(config: Config) -> str:
    """The configured secret, or one generated at first start and kept in the data dir."""
    if config.auth.jwt_secret:
        return config.auth.jwt_secret
    path = config.data_path / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


async def ensure_admin(db: Database, config: Config) -> None:
    """Create the admin account on first start; print a generated password exactly once."""
    async with db.session() as session:
        if await accounts_repo.count_admins(session):
            return
        password = config.admin_password or secrets.token_urlsafe(12)
        now = datetime.now(UTC)
        session.add(
            Account(
                account_id=str(uuid.uuid4()),
                login=config.admin_login,
                password_hash=hash_password(password),
                account_type="admin",
                description="created at first start",
                create_time=now,
                last_update_time=now,
            )
        )
        await session.commit()
    if config.admin_password:
        log.warning("created admin account '%s'", config.admin_login)
    else:
        log.warning(
            "created admin account '%s' with generated password: %s  (shown once)",
            config.admin_login,
            password,
        )


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = Database(
        config.database_url,
        echo=config.storage.echo,
        pool_size=config.storage.pool_size,
        health_interval=config.storage.health_interval,
    )
    await db.migrate()
    await ensure_admin(db, config)
    app[DB] = db
    app[BLOBS] = BlobStore(db, config.data_path / "blobs")
    sweeper = asyncio.create_task(
        janitor.run(db, app[BLOBS], lease_seconds=config.agent.lease_seconds), name="argus-janitor"
    )
    app[AUTH] = Authenticator(
        db,
        jwt_secret(config),
        account_id_auth=config.auth.luna_account_id_auth,
        cookie_name=config.auth.cookie_name,
    )
    yield
    await app[BACKGROUND].drain()
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await db.close()


async def peers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Several `argus serve` sharing one PostgreSQL share live events and matching-index
    changes through LISTEN/NOTIFY; an embedded SQLite deployment has no peers."""
    db = app[DB]
    if db.is_sqlite:
        yield
        return
    bridge = PgBridge(asyncpg_dsn(db.url), app[BUS], app[MATCHING], db)
    await bridge.start()
    yield
    await bridge.stop()


async def deadlines_ctx(app: web.Application) -> AsyncIterator[None]:
    watchdog = asyncio.create_task(app[DEADLINES].watch(), name="argus-deadlines")
    yield
    watchdog.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watchdog


async def matching_ctx(app: web.Application) -> AsyncIterator[None]:
    """Face indexes for /6/matcher, filled from the database in the background (searches wait)."""
    service = MatchingService()
    service.events = EventMatcher()
    loader = asyncio.create_task(service.load(app[DB]), name="argus-matching-load")
    app[MATCHING] = service
    yield
    loader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loader
    await asyncio.to_thread(service.close)


async def faces_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the face models once, at start-up (a slow first request would be a surprise)."""
    config = app[CONFIG]
    if not config.faces.enabled:
        yield
        return
    service = await asyncio.to_thread(FaceService.from_config, config.faces, str(config.model_root))
    app[FACES] = service
    yield
    service.close()


async def video_ctx(app: web.Application) -> AsyncIterator[None]:
    """Worker threads for /6/videosdk; the pipeline is closed with the app."""
    app[VIDEO_POOL] = videosdk.make_pool(app[CONFIG].video.max_concurrent)
    yield
    app[VIDEO_POOL].shutdown(wait=False, cancel_futures=True)
    pipeline = app.get(VIDEO)
    if pipeline is not None:
        await asyncio.to_thread(pipeline.close)


def create_app(config: Config, video: VideoAnalytics | None = None) -> web.Application:
    """Build the API app; resources open in ``cleanup_ctx`` order and close in reverse.

    ``video`` is the video pipeline (``agent.app.build_app`` passes it); without one,
    /6/videosdk answers 501.
    """
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=config.server.client_max_size)
    app[CONFIG] = config
    app[AGENT_KEY] = agent_key(config)
    app[METRICS] = Metrics()
    app[DEADLINES] = Deadlines(config.server.response_timeout)
    app[BUS] = EventBus()
    app[BACKGROUND] = Background()
    if video is not None:
        app[VIDEO] = video
    app[websockets.SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(websockets.close_all)
    setup_routes(app)
    app.cleanup_ctx.append(deadlines_ctx)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(matching_ctx)
    app.cleanup_ctx.append(peers_ctx)
    app.cleanup_ctx.append(faces_ctx)
    app.cleanup_ctx.append(video_ctx)
    return app
