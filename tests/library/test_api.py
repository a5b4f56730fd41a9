"""The library API over real HTTP: CRUD with validation, grants, scans, files and users' item state."""

from __future__ import annotations

import asyncio

import pytest

from revenge_core.identity.authorizer import IDENTITY
from tests.identity.conftest import bearer, login, make_user
from tests.library.conftest import make_clip

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def people(client):
    """An admin, a user and a moderator, each with a bearer header."""
    app = client.app
    ids = {
        "admin": await make_user(app, "admin", PASSWORD, role="admin"),
        "user": await make_user(app, "user", PASSWORD, role="user"),
        "moderator": await make_user(app, "moderator", PASSWORD, role="moderator"),
    }
    headers = {name: bearer((await login(client, name, PASSWORD))["access_token"]) for name in ids}
    return ids, headers


async def _create(client, headers, **body):
    response = await client.post("/api/v1/libraries", json=body, headers=headers)
    return response.status, await response.json()


async def test_an_admin_creates_reads_changes_and_deletes_a_library(client, people, media, services):
    _ids, headers = people
    admin = headers["admin"]
    status, created = await _create(client, admin, name="Clips", content_type="clip", paths=[str(media) + "/"],
                                    languages=["de-DE", "en"], providers=["tmdb"], settings={"group": True})
    assert status == 201, created
    assert created == {"id": created["id"], "name": "Clips", "content_type": "clip", "paths": [str(media)],
                       "storage": "localfs", "enabled": True, "scan_on_startup": False, "realtime": False,
                       "languages": ["de-DE", "en"], "providers": ["tmdb"], "settings": {"group": True}}
    library_id = created["id"]

    listed = await (await client.get("/api/v1/libraries", headers=admin)).json()
    assert [item["id"] for item in listed["items"]] == [library_id]
    assert listed["items"][0]["files"] == 0 and listed["items"][0]["last_scan"] is None

    changed = await client.patch(f"/api/v1/libraries/{library_id}", json={"name": "Short clips", "realtime": True},
                                 headers=admin)
    assert changed.status == 200
    assert (await changed.json())["name"] == "Short clips"
    shown = await (await client.get(f"/api/v1/libraries/{library_id}", headers=admin)).json()
    assert (shown["name"], shown["realtime"]) == ("Short clips", True)

    activity = await client.app[IDENTITY].activity.query(action="library.update")
    assert activity["total"] == 1 and activity["items"][0]["actor"] == "admin"

    deleted = await client.delete(f"/api/v1/libraries/{library_id}", headers=admin)
    assert deleted.status == 204
    assert (await client.get(f"/api/v1/libraries/{library_id}", headers=admin)).status == 404
    assert await services.library.list() == []


@pytest.mark.parametrize(("body", "status", "key"), [
    ({"content_type": "clip", "paths": ["{media}"]}, 400, "name"),
    ({"name": "X", "content_type": "movie", "paths": ["{media}"]}, 400, "content_type"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}"], "storage": "s3"}, 400, "storage"),
    ({"name": "X", "content_type": "clip", "paths": []}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": "{media}"}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["clips"]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}/clips/../.."]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["/etc"]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}/missing"]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}/gamma.mp4"]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}", "{media}/clips"]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}\x00/clips"]}, 400, "paths"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}"], "enabled": "yes"}, 400, "enabled"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}"], "languages": ["english!"]}, 400, "languages"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}"], "providers": ["TMDb"]}, 400, "providers"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}"], "settings": [1]}, 400, "settings"),
    ({"name": "X", "content_type": "clip", "paths": ["{media}"], "owner": "me"}, 400, "owner"),
    ({"name": " X", "content_type": "clip", "paths": ["{media}"]}, 400, "name"),
])
async def test_bad_libraries_are_refused_with_the_field_named(client, people, media, body, status, key):
    _ids, headers = people
    filled = {k: ([p.replace("{media}", str(media)) for p in v] if isinstance(v, list) and k == "paths"
                  else v.replace("{media}", str(media)) if isinstance(v, str) and k == "paths" else v)
              for k, v in body.items()}
    got, answer = await _create(client, headers["admin"], **filled)
    assert got == status, answer
    assert answer["code"] == "bad_request" and answer["details"]["key"] == key
    assert "Traceback" not in answer["message"]


