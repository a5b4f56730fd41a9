"""GET /api/v1/home: continue watching, next up and recently added, per user and per grants."""

from __future__ import annotations

import datetime
import json

from revenge_hookspecs.media import ItemRef
from tests.library import watch_kit
from tests.library.watch_kit import BASE, World

DAY = datetime.timedelta(days=1)

world = watch_kit.world  # the fixture, for the tests below


def keys(items: list[dict]) -> list[str]:
    return [item["key"] for item in items]


async def _home(world: World, headers: dict[str, str], query: str = "") -> dict:
    response = await world.client.get(f"/api/v1/home{query}", headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def _catalogue(world: World) -> dict[int, dict[tuple[int, int], str]]:
    """Shows 1-5 in the shows library, three movies in the movies library."""
    shows = {
        1: await world.show(1, {0: 1, 1: 3, 2: 2}, added=BASE),
        2: await world.show(2, {1: 2}, added=BASE + DAY),
        3: await world.show(3, {0: 2}, added=BASE + 2 * DAY, title="Only Specials"),
        4: await world.show(4, {1: 2}, added=BASE - DAY),
    }
    # A new episode of show 1 a month later: the show comes first, with one new episode.
    await world.add(ItemRef("episode:10203", world.shows, "S02E03", parent_key="season:102", sort_index=3,
                            added_at=BASE + 30 * DAY))
    shows[1][(2, 3)] = "episode:10203"
    await world.add(*(ItemRef(f"movie:{n}", world.movies, f"Movie {n}", year=2000 + n, added_at=BASE + (2 + n) * DAY)
                      for n in (1, 2, 3)))
    return shows


async def test_home_per_user_and_grants(world: World):
    shows = await _catalogue(world)
    alice, alice_headers = await world.user("alice")
    bob, bob_headers = await world.user("bob")
    await world.grant(alice, "library", world.shows)
    await world.grant(alice, "library", world.movies)
    await world.grant(bob, "library", world.shows)
    await world.grant(bob, "item", "movie:1")
    show1, show2, show3, show4 = shows[1], shows[2], shows[3], shows[4]

    # Alice: show 1 up to S01E03 (skipping S01E02), show 2 half way into E01, the first special of
    # show 3, all of show 4, a third of movie 2 and a few seconds of movie 1.
    for key in (show1[(1, 1)], show1[(1, 3)], show3[(0, 1)], show4[(1, 1)], show4[(1, 2)]):
        await world.play(alice, key, 0.95)
    await world.play(alice, show2[(1, 1)], 0.5)
    await world.play(alice, "movie:2", 0.3)
    await world.play(alice, "movie:1", 0.03)
    for key, hours in ((show1[(1, 3)], 10), (show3[(0, 1)], 5), (show4[(1, 2)], 8), (show2[(1, 1)], 15),
                       ("movie:2", 20)):
        await world.played_at(alice, key, BASE + datetime.timedelta(hours=hours))
    # Bob: the pilot of show 1, half of movie 1 (granted to him alone) and of movie 3 (not his to see).
    await world.play(bob, show1[(1, 1)], 0.95)
    await world.play(bob, "movie:1", 0.5)
    await world.play(bob, "movie:3", 0.5)

    home = await _home(world, alice_headers)
    assert keys(home["continue_watching"]) == ["movie:2", show2[(1, 1)]]
    movie = home["continue_watching"][0]
    assert movie["state"] == {"position_seconds": 300.0, "duration_seconds": 1000.0, "progress": 0.3,
                              "watched": False, "favourite": False, "play_count": 0,
                              "last_played_at": "2024-01-02T08:00:00Z"}
    assert (movie["type"], movie["title"], movie["year"], movie["library_id"], movie["parent_key"]) == (
        "movie", "Movie 2", 2002, world.movies, None)
    # Next up: S02E01 of show 1 (not S01E02 behind, not the special), the second special of the
    # specials-only show; not show 2 (its next episode is in continue watching), not show 4 (done).
    assert keys(home["next_up"]) == [show1[(2, 1)], show3[(0, 2)]]
    nxt = home["next_up"][0]
    assert {k: nxt[k] for k in ("title", "parent_key", "parent_title", "grandparent_key", "grandparent_title",
                                "sort_index", "parent_sort_index", "library_id")} == {
        "title": "S02E01", "parent_key": "season:102", "parent_title": "Season 2", "grandparent_key": "series:1",
        "grandparent_title": "Show 1", "sort_index": 1, "parent_sort_index": 2, "library_id": world.shows}
    assert nxt["state"]["watched"] is False and nxt["state"]["progress"] == 0.0
    assert [(shelf["library"]["name"], keys(shelf["items"])) for shelf in home["recently_added"]] == [
        ("Movies", ["movie:3", "movie:2", "movie:1"]),
        ("Shows", ["series:1", "series:3", "series:2", "series:4"])]
    show_shelf = {item["key"]: item for item in home["recently_added"][1]["items"]}
    assert show_shelf["series:1"]["new_episodes"] == 1
    assert show_shelf["series:1"]["added_at"] == "2024-01-31T12:00:00Z"
    assert (show_shelf["series:2"]["new_episodes"], show_shelf["series:3"]["new_episodes"]) == (2, 2)
    assert "new_episodes" not in home["recently_added"][0]["items"][0]
    assert home["recently_added"][0]["library"] == {"id": world.movies, "name": "Movies", "content_type": "clip"}

    # Bob sees his own progress, and nothing of the movies library but the movie granted to him.
    home = await _home(world, bob_headers)
    assert keys(home["continue_watching"]) == ["movie:1"]
    assert keys(home["next_up"]) == [show1[(1, 2)]]
    assert [shelf["library"]["name"] for shelf in home["recently_added"]] == ["Shows"]
    text = json.dumps(home)
    assert "movie:3" not in text and "Movies" not in text and "movie:2" not in text

    # limit applies to each list and shelf.
    home = await _home(world, alice_headers, "?limit=1")
    assert (len(home["continue_watching"]), len(home["next_up"])) == (1, 1)
    assert [len(shelf["items"]) for shelf in home["recently_added"]] == [1, 1]

    # An admin sees every library; their own lists are empty.
    _root, root_headers = await world.user("root", role="admin")
    home = await _home(world, root_headers)
    assert (home["continue_watching"], home["next_up"]) == ([], [])
    assert [shelf["library"]["name"] for shelf in home["recently_added"]] == ["Movies", "Shows"]


async def test_one_library_only_shows_nothing_of_the_other(world: World):
    shows = await _catalogue(world)
    carol, headers = await world.user("carol")
    grant = await world.grant(carol, "library", world.shows)
    await world.play(carol, "movie:2", 0.5)  # state and history on an item carol cannot see
    await world.play(carol, "movie:3", 0.95)
    await world.play(carol, shows[1][(1, 1)], 0.95)
    home = await _home(world, headers)
    history = await (await world.client.get("/api/v1/me/history", headers=headers)).json()
    assert home["continue_watching"] == [] and keys(home["next_up"]) == [shows[1][(1, 2)]]
    assert [shelf["library"]["id"] for shelf in home["recently_added"]] == [world.shows]
    assert [entry["item_key"] for entry in history["items"]] == [shows[1][(1, 1)]] and history["total"] == 1
    assert "movie:" not in json.dumps(home) + json.dumps(history)
    # Nothing granted at all: empty lists, not an error.
    await world.revoke(grant)
    assert await _home(world, headers) == {"continue_watching": [], "next_up": [], "recently_added": []}


async def test_next_up_walks_seasons_and_skips_specials_and_hidden_episodes(world: World):
    show = await world.show(7, {0: 2, 1: 2, 2: 2, 3: 1})
    dave, headers = await world.user("dave")
    for number in (1, 2):
        await world.grant(dave, "item", show[(1, number)])
    await world.grant(dave, "item", show[(2, 2)])
    await world.grant(dave, "item", show[(0, 1)])
    await world.play(dave, show[(1, 2)], 0.92)
    # S02E01 is not his to see: S02E02 comes next for him.
    assert keys((await _home(world, headers))["next_up"]) == [show[(2, 2)]]
    await world.play(dave, show[(2, 2)], 0.92)
    assert (await _home(world, headers))["next_up"] == []  # S03E01 is hidden too: nothing left
    # A half-watched next episode is in continue watching, not in next up.
    await world.grant(dave, "item", show[(3, 1)])
    await world.play(dave, show[(3, 1)], 0.5)
    home = await _home(world, headers)
    assert (keys(home["continue_watching"]), home["next_up"]) == ([show[(3, 1)]], [])
    # Watching it to the end leaves the show done (the special in between does not count).
    await world.play(dave, show[(3, 1)], 0.99)
    assert (await _home(world, headers))["next_up"] == []


async def test_home_parameters_are_checked(world: World):
    _user, headers = await world.user("erin")
    for query in ("limit=0", "limit=51", "limit=ten", "page=2"):
        response = await world.client.get(f"/api/v1/home?{query}", headers=headers)
        assert response.status == 400 and (await response.json())["code"] == "bad_request", query
    assert (await world.client.get("/api/v1/home")).status == 401


async def test_home_costs_a_handful_of_queries_however_much_was_watched(world: World, monkeypatch):
    heavy, headers = await world.user("heavy")
    await world.grant(heavy, "library", world.shows)
    for series in range(1, 41):
        await world.show(100 + series, {1: 10, 2: 10})
        if series <= 30:
            await world.services.library.items.set_state(heavy, f"series:{100 + series}", {"watched": True})
        else:
            await world.play(heavy, f"episode:{(100 + series) * 10000 + 104}", 0.95)
    database = world.services.db.database
    statements: list[str] = []
    execute_sql = database.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return execute_sql(sql, params, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", counting)
    home = await _home(world, headers, "?limit=50")
    monkeypatch.undo()
    assert len(home["next_up"]) == 10 and all(item["sort_index"] == 5 for item in home["next_up"])
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 25, "\n".join(selects)
