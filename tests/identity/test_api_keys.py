"""API keys: shown once, stored hashed, scoped, expiring, limited, revocable."""

from __future__ import annotations

import datetime
import hashlib
import re

import pytest

from revenge_core.db.models import utcnow
from revenge_core.http.app import create_app
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import ApiKey, User

from .conftest import PASSWORD, bearer, db_run, login, make_user

KEYS = "/api/v1/me/api-keys"


@pytest.fixture
async def token(client) -> str:
    return (await login(client, "alice", PASSWORD))["access_token"]


async def create(client, token, **body):
    body.setdefault("name", "a key")
    body.setdefault("scopes", ["read"])
    return await client.post(KEYS, headers=bearer(token), json=body)


async def everything_stored(client) -> str:
    """Every value of every table, as text, to search for secrets."""
    identity = client.app[IDENTITY]
    database = identity.db.database

    def dump() -> str:
        parts = []
        for schema, table in identity.db.tables():
            name = f'"{schema}"."{table}"' if schema else f'"{table}"'
            for row in database.execute_sql(f"SELECT * FROM {name}").fetchall():
                parts.append(repr(row))
        return "\n".join(parts)

    return await identity.db.run(dump)


async def test_a_key_is_shown_once_and_only_its_digest_is_stored(client, token) -> None:
    response = await create(client, token, name="backup script", scopes=["read", "write"])
    assert response.status == 201
    assert response.headers["Cache-Control"] == "no-store"
    created = await response.json()
    key = created["key"]
    assert re.fullmatch(r"rv_[A-Za-z0-9_-]{43}", key)
    assert created["prefix"] == key[3:11]
    assert created["scopes"] == ["read", "write"]
    assert created["name"] == "backup script"

    listing = await (await client.get(KEYS, headers=bearer(token))).text()
    assert key not in listing and key[3:] not in listing
    items = (await client.get(KEYS, headers=bearer(token)))
    (item,) = (await items.json())["items"]
    assert item["prefix"] == created["prefix"] and "key" not in item and "key_hash" not in item

    row = await db_run(client.app, lambda: ApiKey.get_by_id(created["id"]))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = await everything_stored(client)
    assert row.key_hash in stored  # the dump does see the table
    assert key not in stored and key[3:] not in stored and key[11:] not in stored


async def test_a_key_authenticates_with_its_own_scopes(client, token) -> None:
    read_key = (await (await create(client, token, scopes=["read"])).json())["key"]
    write_key = (await (await create(client, token, scopes=["write"])).json())["key"]
    response = await client.get("/api/v1/me", headers={"X-API-Key": read_key})
    assert response.status == 200
    assert (await response.json())["username"] == "alice"
    # Listing keys is a self:api_keys (write-scope) action: a read key may not.
    assert (await client.get(KEYS, headers={"X-API-Key": read_key})).status == 403
    assert (await client.get(KEYS, headers={"X-API-Key": write_key})).status == 200
    assert (await client.get("/api/v1/me", headers={"X-API-Key": write_key})).status == 403

    principal = await client.app[IDENTITY].api_keys.authenticate(read_key)
    assert principal.scopes == frozenset({"read"}) and principal.via == "api_key"
    assert principal.session_id is None and principal.roles == frozenset({"user"})


async def test_a_key_cannot_manage_credentials(client, token) -> None:
    key = (await (await create(client, token, scopes=["read", "write"])).json())["key"]
    response = await client.post(KEYS, headers={"X-API-Key": key}, json={"name": "more", "scopes": ["read"]})
    assert response.status == 403
    assert (await response.json())["code"] == "session_required"
    key_id = (await (await client.get(KEYS, headers=bearer(token))).json())["items"][0]["id"]
    assert (await client.delete(f"{KEYS}/{key_id}", headers={"X-API-Key": key})).status == 403
    assert (await client.post("/api/v1/me/totp", headers={"X-API-Key": key})).status == 403


async def test_scopes_are_limited_to_what_the_roles_allow(client, token) -> None:
    response = await create(client, token, scopes=["admin"])
    assert response.status == 403
    body = await response.json()
    assert body["code"] == "scope_not_allowed" and body["details"]["not_allowed"] == ["admin"]

    await make_user(client.app, "root", PASSWORD, role="admin")
    admin_token = (await login(client, "root", PASSWORD))["access_token"]
    response = await create(client, admin_token, scopes=["admin", "read"])
    assert response.status == 201
    key = (await response.json())["key"]
    assert (await client.get("/api/v1/admin/users", headers={"X-API-Key": key})).status == 200

    # When the roles shrink, so does what an existing key can do.
    await make_user(client.app, "other-admin", PASSWORD, role="admin")  # someone must stay admin
    root_id = await db_run(client.app, lambda: User.get(User.username_key == "root").id)
    await client.app[IDENTITY].rbac.assign_role(root_id, "user")
    await client.app[IDENTITY].rbac.revoke_role(root_id, "admin")
    principal = await client.app[IDENTITY].api_keys.authenticate(key)
    assert principal.scopes == frozenset({"read"})
    assert (await client.get("/api/v1/admin/users", headers={"X-API-Key": key})).status == 403


