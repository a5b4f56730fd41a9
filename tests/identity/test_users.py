"""Accounts: admin CRUD, validation, the last admin, one's own profile and password."""

from __future__ import annotations

import asyncio
import time

import pytest

from revenge_core.identity import passwords
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import IDENTITY_MODELS, CasbinRule, User
from tests.identity.conftest import login_headers, make_user

SECRET_FIELDS = ("password_hash", "totp_secret", "$rv1$", "$2b$")

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")


@pytest.fixture
async def admin(identity_app) -> dict[str, str]:
    await make_user(identity_app.app, "admin", "admin password 1", role="admin", email="admin@example.org")
    return await login_headers(identity_app, "admin", "admin password 1")


def no_secrets(text: str) -> None:
    for marker in SECRET_FIELDS:
        assert marker not in text, marker


async def test_admin_creates_reads_lists_changes_and_deletes_users(identity_app, admin) -> None:
    client = identity_app
    response = await client.post("/api/v1/admin/users", headers=admin, json={
        "username": "Alice", "password": "alice password", "email": "Alice@Example.org",
        "display_name": "Alice A.", "avatar_url": "https://img.example.org/a.png"})
    assert response.status == 201, await response.text()
    no_secrets(await response.text())
    alice = await response.json()
    assert alice["username"] == "Alice" and alice["email"] == "Alice@Example.org" and alice["roles"] == ["user"]
    assert alice["enabled"] is True and alice["created_at"].endswith("Z")
    await login_headers(client, "alice", "alice password")  # case-insensitive login works with the stored key

    for name in ("bob", "carol", "dave"):
        assert (await client.post("/api/v1/admin/users", headers=admin,
                                  json={"username": name, "password": f"{name} password"})).status == 201

    page = await (await client.get("/api/v1/admin/users?per_page=2&page=2", headers=admin)).json()
    assert page["total"] == 5 and page["page"] == 2 and page["per_page"] == 2
    assert [u["username"] for u in page["items"]] == ["bob", "carol"]
    found = await (await client.get("/api/v1/admin/users?q=ALI", headers=admin)).json()
    assert [u["username"] for u in found["items"]] == ["Alice"] and found["total"] == 1
    admins = await (await client.get("/api/v1/admin/users?role=admin", headers=admin)).json()
    assert [u["username"] for u in admins["items"]] == ["admin"]
    response = await client.get("/api/v1/admin/users", headers=admin)
    no_secrets(await response.text())

    response = await client.patch(f"/api/v1/admin/users/{alice['id']}", headers=admin,
                                  json={"display_name": "Alice B.", "enabled": False})
    assert response.status == 200
    assert (await response.json())["display_name"] == "Alice B."
    disabled = await (await client.get("/api/v1/admin/users?enabled=false", headers=admin)).json()
    assert [u["username"] for u in disabled["items"]] == ["Alice"]
    response = await client.post("/api/v1/auth/login", json={"username": "alice", "password": "alice password"})
    assert response.status == 401

    assert (await client.get(f"/api/v1/admin/users/{alice['id']}", headers=admin)).status == 200
    assert (await client.delete(f"/api/v1/admin/users/{alice['id']}", headers=admin)).status == 204
    assert (await client.get(f"/api/v1/admin/users/{alice['id']}", headers=admin)).status == 404
    assert (await client.delete(f"/api/v1/admin/users/{alice['id']}", headers=admin)).status == 404
    assert (await client.get("/api/v1/admin/users/not-a-number", headers=admin)).status == 404

    actions = [e["action"] for e in (await client.app[IDENTITY].activity.query(action="user."))["items"]]
    assert actions.count("user.create") == 4 and "user.update" in actions and "user.delete" in actions


INVALID_ACCOUNTS = [
    ({"username": "ab"}, 400, "invalid_username", "username"),
    ({"username": "a" * 65}, 400, "invalid_username", "username"),
    ({"username": "_under"}, 400, "invalid_username", "username"),
    ({"username": "white space"}, 400, "invalid_username", "username"),
    ({"username": "newline\n"}, 400, "invalid_username", "username"),
    ({"username": None}, 400, "invalid_username", "username"),
    ({"username": "ADMIN"}, 409, "username_taken", "username"),
    ({"email": "ADMIN@example.org"}, 409, "email_taken", "email"),
    ({"email": "no-at-sign.org"}, 400, "invalid_email", "email"),
    ({"email": "two@@example.org"}, 400, "invalid_email", "email"),
    ({"avatar_url": "javascript:alert(1)"}, 400, "invalid_avatar_url", "avatar_url"),
    ({"avatar_url": "ftp://example.org/a.png"}, 400, "invalid_avatar_url", "avatar_url"),
    ({"display_name": "bad\nname"}, 400, "invalid_display_name", "display_name"),
    ({"password": "short"}, 400, "weak_password", "password"),
    ({"password": "x" * 1025}, 400, "weak_password", "password"),
    ({"enabled": "yes"}, 400, "invalid_enabled", "enabled"),
    ({"password_hash": "$rv1$..."}, 400, "unknown_field", "password_hash"),
]


