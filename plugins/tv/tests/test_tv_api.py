"""The HTTP API under /api/v1/tv: filters, sorting, paging, visibility, identify and edits."""

from __future__ import annotations

import pytest
from tv_testkit import LIST_INDEXES, Tree, list_plan, rows, show_tree

from revenge_hookspecs.media import Library
from revenge_tv import api
from revenge_tv.models import Episode, Season, Series

PREFIX = "/api/v1/tv"



@pytest.fixture
async def shows(tree: Tree, harness) -> Tree:
    """Three series in two libraries: "Show" (matched), "Daily Show" (matched), and one in lib2."""
    show_tree(tree)
    tree.video("Daily Show/Daily.Show.2024.03.15.mkv")
    await tree.ingest()
    await harness.run_jobs()
    other = harness.library.add_library(Library(id="lib2", name="Kids", content_type="tv",
                                                paths=(str(tree.root.parent / "kids"),)))
    from revenge_video.testing import make_video
    path = make_video(tree.root.parent / "kids" / "Completely Different" / "Season 01" / "CD - S01E01.mkv")
    media = harness.library.add_file(other, str(path), size=path.stat().st_size)
    await tree.handler.ingest(other, [media])
    await harness.run_jobs()
    return tree


async def get(harness, path: str, **params):
    async with harness.client() as client:
        response = await client.get(PREFIX + path, params=params)
        return response.status, await response.json()


async def send(harness, method: str, path: str, body=None):
    async with harness.client() as client:
        response = await client.request(method, PREFIX + path, json=body)
        return response.status, await response.json()


def test_routes_declare_read_and_manage_permissions(harness):
    routes = {f"{r.method} {r.path}": r.permission for r in harness.registrations("routes")}
    assert routes["GET /tv/series"] == api.READ == "tv:read"
    assert routes["GET /tv/episodes/{id:\\d{1,10}}"] == api.READ
    for key in ("POST /tv/series/{id:\\d{1,10}}/refresh", "GET /tv/series/{id:\\d{1,10}}/identify",
                "POST /tv/series/{id:\\d{1,10}}/identify", "PATCH /tv/series/{id:\\d{1,10}}",
                "PATCH /tv/episodes/{id:\\d{1,10}}"):
        assert routes[key] == api.MANAGE == "library:manage", key
    assert len(routes) == 17


async def test_the_series_list_has_totals_and_pages(shows, harness):
    status, body = await get(harness, "/series", per_page="2")
    assert status == 200
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (3, 1, 2, 2)
    assert [s["title"] for s in body["items"]] == ["Completely Different", "Daily Show"]
    status, body = await get(harness, "/series", per_page="2", page="2")
    assert [s["title"] for s in body["items"]] == ["Show"]
    show = body["items"][0]
    assert show["season_count"] == 3 and show["episode_count"] == 6
    assert show["genres"] == ["Drama", "Mystery"] and show["networks"] == ["HBO"]
    assert show["poster"]["source"] == "local" and show["poster"]["blurhash"]
    assert show["poster"]["urls"]["w342"] == f"/api/v1/images/{show['poster']['id']}/w342"


async def test_the_series_list_filters(shows, harness):
    async def titles(**params):
        status, body = await get(harness, "/series", **params)
        assert status == 200, body
        return [s["title"] for s in body["items"]]

    assert await titles(genre="Drama") == ["Show"]
    assert await titles(network="BBC") == ["Completely Different"]
    assert await titles(library="lib2") == ["Completely Different"]
    assert await titles(year_from="2000", year_to="2019") == ["Completely Different", "Show"]
    assert await titles(year="1996") == ["Daily Show"]
    assert await titles(status="Returning Series") == ["Show"]
    assert await titles(match="matched", sort="year", order="desc") == ["Show", "Completely Different", "Daily Show"]


