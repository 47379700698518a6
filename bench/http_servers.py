"""Servers for the HTTP stack benchmark: the full Argus app, or a bare aiohttp handler."""

from __future__ import annotations

import argparse
import logging
import time

from aiohttp import web

from api.app import create_app
from api.config import load_config


def bare_app() -> web.Application:
    """The baseline: one handler, no middlewares, the same JSON shape as the healthcheck."""

    async def health(request: web.Request) -> web.Response:
        started = time.perf_counter()
        return web.json_response({"execution_time": time.perf_counter() - started})

    app = web.Application()
    app.router.add_get("/6/healthcheck", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["full", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", default="./data/bench-http")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.kind == "bare":
        app = bare_app()
    else:
        config = load_config(
            environ={}, overrides={"storage": {"data_dir": args.data_dir}, "admin_password": "bench-password"}
        )
        app = create_app(config)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
