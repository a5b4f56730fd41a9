"""Roles and permissions: casbin with the policy in the database, built-in and custom roles,
wildcards, credential scopes, propagation between instances, and the admin roles API."""

from __future__ import annotations

import asyncio

import casbin
import pytest

from revenge_core.http.app import create_app
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import IDENTITY_MODELS, CasbinRule
from revenge_core.identity.principal import SCOPES, Principal
from revenge_core.identity.rbac import (
    BUILTIN_ROLES,
    MODEL_TEXT,
    PeeweeAdapter,
    Rbac,
    covers,
    scope_for,
)
from revenge_hookspecs.errors import BadRequest, Conflict, NotFound
from tests.identity.conftest import PASSWORD, activity_log, bearer, db_run, login, make_user, who

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")


@pytest.fixture
def rbac(app) -> Rbac:
    return app[IDENTITY].rbac


async def rules(app) -> set[tuple[str, str, str]]:
    return set(await db_run(app, lambda: [(r.ptype, r.v0, r.v1) for r in CasbinRule.select()]))


# --- built-in roles and their defaults ------------------------------------------------------------


async def test_builtin_roles_are_seeded_into_the_database(app, rbac) -> None:
    roles = await rbac.list_roles()
    assert [r["name"] for r in roles] == ["admin", "moderator", "user", "guest"]
    assert all(r["builtin"] for r in roles)
    stored = await rules(app)
    assert ("p", "admin", "*") in stored
    assert ("g", "moderator", "user") in stored and ("g", "user", "guest") in stored
    for name, spec in BUILTIN_ROLES.items():
        assert {v1 for p, v0, v1 in stored if p == "p" and v0 == name} == set(spec.permissions)


DEFAULTS = [
    # role, permission, allowed
    ("guest", "self:profile", True),
    ("guest", "library:view", True),
    ("guest", "library:download", False),
    ("guest", "self:sessions", False),
    ("guest", "self:api_keys", False),
    ("guest", "movies:read", False),
    ("guest", "admin:users", False),
    ("user", "self:profile", True),
    ("user", "self:sessions", True),
    ("user", "self:api_keys", True),
    ("user", "self:security", True),
    ("user", "self:preferences", True),
    ("user", "library:view", True),
    ("user", "library:download", True),
    ("user", "movies:read", True),
    ("user", "legacy:read", True),
    ("user", "library:manage", False),
    ("user", "library:all", False),
    ("user", "users:write", False),
    ("user", "admin:activity", False),
    ("user", "webhooks:read", False),
    ("moderator", "library:manage", True),
    ("moderator", "admin:activity", True),
    ("moderator", "self:api_keys", True),
    ("moderator", "library:download", True),
    ("moderator", "admin:users", False),
    ("moderator", "admin:roles", False),
    ("moderator", "library:all", False),
    ("admin", "admin:users", True),
    ("admin", "admin:roles", True),
    ("admin", "admin:grants", True),
    ("admin", "library:all", True),
    ("admin", "webhooks:read", True),
    ("admin", "some-plugin:do.anything", True),
]


async def test_default_permissions_of_each_builtin_role(app, rbac) -> None:
    ids = {role: await make_user(app, f"{role}1", PASSWORD, role=role) for role in BUILTIN_ROLES}
    wrong = [(role, permission, expected) for role, permission, expected in DEFAULTS
             if await rbac.allowed(who(ids[role]), permission) is not expected]
    assert wrong == []


async def test_a_user_without_roles_may_do_nothing(app, rbac) -> None:
    nobody = await make_user(app, "nobody", PASSWORD, role=None)
    assert await rbac.roles_of(nobody) == frozenset()
    for permission in ("self:profile", "library:view", "users:read", "admin:users", "legacy:read"):
        assert not await rbac.allowed(who(nobody), permission)
    assert await rbac.allowed_scopes(nobody) == frozenset()


async def test_malformed_checks_are_denied_even_for_admin(app, rbac) -> None:
    admin = await make_user(app, "root", PASSWORD, role="admin")
    assert await rbac.allowed(who(admin), "admin:users")
    for permission in ("*", "admin:*", "admin", "", "Admin:users", "admin:users ", "admin:users\n", "admin:users,x",
                       None, 7):
        assert not await rbac.allowed(who(admin), permission), permission
    assert not await rbac.allowed(None, "self:profile")
    assert not await rbac.allowed(object(), "self:profile")
    assert not await rbac.allowed(Principal(user_id="1", username="x"), "self:profile")  # type: ignore[arg-type]