async def test_bad_requests_are_400(client, token) -> None:
    soon = (utcnow() - datetime.timedelta(minutes=1)).isoformat() + "Z"
    for body in ({"scopes": ["root"]}, {"scopes": []}, {"scopes": "read"}, {"name": ""}, {"name": "x" * 200},
                 {"name": None}, {"expires_at": "tomorrow"}, {"expires_at": soon}, {"expires_at": 12}):
        response = await create(client, token, **body)
        assert response.status == 400, body
    assert await db_run(client.app, lambda: ApiKey.select().count()) == 0


async def test_an_expired_key_stops_working(client, token) -> None:
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).isoformat()
    response = await create(client, token, expires_at=later)
    created = await response.json()
    assert created["expires_at"].startswith(later[:16])
    assert (await client.get("/api/v1/me", headers={"X-API-Key": created["key"]})).status == 200
    past = utcnow() - datetime.timedelta(seconds=1)
    await db_run(client.app, lambda: ApiKey.update(expires_at=past).where(ApiKey.id == created["id"]).execute())
    response = await client.get("/api/v1/me", headers={"X-API-Key": created["key"]})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_api_key"
    (item,) = (await (await client.get(KEYS, headers=bearer(token))).json())["items"]
    assert item["expired"] is True


async def test_per_user_maximum_counts_live_keys_only(aiohttp_client, config) -> None:
    config.auth.max_api_keys_per_user = 2
    client = await aiohttp_client(create_app(config, plugins={}))
    await make_user(client.app, "alice", PASSWORD)
    await make_user(client.app, "bob", PASSWORD)
    token = (await login(client, "alice", PASSWORD))["access_token"]
    first = await (await create(client, token)).json()
    assert (await create(client, token)).status == 201
    response = await create(client, token)
    assert response.status == 409
    assert (await response.json())["code"] == "too_many_api_keys"
    # Someone else's count is their own.
    bob = (await login(client, "bob", PASSWORD))["access_token"]
    assert (await create(client, bob)).status == 201
    # Revoked and expired keys make room.
    assert (await client.delete(f"{KEYS}/{first['id']}", headers=bearer(token))).status == 204
    second = await (await create(client, token)).json()
    past = utcnow() - datetime.timedelta(seconds=1)
    await db_run(client.app, lambda: ApiKey.update(expires_at=past).where(ApiKey.id == second["id"]).execute())
    assert (await create(client, token)).status == 201


async def test_revoked_keys_stop_at_once_and_only_the_owner_revokes(client, token) -> None:
    created = await (await create(client, token)).json()
    key_headers = {"X-API-Key": created["key"]}
    assert (await client.get("/api/v1/me", headers=key_headers)).status == 200
    await make_user(client.app, "mallory", PASSWORD)
    mallory = (await login(client, "mallory", PASSWORD))["access_token"]
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=bearer(mallory))).status == 404
    assert (await client.get("/api/v1/me", headers=key_headers)).status == 200
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=bearer(token))).status == 204
    assert (await client.get("/api/v1/me", headers=key_headers)).status == 401
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=bearer(token))).status == 404
    assert (await client.delete(f"{KEYS}/not-a-number", headers=bearer(token))).status == 404
    assert (await (await client.get(KEYS, headers=bearer(token))).json())["items"] == []
    from revenge_core.identity.models import Activity

    recorded = await db_run(client.app, lambda: [a.action for a in Activity.select()])
    assert "apikey.create" in recorded and "apikey.revoke" in recorded


async def test_last_use_is_recorded_but_not_on_every_request(client, token) -> None:
    created = await (await create(client, token)).json()
    assert created["last_used_at"] is None
    await client.get("/api/v1/me", headers={"X-API-Key": created["key"]})
    first = await db_run(client.app, lambda: ApiKey.get_by_id(created["id"]).last_used_at)
    assert first is not None
    await client.get("/api/v1/me", headers={"X-API-Key": created["key"]})
    assert await db_run(client.app, lambda: ApiKey.get_by_id(created["id"]).last_used_at) == first
    # Once the last use is old enough, it moves.
    old = first - datetime.timedelta(minutes=5)
    await db_run(client.app, lambda: ApiKey.update(last_used_at=old).where(ApiKey.id == created["id"]).execute())
    await client.get("/api/v1/me", headers={"X-API-Key": created["key"]})
    assert await db_run(client.app, lambda: ApiKey.get_by_id(created["id"]).last_used_at) > old


async def test_keys_of_disabled_accounts_and_made_up_keys_are_401(client, token) -> None:
    created = await (await create(client, token)).json()
    for bad in ("rv_" + "A" * 43, "rv_short", "nonsense", "", created["key"] + "x", created["key"].upper()):
        response = await client.get("/api/v1/me", headers={"X-API-Key": bad})
        assert response.status == 401, bad
        assert (await response.json())["code"] == "invalid_api_key"
    await db_run(client.app, lambda: User.update(enabled=False).where(User.username_key == "alice").execute())
    assert (await client.get("/api/v1/me", headers={"X-API-Key": created["key"]})).status == 401
