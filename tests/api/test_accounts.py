"""Accounts: creation rules, visibility between accounts, patching, credentials verifier."""

from __future__ import annotations

import uuid
from pathlib import Path

from api.app import create_app
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, ADMIN_LOGIN, Accounts, basic, bearer, make_config


async def test_admin_creates_account_with_location(client) -> None:
    resp = await client.post(
        "/6/accounts",
        json={
            "login": "alice@argus.test",
            "password": "pw-alice",
            "account_type": "user",
            "description": "a",
        },
        headers=ADMIN,
    )
    assert resp.status == 201
    body = await resp.json()
    assert resp.headers["Location"] == body["url"] == f"/6/accounts/{body['account_id']}"
    assert body["external_url"].endswith(body["url"]) and body["external_url"].startswith("http://")
    me = await client.get("/6/account", headers=basic("alice@argus.test", "pw-alice"))
    assert (await me.json())["account_type"] == "user"


async def test_account_id_header_sets_new_id(client) -> None:
    wanted = str(uuid.uuid4())
    resp = await client.post(
        "/6/accounts",
        json={"login": "bob@argus.test", "password": "pw-bob", "account_type": "advanced_user"},
        headers={**ADMIN, "Luna-Account-Id": wanted},
    )
    assert (await resp.json())["account_id"] == wanted
    again = await client.post(
        "/6/accounts",
        json={"login": "bob2@argus.test", "password": "pw-bob", "account_type": "user"},
        headers={**ADMIN, "Luna-Account-Id": wanted},
    )
    await assert_error(again, 409, 41002)


async def test_duplicate_login_is_409(client, accounts: Accounts) -> None:
    user = await accounts.create()
    resp = await client.post(
        "/6/accounts", json={"login": user["login"], "password": "xxx", "account_type": "user"}, headers=ADMIN
    )
    await assert_error(resp, 409, 41001, f"Account with login '{user['login']}' already exists")


async def test_non_admin_cannot_create_accounts(client, accounts: Accounts) -> None:
    user = await accounts.create()
    resp = await client.post(
        "/6/accounts",
        json={"login": "eve@argus.test", "password": "xxx", "account_type": "user"},
        headers=basic(user["login"], "password1"),
    )
    await assert_error(resp, 403, 11064)
    await assert_error(await client.post("/6/accounts", json={}), 401, 11065)


async def test_open_registration(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_config(tmp_path, auth={"open_registration": True})))
    resp = await client.post(
        "/6/accounts", json={"login": "new@argus.test", "password": "xxx", "account_type": "user"}
    )
    assert resp.status == 201


async def test_create_account_validation(client) -> None:
    cases = [
        ({"login": "not-an-email", "password": "xxx", "account_type": "user"}, "login"),
        ({"login": "a@argus.test", "password": "x", "account_type": "user"}, "password"),
        ({"login": "a@argus.test", "password": "xxx", "account_type": "admin"}, "account_type"),
        ({"login": "a@argus.test", "password": "xxx"}, ""),
    ]
    for body, path in cases:
        resp = await client.post("/6/accounts", json=body, headers=ADMIN)
        detail = (await assert_error(resp, 400, 12022))["detail"]
        assert f"Path: '{path}'" in detail, detail


async def test_user_sees_only_itself_admin_sees_all(client, accounts: Accounts) -> None:
    one, two = await accounts.create(), await accounts.create()
    listing = await (await client.get("/6/accounts", headers=basic(one["login"], "password1"))).json()
    assert [a["account_id"] for a in listing["accounts"]] == [one["account_id"]]
    assert listing["total_count"] == 1
    every = await (await client.get("/6/accounts", params={"page_size": "100"}, headers=ADMIN)).json()
    ids = {a["account_id"] for a in every["accounts"]}
    assert {one["account_id"], two["account_id"]} <= ids and every["total_count"] == 3


async def test_advanced_user_visibility_follows_token(client, accounts: Accounts) -> None:
    adv = await accounts.create("advanced_user")
    by_password = await (await client.get("/6/accounts", headers=basic(adv["login"], "password1"))).json()
    assert by_password["total_count"] >= 2
    narrow = await client.post(
        "/6/tokens",
        json={"expiration_time": None, "permissions": {"account": ["view"]}, "visibility_area": "account"},
        headers=basic(adv["login"], "password1"),
    )
    token = (await narrow.json())["token"]
    by_token = await (await client.get("/6/accounts", headers=bearer(token))).json()
    assert [a["account_id"] for a in by_token["accounts"]] == [adv["account_id"]]