async def test_the_series_list_sorts(shows, harness):
    async def order(sort, direction="asc"):
        status, body = await get(harness, "/series", sort=sort, order=direction)
        assert status == 200, body
        return [s["title"] for s in body["items"]]

    assert await order("title") == ["Completely Different", "Daily Show", "Show"]
    assert await order("year") == ["Daily Show", "Completely Different", "Show"]
    assert await order("rating", "desc") == ["Show", "Completely Different", "Daily Show"]  # no rating: last
    assert await order("first_air_date") == ["Show", "Daily Show", "Completely Different"]
    assert await order("added", "desc") == ["Completely Different", "Daily Show", "Show"]


@pytest.mark.parametrize("params, parameter", [
    ({"sort": "name"}, "sort"), ({"sort": "title; DROP TABLE tv_series"}, "sort"), ({"order": "up"}, "order"),
    ({"page": "0"}, "page"), ({"per_page": "1000"}, "per_page"), ({"year": "later"}, "year"),
    ({"match": "maybe"}, "match"), ({"library": "../etc"}, "library"), ({"colour": "red"}, "colour"),
    ({"year": "2001", "year_from": "2000"}, "year"),
])
async def test_bad_list_parameters_are_400(harness, params, parameter):
    status, body = await get(harness, "/series", **params)
    assert status == 400
    assert body["code"] == "bad_request" and body["details"]["parameter"] == parameter


async def test_a_series_its_seasons_and_credits(shows, harness):
    [series] = rows(harness, lambda: Series.select().where(Series.title == "Show"))
    status, body = await get(harness, f"/series/{series.id}")
    assert status == 200
    assert body["key"] == f"series:{series.id}" and body["overview"] == "From the NFO."
    assert body["match"]["state"] == "matched" and body["certifications"] == {"DE": "16", "US": "TV-MA"}
    assert [s["number"] for s in body["seasons"]] == [0, 1, 2]
    assert {a["kind"] for a in body["artwork"]} == {"poster", "backdrop", "banner", "logo"}
    status, seasons = await get(harness, f"/series/{series.id}/seasons")
    assert [(s["title"], s["episode_count"]) for s in seasons["items"]] == [
        ("Specials", 1), ("Season One", 4), ("Season Two", 1)]
    status, credits = await get(harness, f"/series/{series.id}/credits")
    assert [c["name"] for c in credits["cast"]] == ["Lead Actor"]
    assert [c["role"] for c in credits["crew"]] == ["creator"]


async def test_a_season_with_its_episodes(shows, harness):
    [season] = rows(harness, lambda: Season.select().join(Series).where((Series.title == "Show")
                                                                         & (Season.number == 1)))
    status, body = await get(harness, f"/seasons/{season.id}")
    assert status == 200
    assert body["series"]["title"] == "Show" and body["poster"]["source"] == "local"
    assert [(e["number"], e["title"]) for e in body["episodes"]] == [
        (1, "Pilot (NFO)"), (2, "Provider S1E2"), (3, "Provider S1E3"), (4, "Provider S1E4")]
    status, listed = await get(harness, f"/seasons/{season.id}/episodes")
    assert listed["items"] == body["episodes"]


async def test_an_episode_and_its_files(shows, harness):
    [episode] = rows(harness, lambda: Episode.select().where((Episode.season_number == 1) & (Episode.number == 3)))
    status, body = await get(harness, f"/episodes/{episode.id}")
    assert status == 200
    assert body["title"] == "Provider S1E3" and body["resolution"] == "720p" and body["still"]["source"] == "fakedb"
    assert sorted(c["role"] for c in body["credits"]) == ["director", "guest"]
    status, files = await get(harness, f"/episodes/{episode.id}/files")
    [file] = files["items"]
    assert file["relative_path"].endswith("Show.S01E02E03.720p.mkv") and len(file["episode_ids"]) == 2
    assert file["audio_tracks"][0]["codec"] == "aac"


