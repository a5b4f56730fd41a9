"""GET /api/v1/me/history and DELETE /api/v1/me/history/{id}: one's own playbacks, of what one may see."""

from __future__ import annotations

from revenge_hookspecs.media import ItemRef
from tests.library import watch_kit
from tests.library.watch_kit import World

world = watch_kit.world  # the fixture, for the tests below


async def _get(world: World, url: str, headers: dict[str, str]) -> tuple[int, dict]:
    response = await world.client.get(url, headers=headers)
    return response.status, await response.json()


async def test_history_pages_ones_own_playbacks_of_visible_items_newest_first(world: World):
    episodes = await world.show(1, {1: 3})
    await world.add(ItemRef("movie:1", world.movies, "Heat", year=1995))
    alice, headers = await world.user("alice")
    bob, bob_headers = await world.user("bob")
    shows = await world.grant(alice, "library", world.shows)
    await world.grant(bob, "library", world.shows)
    await world.grant(bob, "library", world.movies)

    await world.play(alice, "movie:1", 0.95)  # not visible to alice: her row stays hidden
    ids = [await world.play(alice, episodes[(1, n)], fraction) for n, fraction in ((1, 0.95), (2, 0.95), (3, 0.4))]
    ids.append(await world.play(alice, episodes[(1, 1)], 0.2))
    bobs = await world.play(bob, "movie:1", 0.5)

    status, page = await _get(world, "/api/v1/me/history?limit=3", headers)
    assert status == 200
    assert (page["total"], page["limit"], page["offset"]) == (4, 3, 0)
    assert [entry["id"] for entry in page["items"]] == ids[::-1][:3]
    newest = page["items"][0]
    assert {key: newest[key] for key in ("item_key", "item_type", "title", "parent_title", "grandparent_key",
                                         "grandparent_title", "library_id", "method", "client", "completed",
                                         "position_seconds", "duration_seconds", "progress")} == {
        "item_key": episodes[(1, 1)], "item_type": "episode", "title": "S01E01", "parent_title": "Season 1",
        "grandparent_key": "series:1", "grandparent_title": "Show 1", "library_id": world.shows,
        "method": "direct_play", "client": "test", "completed": False, "position_seconds": 200.0,
        "duration_seconds": 1000.0, "progress": 0.2}
    assert newest["started_at"].endswith("Z") and newest["ended_at"].endswith("Z")
    status, rest = await _get(world, "/api/v1/me/history?limit=3&offset=3", headers)
    assert [entry["id"] for entry in rest["items"]] == [ids[0]] and rest["items"][0]["completed"] is True

    # Bob sees only his own; an admin sees their own (none), not everyone's.
    _s, page = await _get(world, "/api/v1/me/history", bob_headers)
    assert [entry["id"] for entry in page["items"]] == [bobs]
    _admin, admin_headers = await world.user("root", role="admin")
    assert (await _get(world, "/api/v1/me/history", admin_headers))[1]["total"] == 0

    # Granting the movies library shows alice's earlier playback; revoking the shows hides those.
    await world.grant(alice, "library", world.movies)
    assert (await _get(world, "/api/v1/me/history", headers))[1]["total"] == 5
    await world.revoke(shows)
    _s, page = await _get(world, "/api/v1/me/history", headers)
    assert [entry["item_key"] for entry in page["items"]] == ["movie:1"] and page["total"] == 1


async def test_deleting_history_entries(world: World):
    await world.add(ItemRef("movie:1", world.movies, "Heat"))
    alice, headers = await world.user("alice")
    bob, bob_headers = await world.user("bob")
    for user in (alice, bob):
        await world.grant(user, "library", world.movies)
    mine = await world.play(alice, "movie:1", 0.5)
    theirs = await world.play(bob, "movie:1", 0.5)

    response = await world.client.delete(f"/api/v1/me/history/{theirs}", headers=headers)
    assert response.status == 404 and (await response.json())["code"] == "not_found"
    for bad in ("abc", "0", "99999999999999999999", "-1"):
        assert (await world.client.delete(f"/api/v1/me/history/{bad}", headers=headers)).status == 404, bad
    assert (await world.client.delete(f"/api/v1/me/history/{mine}", headers=headers)).status == 204
    assert (await world.client.delete(f"/api/v1/me/history/{mine}", headers=headers)).status == 404
    assert (await _get(world, "/api/v1/me/history", headers))[1] == {"items": [], "total": 0, "limit": 50,
                                                                     "offset": 0}
    assert [e["id"] for e in (await _get(world, "/api/v1/me/history", bob_headers))[1]["items"]] == [theirs]
    # The state stays: deleting history forgets a playback, not where one stopped.
    assert (await world.state_row(alice, "movie:1")).position_seconds == 500.0


async def test_history_parameters_are_checked(world: World):
    _alice, headers = await world.user("alice")
    for query in ("limit=0", "limit=201", "limit=x", "offset=-1", "colour=red", "limit=1&limit=2"):
        status, body = await _get(world, f"/api/v1/me/history?{query}", headers)
        assert (status, body["code"]) == (400, "bad_request"), query
    assert (await _get(world, "/api/v1/me/history?limit=200&offset=5", headers))[0] == 200
    assert (await world.client.get("/api/v1/me/history")).status == 401
