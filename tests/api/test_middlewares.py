"""Request id, error format, CORS/OPTIONS and body limits: the contract every endpoint shares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web

from api.app import create_app
from api.catalogue import paths
from api.routes import IMPLEMENTED
from tests.conftest import ADMIN, make_config

REQUEST_ID = re.compile(r"^[0-9]{10},[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
GOOD_ID = "1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"
LINK = "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-{}"


async def assert_error(resp, status: int, code: int, detail: str | None = None) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error_code", "desc", "detail", "link"}
    assert body["error_code"] == code
    assert body["link"] == LINK.format(code)
    if detail is not None:
        assert body["detail"] == detail
    assert REQUEST_ID.match(resp.headers["Luna-Request-Id"])
    return body


async def test_request_id_is_echoed(client) -> None:
    resp = await client.get("/6/healthcheck", headers={"Luna-Request-Id": GOOD_ID})
    assert resp.status == 200
    assert resp.headers["Luna-Request-Id"] == GOOD_ID


async def test_request_id_is_generated_with_current_time(client) -> None:
    import time

    resp = await client.get("/6/healthcheck")
    request_id = resp.headers["Luna-Request-Id"]
    assert REQUEST_ID.match(request_id)
    assert abs(int(request_id.split(",")[0]) - time.time()) < 60
    other = (await client.get("/6/healthcheck")).headers["Luna-Request-Id"]
    assert other != request_id


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "1536751345",
        "153675134,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a",
        "1536751345,8B8B5937-2E9C-4E8B-A7A7-5CAF86621B5A",
    ],
)
async def test_malformed_request_id_is_rejected(client, bad: str) -> None:
    resp = await client.get("/6/healthcheck", headers={"Luna-Request-Id": bad})
    await assert_error(resp, 400, 12012, "Bad query parameters 'Luna-Request-Id'")


async def test_request_id_on_errors_too(client) -> None:
    resp = await client.get("/6/no/such/path", headers={"Luna-Request-Id": GOOD_ID})
    await assert_error(resp, 404, 12013, "Page not found")
    assert resp.headers["Luna-Request-Id"] == GOOD_ID


async def test_bad_uuid_in_path_is_not_found(client) -> None:
    resp = await client.get("/6/tokens/not-a-uuid", headers=ADMIN)
    await assert_error(resp, 404, 12013)


async def test_wrong_method_is_405_with_allow(client) -> None:
    resp = await client.put("/6/healthcheck")
    await assert_error(resp, 405, 12021, "Method not allowed")
    assert "GET" in resp.headers["Allow"]


async def test_unimplemented_operation_is_501_naming_it(client) -> None:
    resp = await client.post("/6/tasks/clustering", json={}, headers=ADMIN)
    body = await assert_error(resp, 501, 99501)
    assert "clustering" in body["detail"].lower() and "not implemented" in body["detail"]


async def test_unauthenticated_is_401_with_challenge(client) -> None:
    resp = await client.get("/6/account")
    await assert_error(resp, 401, 11065)
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


async def test_bad_basic_header_is_401(client) -> None:
    resp = await client.get("/6/account", headers={"Authorization": "Basic %%%"})
    await assert_error(resp, 401, 11065, "Bad format basic authorization header")


async def test_unknown_query_parameter_is_400(client) -> None:
    resp = await client.get("/6/account", params={"nope": "1"}, headers=ADMIN)
    await assert_error(resp, 400, 12012, "Bad query parameters 'nope'")


async def test_malformed_json_is_400(client) -> None:
    resp = await client.post(
        "/6/tokens", data=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    await assert_error(resp, 400, 12022)


async def test_empty_body_is_400_no_json(client) -> None:
    resp = await client.post("/6/tokens", data=b"", headers={**ADMIN, "Content-Type": "application/json"})
    await assert_error(resp, 400, 12002, "Request does not contain json")


async def test_wrong_content_type_is_400(client) -> None:
    resp = await client.post("/6/tokens", data=b"x=1", headers={**ADMIN, "Content-Type": "text/plain"})
    await assert_error(resp, 400, 12017, "Bad content type")


async def test_extra_field_is_rejected_with_path(client) -> None:
    resp = await client.post(
        "/6/tokens", json={"expiration_time": None, "permissions": {}, "bogus": 1}, headers=ADMIN
    )
    body = await assert_error(resp, 400, 12022)
    assert body["detail"].startswith("Failed to validate input json. Path: '', message: ")
    assert "'bogus' was unexpected" in body["detail"]


async def test_nested_bad_value_names_its_path(client) -> None:
    resp = await client.post(
        "/6/tokens", json={"expiration_time": None, "permissions": {"face": ["fly"]}}, headers=ADMIN
    )
    body = await assert_error(resp, 400, 12022)
    assert "Path: 'permissions.face.0'" in body["detail"]


async def test_oversized_body_is_413(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path, server={"client_max_size": 1024})))
    resp = await client.post(
        "/6/tokens", data=b"x" * 4096, headers={**ADMIN, "Content-Type": "application/json"}
    )
    await assert_error(resp, 413, 37003, "Request payload is too large")


async def test_handler_crash_is_luna_500_without_traceback(aiohttp_client, tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path))

    async def boom(request: web.Request) -> web.Response:
        raise ZeroDivisionError("secret internals")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    body = await assert_error(await client.get("/boom"), 500, 11009, "Internal server error")
    assert "secret" not in str(body)


async def test_slow_handler_times_out_with_503(aiohttp_client, tmp_path: Path) -> None:
    import asyncio

    app = create_app(make_config(tmp_path, server={"response_timeout": 0.05}))

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app.router.add_get("/slow", slow)
    client = await aiohttp_client(app)
    await assert_error(await client.get("/slow"), 503, 37001)


async def test_cors_header_on_responses(client) -> None:
    resp = await client.get("/version")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_options_on_every_path(client) -> None:
    """Every spec path answers OPTIONS with the spec's CORS headers and its methods in Allow."""
    for path, ops in paths().items():
        url = path
        for name in ("samples_type",):
            url = url.replace("{" + name + "}", "faces")
        url = re.sub(r"\{(task_id|error_id)\}", "1", url)
        url = re.sub(r"\{[a-z_]+\}", "8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a", url)
        resp = await client.options(url)
        assert resp.status == 200, (path, await resp.text())
        allow = {m.strip() for m in resp.headers["Allow"].split(",")}
        assert {op.method for op in ops} <= allow, path
        assert resp.headers["Access-Control-Allow-Methods"] == "*"
        assert resp.headers["Access-Control-Allow-Headers"] == "*"
        assert resp.headers["Access-Control-Max-Age"] == "86400"
        assert REQUEST_ID.match(resp.headers["Luna-Request-Id"])


def test_route_table_covers_all_spec_paths() -> None:
    grouped = paths()
    assert len(grouped) == 105
    assert sum(len(ops) for ops in grouped.values()) == 259
    spec_keys = {op.key for ops in grouped.values() for op in ops}
    assert set(IMPLEMENTED) <= spec_keys


async def test_lost_race_is_409_not_500(aiohttp_client, tmp_path: Path) -> None:
    from sqlalchemy.exc import IntegrityError

    app = create_app(make_config(tmp_path))

    async def racing(request: web.Request) -> web.Response:
        raise IntegrityError("INSERT INTO list_faces ...", {}, Exception("FOREIGN KEY constraint failed"))

    app.router.add_get("/race", racing)
    client = await aiohttp_client(app)
    body = await assert_error(await client.get("/race"), 409, 99409)
    assert "FOREIGN KEY" not in body["detail"]
