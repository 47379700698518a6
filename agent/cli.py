"""The ``argus`` command: ``run`` (API + embedded agent), ``serve`` (API only), ``agent``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from agent.app import build_app
from api import __version__
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


def serve(config: Config) -> None:
    app = build_app(config)
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        access_log=None,
        print=lambda message: logging.getLogger("argus").info(message.strip()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"argus: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "agent":
        print(
            "argus agent: the stand-alone stream agent arrives with the Streams and agents issue; "
            "use `argus run` for now.",
            file=sys.stderr,
        )
        return 3
    if args.command == "run" and config.agent.embedded:
        logging.getLogger("argus").info("embedded agent: no stream processing yet (arrives with streams)")
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