async def test_invalid_accounts_are_refused_naming_the_field(identity_app, admin) -> None:
    for body, status, code, key in INVALID_ACCOUNTS:
        request = {"username": "newbie", "password": "newbie password", "email": "newbie@example.org", **body}
        response = await identity_app.post("/api/v1/admin/users", headers=admin, json=request)
        payload = await response.json()
        assert (response.status, payload["code"], payload["details"].get("key")) == (status, code, key), body
    listed = await (await identity_app.get("/api/v1/admin/users", headers=admin)).json()
    assert listed["total"] == 1
    valid = {"username": "newbie", "password": "newbie password", "email": "newbie@example.org"}
    assert (await identity_app.post("/api/v1/admin/users", headers=admin, json=valid)).status == 201


async def test_changes_keep_usernames_and_emails_unique_and_valid(identity_app, admin) -> None:
    client = identity_app
    bob = await make_user(client.app, "bob", "bob password 1", email="bob@example.org")
    for body, code in (({"username": "Admin"}, "username_taken"), ({"email": "ADMIN@EXAMPLE.ORG"}, "email_taken"),
                       ({"username": "x"}, "invalid_username"), ({"roles": ["admin"]}, "unknown_field")):
        response = await client.patch(f"/api/v1/admin/users/{bob}", headers=admin, json=body)
        assert (await response.json())["code"] == code
    response = await client.patch(f"/api/v1/admin/users/{bob}", headers=admin, json={"username": "Bobby"})
    assert (await response.json())["username"] == "Bobby"
    await login_headers(client, "BOBBY", "bob password 1")


async def test_an_admin_cannot_delete_or_disable_themselves(identity_app, admin) -> None:
    client = identity_app
    me = await (await client.get("/api/v1/me", headers=admin)).json()
    response = await client.delete(f"/api/v1/admin/users/{me['id']}", headers=admin)
    assert response.status == 409 and (await response.json())["code"] == "cannot_delete_self"
    response = await client.patch(f"/api/v1/admin/users/{me['id']}", headers=admin, json={"enabled": False})
    assert response.status == 409 and (await response.json())["code"] == "cannot_disable_self"
    assert (await client.get("/api/v1/me", headers=admin)).status == 200


async def test_the_last_enabled_admin_stays(identity_app, admin) -> None:
    client = identity_app
    users = client.app[IDENTITY].users
    first = (await (await client.get("/api/v1/me", headers=admin)).json())["id"]
    second = await make_user(client.app, "second", "second password", role="admin")
    # Through the API: another admin may go while one remains.
    response = await client.patch(f"/api/v1/admin/users/{second}", headers=admin, json={"enabled": False})
    assert response.status == 200
    # The service refuses to leave no enabled admin, whoever asks.
    for attempt in (users.update(first, {"enabled": False}), users.delete(first)):
        with pytest.raises(Exception) as refused:
            await attempt
        assert getattr(refused.value, "code", "") == "last_admin"
    assert await users.enabled_admin_ids() == {first}
    # A disabled admin may be deleted; it is not the one that keeps the server administered.
    assert (await client.delete(f"/api/v1/admin/users/{second}", headers=admin)).status == 204