# --- wildcards -------------------------------------------------------------------------------------


async def test_wildcards_match_an_area_or_everything_and_nothing_else(app, rbac) -> None:
    await rbac.create_role("admins-lite", ["admin:*"])
    await rbac.create_role("everything", ["*"])
    await rbac.create_role("selfish", ["self:*"])
    lite = await make_user(app, "lite", PASSWORD, role="admins-lite")
    allmighty = await make_user(app, "all", PASSWORD, role="everything")
    selfish = await make_user(app, "selfish", PASSWORD, role="selfish")

    assert await rbac.allowed(who(lite), "admin:users")
    assert await rbac.allowed(who(lite), "admin:plugins")
    assert not await rbac.allowed(who(lite), "administrator:users")
    assert not await rbac.allowed(who(lite), "adminx:users")
    assert not await rbac.allowed(who(lite), "users:read")
    assert not await rbac.allowed(who(lite), "self:profile")

    assert await rbac.allowed(who(allmighty), "users:write")
    assert await rbac.allowed(who(allmighty), "webhooks:read")

    assert await rbac.allowed(who(selfish), "self:sessions")
    assert not await rbac.allowed(who(selfish), "selfie:sessions")


def test_covers_is_exact_about_wildcards() -> None:
    assert covers("*", "admin:*") and covers("*", "*")
    assert covers("admin:*", "admin:users") and covers("admin:*", "admin:*")
    assert not covers("admin:*", "*")
    assert not covers("admin:*", "adminx:users")
    assert not covers("admin:users", "admin:*")
    assert covers("library:view", "library:view") and not covers("library:view", "library:download")


# --- scopes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("permission", "scope"), [
    ("admin:users", "admin"),
    ("admin:activity", "admin"),
    ("legacy:read", "legacy:read"),
    ("legacy:write", "legacy:read"),
    ("users:read", "read"),
    ("library:view", "read"),
    ("library:download", "read"),
    ("self:profile", "read"),
    ("webhooks:read", "read"),
    ("users:write", "write"),
    ("library:manage", "write"),
    ("self:sessions", "write"),
    ("self:api_keys", "write"),
    ("webhooks:send", "write"),
])
def test_scope_for(permission: str, scope: str) -> None:
    assert scope_for(permission) == scope


async def test_credential_scopes_limit_even_an_admin(app, rbac) -> None:
    admin = await make_user(app, "root", PASSWORD, role="admin")
    read_only = who(admin, {"read"})
    assert await rbac.allowed(read_only, "library:view")
    assert await rbac.allowed(read_only, "users:read")
    assert await rbac.allowed(read_only, "webhooks:read")
    for permission in ("users:write", "library:manage", "self:api_keys", "admin:users", "admin:roles", "legacy:read"):
        assert not await rbac.allowed(read_only, permission), permission

    admin_only = who(admin, {"admin"})
    assert await rbac.allowed(admin_only, "admin:users")
    assert not await rbac.allowed(admin_only, "library:view")
    assert not await rbac.allowed(admin_only, "users:write")

    legacy = who(admin, {"legacy:read"})
    assert await rbac.allowed(legacy, "legacy:read")
    assert not await rbac.allowed(legacy, "library:view")

    assert not await rbac.allowed(who(admin, ()), "self:profile")
    # A scope never adds what the roles lack.
    guest = await make_user(app, "guest1", PASSWORD, role="guest")
    assert not await rbac.allowed(who(guest, SCOPES), "admin:users")


async def test_allowed_scopes_follow_the_roles(app, rbac) -> None:
    ids = {role: await make_user(app, f"{role}1", PASSWORD, role=role) for role in BUILTIN_ROLES}
    assert await rbac.allowed_scopes(ids["guest"]) == {"read"}
    assert await rbac.allowed_scopes(ids["user"]) == {"read", "write", "legacy:read"}
    assert await rbac.allowed_scopes(ids["moderator"]) == {"read", "write", "legacy:read", "admin"}
    assert await rbac.allowed_scopes(ids["admin"]) == SCOPES
    await rbac.create_role("auditor", ["admin:activity"])
    auditor = await make_user(app, "auditor", PASSWORD, role="auditor")
    assert await rbac.allowed_scopes(auditor) == {"admin"}