async def test_recent_lists_and_name_counts(shows, harness):
    status, body = await get(harness, "/series/recent", limit="2")
    assert [s["title"] for s in body["items"]] == ["Completely Different", "Daily Show"]
    status, body = await get(harness, "/episodes/recent", limit="1")
    assert body["items"][0]["series_title"] == "Completely Different"
    status, body = await get(harness, "/genres")
    assert body["items"] == [{"name": "Comedy", "count": 1}, {"name": "Drama", "count": 1},
                             {"name": "Mystery", "count": 1}]
    status, body = await get(harness, "/networks", library="lib1")
    assert body["items"] == [{"name": "HBO", "count": 1}]
    status, body = await get(harness, "/genres", sort="name")
    assert status == 400


async def test_what_a_caller_may_not_see_is_404_and_left_out_of_lists(shows, harness):
    [show] = rows(harness, lambda: Series.select().where(Series.title == "Show"))
    [season] = rows(harness, lambda: Season.select().where((Season.series == show.id) & (Season.number == 1)))
    [episode] = rows(harness, lambda: Episode.select().where(Episode.series == show.id).limit(1))
    harness.access.only(libraries=["lib2"])
    for path in (f"/series/{show.id}", f"/series/{show.id}/seasons", f"/series/{show.id}/credits",
                 f"/seasons/{season.id}", f"/seasons/{season.id}/episodes", f"/episodes/{episode.id}",
                 f"/episodes/{episode.id}/files", "/series/999999"):
        status, body = await get(harness, path)
        assert status == 404 and body["code"] == "not_found", path
    status, body = await get(harness, "/series")
    assert [s["title"] for s in body["items"]] == ["Completely Different"] and body["total"] == 1
    status, body = await get(harness, "/series", library="lib1")
    assert body["items"] == [] and body["total"] == 0
    status, body = await get(harness, "/episodes/recent")
    assert {e["series_title"] for e in body["items"]} == {"Completely Different"}
    status, body = await get(harness, "/genres")
    assert body["items"] == [{"name": "Comedy", "count": 1}]
    status, body = await send(harness, "PATCH", f"/series/{show.id}", {"title": "Mine"})
    assert status == 404


async def test_edits_lock_fields_that_a_refresh_keeps(shows, harness):
    [show] = rows(harness, lambda: Series.select().where(Series.title == "Show"))
    status, body = await send(harness, "PATCH", f"/series/{show.id}", {"title": "My Show", "genres": ["Noir"]})
    assert status == 200, body
    assert body["title"] == "My Show" and body["genres"] == ["Noir"]
    assert {"title", "genres"} <= set(body["locked_fields"])
    assert harness.library.items[f"series:{show.id}"].title == "My Show"
    episode_docs = [d for d in harness.search.documents["episode"].values() if d["series_id"] == show.id]
    assert {d["series_title"] for d in episode_docs} == {"My Show"}

    status, body = await send(harness, "POST", f"/series/{show.id}/refresh", {"replace": True})
    assert status == 202 and body["series_id"] == show.id
    [run] = await harness.run_jobs()
    assert run.result == "matched"
    status, body = await get(harness, f"/series/{show.id}")
    assert body["title"] == "My Show" and body["genres"] == ["Noir"]
    assert body["overview"] == "A show about things."  # replace lets the provider overwrite the NFO

    status, body = await send(harness, "PATCH", f"/series/{show.id}", {"locked_fields": []})
    assert body["locked_fields"] == []
    await send(harness, "POST", f"/series/{show.id}/refresh")
    await harness.run_jobs()
    status, body = await get(harness, f"/series/{show.id}")
    assert body["title"] == "Show"


