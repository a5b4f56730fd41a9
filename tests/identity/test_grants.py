"""Grants: sharing libraries and items with users and groups, expiry at query time, the role
ceiling and credential scopes, visible ids, and the admin groups and grants API."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from revenge_core.db.models import utcnow
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.grants import ALL, parse_expiry
from revenge_core.identity.models import Grant
from revenge_hookspecs.errors import BadRequest, NotFound
from tests.identity.conftest import PASSWORD, activity_log, bearer, db_run, login, make_user, who

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")


@pytest.fixture
def grants(app):
    return app[IDENTITY].grants


# --- the access check ------------------------------------------------------------------------------


async def test_a_user_sees_exactly_what_was_granted(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    bob = await make_user(app, "bob", PASSWORD, role="user")
    await grants.grant("user", alice, "library", "lib-1", "view")
    await grants.grant("user", alice, "library", "lib-2", "download")

    assert await grants.can(who(alice), "view", "library", "lib-1")
    assert not await grants.can(who(alice), "download", "library", "lib-1")
    assert not await grants.can(who(alice), "manage", "library", "lib-1")
    assert await grants.can(who(alice), "view", "library", "lib-2")  # download includes view
    assert await grants.can(who(alice), "download", "library", "lib-2")
    assert not await grants.can(who(alice), "view", "library", "lib-3")
    assert await grants.visible_library_ids(who(alice)) == {"lib-1", "lib-2"}
    assert await grants.visible_library_ids(who(alice), "download") == {"lib-2"}
    assert await grants.visible_library_ids(who(alice), "manage") == set()

    assert not await grants.can(who(bob), "view", "library", "lib-1")
    assert await grants.visible_library_ids(who(bob)) == set()


async def test_manage_includes_download_and_view(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="moderator")
    await grants.grant("user", alice, "library", "lib-1", "manage")
    for permission in ("view", "download", "manage"):
        assert await grants.can(who(alice), permission, "library", "lib-1"), permission


async def test_the_role_is_a_ceiling_a_grant_cannot_lift(app, grants) -> None:
    guest = await make_user(app, "guest", PASSWORD, role="guest")
    user = await make_user(app, "plain", PASSWORD, role="user")
    nobody = await make_user(app, "nobody", PASSWORD, role=None)
    for who_id in (guest, user, nobody):
        await grants.grant("user", who_id, "library", "lib-1", "manage")
    assert await grants.can(who(guest), "view", "library", "lib-1")
    assert not await grants.can(who(guest), "download", "library", "lib-1")  # guests never download
    assert await grants.can(who(user), "download", "library", "lib-1")
    assert not await grants.can(who(user), "manage", "library", "lib-1")  # users never manage
    assert not await grants.can(who(nobody), "view", "library", "lib-1")
    assert await grants.visible_library_ids(who(nobody)) == set()


async def test_admins_see_everything_within_their_credentials_scope(app, grants) -> None:
    admin = await make_user(app, "root", PASSWORD, role="admin")
    assert await grants.can(who(admin), "manage", "library", "anything")
    assert await grants.visible_library_ids(who(admin)) is ALL
    assert "whatever" in await grants.visible_library_ids(who(admin))
    read_key = who(admin, {"read"})
    assert await grants.visible_library_ids(read_key, "view") is ALL
    assert await grants.visible_library_ids(read_key, "download") is ALL
    assert await grants.visible_library_ids(read_key, "manage") == set()
    assert not await grants.can(read_key, "manage", "library", "anything")
    assert not await grants.can(who(admin, {"admin"}), "view", "library", "anything")


async def test_garbage_in_the_check_is_denied(app, grants) -> None:
    admin = await make_user(app, "root", PASSWORD, role="admin")
    alice = await make_user(app, "alice", PASSWORD, role="user")
    await grants.grant("user", alice, "library", "lib-1", "view")
    assert not await grants.can(None, "view", "library", "lib-1")
    assert not await grants.can(who(admin), "own", "library", "lib-1")
    assert not await grants.can(who(admin), "view", "shelf", "lib-1")
    assert not await grants.can(who(alice), "view", "library", "lib-1' OR '1'='1")
    assert not await grants.can(who(alice), "view", "library", "")
    assert await grants.visible_library_ids(who(alice), "admin") == set()


async def test_an_expired_grant_stops_working_without_any_job(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    soon = utcnow() + datetime.timedelta(seconds=1)
    grant = await grants.grant("user", alice, "library", "lib-1", "view", expires_at=soon)
    await grants.grant("user", alice, "library", "lib-2", "view")
    assert grant["expires_at"].startswith(soon.isoformat()[:19]) and not grant["expired"]
    assert await grants.can(who(alice), "view", "library", "lib-1")
    assert await grants.visible_library_ids(who(alice)) == {"lib-1", "lib-2"}

    await asyncio.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.1)

    assert not await grants.can(who(alice), "view", "library", "lib-1")
    assert await grants.visible_library_ids(who(alice)) == {"lib-2"}
    assert await db_run(app, lambda: Grant.select().where(Grant.resource_id == "lib-1").count()) == 1  # still stored
    expired = await grants.list(active=False)
    assert [g["resource_id"] for g in expired] == ["lib-1"] and expired[0]["expired"]
    assert [g["resource_id"] for g in await grants.list(active=True)] == ["lib-2"]


async def test_expiry_must_lie_in_the_future_and_accepts_time_zones(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    with pytest.raises(BadRequest):
        await grants.grant("user", alice, "library", "lib-1", "view", expires_at=utcnow() - datetime.timedelta(1))
    for text in ("yesterday", "2020-01-01T00:00:00Z", "x" * 100, 12):
        with pytest.raises(BadRequest):
            await grants.grant("user", alice, "library", "lib-1", "view", expires_at=text)
    now = utcnow()
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    local = (now + datetime.timedelta(days=1)).replace(tzinfo=datetime.UTC).astimezone(plus_two)
    assert parse_expiry(local.isoformat(), now) == now + datetime.timedelta(days=1)
    assert parse_expiry("2999-01-01T00:00:00Z", now) == datetime.datetime(2999, 1, 1)


async def test_group_grants_reach_members_only_while_they_are_members(app, grants) -> None:
    groups = grants.groups
    alice = await make_user(app, "alice", PASSWORD, role="user")
    bob = await make_user(app, "bob", PASSWORD, role="user")
    family = await groups.create("Family", "Our shared things")
    await groups.add_member(family["id"], alice)
    await grants.grant("group", family["id"], "library", "home-videos", "download")

    assert await grants.can(who(alice), "download", "library", "home-videos")
    assert not await grants.can(who(bob), "view", "library", "home-videos")
    assert await grants.visible_library_ids(who(alice)) == {"home-videos"}

    assert await groups.add_member(family["id"], bob) is True
    assert await groups.add_member(family["id"], bob) is False
    assert await grants.can(who(bob), "view", "library", "home-videos")
    assert await groups.remove_member(family["id"], bob) is True
    assert not await grants.can(who(bob), "view", "library", "home-videos")

    removed = await groups.delete(family["id"])
    assert removed["grants"] == 1
    assert not await grants.can(who(alice), "view", "library", "home-videos")
    assert await grants.list(subject_type="group") == []


async def test_item_grants_and_library_grants_for_items(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    await grants.grant("user", alice, "item", "movie-7", "view")
    await grants.grant("user", alice, "library", "lib-1", "download")
    assert await grants.can(who(alice), "view", "item", "movie-7")
    assert not await grants.can(who(alice), "download", "item", "movie-7")
    assert not await grants.can(who(alice), "view", "item", "movie-8")
    assert await grants.can(who(alice), "download", "item", "movie-8", library_id="lib-1")
    assert not await grants.can(who(alice), "download", "item", "movie-8", library_id="lib-2")
    assert not await grants.can(who(alice), "view", "library", "movie-7")  # an item grant is not a library's
    assert await grants.visible_item_ids(who(alice)) == {"movie-7"}
    assert await grants.visible_library_ids(who(alice)) == {"lib-1"}


async def test_granting_again_updates_the_expiry_and_revoking_ends_access(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    first = await grants.grant("user", alice, "library", "lib-1", "view",
                               expires_at=utcnow() + datetime.timedelta(hours=1))
    before, again = await grants.grant_with_change("user", alice, "library", "lib-1", "view")
    assert before is not None and before["expires_at"] == first["expires_at"]
    assert again["id"] == first["id"] and again["expires_at"] is None
    assert await grants.count() == 1

    removed = await grants.revoke(first["id"])
    assert removed["resource_id"] == "lib-1"
    assert not await grants.can(who(alice), "view", "library", "lib-1")
    with pytest.raises(NotFound):
        await grants.revoke(first["id"])


async def test_grant_inputs_are_validated(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    bad = [
        ("team", alice, "library", "lib-1", "view"),
        ("user", 0, "library", "lib-1", "view"),
        ("user", True, "library", "lib-1", "view"),
        ("user", "1; DROP TABLE grants", "library", "lib-1", "view"),
        ("user", 987654, "library", "lib-1", "view"),  # no such user
        ("group", 987654, "library", "lib-1", "view"),  # no such group
        ("user", alice, "shelf", "lib-1", "view"),
        ("user", alice, "library", "../etc", "view"),
        ("user", alice, "library", "x" * 65, "view"),
        ("user", alice, "library", "", "view"),
        ("user", alice, "library", "lib-1", "admin"),
    ]
    for args in bad:
        with pytest.raises(BadRequest):
            await grants.grant(*args)
    assert await grants.count() == 0


async def test_list_filters_and_pages(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    bob = await make_user(app, "bob", PASSWORD, role="user")
    for n in range(5):
        await grants.grant("user", alice, "library", f"lib-{n}", "view")
    await grants.grant("user", bob, "item", "i-1", "download")
    assert await grants.count(subject_id=alice) == 5
    page = await grants.list(subject_id=alice, limit=2, offset=1)
    assert [g["resource_id"] for g in page] == ["lib-3", "lib-2"]
    assert [g["subject_id"] for g in await grants.list(resource_type="item")] == [bob]
    assert [g["resource_id"] for g in await grants.list(permission="download")] == ["i-1"]
    with pytest.raises(BadRequest):
        await grants.list(limit=10_000)
    with pytest.raises(BadRequest):
        await grants.list(permission="all")


async def test_forget_subject_removes_a_deleted_users_grants(app, grants) -> None:
    alice = await make_user(app, "alice", PASSWORD, role="user")
    await grants.grant("user", alice, "library", "lib-1", "view")
    assert await grants.forget_subject("user", alice) == 1
    assert await grants.visible_library_ids(who(alice)) == set()


# --- the groups and grants API -----------------------------------------------------------------------


async def test_admin_shares_a_library_over_http_and_the_user_sees_it(identity_app, admin_headers) -> None:
    client, app = identity_app, identity_app.app
    alice = await make_user(app, "alice", PASSWORD, role="user")
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)).isoformat()
    body = {"subject_type": "user", "subject_id": alice, "resource_type": "library", "resource_id": "lib-1",
            "permission": "download", "expires_at": expires}
    response = await client.post("/api/v1/admin/grants", headers=admin_headers, json=body)
    assert response.status == 201, await response.text()
    grant = await response.json()
    assert grant["subject_id"] == alice and grant["created_by"] is not None and not grant["expired"]
    assert await app[IDENTITY].grants.can(who(alice), "download", "library", "lib-1")
    entry = (await activity_log(app, "grant.create"))[-1]
    assert entry["before"] is None and entry["after"]["id"] == grant["id"] and entry["target_id"] == "lib-1"

    response = await client.post("/api/v1/admin/grants", headers=admin_headers, json={**body, "expires_at": None})
    assert response.status == 200  # the same grant, now without an end
    assert (await activity_log(app, "grant.create"))[-1]["before"]["expires_at"] is not None

    listing = await (await client.get(f"/api/v1/admin/grants?subject_type=user&subject_id={alice}&active=true",
                                      headers=admin_headers)).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == grant["id"]

    assert (await client.delete(f"/api/v1/admin/grants/{grant['id']}", headers=admin_headers)).status == 204
    assert (await activity_log(app, "grant.revoke"))[-1]["before"]["id"] == grant["id"]
    assert not await app[IDENTITY].grants.can(who(alice), "view", "library", "lib-1")
    assert (await client.delete(f"/api/v1/admin/grants/{grant['id']}", headers=admin_headers)).status == 404


@pytest.mark.parametrize(("method", "path", "body", "key"), [
    ("POST", "/api/v1/admin/grants", {"subject_type": "user"}, "subject_id"),
    ("POST", "/api/v1/admin/grants", {"subject_type": "role", "subject_id": 1, "resource_type": "library",
                                      "resource_id": "l", "permission": "view"}, "subject_type"),
    ("POST", "/api/v1/admin/grants", {"subject_type": "user", "subject_id": "one", "resource_type": "library",
                                      "resource_id": "l", "permission": "view"}, "subject_id"),
    ("POST", "/api/v1/admin/grants", {"subject_type": "user", "subject_id": 1, "resource_type": "library",
                                      "resource_id": "<script>", "permission": "view"}, "resource_id"),
    ("POST", "/api/v1/admin/grants", {"subject_type": "user", "subject_id": 1, "resource_type": "library",
                                      "resource_id": "l", "permission": "all"}, "permission"),
    ("POST", "/api/v1/admin/grants", {"subject_type": "user", "subject_id": 1, "resource_type": "library",
                                      "resource_id": "l", "permission": "view", "expires_at": "soon"}, "expires_at"),
    ("POST", "/api/v1/admin/grants", {"subject_type": "user", "subject_id": 1, "resource_type": "library",
                                      "resource_id": "l", "permission": "view", "admin": True}, "admin"),
    ("GET", "/api/v1/admin/grants?subject_id=x", None, "subject_id"),
    ("GET", "/api/v1/admin/grants?limit=-1", None, "limit"),
    ("GET", "/api/v1/admin/grants?order=id", None, "order"),
    ("GET", "/api/v1/admin/grants?active=maybe", None, "active"),
    ("DELETE", "/api/v1/admin/grants/abc", None, "grant_id"),
    ("POST", "/api/v1/admin/groups", {"name": "bad\nname"}, "name"),
    ("POST", "/api/v1/admin/groups", {"name": "ok", "description": 5}, "description"),
    ("PATCH", "/api/v1/admin/groups/1.5", {"name": "x"}, "group_id"),
    ("PUT", "/api/v1/admin/groups/1/members/me", None, "user_id"),
])
async def test_grant_and_group_inputs_are_checked(identity_app, admin_headers, method, path, body, key) -> None:
    response = await identity_app.request(method, path, headers=admin_headers, json=body)
    payload = await response.json()
    assert response.status == 400, payload
    assert payload["code"] == "bad_request" and payload["details"].get("key") == key, payload


async def test_admin_manages_groups_over_http(identity_app, admin_headers) -> None:
    client, app = identity_app, identity_app.app
    alice = await make_user(app, "alice", PASSWORD, role="user")
    response = await client.post("/api/v1/admin/groups", headers=admin_headers, json={"name": "Family"})
    assert response.status == 201
    group = await response.json()
    assert (await client.post("/api/v1/admin/groups", headers=admin_headers, json={"name": "family"})).status == 409

    response = await client.put(f"/api/v1/admin/groups/{group['id']}/members/{alice}", headers=admin_headers)
    assert response.status == 200 and [m["id"] for m in (await response.json())["members"]] == [alice]
    assert (await client.put(f"/api/v1/admin/groups/{group['id']}/members/999999",
                             headers=admin_headers)).status == 404
    listing = await (await client.get("/api/v1/admin/groups", headers=admin_headers)).json()
    assert listing["items"][0]["member_count"] == 1

    response = await client.patch(f"/api/v1/admin/groups/{group['id']}", headers=admin_headers,
                                  json={"name": "Household"})
    assert response.status == 200 and (await response.json())["name"] == "Household"
    roles = await (await client.get(f"/api/v1/admin/users/{alice}/roles", headers=admin_headers)).json()
    assert roles["groups"] == [{"id": group["id"], "name": "Household"}]

    response = await client.delete(f"/api/v1/admin/groups/{group['id']}/members/{alice}", headers=admin_headers)
    assert response.status == 204
    assert (await activity_log(app, "group.member.remove"))[-1]["before"] == {"user_id": alice}
    assert (await client.delete(f"/api/v1/admin/groups/{group['id']}", headers=admin_headers)).status == 204
    assert (await client.get(f"/api/v1/admin/groups/{group['id']}", headers=admin_headers)).status == 404
    assert [a["target_id"] for a in await activity_log(app, "group.delete")] == [str(group["id"])]


async def test_a_user_with_admin_users_cannot_touch_grants(identity_app, admin_headers) -> None:
    client, app = identity_app, identity_app.app
    await app[IDENTITY].rbac.create_role("helpdesk", ["admin:users"])
    await make_user(app, "helper", PASSWORD, role="helpdesk")
    headers = bearer((await login(client, "helper", PASSWORD))["access_token"])
    assert (await client.get("/api/v1/admin/groups", headers=headers)).status == 200
    assert (await client.post("/api/v1/admin/groups", headers=headers, json={"name": "x"})).status == 403
    assert (await client.get("/api/v1/admin/grants", headers=headers)).status == 403
    assert (await client.get("/api/v1/admin/roles", headers=headers)).status == 403
