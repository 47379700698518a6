"""/6/ws and /6/general/ws: saved events pushed live, per account, through each socket's filters."""

from __future__ import annotations

import asyncio

from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, basic


async def dynamic_handler(client, headers=ADMIN) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/handlers", json={"handler_type": 1}, headers=headers)
    return (await resp.json())["handler_id"]


async def raw_event(client, handler_id: str, headers=ADMIN, **fields) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/6/handlers/{handler_id}/events/raw", json=fields, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["event_id"]


async def next_json(ws, timeout: float = 1.0) -> dict:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(ws.receive_json(), timeout=timeout)


async def test_ws_pushes_filtered_events_of_the_account(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    me, other = await accounts.create(), await accounts.create()
    mine, theirs = basic(me["login"], "password1"), basic(other["login"], "password1")
    handler_id = await dynamic_handler(client, mine)
    foreign_handler = await dynamic_handler(client, theirs)
    async with client.ws_connect("/6/ws", params={"sources": "gate", "tags": "night"}, headers=mine) as ws:
        await raw_event(client, handler_id, mine, source="lobby", tags=["night"])  # filtered out: source
        await raw_event(client, handler_id, mine, source="gate", tags=["day"])  # filtered out: tags
        await raw_event(client, foreign_handler, theirs, source="gate", tags=["night"])  # another account
        wanted = await raw_event(client, handler_id, mine, source="gate", tags=["night", "x"], user_data="u")
        message = await next_json(ws)
        assert message["event"]["event_id"] == wanted and message["handler_id"] == handler_id
        assert set(message) == {
            "event",
            "handler_id",
            "event-create-time",
            "event-end-time",
            "Luna-Request-id",
        }
        assert message["event"]["source"] == "gate" and message["event"]["url"] == f"/6/events/{wanted}"
    # an admin's socket sees every account's events
    async with client.ws_connect("/6/ws", headers=ADMIN) as ws:
        foreign = await raw_event(client, foreign_handler, theirs, source="gate")
        assert (await next_json(ws))["event"]["event_id"] == foreign
    await assert_error(await client.get("/6/ws", params={"stream_ids": "nope"}, headers=ADMIN), 400, 12012)


async def test_general_ws_filters_by_type_and_fields(client) -> None:  # type: ignore[no-untyped-def]
    handler_id = await dynamic_handler(client)
    params = {
        "event_type": "event_created",
        "event.meta.zone__gte:integer": "3",
        "event.source__like": "cam%",
    }
    async with client.ws_connect("/6/general/ws", params=params, headers=ADMIN) as ws:
        await raw_event(client, handler_id, source="cam-1", meta={"zone": 2})
        await raw_event(client, handler_id, source="door", meta={"zone": 5})
        wanted = await raw_event(client, handler_id, source="cam-2", meta={"zone": 4})
        message = await next_json(ws)
        assert message["event"]["event_id"] == wanted and message["event_type"] == "event_created"
        assert set(message) == {"event", "event_type", "account_id", "event-create-time", "event-end-time"}
    missing = await client.get("/6/general/ws", headers=ADMIN)
    body = await assert_error(missing, 400, 11027)
    assert "event_type" in body["detail"]
    await assert_error(
        await client.get("/6/general/ws", params={"event_type": "x", "event.a__between": "1"}, headers=ADMIN),
        400,
        12012,
    )