async def test_episode_edits_lock_too(shows, harness):
    [episode] = rows(harness, lambda: Episode.select().where((Episode.season_number == 1) & (Episode.number == 2)))
    status, body = await send(harness, "PATCH", f"/episodes/{episode.id}", {"title": "Mine", "air_date": "2019-10-10"})
    assert status == 200 and body["title"] == "Mine" and body["air_date"] == "2019-10-10"
    [series] = rows(harness, lambda: Series.select().where(Series.id == episode.series_id))
    await send(harness, "POST", f"/series/{series.id}/refresh", {"replace": True})
    await harness.run_jobs()
    status, body = await get(harness, f"/episodes/{episode.id}")
    assert body["title"] == "Mine" and body["air_date"] == "2019-10-10"


@pytest.mark.parametrize("body, field", [
    ({"title": ""}, "title"), ({"year": "1999"}, "year"), ({"first_air_date": "yesterday"}, "first_air_date"),
    ({"match_state": "matched"}, "match_state"), ({"genres": "Drama"}, "genres"),
    ({"locked_fields": ["folder"]}, "locked_fields"), ({"original_language": "english!"}, "original_language"),
])
async def test_bad_edits_are_400(shows, harness, body, field):
    [show] = rows(harness, lambda: Series.select().where(Series.title == "Show"))
    status, answer = await send(harness, "PATCH", f"/series/{show.id}", body)
    assert status == 400 and answer["details"]["field"] == field


async def test_identify_lists_candidates_and_applies_one(tree: Tree, harness, provider):
    tree.video("Completely Unrelated Title/Season 01/Completely Unrelated Title - S01E01.mkv")
    await tree.ingest()
    await harness.run_jobs()
    [series] = rows(harness, Series.select)
    assert series.match_state == "needs_review"

    status, body = await get(harness, f"/series/{series.id}/identify", q="Completely Different")
    assert status == 200
    assert body["candidates"][0] == {"provider": "fakedb", "external_id": "300", "title": "Completely Different",
                                     "year": 2001, "score": 0.85, "extra": {}}
    status, body = await send(harness, "POST", f"/series/{series.id}/identify",
                              {"provider": "fakedb", "external_id": "300"})
    assert status == 200, body
    assert body["title"] == "Completely Different" and body["match"]["state"] == "matched"
    assert "match" in body["locked_fields"] and body["networks"] == ["BBC"]

    # A pinned match survives a replacing refresh: no new search.
    searches = len(provider.searches)
    await send(harness, "POST", f"/series/{series.id}/refresh", {"replace": True})
    await harness.run_jobs()
    assert len(provider.searches) == searches
    assert rows(harness, Series.select)[0].match_external_id == "300"


@pytest.mark.parametrize("body, status, code", [
    ({"provider": "nope", "external_id": "300"}, 400, "bad_request"),
    ({"provider": "fakedb", "external_id": "../../etc"}, 400, "bad_request"),
    ({"provider": "fakedb"}, 400, "bad_request"),
    ({"provider": "fakedb", "external_id": "999"}, 404, "not_found"),
])
async def test_identify_refuses_what_it_cannot_apply(tree: Tree, harness, body, status, code):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    await tree.ingest()
    [series] = rows(harness, Series.select)
    answer_status, answer = await send(harness, "POST", f"/series/{series.id}/identify", body)
    assert (answer_status, answer["code"]) == (status, code)


async def test_identify_reports_a_provider_failure_as_502(tree: Tree, harness, provider):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    await tree.ingest()
    [series] = rows(harness, Series.select)
    provider.fail = True
    status, body = await send(harness, "POST", f"/series/{series.id}/identify",
                              {"provider": "fakedb", "external_id": "100"})
    assert (status, body["code"]) == (502, "provider_error")


@pytest.mark.parametrize(("sort", "descending", "index"), LIST_INDEXES)
def test_list_pages_are_read_off_an_index_without_sorting(harness, sort, descending, index):
    """NULLS LAST on the NOT NULL sort key, or an index out of step with the ORDER BY, means a sort
    of every series for each page: the plan must walk the list index instead."""
    plan = harness.db.run_sync(lambda: list_plan(sort, descending))
    assert index in plan and "TEMP B-TREE" not in plan, plan
