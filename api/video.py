"""What the API needs from a video pipeline, and where a video reference may point.

The pipeline itself (PyAV decoding, detectors, analytics) lives in ``agent/``, above ``api``
in the layering, so the app receives it at construction (``create_app(config, video=...)``)
instead of importing it. ``resolve_reference`` is the one gate every video reference passes:
local paths only under the configured media folders, http(s) only through the fetch network
policy, RTSP as registered by an operator (cameras live on private networks).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from api import errors
from api.config import Config
from api.errors import LunaError
from api.fetch import FetchError, download_to_file

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp")


@dataclass(frozen=True)
class VideoJob:
    """One /6/videosdk request, validated and with spec defaults filled."""

    source: str  # a local file path or a live URL (rtsp://...)
    analytics: list[dict[str, Any]]  # [{name, targets, parameters}] with defaults
    rotation: int = 0
    start_time: float = 0.0
    error_action: str = "fail"
    max_duration: float = 3600.0
    extra: dict[str, Any] = field(default_factory=dict)


class VideoAnalytics(Protocol):
    """Runs analytics over one video; called in a worker thread, may block for long.

    Raises :class:`LunaError` for input problems (unreadable video, bad geometry) and returns
    ``video_analytics_results`` with images as ``bytes`` (the response encodes them).
    ``cancel`` is set when the client is gone or the request timed out: stop soon after.
    """

    def analyse(self, job: VideoJob, cancel: threading.Event) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def local_path(reference: str, config: Config) -> Path:
    """The file a local reference names, refused unless it lies in a media folder."""
    raw = unquote(urlsplit(reference).path) if reference.startswith("file:") else reference
    folders = config.media_dirs
    candidate = Path(raw) if Path(raw).is_absolute() else folders[0] / raw
    resolved = candidate.resolve()  # follows symlinks and '..': the check sees the real target
    if not _inside(resolved, folders):
        raise LunaError(
            errors.REFERENCE_DENIED,
            f"video reference '{reference}' is outside the media folders this server reads "
            "(config video.media_dirs)",
        )
    if not resolved.is_file():
        raise LunaError(errors.BAD_VIDEO, f"video file '{reference}' not found")
    return resolved


def check_reference(reference: str, config: Config) -> str:
    """The scheme class of a reference ("file", "http", "live"), refusing what may not be read."""
    scheme = urlsplit(reference).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme in LIVE_SCHEMES:
        return "live"
    if scheme in ("", "file") or (len(scheme) == 1 and reference[1:3] in (":\\", ":/")):
        local_path(reference, config)
        return "file"
    raise LunaError(errors.BAD_VIDEO, f"video reference scheme '{scheme}' is not supported")


def agent_reference(reference: str, config: Config) -> str:
    """The reference as an agent must open it: local files as absolute paths, since a relative
    one names a file under the server's media folder, not the agent's working directory."""
    try:
        if check_reference(reference, config) == "file":
            return str(local_path(reference, config))
    except LunaError:
        pass  # gone or no longer allowed: the agent reports the failure when it cannot open it
    return reference


@contextlib.asynccontextmanager
async def fetched(reference: str, config: Config) -> AsyncIterator[str]:
    """A source the pipeline can open for ``reference``: a downloaded copy is removed afterwards."""
    kind = check_reference(reference, config)
    if kind == "live":
        yield reference
        return
    if kind == "file":
        yield str(local_path(reference, config))
        return
    folder = config.data_path / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"video-{uuid.uuid4().hex}"
    try:
        await download_to_file(
            reference, config.fetch, target, config.video.max_download_bytes, config.video.download_timeout
        )
    except FetchError as exc:
        detail = f"Failed to download video by url '{reference}': {exc}"
        raise LunaError(errors.VIDEO_SOURCE_FAILED, detail) from None
    try:
        yield str(target)
    finally:
        target.unlink(missing_ok=True)