async def test_two_admins_disabling_each_other_at_once_leave_one(identity_app, monkeypatch) -> None:
    users = identity_app.app[IDENTITY].users
    guard = users._admin_guard

    def slow_guard(user_id: int, leaving: bool) -> None:
        guard(user_id, leaving)
        time.sleep(0.2)  # hold the window between the check and the write wide open

    monkeypatch.setattr(users, "_admin_guard", slow_guard)
    one = await make_user(identity_app.app, "one", "one password 1", role="admin")
    two = await make_user(identity_app.app, "two", "two password 1", role="admin")
    results = await asyncio.gather(users.update(one, {"enabled": False}), users.update(two, {"enabled": False}),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and refused[0].code == "last_admin"
    assert len(await users.enabled_admin_ids()) == 1


async def test_account_managers_cannot_hand_out_or_take_over_more_than_they_hold(identity_app, admin) -> None:
    client = identity_app
    identity = client.app[IDENTITY]
    await identity.rbac.create_role("account-clerk", ["admin:users"], inherits=["user"])
    clerk_id = await make_user(client.app, "clerk", "clerk password", role="account-clerk")
    boss_id = (await (await client.get("/api/v1/me", headers=admin)).json())["id"]
    clerk = await login_headers(client, "clerk", "clerk password")

    response = await client.post("/api/v1/admin/users", headers=clerk,
                                 json={"username": "plain", "password": "plain password"})
    assert response.status == 201 and (await response.json())["roles"] == ["user"]
    plain_id = (await response.json())["id"]
    for role in ("admin", "moderator", "account-clerk"):
        response = await client.post("/api/v1/admin/users", headers=clerk,
                                     json={"username": "sneaky", "password": "sneaky password", "role": role})
        assert response.status == 403, role
    assert (await identity.users.get_by_login("sneaky")) is None

    # The admin's account is out of the clerk's reach: no password reset, no disabling, no deleting.
    for method, body in (("PATCH", {"password": "taken over!"}), ("PATCH", {"enabled": False}),
                         ("PATCH", {"email": "clerk@evil.example"}), ("DELETE", None)):
        response = await client.request(method, f"/api/v1/admin/users/{boss_id}", headers=clerk, json=body)
        assert response.status == 403, (method, body)
    await login_headers(client, "admin", "admin password 1")
    # Accounts holding no more than the clerk are within it.
    assert (await client.patch(f"/api/v1/admin/users/{plain_id}", headers=clerk,
                               json={"display_name": "Plain"})).status == 200
    assert (await client.delete(f"/api/v1/admin/users/{plain_id}", headers=clerk)).status == 204
    assert (await client.get(f"/api/v1/admin/users/{clerk_id}", headers=clerk)).status == 200

    response = await client.post("/api/v1/admin/users", headers=admin,
                                 json={"username": "deputy", "password": "deputy password", "role": "moderator"})
    assert response.status == 201 and (await response.json())["roles"] == ["moderator"]
    response = await client.post("/api/v1/admin/users", headers=admin,
                                 json={"username": "ghost", "password": "ghost password", "role": "no-such-role"})
    assert response.status == 400
    assert (await identity.users.get_by_login("ghost")) is None


async def test_user_routes_need_their_permissions(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "pleb", "pleb password 1")
    pleb = await login_headers(client, "pleb", "pleb password 1")
    assert (await client.get("/api/v1/admin/users")).status == 401
    assert (await client.get("/api/v1/me")).status == 401
    assert (await client.get("/api/v1/admin/users", headers=pleb)).status == 403
    response = await client.post("/api/v1/admin/users", headers=pleb, json={"username": "x1x", "password": "p" * 12})
    assert response.status == 403
    assert (await client.get("/api/v1/me", headers=pleb)).status == 200


async def test_deleting_a_user_removes_sessions_and_role_lines(identity_app, admin) -> None:
    client = identity_app
    identity = client.app[IDENTITY]
    victim = await make_user(client.app, "victim", "victim password", role="moderator")
    victim_headers = await login_headers(client, "victim", "victim password")
    assert (await client.get("/api/v1/me", headers=victim_headers)).status == 200
    assert (await client.delete(f"/api/v1/admin/users/{victim}", headers=admin)).status == 204
    assert (await client.get("/api/v1/me", headers=victim_headers)).status == 401

    def role_lines() -> int:
        identity.db.bind(IDENTITY_MODELS)
        return CasbinRule.select().where(CasbinRule.v0 == f"user:{victim}").count()

    assert await identity.db.run(role_lines) == 0
    assert await identity.rbac.roles_of(victim) == frozenset()


async def test_disabling_a_user_ends_their_sessions(identity_app, admin) -> None:
    client = identity_app
    target = await make_user(client.app, "target", "target password")
    headers = await login_headers(client, "target", "target password")
    assert (await client.patch(f"/api/v1/admin/users/{target}", headers=admin,
                               json={"enabled": False})).status == 200
    assert (await client.get("/api/v1/me", headers=headers)).status == 401
    assert (await client.patch(f"/api/v1/admin/users/{target}", headers=admin,
                               json={"enabled": True})).status == 200
    await login_headers(client, "target", "target password")


async def test_admin_password_reset_checks_policy_and_ends_sessions(identity_app, admin) -> None:
    client = identity_app
    target = await make_user(client.app, "target", "target password")
    headers = await login_headers(client, "target", "target password")
    response = await client.patch(f"/api/v1/admin/users/{target}", headers=admin, json={"password": "short"})
    assert (await response.json())["code"] == "weak_password"
    assert (await client.get("/api/v1/me", headers=headers)).status == 200
    response = await client.patch(f"/api/v1/admin/users/{target}", headers=admin, json={"password": "brand new one"})
    assert response.status == 200
    no_secrets(await response.text())
    assert (await client.get("/api/v1/me", headers=headers)).status == 401
    await login_headers(client, "target", "brand new one")


async def test_own_profile_reads_and_changes_only_profile_fields(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "me", "my password 1", email="me@example.org")
    headers = await login_headers(client, "me", "my password 1")
    response = await client.get("/api/v1/me", headers=headers)
    no_secrets(await response.text())
    me = await response.json()
    assert me["username"] == "me" and me["roles"] == ["user"] and me["last_login_at"] is not None
    response = await client.patch("/api/v1/me", headers=headers, json={
        "display_name": "Just Me", "avatar_url": "http://img.example.org/me.png", "email": "ME2@example.org"})
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert (changed["display_name"], changed["email"]) == ("Just Me", "ME2@example.org")
    for body in ({"username": "renamed"}, {"enabled": False}, {"password_hash": "x"}):
        response = await client.patch("/api/v1/me", headers=headers, json=body)
        assert response.status == 400 and (await response.json())["code"] == "unknown_field"
    response = await client.patch("/api/v1/me", headers=headers, json={"avatar_url": "data:image/png;base64,AAA"})
    assert (await response.json())["details"]["key"] == "avatar_url"
    assert (await (await client.get("/api/v1/me", headers=headers)).json())["username"] == "me"


async def test_changing_ones_password_checks_the_current_one_and_ends_other_sessions(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "me", "my password 1")
    here = await login_headers(client, "me", "my password 1")
    elsewhere = await login_headers(client, "me", "my password 1")

    response = await client.post("/api/v1/me/password", headers=here,
                                 json={"current_password": "wrong password", "new_password": "my password 2"})
    assert response.status == 400 and (await response.json())["code"] == "wrong_password"
    response = await client.post("/api/v1/me/password", headers=here,
                                 json={"current_password": "my password 1", "new_password": "short"})
    payload = await response.json()
    assert (payload["code"], payload["details"]["key"]) == ("weak_password", "new_password")
    assert (await client.get("/api/v1/me", headers=elsewhere)).status == 200

    response = await client.post("/api/v1/me/password", headers=here,
                                 json={"current_password": "my password 1", "new_password": "my password 2"})
    assert response.status == 204
    assert (await client.get("/api/v1/me", headers=here)).status == 200
    assert (await client.get("/api/v1/me", headers=elsewhere)).status == 401
    response = await client.post("/api/v1/auth/login", json={"username": "me", "password": "my password 1"})
    assert response.status == 401
    await login_headers(client, "me", "my password 2")

    entries = (await client.app[IDENTITY].activity.query(action="user.password_change"))["items"]
    assert [e["success"] for e in entries] == [True, False, False]
    assert "my password" not in str(entries)


async def test_minimum_password_length_comes_from_the_configuration(identity_app) -> None:
    identity = identity_app.app[IDENTITY]
    identity.config.auth.password_min_length = 20
    with pytest.raises(Exception) as refused:
        await identity.users.create("longpw", "nineteen characters")
    assert refused.value.code == "weak_password" and "20" in refused.value.message
    created = await identity.users.create("longpw", "twenty characters ok")

    def stored_hash() -> str:
        identity.db.bind(IDENTITY_MODELS)
        return User.get_by_id(created["id"]).password_hash

    assert passwords.verify_password("twenty characters ok", await identity.db.run(stored_hash))


async def test_password_change_needs_a_session_and_counts_toward_the_lockout(identity_app):
    """A stolen API key cannot change the password, and a stolen token cannot guess the current one."""
    from tests.identity.conftest import make_user

    app = identity_app.app
    await make_user(app, "pat", "correct horse battery", role="user")
    login = await identity_app.post("/api/v1/auth/login", json={"username": "pat", "password": "correct horse battery"})
    token = (await login.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    key = await identity_app.post("/api/v1/me/api-keys", json={"name": "k", "scopes": ["read", "write"]},
                                  headers=headers)
    secret = (await key.json())["key"]

    by_key = await identity_app.post("/api/v1/me/password", headers={"X-API-Key": secret},
                                     json={"current_password": "correct horse battery", "new_password": "x" * 16})
    assert by_key.status == 403 and (await by_key.json())["code"] == "session_required"

    from revenge_core.http.keys import CONFIG

    threshold = app[CONFIG].auth.lockout_threshold
    for _ in range(threshold):
        wrong = await identity_app.post("/api/v1/me/password", headers=headers,
                                        json={"current_password": "guess", "new_password": "y" * 16})
        assert wrong.status == 400
    locked = await identity_app.post("/api/v1/me/password", headers=headers,
                                     json={"current_password": "correct horse battery", "new_password": "z" * 16})
    assert locked.status == 429 and "Retry-After" in locked.headers
