"""First-run setup: the wizard's steps, who may call them, validation, races and closing."""

from __future__ import annotations

import asyncio

import pytest

from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import IDENTITY_MODELS, Group, User
from tests.identity.conftest import login_headers, make_user

ADMIN = {"username": "root", "email": "Root@Example.org", "password": "correct horse battery"}
RADARR_KEY = "0123456789abcdef0123456789abcdef"

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")


async def count_users(app) -> int:
    identity = app[IDENTITY]

    def count() -> int:
        identity.db.bind(IDENTITY_MODELS)
        return User.select().count()

    return await identity.db.run(count)


async def test_fresh_server_walks_every_step_and_then_setup_is_closed(identity_app, tmp_path, db_driver) -> None:
    client = identity_app
    movies, shows = tmp_path / "movies", tmp_path / "shows"
    movies.mkdir()
    shows.mkdir()

    overview = await (await client.get("/api/v1/setup")).json()
    assert overview["open"] is True and overview["admin_exists"] is False
    assert [s["name"] for s in overview["steps"]] == ["database", "admin", "libraries", "cache_search", "arr",
                                                       "groups"]
    assert not any(s["done"] for s in overview["steps"])
    assert overview["steps"][0]["current"] == {"driver": db_driver}  # where it lives is for admins only
    assert "current" not in overview["steps"][3]

    response = await client.post("/api/v1/setup/database", json={})
    assert response.status == 200, await response.text()
    assert (await response.json())["data"]["driver"] == db_driver

    # Steps after the admin's need the admin first, so nobody anonymous reaches them.
    response = await client.post("/api/v1/setup/libraries", json={"paths": [str(movies)]})
    assert response.status == 409 and (await response.json())["code"] == "admin_required"

    response = await client.post("/api/v1/setup/admin", json=ADMIN)
    assert response.status == 200, await response.text()
    admin_id = (await response.json())["data"]["user_id"]
    assert await client.app[IDENTITY].rbac.roles_of(admin_id) == frozenset({"admin"})

    # From now on setup belongs to the admin.
    response = await client.get("/api/v1/setup")
    assert response.status == 401
    assert (await client.post("/api/v1/setup/libraries", json={"paths": [str(movies)]})).status == 401
    headers = await login_headers(client, "root", ADMIN["password"])

    response = await client.post("/api/v1/setup/libraries", json={"paths": [str(movies), str(shows) + "/"]},
                                 headers=headers)
    assert response.status == 200, await response.text()
    assert await client.app[IDENTITY].settings.get("library.paths") == [str(movies), str(shows)]

    response = await client.post("/api/v1/setup/cache_search", json={}, headers=headers)
    assert response.status == 200
    assert (await response.json())["data"]["cache"]["backend"] == "memory"

    response = await client.post("/api/v1/setup/arr", headers=headers, json={
        "services": [{"service": "radarr", "url": "http://radarr.lan:7878/", "api_key": RADARR_KEY}]})
    assert response.status == 200, await response.text()
    assert RADARR_KEY not in await response.text()
    assert await client.app[IDENTITY].settings.get("arr.radarr.api_key") == RADARR_KEY
    assert await client.app[IDENTITY].settings.get("arr.radarr.url") == "http://radarr.lan:7878"

    response = await client.post("/api/v1/setup/groups", json={"groups": ["Family", {"name": "Guests"}]},
                                 headers=headers)
    assert response.status == 200
    assert [g["name"] for g in (await response.json())["data"]["groups"]] == ["Family", "Guests"]

    overview = await (await client.get("/api/v1/setup", headers=headers)).json()
    assert all(step["done"] for step in overview["steps"]) and overview["can_complete"]
    assert {"path", "url"} & set(overview["steps"][0]["current"])
    assert overview["steps"][3]["current"]["search"]["backend"]
    assert RADARR_KEY not in str(overview)

    response = await client.post("/api/v1/setup/complete", headers=headers)
    assert response.status == 200, await response.text()

    for method, path in (("GET", "/api/v1/setup"), ("POST", "/api/v1/setup/admin"),
                         ("POST", "/api/v1/setup/groups"), ("POST", "/api/v1/setup/complete")):
        for auth in ({}, headers):
            response = await client.request(method, path, json={"groups": []}, headers=auth)
            assert response.status == 409, (method, path)
            assert (await response.json())["code"] == "setup_closed"
    entries = await client.app[IDENTITY].activity.query(action="setup.")
    assert {e["target_id"] for e in entries["items"]} >= {"database", "libraries", "arr", "groups", "complete"}
    assert RADARR_KEY not in str(entries)