# --- custom roles and assignments -------------------------------------------------------------------


async def test_custom_roles_are_created_changed_and_deleted(app, rbac) -> None:
    role = await rbac.create_role("editor", ["library:manage", "users:read"], description="Edits",
                                  inherits=["guest"])
    assert role["permissions"] == ["library:manage", "users:read"]
    assert role["inherits"] == ["guest"] and not role["builtin"]
    assert set(role["effective_permissions"]) == {"library:manage", "users:read", "self:profile", "library:view"}
    editor = await make_user(app, "ed", PASSWORD, role="editor")
    assert await rbac.allowed(who(editor), "library:manage")
    assert await rbac.allowed(who(editor), "self:profile")  # inherited from guest
    assert not await rbac.allowed(who(editor), "library:download")

    before, after = await rbac.update_role("editor", permissions=["library:download"])
    assert before["permissions"] == ["library:manage", "users:read"] and after["permissions"] == ["library:download"]
    assert not await rbac.allowed(who(editor), "library:manage")
    assert await rbac.allowed(who(editor), "library:download")

    removed = await rbac.delete_role("editor")
    assert removed["user_ids"] == [editor]
    assert "editor" not in {r["name"] for r in await rbac.list_roles()}
    assert await rbac.roles_of(editor) == frozenset()
    assert not await rbac.allowed(who(editor), "library:download")
    assert not {r for r in await rules(app) if "editor" in r}


async def test_role_definitions_are_validated(app, rbac) -> None:
    for name in ("Admin", "a", "x" * 33, "1abc", "with space", "user:1", "ab/cd", ""):
        with pytest.raises(BadRequest):
            await rbac.create_role(name, [])
    for permissions in (["admin"], ["admin:"], ["*:read"], ["adm*"], ["admin:users:x"], ["ADMIN:users"], "admin:*",
                        {"admin:users": True}):
        with pytest.raises(BadRequest):
            await rbac.create_role("fine", permissions)
    with pytest.raises(BadRequest):
        await rbac.create_role("fine", [], inherits=["nope"])
    for name in BUILTIN_ROLES:
        with pytest.raises(Conflict):
            await rbac.create_role(name, [])
    await rbac.create_role("fine", [])
    with pytest.raises(Conflict):
        await rbac.create_role("fine", ["users:read"])
    # A role that holds nothing still exists and can be assigned.
    assert (await rbac.get_role("fine"))["permissions"] == []


async def test_builtin_roles_cannot_be_deleted_or_changed(rbac) -> None:
    for name in BUILTIN_ROLES:
        with pytest.raises(Conflict):
            await rbac.delete_role(name)
        with pytest.raises(Conflict):
            await rbac.update_role(name, permissions=["*"])
    with pytest.raises(NotFound):
        await rbac.delete_role("ghost")
    assert (await rbac.get_role("guest"))["permissions"] == ["library:view", "self:profile"]


async def test_role_inheritance_cannot_loop(rbac) -> None:
    await rbac.create_role("base", ["users:read"])
    await rbac.create_role("derived", [], inherits=["base"])
    with pytest.raises(BadRequest):
        await rbac.update_role("base", inherits=["derived"])
    with pytest.raises(BadRequest):
        await rbac.update_role("base", inherits=["base"])


async def test_roles_are_assigned_revoked_and_replaced(app, rbac) -> None:
    alice = await make_user(app, "alice", PASSWORD, role=None)
    await rbac.assign_role(alice, "guest")
    await rbac.assign_role(alice, "guest")
    assert await rbac.roles_of(alice) == {"guest"}
    assert await rbac.set_roles(alice, ["user", "moderator"]) == {"user", "moderator"}
    assert await rbac.roles_of(alice) == {"user", "moderator"}
    assert await rbac.allowed(who(alice), "library:manage")
    await rbac.revoke_role(alice, "moderator")
    assert await rbac.roles_of(alice) == {"user"}
    assert not await rbac.allowed(who(alice), "library:manage")
    assert await rbac.users_with_role("user") == {alice}

    with pytest.raises(BadRequest):
        await rbac.assign_role(alice, "nonexistent")
    with pytest.raises(BadRequest):
        await rbac.set_roles(alice, ["user", "Nope!"])
    with pytest.raises(NotFound):
        await rbac.assign_role(987654, "user")
    assert await rbac.roles_of(alice) == {"user"}
    assert ("g", f"user:{alice}", "user") in await rules(app)


