"""Service endpoints: health, version, metrics, docs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from api.app import create_app
from api.catalogue import paths
from api.routes import IMPLEMENTED
from api.spec import openapi_gen
from api.storage.db import Database
from tests.api.test_middlewares import assert_error
from tests.conftest import make_config


async def test_healthcheck_ok(client) -> None:
    resp = await client.get("/6/healthcheck")
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"execution_time"} and body["execution_time"] >= 0
    await assert_error(await client.get("/6/healthcheck", params={"include_luna_services": "2"}), 400, 12012)


async def test_healthcheck_redirect(client) -> None:
    resp = await client.get("/healthcheck", params={"include_luna_services": "1"}, allow_redirects=False)
    assert resp.status == 308
    assert resp.headers["Location"] == "/6/healthcheck?include_luna_services=1"
    assert "Luna-Request-Id" in resp.headers
    followed = await client.get("/healthcheck")
    assert followed.status == 200


async def test_healthcheck_reports_missing_sqlite_file(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path, storage={"health_interval": 0})))
    assert (await client.get("/6/healthcheck")).status == 200
    for path in (tmp_path / "data").glob("argus.db*"):
        path.unlink()
    resp = await client.get("/6/healthcheck")
    assert resp.status == 502
    body = await resp.json()
    (failure,) = body["errors"]
    assert failure["component"] == "database" and failure["status"] == 0
    assert set(failure["error"]) == {"error_code", "desc", "detail", "link"}


async def test_recent_check_is_reused_within_the_interval(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path, storage={"health_interval": 3600})))
    assert (await client.get("/6/healthcheck")).status == 200
    for path in (tmp_path / "data").glob("argus.db*"):
        path.unlink()
    assert (await client.get("/6/healthcheck")).status == 200  # the documented trade-off


async def test_dead_postgresql_fails_the_ping() -> None:
    """A real connection attempt to a port nothing listens on."""
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    with pytest.raises(OSError):
        await db.ping(timeout=5)
    await db.close()


async def test_version(client) -> None:
    body = await (await client.get("/version")).json()
    for required in ("LUNA PLATFORM", "luna-api", "luna-faces", "luna-remote-sdk"):
        assert required in body
    assert body["luna-api"]["api"] == 6


async def test_metrics_count_requests_by_route_and_status(client) -> None:
    await client.get("/6/healthcheck")
    await client.get("/6/account")  # 401
    text = await (await client.get("/metrics")).text()
    assert 'request_count_total{path="GET:/6/healthcheck",status_code="200"} 1.0' in text
    assert 'request_count_total{path="GET:/6/account",status_code="401"} 1.0' in text
    assert 'requests_bucket{le="0.0001",route="GET:/6/healthcheck",status_code="200"}' in text
    assert 'requests_count{route="GET:/6/healthcheck",status_code="200"} 1.0' in text


async def test_metrics_can_be_disabled(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path, metrics={"enabled": False})))
    await assert_error(await client.get("/metrics"), 403, 12049, "Resource is disabled.")


async def test_docs_spec_by_accept(client) -> None:
    resp = await client.get("/6/docs/spec", headers={"Accept": "application/x-yaml"})
    assert resp.status == 200 and resp.content_type == "application/x-yaml"
    doc = yaml.safe_load(await resp.text())
    assert doc["openapi"].startswith("3.")
    html = await client.get("/6/docs/spec", headers={"Accept": "text/html"})
    assert html.content_type == "text/html" and "/6/accounts" in await html.text()
    await assert_error(await client.get("/6/docs/spec", headers={"Accept": "application/json"}), 415, 12024)


def test_served_spec_matches_route_table() -> None:
    """The served document lists exactly the spec's operations and marks the implemented ones."""
    doc = yaml.safe_load((Path(openapi_gen.__file__).parent / "openapi.yaml").read_text())
    served = {
        (method.upper(), path): op for path, item in doc["paths"].items() for method, op in item.items()
    }
    spec = {op.key for ops in paths().values() for op in ops}
    assert set(served) == spec
    for key, op in served.items():
        assert op["x-argus-implemented"] == (key[0] == "OPTIONS" or key in IMPLEMENTED), key


def test_generated_docs_are_up_to_date() -> None:
    here = Path(openapi_gen.__file__).parent
    for name, text in openapi_gen.outputs().items():
        assert (here / name).read_text(encoding="utf-8") == text, f"run `make spec`: {name} is stale"


async def test_docs_dev(client) -> None:
    resp = await client.get("/6/docs/dev")
    assert resp.status == 200 and "make run" in await resp.text()