async def test_names_and_folders_are_unique_across_libraries(client, people, media):
    admin = people[1]["admin"]
    (media / "more").mkdir()
    assert (await _create(client, admin, name="Clips", content_type="clip", paths=[str(media / "clips")]))[0] == 201
    status, answer = await _create(client, admin, name="clips", content_type="clip", paths=[str(media / "more")])
    assert (status, answer["details"]["key"]) == (409, "name")
    for overlapping in (media / "clips", media):
        status, answer = await _create(client, admin, name="Other", content_type="clip", paths=[str(overlapping)])
        assert (status, answer["code"], answer["details"]["key"]) == (409, "conflict", "paths")


async def test_realtime_needs_a_storage_that_can_watch_and_changing_the_type_of_a_full_library_is_refused(
        client, people, media, services):
    admin = people[1]["admin"]
    _status, created = await _create(client, admin, name="Clips", content_type="clip", paths=[str(media)])
    await services.library.scan_now(created["id"])
    response = await client.patch(f"/api/v1/libraries/{created['id']}", json={"storage": "other"}, headers=admin)
    assert response.status == 409
    response = await client.patch(f"/api/v1/libraries/{created['id']}", json={}, headers=admin)
    assert response.status == 400
    for bad in ("abc", "0", "99999999999999999999", "-1"):
        response = await client.get(f"/api/v1/libraries/{bad}", headers=admin)
        assert response.status == 404, bad


async def test_users_see_only_the_libraries_granted_to_them(client, people, media, services):
    ids, headers = people
    admin, user = headers["admin"], headers["user"]
    _s, shared = await _create(client, admin, name="Shared", content_type="clip", paths=[str(media / "clips")])
    make_clip(media / "private" / "secret.mp4")
    _s, private = await _create(client, admin, name="Private", content_type="clip", paths=[str(media / "private")])
    await services.library.scan_now(shared["id"])

    assert (await (await client.get("/api/v1/libraries", headers=user)).json())["items"] == []
    assert (await client.get(f"/api/v1/libraries/{shared['id']}", headers=user)).status == 404

    await client.app[IDENTITY].grants.grant("user", ids["user"], "library", shared["id"], "view")
    listed = (await (await client.get("/api/v1/libraries", headers=user)).json())["items"]
    assert [item["name"] for item in listed] == ["Shared"]
    assert "paths" not in listed[0] and "storage" not in listed[0] and "settings" not in listed[0]
    assert listed[0]["files"] == 2
    assert "requested_by" not in listed[0]["last_scan"]
    shown = await client.get(f"/api/v1/libraries/{shared['id']}", headers=user)
    assert shown.status == 200
    assert (await client.get(f"/api/v1/libraries/{private['id']}", headers=user)).status == 404
    scans = await (await client.get(f"/api/v1/libraries/{shared['id']}/scans", headers=user)).json()
    assert scans["items"][0]["status"] == "done" and "paths" not in scans["items"][0]
    assert (await client.get(f"/api/v1/libraries/{private['id']}/scans", headers=user)).status == 404

    # Users hold no library:manage, so scanning, changing and listing files are refused outright.
    for method, path in (("POST", "scan"), ("GET", "files")):
        response = await client.request(method, f"/api/v1/libraries/{shared['id']}/{path}", headers=user)
        assert response.status == 403
    assert (await client.delete(f"/api/v1/libraries/{shared['id']}", headers=user)).status == 403
    assert (await _create(client, user, name="Mine", content_type="clip", paths=[str(media)]))[0] == 403
    assert (await client.get("/api/v1/libraries")).status == 401


