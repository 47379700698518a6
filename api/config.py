"""One typed configuration tree.

Sources, later wins: dataclass defaults (mirrored, with documentation, in
``configs/default.toml``) -> a TOML file -> ``ARGUS_*`` environment variables -> CLI flags.
An environment variable is ``ARGUS_`` + the key's dotted path upper-cased with ``.``
written ``__`` (``server.port`` -> ``ARGUS_SERVER__PORT``; top-level ``admin_login`` ->
``ARGUS_ADMIN_LOGIN``). Unknown keys are errors that name the key, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "ARGUS_"


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names it."""


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 5000
    # Largest request body accepted, bytes; larger bodies get 413 (error 37003).
    client_max_size: int = 64 * 1024 * 1024
    # Seconds a handler may run before the client gets 503 (error 37001).
    response_timeout: float = 600.0
    # Public base URL used in `external_url` fields; empty = derived from the request.
    external_url: str = ""


@dataclass
class StorageConfig:
    # Folder for the SQLite file, models, images and spools.
    data_dir: str = "./data"
    # Folder given to `python -m engines.provision --data-dir` (models under its `models/`);
    # empty = data_dir.
    model_root: str = ""
    # SQLAlchemy async URL; empty = SQLite file `<data_dir>/argus.db`.
    db_url: str = ""
    # Log every SQL statement (slow; for debugging).
    echo: bool = False
    # PostgreSQL connection pool size per process (ignored for SQLite).
    pool_size: int = 10
    # Seconds a healthcheck may reuse the last database check. Raising it bounds the database
    # load of aggressive probing; the price is noticing an outage that much later. 0 = check
    # on every request.
    health_interval: float = 0.1


@dataclass
class AuthConfig:
    # HMAC secret for JWT tokens; empty = generated once and kept in `<data_dir>/jwt_secret`.
    jwt_secret: str = ""
    # Accept the deprecated `Luna-Account-Id` header as authentication.
    luna_account_id_auth: bool = True
    # Let anyone create `user`/`advanced_user` accounts without admin credentials.
    open_registration: bool = False
    # Name of the cookie set by POST /6/login.
    cookie_name: str = "LUNA_AUTH_TOKEN"


@dataclass
class ImagesConfig:
    # Largest decoded image accepted (width x height); larger ones get 400 before any work.
    max_pixels: int = 36_000_000


@dataclass
class PersonDetectorConfig:
    # Runner: "auto" (TensorRT when installed with a GPU, else ONNX Runtime), "onnxruntime",
    # "tensorrt", "opencv" (OpenCV DNN on the same ONNX) or "hog" (OpenCV HOG, no model file).
    type: str = "auto"
    # Network input size (multiples of 32). Larger finds smaller people, quadratically slower;
    # every size used must be provisioned (python -m engines.provision --size WxH).
    input_width: int = 1024
    input_height: int = 768
    # "int8" (ONNX Runtime default, ~2x faster, same accuracy here) or "fp32"; empty = runner default.
    precision: str = ""
    # objectness x class probability; lower finds more small/occluded people and more false boxes.
    # 1024x768 at 0.25 is the one setting measured to meet the people_count accuracy goals
    # (bench/RESULTS.md); a single 416 pass at 0.1 is ~4x faster with count MAE ~0.6.
    score_threshold: float = 0.25
    # IoU above which overlapping boxes are merged; higher keeps more people in groups.
    nms_iou: float = 0.45
    # "full" = one pass; "upper2x" adds a 2x pass over the upper band (small, far people).
    tiles: str = "full"
    # ONNX Runtime threads per inference; keep 1 when several streams share the cores.
    threads: int = 1


@dataclass
class FacesConfig:
    # Serve the face endpoints (/6/detector, /6/extractor); off = they answer 403 (11071).
    enabled: bool = True
    # Descriptor runner: "onnxruntime" (~15x faster) or "dlib" (the reference).
    descriptor_runner: str = "onnxruntime"
    # Times the detector doubles a photo before scanning: 0 finds faces >= ~80 px, 1 >= ~40 px
    # (~4x slower), 2 >= ~20 px (~16x slower).
    upsample: int = 1
    # Detector score threshold in [0, 1]; lower finds more turned/small faces and more false ones.
    score_threshold: float = 0.5
    # dlib's 68-point landmarks (detect_landmarks68, head pose). Off by default: the model was
    # trained on iBUG 300-W, whose terms exclude commercial use.
    landmarks68: bool = False
    # Worker threads running face models; each photo uses one.
    workers: int = 1


@dataclass
class FetchConfig:
    # Networks whose addresses downloads (image URLs, video references) may never reach:
    # loopback, link-local (cloud metadata at 169.254.169.254) and "this network" by default.
    denied_networks: list[str] = field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8"]
    )
    # Networks allowed even inside a denied one (e.g. "127.0.0.1/32" for a local test server).
    allowed_networks: list[str] = field(default_factory=list)
    # Seconds a download may take in all.
    timeout: float = 10.0