async def test_the_last_enabled_admin_keeps_the_admin_role(app, rbac) -> None:
    first = await make_user(app, "first", PASSWORD, role="admin")
    with pytest.raises(Conflict):
        await rbac.revoke_role(first, "admin")
    with pytest.raises(Conflict):
        await rbac.set_roles(first, ["user"])
    second = await make_user(app, "second", PASSWORD, role="admin")
    await rbac.revoke_role(first, "admin")
    assert await rbac.roles_of(first) == frozenset()
    with pytest.raises(Conflict):
        await rbac.revoke_role(second, "admin")


async def test_forget_user_leaves_nothing_for_a_reused_id(app, rbac) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="moderator")
    await rbac.forget_user(alice)
    assert await rbac.roles_of(alice) == frozenset()
    assert not any(v0 == f"user:{alice}" for _, v0, _ in await rules(app))


# --- storage and propagation ---------------------------------------------------------------------------


async def test_policy_lives_in_the_database_and_survives_a_new_instance(app, rbac) -> None:
    await rbac.create_role("curator", ["library:manage"])
    alice = await make_user(app, "alice", PASSWORD, role="curator")
    fresh = Rbac(app[IDENTITY])  # no memory of the first instance
    assert await fresh.roles_of(alice) == {"curator"}
    assert await fresh.allowed(who(alice), "library:manage")
    assert ("p", "curator", "library:manage") in await rules(app)


async def test_tampered_builtin_roles_are_restored_on_start(app, rbac) -> None:
    await rbac.list_roles()

    def tamper():
        CasbinRule.delete().where(CasbinRule.ptype == "p", CasbinRule.v0 == "admin").execute()
        CasbinRule.insert(ptype="p", v0="guest", v1="admin:*").execute()

    await db_run(app, tamper)
    fresh = Rbac(app[IDENTITY])
    assert (await fresh.get_role("admin"))["permissions"] == ["*"]
    assert (await fresh.get_role("guest"))["permissions"] == ["library:view", "self:profile"]
    stored = await rules(app)
    assert ("p", "admin", "*") in stored and ("p", "guest", "admin:*") not in stored


async def test_adapter_round_trip_through_casbin(app) -> None:
    identity = app[IDENTITY]
    adapter = PeeweeAdapter(identity.db)

    def scenario():
        identity.db.bind(IDENTITY_MODELS)
        enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=MODEL_TEXT), adapter)
        enforcer.add_policy("r1", "a:b")
        enforcer.add_policies([["r1", "c:*"], ["r2", "x:y"]])
        enforcer.add_grouping_policy("user:1", "r1")
        reloaded = casbin.Enforcer(casbin.Enforcer.new_model(text=MODEL_TEXT), adapter)
        first = (reloaded.enforce("user:1", "a:b"), reloaded.enforce("user:1", "c:d"),
                 reloaded.enforce("user:1", "x:y"))
        enforcer.remove_filtered_policy(0, "r1")
        enforcer.remove_grouping_policy("user:1", "r1")
        after_remove = sorted((r.ptype, r.v0, r.v1) for r in CasbinRule.select().where(CasbinRule.v0 != "")
                              if r.v0 in ("r1", "r2", "user:1"))
        enforcer.add_policy("r3", "q:q")
        adapter.save_policy(enforcer.get_model())
        saved = sorted((r.ptype, r.v0, r.v1) for r in CasbinRule.select() if r.v0 in ("r1", "r2", "r3", "user:1"))
        return first, after_remove, saved

    first, after_remove, saved = await identity.db.run(scenario)
    assert first == (True, True, False)
    assert after_remove == [("p", "r2", "x:y")]
    assert saved == [("p", "r2", "x:y"), ("p", "r3", "q:q")]