async def test_a_moderator_manages_only_libraries_granted_with_manage(client, people, media, services):
    ids, headers = people
    admin, moderator = headers["admin"], headers["moderator"]
    _s, created = await _create(client, admin, name="Clips", content_type="clip", paths=[str(media)])
    grants = client.app[IDENTITY].grants
    await grants.grant("user", ids["moderator"], "library", created["id"], "view")
    scan = f"/api/v1/libraries/{created['id']}/scan"
    assert (await client.post(scan, headers=moderator)).status == 404  # may see it, not manage it
    await grants.grant("user", ids["moderator"], "library", created["id"], "manage")
    response = await client.post(scan, json={"mode": "full"}, headers=moderator)
    assert response.status == 202
    run = await response.json()
    assert run["mode"] == "full" and run["requested_by"] == "user:moderator"

    async def done() -> dict:
        while True:
            current = await (await client.get(f"{scan}s/{run['id']}", headers=moderator)).json()
            if current["status"] not in ("queued", "running"):
                return current
            await asyncio.sleep(0.05)

    finished = await asyncio.wait_for(done(), 20)
    assert finished["status"] == "done" and finished["counts"]["new"] == 3
    files = await (await client.get(f"/api/v1/libraries/{created['id']}/files?state=all&limit=2",
                                    headers=moderator)).json()
    assert files["total"] == 3 and len(files["items"]) == 2
    assert set(files["items"][0]) >= {"path", "size", "item_key", "error", "missing_since", "pending"}
    assert (await client.patch(f"/api/v1/libraries/{created['id']}", json={"languages": ["fr"]},
                               headers=moderator)).status == 200
    assert (await client.delete(f"/api/v1/libraries/{created['id']}", headers=moderator)).status == 403
    for query in ("state=broken", "limit=0", "limit=501", "offset=-1", "colour=red"):
        response = await client.get(f"/api/v1/libraries/{created['id']}/files?{query}", headers=moderator)
        assert response.status == 400, query
    for body in ({"mode": "quick"}, {"paths": "/"}, {"paths": ["/elsewhere"]}, {"depth": 1}):
        response = await client.post(scan, json=body, headers=moderator)
        assert response.status == 400, body
    assert (await client.get(f"{scan}s/999", headers=moderator)).status == 404


async def test_item_state_is_per_user_and_only_for_visible_items(client, people, media, services):
    ids, headers = people
    admin, user = headers["admin"], headers["user"]
    _s, created = await _create(client, admin, name="Clips", content_type="clip", paths=[str(media)])
    await services.library.scan_now(created["id"])
    [first, *_rest] = await services.library.files(library_id=created["id"])
    state_url = f"/api/v1/items/{first.item_key}/state"

    assert (await client.get(state_url, headers=user)).status == 404
    assert (await client.put(state_url, json={"watched": True}, headers=user)).status == 404
    await client.app[IDENTITY].grants.grant("user", ids["user"], "item", first.item_key, "view")

    fresh = await (await client.get(state_url, headers=user)).json()
    assert fresh == {"item_key": first.item_key, "favourite": False, "watched": False, "play_count": 0,
                     "position_seconds": 0.0, "duration_seconds": None, "last_played_at": None, "updated_at": None}
    changed = await client.put(state_url, json={"position_seconds": 12.5, "favourite": True}, headers=user)
    assert changed.status == 200
    body = await changed.json()
    assert (body["position_seconds"], body["favourite"], body["watched"]) == (12.5, True, False)
    assert body["last_played_at"] is not None
    watched = await (await client.put(state_url, json={"watched": True}, headers=user)).json()
    assert (watched["watched"], watched["play_count"], watched["position_seconds"]) == (True, 1, 0.0)
    # Admins see the item too, with their own state.
    assert (await (await client.get(state_url, headers=admin)).json())["watched"] is False

    for bad in ({"watched": "yes"}, {"position_seconds": -1}, {"position_seconds": float("1e308")},
                {"play_count": 1.5}, {"rating": 5}, {}):
        response = await client.put(state_url, json=bad, headers=user)
        assert response.status == 400, bad
    for key in ("not-a-key", "clip:", "CLIP:1"):
        assert (await client.get(f"/api/v1/items/{key}/state", headers=user)).status == 400, key
    assert (await client.get("/api/v1/items/clip:999999/state", headers=admin)).status == 404