async def test_accounts_filters_and_targets(client, accounts: Accounts) -> None:
    await accounts.create("advanced_user")
    resp = await client.get(
        "/6/accounts", params={"account_type": "admin", "targets": "login,account_type"}, headers=ADMIN
    )
    body = await resp.json()
    assert body == {"accounts": [{"login": ADMIN_LOGIN, "account_type": "admin"}], "total_count": 1}
    for bad in (
        {"page": "0"},
        {"page_size": "1001"},
        {"account_type": "root"},
        {"targets": "password"},
        {"create_time__lt": "yesterday"},
    ):
        await assert_error(await client.get("/6/accounts", params=bad, headers=ADMIN), 400, 12012)


async def test_patch_account(client, accounts: Accounts) -> None:
    user = await accounts.create()
    auth = basic(user["login"], "password1")
    resp = await client.patch("/6/account", json={"password": "newpass", "description": "d"}, headers=auth)
    assert resp.status == 204
    await assert_error(await client.get("/6/account", headers=auth), 401, 11065)
    me = await (await client.get("/6/account", headers=basic(user["login"], "newpass"))).json()
    assert me["description"] == "d"
    empty = await client.patch("/6/account", json={}, headers=basic(user["login"], "newpass"))
    await assert_error(empty, 400, 12022)


async def test_admin_type_cannot_change(client) -> None:
    resp = await client.patch("/6/account", json={"account_type": "user"}, headers=ADMIN)
    await assert_error(resp, 403, 41004)


async def test_patch_login_conflict(client, accounts: Accounts) -> None:
    one, two = await accounts.create(), await accounts.create()
    resp = await client.patch(
        "/6/account", json={"login": two["login"]}, headers=basic(one["login"], "password1")
    )
    await assert_error(resp, 409, 41001)


async def test_patch_account_by_token_is_denied(client, accounts: Accounts) -> None:
    user = await accounts.create()
    token = await accounts.token(user, grant_all=True)
    resp = await client.patch("/6/account", json={"description": "x"}, headers=bearer(token))
    await assert_error(resp, 403, 11064, "Access to the resource is denied using authorization by token")


async def test_luna_account_id_auth(client, accounts: Accounts, aiohttp_client, tmp_path: Path) -> None:
    user = await accounts.create()
    resp = await client.get("/6/account", headers={"Luna-Account-Id": user["account_id"]})
    assert (await resp.json())["account_id"] == user["account_id"]
    await assert_error(
        await client.get("/6/account", headers={"Luna-Account-Id": str(uuid.uuid4())}), 401, 11065
    )
    admin_id = (await (await client.get("/6/account", headers=ADMIN)).json())["account_id"]
    await assert_error(await client.get("/6/account", headers={"Luna-Account-Id": admin_id}), 401, 11065)
    off = await aiohttp_client(
        create_app(make_config(tmp_path / "off", auth={"luna_account_id_auth": False}))
    )
    await assert_error(
        await off.get("/6/account", headers={"Luna-Account-Id": user["account_id"]}), 401, 11065
    )


async def test_credentials_verifier(client, accounts: Accounts) -> None:
    user = await accounts.create()
    ok = await client.post("/6/credentials_verifier", json={"login": user["login"], "password": "password1"})
    assert await ok.json() == {"account_id": user["account_id"], "account_type": "user"}
    bad = await client.post("/6/credentials_verifier", json={"login": user["login"], "password": "nope"})
    await assert_error(bad, 401, 41006)
    token = await accounts.token(user, {"face": ["view"]})
    by_token = await (await client.post("/6/credentials_verifier", json={"token": token})).json()
    assert by_token["account_type"] == "user" and by_token["permissions"]["face"] == ["view"]
    await assert_error(await client.post("/6/credentials_verifier", json={"token": "x.y.z"}), 401, 41005)
    by_id = await client.post("/6/credentials_verifier", json={"account_id": user["account_id"]})
    assert await by_id.json() == {"account_type": "user"}
    missing = await client.post("/6/credentials_verifier", json={"account_id": str(uuid.uuid4())})
    await assert_error(missing, 404, 28001)
