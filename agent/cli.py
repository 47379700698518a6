"""The ``argus`` command: ``run`` (API + embedded agent), ``serve`` (API only), ``agent``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from agent.app import build_app
from agent.worker import AgentWorker
from api import __version__
from api.agent_key import FILE_NAME as KEY_FILE
from api.config import Config, ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="argus", description="Argus video-stream analytics.")
    parser.add_argument("--version", action="version", version=f"argus {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file (see configs/default.toml)")
    common.add_argument("--host", help="address to listen on (server.host)")
    common.add_argument("--port", type=int, help="port to listen on (server.port)")
    common.add_argument("--data-dir", help="folder for the database, models and media (storage.data_dir)")
    common.add_argument("--db-url", help="SQLAlchemy async URL (storage.db_url)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", parents=[common], help="API server with the embedded agent (one machine)")
    sub.add_parser("serve", parents=[common], help="API server only")
    agent = sub.add_parser("agent", parents=[common], help="stream worker that leases streams from a server")
    agent.add_argument("--server", help="URL of the Argus server")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    server = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    storage = {k: v for k, v in (("data_dir", args.data_dir), ("db_url", args.db_url)) if v is not None}
    return {key: value for key, value in (("server", server), ("storage", storage)) if value}


def serve(config: Config, embed_agent: bool = False) -> None:
    app = build_app(config, embed_agent=embed_agent)
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        access_log=None,
        print=lambda message: logging.getLogger("argus").info(message.strip()),
    )


def standalone_key(config: Config) -> str | None:
    """``agent.key`` (``ARGUS_AGENT__KEY``), else the key file of a server sharing this data dir.

    Never generated here: a key only the agent knows would be refused by every server.
    """
    if config.agent.key:
        return config.agent.key
    path = config.data_path / KEY_FILE
    return path.read_text().strip() if path.is_file() else None


def run_agent(config: Config, server: str | None) -> int:
    """``argus agent``: runs until SIGINT/SIGTERM, then exits 0; an absent server is waited for."""
    url = server or config.agent.server_url
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        print(f"argus agent: server URL {url!r} is not an http(s) URL", file=sys.stderr)
        return 2
    key = standalone_key(config)
    if key is None:
        print(
            "argus agent: no agent key: set agent.key (or ARGUS_AGENT__KEY) to the server's key "
            f"(the server's config agent.key, or its <data_dir>/{KEY_FILE})",
            file=sys.stderr,
        )
        return 2
    worker = AgentWorker(config, url, key)

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("argus").info("%s: stopping the agent", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    worker.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"argus: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "agent":
        return run_agent(config, args.server)
    serve(config, embed_agent=args.command == "run" and config.agent.embedded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