async def test_a_role_change_reaches_another_instance_within_two_seconds(aiohttp_client, config) -> None:
    client_a = await aiohttp_client(create_app(config, plugins={}))
    client_b = await aiohttp_client(create_app(config, plugins={}))
    rbac_a, rbac_b = client_a.app[IDENTITY].rbac, client_b.app[IDENTITY].rbac
    alice = await make_user(client_a.app, "alice", PASSWORD, role="user")
    assert not await rbac_b.allowed(who(alice), "library:manage")  # B now holds a snapshot

    async def until(check, expected: bool) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while await check() is not expected:
            assert loop.time() - started < 2.0, "instance B did not follow within 2 s"
            await asyncio.sleep(0.05)
        return loop.time() - started

    await rbac_a.assign_role(alice, "moderator")
    await until(lambda: rbac_b.allowed(who(alice), "library:manage"), True)
    await rbac_a.revoke_role(alice, "moderator")
    await until(lambda: rbac_b.allowed(who(alice), "library:manage"), False)

    await rbac_a.create_role("mover", ["library:manage"])
    await rbac_a.assign_role(alice, "mover")
    await until(lambda: rbac_b.allowed(who(alice), "library:manage"), True)
    await rbac_a.delete_role("mover")
    await until(lambda: rbac_b.allowed(who(alice), "library:manage"), False)
    assert "mover" not in {r["name"] for r in await rbac_b.list_roles()}

    # And over HTTP: B refuses a token whose user lost the needed role on A.
    await rbac_a.assign_role(alice, "admin")
    headers = bearer((await login(client_b, "alice", PASSWORD))["access_token"])

    async def b_serves_roles() -> bool:
        return (await client_b.get("/api/v1/admin/roles", headers=headers)).status == 200

    await until(b_serves_roles, True)
    await make_user(client_a.app, "root", PASSWORD, role="admin")
    await rbac_a.revoke_role(alice, "admin")
    await until(b_serves_roles, False)
    assert (await client_b.get("/api/v1/admin/roles", headers=headers)).status == 403


# --- the roles API ---------------------------------------------------------------------------------


async def test_admin_lists_creates_and_deletes_roles_over_http(identity_app, admin_headers) -> None:
    client, app = identity_app, identity_app.app
    listing = await (await client.get("/api/v1/admin/roles", headers=admin_headers)).json()
    assert [r["name"] for r in listing["items"]] == ["admin", "moderator", "user", "guest"]
    assert listing["items"][0]["permissions"] == ["*"]

    response = await client.post("/api/v1/admin/roles", headers=admin_headers,
                                 json={"name": "curator", "permissions": ["library:manage", "library:view"],
                                       "description": "Curates", "inherits": ["guest"]})
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["name"] == "curator" and created["permissions"] == ["library:manage", "library:view"]
    entries = await activity_log(app, "role.create")
    assert entries[-1]["target_id"] == "curator" and entries[-1]["after"]["permissions"] == created["permissions"]
    assert entries[-1]["actor_id"] is not None

    response = await client.put("/api/v1/admin/roles/curator", headers=admin_headers,
                                json={"permissions": ["library:view"]})
    assert response.status == 200 and (await response.json())["permissions"] == ["library:view"]
    entry = (await activity_log(app, "role.update"))[-1]
    assert entry["before"]["permissions"] == ["library:manage", "library:view"]
    assert entry["after"]["permissions"] == ["library:view"]

    assert (await client.delete("/api/v1/admin/roles/curator", headers=admin_headers)).status == 204
    assert (await activity_log(app, "role.delete"))[-1]["before"]["name"] == "curator"
    assert (await client.delete("/api/v1/admin/roles/curator", headers=admin_headers)).status == 404
    response = await client.delete("/api/v1/admin/roles/admin", headers=admin_headers)
    assert response.status == 409 and (await response.json())["code"] == "conflict"

    perms = await (await client.get("/api/v1/admin/permissions", headers=admin_headers)).json()
    names = {p["name"]: p for p in perms["items"]}
    assert names["admin:roles"]["scope"] == "admin" and "core" in names["admin:roles"]["declared_by"]


