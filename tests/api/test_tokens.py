"""Tokens: creation, isolation between accounts, permission enforcement, expiry, login cookie."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, basic, bearer


async def test_create_token_defaults_and_location(client, accounts: Accounts) -> None:
    user = await accounts.create()
    resp = await client.post(
        "/6/tokens",
        json={"expiration_time": None, "permissions": {"face": ["view"]}, "visibility_area": "all"},
        headers=basic(user["login"], "password1"),
    )
    assert resp.status == 201
    body = await resp.json()
    assert resp.headers["Location"] == body["url"] == f"/6/tokens/{body['token_id']}"
    got = await (await client.get(body["url"], headers=basic(user["login"], "password1"))).json()
    assert got["token"] == body["token"] and got["account_id"] == user["account_id"]
    assert got["permissions"]["face"] == ["view"] and got["permissions"]["token"] == ["view"]
    assert got["permissions"]["emit_events"] == {"allowed": 1, "white_list": None, "black_list": None}
    assert got["visibility_area"] == "account"  # forced for user accounts
    assert got["expiration_time"] is None


async def test_grant_all_permissions(client, accounts: Accounts) -> None:
    user = await accounts.create()
    token = await accounts.token(user, grant_all=True)
    got = await (await client.get("/6/tokens", headers=bearer(token))).json()
    perms = got["tokens"][0]["permissions"]
    assert perms["face"] == ["creation", "view", "modification", "deletion", "matching"]


async def test_permissions_required_without_grant_all(client) -> None:
    resp = await client.post("/6/tokens", json={"expiration_time": None}, headers=ADMIN)
    body = await assert_error(resp, 400, 12022)
    assert "'permissions' is a required property" in body["detail"]


async def test_custom_permission_keys(client) -> None:
    ok = await client.post(
        "/6/tokens", json={"expiration_time": None, "permissions": {"my_thing": ["view"]}}, headers=ADMIN
    )
    assert ok.status == 201
    bad = await client.post(
        "/6/tokens", json={"expiration_time": None, "permissions": {"X": ["view"]}}, headers=ADMIN
    )
    await assert_error(bad, 400, 12022)


async def test_account_cannot_see_another_accounts_tokens(client, accounts: Accounts) -> None:
    one, two = await accounts.create(), await accounts.create()
    token_one = await accounts.token(one, {"face": ["view"]})
    token_id = (await (await client.get("/6/tokens", headers=bearer(token_one))).json())["tokens"][0][
        "token_id"
    ]
    two_auth = basic(two["login"], "password1")
    listing = await (await client.get("/6/tokens", headers=two_auth)).json()
    assert listing["tokens"] == []
    filtered = await (
        await client.get("/6/tokens", params={"account_id": one["account_id"]}, headers=two_auth)
    ).json()
    assert filtered["tokens"] == []
    for method in ("get", "delete"):
        resp = await getattr(client, method)(f"/6/tokens/{token_id}", headers=two_auth)
        await assert_error(resp, 404, 41003, f"Token with id '{token_id}' not found")
    put = await client.put(
        f"/6/tokens/{token_id}", json={"expiration_time": None, "permissions": {}}, headers=two_auth
    )
    await assert_error(put, 404, 41003)
    # the owner still has it, untouched
    assert (await client.get(f"/6/tokens/{token_id}", headers=basic(one["login"], "password1"))).status == 200
    # an admin may audit every account's tokens
    audit = await (
        await client.get("/6/tokens", params={"account_id": one["account_id"]}, headers=ADMIN)
    ).json()
    assert [t["token_id"] for t in audit["tokens"]] == [token_id]


async def test_token_permissions_are_enforced(client, accounts: Accounts) -> None:
    user = await accounts.create()
    view_only = await accounts.token(user, {"token": ["view"]})
    assert (await client.get("/6/tokens", headers=bearer(view_only))).status == 200
    resp = await client.post(
        "/6/tokens", json={"expiration_time": None, "permissions": {}}, headers=bearer(view_only)
    )
    await assert_error(
        resp,
        403,
        11059,
        "Request denied due to token restrictions, required 'creation' permission for 'token'",
    )
    no_account = await accounts.token(user, {"token": []})
    await assert_error(await client.get("/6/account", headers=bearer(no_account)), 403, 11059)
    await assert_error(await client.get("/6/tokens", headers=bearer(no_account)), 403, 11059)


async def test_token_cannot_mint_more_rights(client, accounts: Accounts) -> None:
    user = await accounts.create()
    minter = await accounts.token(user, {"token": ["creation", "view"], "face": ["view"]})
    escalate = await client.post(
        "/6/tokens",
        json={"expiration_time": None, "permissions": {"face": ["view", "deletion"]}},
        headers=bearer(minter),
    )
    await assert_error(escalate, 403, 11059)
    fine = await client.post(
        "/6/tokens", json={"expiration_time": None, "permissions": {"face": ["view"]}}, headers=bearer(minter)
    )
    assert fine.status == 201


async def test_expired_token_is_rejected(client, accounts: Accounts) -> None:
    user = await accounts.create()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    token = await accounts.token(user, {"account": ["view"]}, expiration_time=past)
    await assert_error(await client.get("/6/account", headers=bearer(token)), 401, 11065, "Token expired")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    live = await accounts.token(user, {"account": ["view"]}, expiration_time=future)
    assert (await client.get("/6/account", headers=bearer(live))).status == 200


async def test_put_replaces_and_delete_revokes(client, accounts: Accounts) -> None:
    user = await accounts.create()
    auth = basic(user["login"], "password1")
    token = await accounts.token(user, {"account": ["view"]})
    token_id = (await (await client.get("/6/tokens", headers=auth)).json())["tokens"][0]["token_id"]
    resp = await client.put(
        f"/6/tokens/{token_id}",
        json={"expiration_time": None, "description": "renamed", "permissions": {"account": []}},
        headers=auth,
    )
    assert resp.status == 201
    await assert_error(await client.get("/6/account", headers=bearer(token)), 403, 11059)
    assert (await client.delete(f"/6/tokens/{token_id}", headers=auth)).status == 204
    await assert_error(
        await client.get("/6/account", headers=bearer(token)), 401, 11065, "Specified token corrupted"
    )
    await assert_error(await client.delete(f"/6/tokens/{token_id}", headers=auth), 404, 41003)


async def test_forged_token_is_rejected(client, accounts: Accounts) -> None:
    import jwt

    user = await accounts.create()
    forged = jwt.encode(
        {"token_id": str(uuid.uuid4()), "account_id": user["account_id"], "iat": 0},
        "a-wrong-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    await assert_error(
        await client.get("/6/account", headers=bearer(forged)), 401, 11065, "Specified token corrupted"
    )


async def test_login_cookie(client, accounts: Accounts) -> None:
    user = await accounts.create()
    token = await accounts.token(user, {"account": ["view"]})
    await assert_error(
        await client.post("/6/login", headers=basic(user["login"], "password1")),
        401,
        11065,
        "Only token is allowed for this action",
    )
    resp = await client.post("/6/login", headers=bearer(token))
    assert resp.status == 204
    assert resp.cookies["LUNA_AUTH_TOKEN"]["httponly"]
    me = await client.get("/6/account")  # the client's cookie jar now carries the token
    assert (await me.json())["account_id"] == user["account_id"]
    assert (await client.delete("/6/login")).status == 204
    await assert_error(await client.get("/6/account"), 401, 11065)


async def test_tokens_pagination(client, accounts: Accounts) -> None:
    user = await accounts.create()
    for _ in range(3):
        await accounts.token(user, {})
    auth = basic(user["login"], "password1")
    page = await (await client.get("/6/tokens", params={"page": "2", "page_size": "2"}, headers=auth)).json()
    assert len(page["tokens"]) == 1