async def test_two_concurrent_admin_steps_create_exactly_one_admin(identity_app) -> None:
    client = identity_app
    bodies = [{**ADMIN, "username": f"root{i}", "email": f"root{i}@example.org"} for i in range(6)]
    responses = await asyncio.gather(*(client.post("/api/v1/setup/admin", json=body) for body in bodies))
    assert [r.status for r in responses].count(200) == 1
    for response in responses:
        if response.status != 200:
            # Refused by the step (lost the race) or, arriving later, by the guard.
            code = (await response.json())["code"]
            assert (response.status, code) in ((409, "admin_exists"), (401, "unauthorized")), code
    assert await count_users(client.app) == 1
    assert len(await client.app[IDENTITY].users.enabled_admin_ids()) == 1


async def test_the_admin_step_cannot_be_done_twice(identity_app) -> None:
    client = identity_app
    assert (await client.post("/api/v1/setup/admin", json=ADMIN)).status == 200
    headers = await login_headers(client, "root", ADMIN["password"])
    response = await client.post("/api/v1/setup/admin", headers=headers,
                                 json={**ADMIN, "username": "second", "email": "second@example.org"})
    assert response.status == 409 and (await response.json())["code"] == "admin_exists"
    assert await count_users(client.app) == 1


async def test_a_server_whose_admin_exists_already_needs_admin_settings(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "boss", "boss password 1", role="admin")
    await make_user(client.app, "pleb", "pleb password 1", role="user")
    assert (await client.get("/api/v1/setup")).status == 401
    response = await client.post("/api/v1/setup/admin", json=ADMIN)
    assert response.status == 401
    pleb = await login_headers(client, "pleb", "pleb password 1")
    response = await client.get("/api/v1/setup", headers=pleb)
    assert response.status == 403 and (await response.json())["details"]["permission"] == "admin:settings"
    assert (await client.post("/api/v1/setup/complete", headers=pleb)).status == 403
    boss = await login_headers(client, "boss", "boss password 1")
    overview = await (await client.get("/api/v1/setup", headers=boss)).json()
    assert overview["admin_exists"] is True
    assert next(s for s in overview["steps"] if s["name"] == "admin")["done"] is True


async def test_each_step_refuses_bad_input_naming_the_field(identity_app, tmp_path) -> None:
    client = identity_app
    folder = tmp_path / "media"
    folder.mkdir()
    a_file = tmp_path / "file.mkv"
    a_file.write_bytes(b"not a folder")
    other_driver = "postgres" if client.app[IDENTITY].config.database.driver == "sqlite" else "sqlite"

    before_admin = [
        ("admin", {**ADMIN, "password": "short"}, 400, "weak_password", "password"),
        ("admin", {**ADMIN, "username": "a"}, 400, "invalid_username", "username"),
        ("admin", {**ADMIN, "username": ".dot-first"}, 400, "invalid_username", "username"),
        ("admin", {**ADMIN, "email": "not-an-email"}, 400, "invalid_email", "email"),
        ("admin", {"username": "root", "password": ADMIN["password"]}, 400, "invalid_email", "email"),
        ("admin", {**ADMIN, "role": "admin"}, 400, "invalid_setup_step", "role"),
        ("database", {"driver": "oracle"}, 400, "invalid_setup_step", "driver"),
        ("database", {"driver": other_driver}, 409, "driver_mismatch", "driver"),
    ]
    for step, body, status, code, key in before_admin:
        response = await client.post(f"/api/v1/setup/{step}", json=body)
        payload = await response.json()
        assert (response.status, payload["code"], payload["details"].get("key")) == (status, code, key), body
    assert await count_users(client.app) == 0
    response = await client.post("/api/v1/setup/nothing", json={})
    assert response.status == 404 and (await response.json())["code"] == "unknown_setup_step"

    assert (await client.post("/api/v1/setup/admin", json=ADMIN)).status == 200
    headers = await login_headers(client, "root", ADMIN["password"])
    after_admin = [
        ("libraries", {"paths": []}, "paths"),
        ("libraries", {"paths": "/media"}, "paths"),
        ("libraries", {"paths": ["relative/movies"]}, "paths.0"),
        ("libraries", {"paths": [str(folder), str(tmp_path / "missing")]}, "paths.1"),
        ("libraries", {"paths": [str(a_file)]}, "paths.0"),
        ("cache_search", {"url": "redis://elsewhere"}, "url"),
        ("arr", {"services": [{"service": "plex", "url": "http://x", "api_key": "k"}]}, "services.0.service"),
        ("arr", {"services": [{"service": "radarr", "url": "ftp://x", "api_key": "k"}]}, "services.0.url"),
        ("arr", {"services": [{"service": "radarr", "url": "http://x"}]}, "services.0.api_key"),
        ("arr", {"services": [{"service": "radarr", "url": "http://x", "api_key": "k"},
                              {"service": "radarr", "url": "http://y", "api_key": "k"}]}, "services.1.service"),
        ("groups", {"groups": [""]}, "groups.0.name"),
        ("groups", {"groups": ["Family", "family"]}, "groups.1.name"),
    ]
    for step, body, key in after_admin:
        response = await client.post(f"/api/v1/setup/{step}", json=body, headers=headers)
        payload = await response.json()
        assert response.status == 400, (step, body, payload)
        assert payload["details"]["key"] == key and payload["details"]["step"] == step, payload
    overview = await (await client.get("/api/v1/setup", headers=headers)).json()
    assert [s["name"] for s in overview["steps"] if s["done"]] == ["admin"]
    assert await client.app[IDENTITY].settings.get("library.paths") == []