@pytest.mark.parametrize(("method", "path", "body", "key"), [
    ("POST", "/api/v1/admin/roles", {"name": "Bad Name", "permissions": []}, "name"),
    ("POST", "/api/v1/admin/roles", {"name": "ok", "permissions": ["nope"]}, "permissions"),
    ("POST", "/api/v1/admin/roles", {"name": "ok", "permissions": "admin:*"}, "permissions"),
    ("POST", "/api/v1/admin/roles", {"name": "ok", "permissions": [], "evil": 1}, "evil"),
    ("POST", "/api/v1/admin/roles", {"permissions": []}, "name"),
    ("POST", "/api/v1/admin/roles", {"name": "ok", "permissions": [], "inherits": ["ghost"]}, "inherits"),
    ("PUT", "/api/v1/admin/roles/BAD!", {"permissions": []}, "name"),
    ("PUT", "/api/v1/admin/users/abc/roles", {"roles": []}, "user_id"),
    ("PUT", "/api/v1/admin/users/-1/roles", {"roles": []}, "user_id"),
    ("PUT", "/api/v1/admin/users/1/roles", {"roles": "admin"}, "roles"),
    ("PUT", "/api/v1/admin/users/1/roles", {"roles": ["ghost"]}, "roles"),
    ("GET", "/api/v1/admin/users/1%20OR%201=1/roles", None, "user_id"),
])
async def test_role_inputs_are_checked_against_allowlists(identity_app, admin_headers, method, path, body,
                                                          key) -> None:
    response = await identity_app.request(method, path, headers=admin_headers, json=body)
    payload = await response.json()
    assert response.status == 400, payload
    assert payload["code"] == "bad_request" and payload["details"].get("key") == key, payload


async def test_a_body_that_is_not_an_object_is_refused(identity_app, admin_headers) -> None:
    for data in ("[]", "not json", '"x"', ""):
        response = await identity_app.post("/api/v1/admin/roles", headers={**admin_headers,
                                           "Content-Type": "application/json"}, data=data)
        assert response.status == 400, data


async def test_admin_sets_a_users_roles_with_an_activity_entry(identity_app, admin_headers) -> None:
    client, app = identity_app, identity_app.app
    alice = await make_user(app, "alice", PASSWORD, role="guest")
    response = await client.put(f"/api/v1/admin/users/{alice}/roles", headers=admin_headers,
                                json={"roles": ["user", "moderator"]})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["roles"] == ["moderator", "user"] and "library:manage" in body["effective_permissions"]
    entry = (await activity_log(app, "role.change"))[-1]
    assert entry["target_id"] == str(alice)
    assert entry["before"] == {"roles": ["guest"]} and entry["after"] == {"roles": ["moderator", "user"]}

    got = await (await client.get(f"/api/v1/admin/users/{alice}/roles", headers=admin_headers)).json()
    assert got["roles"] == ["moderator", "user"] and "admin" in got["allowed_scopes"]
    assert (await client.get("/api/v1/admin/users/999999/roles", headers=admin_headers)).status == 404


async def test_nobody_hands_out_more_than_they_hold(identity_app, admin_headers) -> None:
    client, app = identity_app, identity_app.app
    rbac = app[IDENTITY].rbac
    await rbac.create_role("role-manager", ["admin:roles", "admin:users", "library:view", "self:profile"])
    manager = await make_user(app, "manager", PASSWORD, role="role-manager")
    victim = await make_user(app, "victim", PASSWORD, role="guest")
    headers = bearer((await login(client, "manager", PASSWORD))["access_token"])

    for body in ({"name": "mine", "permissions": ["*"]}, {"name": "mine", "permissions": ["admin:*"]},
                 {"name": "mine", "permissions": [], "inherits": ["admin"]},
                 {"name": "mine", "permissions": ["library:download"]}):
        response = await client.post("/api/v1/admin/roles", headers=headers, json=body)
        assert response.status == 403, body
    response = await client.put(f"/api/v1/admin/users/{manager}/roles", headers=headers, json={"roles": ["admin"]})
    assert response.status == 403
    assert (await response.json())["details"]["missing"]
    root_id = next(iter(await rbac.users_with_role("admin")))
    response = await client.put(f"/api/v1/admin/users/{root_id}/roles", headers=headers, json={"roles": []})
    assert response.status == 403  # nor take away what they do not hold
    assert await rbac.roles_of(manager) == {"role-manager"}
    assert await rbac.roles_of(root_id) == {"admin"}

    response = await client.post("/api/v1/admin/roles", headers=headers,
                                 json={"name": "viewer", "permissions": ["library:view"]})
    assert response.status == 201
    response = await client.put(f"/api/v1/admin/users/{victim}/roles", headers=headers, json={"roles": ["viewer"]})
    assert response.status == 200
    assert await rbac.roles_of(victim) == {"viewer"}
