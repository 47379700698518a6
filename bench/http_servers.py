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
    parser.add_argument("--health-interval", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.kind == "bare":
        app = bare_app()
    else:
        storage: dict = {"data_dir": args.data_dir}
        if args.health_interval is not None:
            storage["health_interval"] = args.health_interval
        overrides = {"storage": storage, "admin_password": "bench-password", "faces": {"enabled": False}}
        config = load_config(environ={}, overrides=overrides)
        app = create_app(config)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