async def test_complete_needs_the_required_steps(identity_app, tmp_path) -> None:
    client = identity_app
    assert (await client.post("/api/v1/setup/admin", json=ADMIN)).status == 200
    headers = await login_headers(client, "root", ADMIN["password"])
    response = await client.post("/api/v1/setup/complete", headers=headers)
    assert response.status == 409
    payload = await response.json()
    assert payload["code"] == "setup_incomplete" and payload["details"]["missing"] == ["database", "libraries"]
    assert (await client.post("/api/v1/setup/database", headers=headers)).status == 200
    assert (await client.post("/api/v1/setup/libraries", json={"paths": [str(tmp_path)]},
                              headers=headers)).status == 200
    assert (await client.post("/api/v1/setup/complete", headers=headers)).status == 200


async def test_redoing_an_optional_step_replaces_what_it_did(identity_app) -> None:
    client = identity_app
    identity = client.app[IDENTITY]
    assert (await client.post("/api/v1/setup/admin", json=ADMIN)).status == 200
    headers = await login_headers(client, "root", ADMIN["password"])

    both = {"services": [{"service": "radarr", "url": "http://radarr:7878", "api_key": "radarr-key"},
                         {"service": "sonarr", "url": "https://sonarr:8989", "api_key": "sonarr-key"}]}
    assert (await client.post("/api/v1/setup/arr", json=both, headers=headers)).status == 200
    assert await identity.settings.get("arr.sonarr.api_key") == "sonarr-key"
    one = {"services": [{"service": "radarr", "url": "http://radarr:7878", "api_key": "radarr-key-2"}]}
    response = await client.post("/api/v1/setup/arr", json=one, headers=headers)
    assert (await response.json())["data"] == {"services": [{"service": "radarr", "url": "http://radarr:7878",
                                                             "api_key_set": True}]}
    assert await identity.settings.get("arr.sonarr.api_key") == ""
    assert await identity.settings.get("arr.sonarr.url") == ""
    assert await identity.settings.get("arr.radarr.api_key") == "radarr-key-2"

    def group_names() -> list[str]:
        identity.db.bind(IDENTITY_MODELS)
        return sorted(g.name for g in Group.select())

    def make_outside_group() -> None:
        identity.db.bind(IDENTITY_MODELS)
        Group.create(name="Made elsewhere")

    await identity.db.run(make_outside_group)
    assert (await client.post("/api/v1/setup/groups", json={"groups": ["Family", "Kids"]},
                              headers=headers)).status == 200
    assert await identity.db.run(group_names) == ["Family", "Kids", "Made elsewhere"]
    assert (await client.post("/api/v1/setup/groups", json={"groups": ["Kids", "Guests"]},
                              headers=headers)).status == 200
    assert await identity.db.run(group_names) == ["Guests", "Kids", "Made elsewhere"]
    overview = await (await client.get("/api/v1/setup", headers=headers)).json()
    groups = next(s for s in overview["steps"] if s["name"] == "groups")
    assert [g["name"] for g in groups["data"]["groups"]] == ["Kids", "Guests"]
    assert "radarr-key" not in str(overview)