@dataclass
class VideoConfig:
    # Folders local video references (paths, file:// URLs) may be read from; empty = only
    # `<data_dir>/media`. Anything outside them is refused, so a request cannot read server files.
    media_dirs: list[str] = field(default_factory=list)
    # Largest video /6/videosdk downloads from an http(s) URL, bytes.
    max_download_bytes: int = 512 * 1024 * 1024
    # Seconds a video download may take in all (fetch.timeout applies to images).
    download_timeout: float = 120.0
    # Longest video /6/videosdk analyses, seconds of video; longer ones are refused (413).
    max_duration: float = 3600.0
    # Seconds /6/videosdk may spend on one video before answering 503 (error 37001).
    request_timeout: float = 300.0
    # Videos /6/videosdk analyses at once; more requests wait their turn.
    max_concurrent: int = 1
    # Seconds to open a video or connect to a camera (RTSP) before giving up.
    open_timeout: float = 10.0
    # Seconds without a packet from a camera before the read counts as failed.
    read_timeout: float = 10.0
    # FFmpeg decoder threads per video; 0 = FFmpeg's choice (frame + slice threading).
    decoder_threads: int = 0
    # Leave out of decoding the frames no analytic samples and no other frame references
    # (H.264/HEVC non-reference pictures, most B-frames): counts and timing stay exact.
    skip_unused_frames: bool = True
    # Frames of one /6/videosdk video whose detection runs at once (their results still
    # update the analytics in frame order); 0 = one per core. Streams run side by side instead.
    detection_workers: int = 0
    # Times the face detector doubles a video frame before scanning (human_tracking): 0 finds
    # faces >= ~80 px at ~20-40 ms per frame, 1 >= ~40 px at ~4x the time.
    face_upsample: int = 0


@dataclass
class MetricsConfig:
    # Serve GET /metrics; when off it answers 403 (error 12049).
    enabled: bool = True


@dataclass
class LoggingConfig:
    level: str = "INFO"


@dataclass
class AgentConfig:
    # Run the stream agent inside `argus run` (always off for `argus serve`).
    embedded: bool = True
    # Streams one agent processes at once.
    max_stream_count: int = 4
    # Shared secret agents present to the server's internal API (header Argus-Agent-Key);
    # empty = generated once into `<data_dir>/agent_key` (the embedded agent reads it there).
    key: str = ""
    # Server a stand-alone `argus agent` works for (also `--server`).
    server_url: str = "http://127.0.0.1:5000"
    # Name the agent registers under; empty = host name and process id.
    name: str = ""
    # Seconds a stream lease lasts without a heartbeat; a dead agent's streams return to
    # pending after it (agents heartbeat every min(lease/3, 1 s)).
    lease_seconds: float = 15.0
    # Bytes of undelivered events an agent keeps on disk while the server is unreachable;
    # beyond it the oldest are dropped (and counted in the log).
    spool_max_bytes: int = 256 * 1024 * 1024
    # Longest wait between reconnection attempts to a lost camera, seconds (backoff doubles
    # from 1 s up to it).
    reconnect_max_delay: float = 30.0


@dataclass
class Config:
    # Login of the admin account created at first start.
    admin_login: str = "admin@argus.local"
    # Its password; empty = a random one, printed once in the log at first start.
    admin_password: str = ""
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    person_detector: PersonDetectorConfig = field(default_factory=PersonDetectorConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def model_root(self) -> Path:
        return Path(self.storage.model_root or self.storage.data_dir)

    @property
    def media_dirs(self) -> list[Path]:
        """Folders local video references may come from (resolved, symlinks followed)."""
        dirs = self.video.media_dirs or [str(self.data_path / "media")]
        return [Path(d).resolve() for d in dirs]

    @property
    def database_url(self) -> str:
        if self.storage.db_url:
            return self.storage.db_url
        return f"sqlite+aiosqlite:///{(self.data_path / 'argus.db').resolve()}"


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Convert a TOML or environment value to the field's declared type."""
    if isinstance(kind, types.UnionType | typing._UnionGenericAlias):  # type: ignore[attr-defined]
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"config key '{key}': expected a boolean, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected {kind.__name__}, got {value!r}")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected {kind.__name__}, got {value!r}") from None
    if typing.get_origin(kind) is list:
        if isinstance(value, str):  # from the environment: comma-separated
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"config key '{key}': expected a list of strings, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return value
    return value


def _apply(target: Any, values: Mapping[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(target))
    names = {f.name for f in dataclasses.fields(target)}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise ConfigError(f"unknown config key '{key}'")
        current = getattr(target, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{key}' is a section; expected a table")
            _apply(current, value, f"{key}.")
        else:
            setattr(target, name, _coerce(value, hints[name], key))


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict of overrides from ``ARGUS_*`` variables naming config keys.

    Variables whose first path part is not a config key (``ARGUS_TEST_PG_DSN``) are left
    to whoever reads them; inside a known section an unknown key is an error.
    """
    top = {f.name for f in dataclasses.fields(Config)}
    result: dict[str, Any] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] not in top:
            continue
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the config tree: defaults, then file, then environment, then ``overrides``."""
    config = Config()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                _apply(config, tomllib.load(fh))
        except FileNotFoundError:
            raise ConfigError(f"config file '{path}' not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None
    _apply(config, env_overrides(os.environ if environ is None else environ))
    if overrides:
        _apply(config, overrides)
    return config


def as_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
