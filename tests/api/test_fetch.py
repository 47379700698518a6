"""Downloads obey the network policy: loopback and link-local are refused unless allowed."""

from __future__ import annotations

import pytest
from aiohttp import web

from api.config import FetchConfig
from api.fetch import FetchError, NetworkPolicy, download


@pytest.fixture
async def image_server(aiohttp_server):  # type: ignore[no-untyped-def]
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8 fake jpeg \xff\xd9", content_type="image/jpeg")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="image/jpeg")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data")

    app = web.Application()
    app.router.add_get("/a.jpg", image)
    app.router.add_get("/big.jpg", big)
    app.router.add_get("/moved", moved)
    return await aiohttp_server(app, host="127.0.0.1")


def test_policy_defaults() -> None:
    policy = NetworkPolicy.from_config(FetchConfig())
    for denied in ("127.0.0.1", "::1", "169.254.169.254", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"):
        assert not policy.permits(denied), denied
    for allowed in ("10.1.2.3", "192.168.0.10", "8.8.8.8"):
        assert policy.permits(allowed), allowed
    opened = NetworkPolicy.from_config(FetchConfig(allowed_networks=["127.0.0.1/32"]))
    assert opened.permits("127.0.0.1") and not opened.permits("127.0.0.2")


async def test_loopback_refused_by_default(image_server) -> None:  # type: ignore[no-untyped-def]
    for host in ("127.0.0.1", "localhost"):
        url = f"http://{host}:{image_server.port}/a.jpg"
        with pytest.raises(FetchError, match="may not reach"):
            await download(url, FetchConfig(), 1 << 20)


async def test_allowed_loopback_downloads(image_server) -> None:  # type: ignore[no-untyped-def]
    config = FetchConfig(allowed_networks=["127.0.0.0/8", "::1/128"])
    body, content_type = await download(f"http://localhost:{image_server.port}/a.jpg", config, 1 << 20)
    assert body.startswith(b"\xff\xd8") and content_type == "image/jpeg"
    with pytest.raises(FetchError, match="exceeds"):
        await download(f"http://127.0.0.1:{image_server.port}/big.jpg", config, 1000)
    with pytest.raises(FetchError, match="302"):  # redirects are not followed (they could point inside)
        await download(f"http://127.0.0.1:{image_server.port}/moved", config, 1000)


async def test_other_schemes_refused() -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x"):
        with pytest.raises(FetchError, match="only http"):
            await download(url, FetchConfig(), 1000)
