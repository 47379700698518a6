"""/6/analytics: the two built-in analytics, their schemas, defaults and documentation."""

from __future__ import annotations

import uuid
from pathlib import Path

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from api.analytics_schemas import with_stream_analytic_defaults
from api.resources.analytics_registry import NAMESPACE, REGISTERED
from tests.api.test_middlewares import assert_error
from tests.api.test_streams import body, make_media, new_stream, streams_client
from tests.conftest import ADMIN, Accounts, bearer

IDS = {name: str(uuid.uuid5(NAMESPACE, name)) for name in ("people_count", "human_tracking")}


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return make_media(tmp_path)


@pytest.fixture
async def sclient(aiohttp_client, tmp_path: Path, media: Path) -> TestClient:  # type: ignore[no-untyped-def]
    return await streams_client(aiohttp_client, tmp_path, media, "")


async def listed(client: TestClient, **params: str) -> list[str]:
    resp = await client.get("/6/analytics", params=params, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return [a["analytic_name"] for a in (await resp.json())["analytics"]]


async def test_list_and_filters(sclient: TestClient) -> None:
    resp = await sclient.get("/6/analytics", headers=ADMIN)
    analytics = (await resp.json())["analytics"]
    assert {a["analytic_name"]: a["analytic_id"] for a in analytics} == IDS
    for analytic in analytics:
        assert set(analytic) == {
            "analytic_id",
            "analytic_name",
            "description",
            "analytic_version",
            "default_parameters",
            "create_time",
            "last_update_time",
            "validation_schema",
        }
        assert analytic["analytic_version"] == 1 and analytic["description"]
        # The defaults pass the analytic's own schema.
        jsonschema.Draft7Validator(analytic["validation_schema"]).validate(analytic["default_parameters"])
    everything = await listed(sclient)
    assert await listed(sclient, order="desc") == everything[::-1]
    assert await listed(sclient, names="human_tracking") == ["human_tracking"]
    assert await listed(sclient, analytic_ids=IDS["people_count"]) == ["people_count"]
    assert await listed(sclient, page="2", page_size="1") == everything[1:]
    registered = REGISTERED.isoformat()
    assert await listed(sclient, create_time__gte=registered) == everything
    assert await listed(sclient, create_time__lt=registered) == []
    low = min(IDS.values())
    assert (
        len(await listed(sclient, analytic_id__gte=low)) == 2
        and await listed(sclient, analytic_id__lt=low) == []
    )
    for params in ({"names": "bad name"}, {"analytic_ids": "x"}, {"account_id": str(uuid.uuid4())}):
        resp = await sclient.get("/6/analytics", params=params, headers=ADMIN)
        await assert_error(resp, 400, 12012, f"Bad query parameters '{next(iter(params))}'")


async def test_get_docs_and_errors(sclient: TestClient) -> None:
    analytic_id = IDS["people_count"]
    resp = await sclient.get(
        f"/6/analytics/{analytic_id}", params={"account_id": str(uuid.uuid4())}, headers=ADMIN
    )
    got = await resp.json()
    assert got["analytic_name"] == "people_count"
    assert got["default_parameters"]["parameters"]["rate"] == {"unit": "frame", "period": 10}
    docs = await sclient.get(f"/6/analytics/{analytic_id}/docs", headers=ADMIN)
    assert docs.status == 200 and docs.content_type == "application/json"
    text = await docs.json()
    assert isinstance(text, str) and "people_count" in text and "luna-ws-notification" in text
    page = await sclient.get(f"/6/analytics/{analytic_id}/docs", headers={**ADMIN, "Accept": "text/html"})
    assert page.content_type == "text/html" and "<pre>" in await page.text()
    missing = str(uuid.uuid4())
    detail = f"Analytic with id '{missing}' not found"
    await assert_error(await sclient.get(f"/6/analytics/{missing}", headers=ADMIN), 404, 44008, detail)
    await assert_error(await sclient.get(f"/6/analytics/{missing}/docs", headers=ADMIN), 404, 44008, detail)
    # The spec defines no way to register, change or remove an analytic.
    await assert_error(await sclient.post("/6/analytics", json={}, headers=ADMIN), 405, 12021)
    await assert_error(await sclient.delete(f"/6/analytics/{analytic_id}", headers=ADMIN), 405, 12021)
    await assert_error(await sclient.get("/6/analytics"), 401, 11065)


async def test_permissions_and_stream_use(sclient: TestClient, media: Path) -> None:
    users = Accounts(sclient)
    user = await users.create()
    no_rights = bearer(await users.token(user, {"video_stream": ["view"]}))
    await assert_error(await sclient.get("/6/analytics", headers=no_rights), 403, 11059)
    viewer = bearer(await users.token(user, {"video_analytic": ["view"]}))
    resp = await sclient.get(f"/6/analytics/{IDS['human_tracking']}", headers=viewer)
    defaults = (await resp.json())["default_parameters"]
    # The registered defaults are a valid stream analytic, and run as the pipeline's defaults.
    analytic = {"analytic_name": "human_tracking", "parameters": defaults}
    await new_stream(sclient, user, body(media, analytics=[analytic]))
    job = with_stream_analytic_defaults({"analytic_name": "human_tracking", "parameters": {}})
    assert job == {**with_stream_analytic_defaults(analytic), "callbacks": []}
    assert job["targets"] == ["face_detection"] and job["parameters"]["rate"] == {
        "unit": "frame",
        "period": 1,
    }
    given = {"callbacks": [{"type": "luna-ws-notification"}], "parameters": {"probe_count": 5}}
    job = with_stream_analytic_defaults({"analytic_name": "people_count", "parameters": given})
    assert job["callbacks"] == [{"enable": 1, "type": "luna-ws-notification"}]
    assert job["parameters"]["probe_count"] == 5 and job["parameters"]["people_count_threshold"] == 1
