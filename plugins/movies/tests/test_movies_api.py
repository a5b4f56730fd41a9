"""The API under /api/v1/movies: filters, sorting, pages, visibility, validation, permissions."""

from __future__ import annotations

import pytest

from revenge_movies.models import Movie
from revenge_video.testing import make_nfo_movie, make_video

CATALOGUE = [
    # title, year, genres, rating, runtime, premiered, resolution (height), collection
    ("Alien", 1979, ["Horror", "Science Fiction"], 8.5, 117, "1979-05-25", 1080, "Alien Collection"),
    ("Aliens", 1986, ["Action", "Science Fiction"], 8.4, 137, "1986-07-18", 720, "Alien Collection"),
    ("Heat", 1995, ["Crime", "Drama"], 8.3, 170, "1995-12-15", 2160, None),
    ("Amélie", 2001, ["Comedy", "Romance"], 8.3, 122, "2001-04-25", 480, None),
    ("The Thing", 1982, ["Horror"], None, None, None, 1080, None),
]
SIZES = {2160: (3840, 2160), 1080: (1920, 1080), 720: (1280, 720), 480: (720, 480)}

BOTH_DATABASES = pytest.mark.parametrize(
    "db_driver", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
"""Tests whose queries differ between the drivers run on PostgreSQL too (inside the repository)."""


@pytest.fixture
async def catalogue(movies):
    for title, year, genres, rating, runtime, premiered, height, collection in CATALOGUE:
        folder = f"{title} ({year})"
        make_nfo_movie(movies.root / folder / f"{folder}.nfo", title=title, year=year, genres=genres, rating=rating,
                       runtime=runtime, premiered=premiered, set_name=collection)
        width, height = SIZES[height]
        await movies.ingest(movies.video(f"{folder}/{folder}.mkv", width=width, height=height))
    return movies


async def get(movies, path: str, **params) -> tuple[int, dict]:
    async with movies.harness.client() as client:
        response = await client.get("/api/v1" + path, params=params)
        return response.status, await response.json()


async def ok(movies, path: str, **params) -> dict:
    status, body = await get(movies, path, **params)
    assert status == 200, body
    return body


async def titles(movies, **params) -> list[str]:
    status, body = await get(movies, "/movies", **params)
    assert status == 200, body
    return [item["title"] for item in body["items"]]


async def test_every_route_declares_its_permission(movies):
    declared = {f"{r.method} {r.path}": r.permission for r in movies.harness.registrations("routes")}
    reads = [k for k, p in declared.items() if p == "movies:read"]
    manages = sorted(k for k, p in declared.items() if p == "library:manage")
    assert all(k.startswith("GET ") and not k.endswith("/identify") for k in reads) and len(reads) == 8
    assert manages == ["GET /movies/{id:\\d{1,10}}/identify", "PATCH /movies/{id:\\d{1,10}}",
                       "POST /movies/{id:\\d{1,10}}/identify", "POST /movies/{id:\\d{1,10}}/refresh",
                       "PUT /movies/{id:\\d{1,10}}/locks"]
    assert set(declared.values()) == {"movies:read", "library:manage"}


@BOTH_DATABASES
async def test_the_list_sorts_by_title_ignoring_articles_and_pages_with_totals(catalogue):
    status, body = await get(catalogue, "/movies", per_page="2")
    assert status == 200
    assert [i["title"] for i in body["items"]] == ["Alien", "Aliens"]
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (5, 1, 2, 3)
    assert await titles(catalogue, per_page="2", page="2") == ["Amélie", "Heat"]
    assert await titles(catalogue, per_page="2", page="3") == ["The Thing"]
    assert await titles(catalogue, per_page="2", page="4") == []


SORTED = [
    ("year", "asc", ["Alien", "The Thing", "Aliens", "Heat", "Amélie"]),
    ("year", "desc", ["Amélie", "Heat", "Aliens", "The Thing", "Alien"]),
    ("rating", "desc", ["Alien", "Aliens", "Amélie", "Heat", "The Thing"]),  # ties by title, unknown last
    ("runtime", "asc", ["Alien", "Amélie", "Aliens", "Heat", "The Thing"]),
    ("release_date", "desc", ["Amélie", "Heat", "Aliens", "Alien", "The Thing"]),
    ("added", "desc", ["The Thing", "Amélie", "Heat", "Aliens", "Alien"]),
    ("title", "desc", ["The Thing", "Heat", "Amélie", "Aliens", "Alien"]),
    ("rating", "asc", ["Amélie", "Heat", "Aliens", "Alien", "The Thing"]),
]


@BOTH_DATABASES
async def test_sorts(catalogue):
    for sort, order, expected in SORTED:
        assert await titles(catalogue, sort=sort, order=order) == expected, (sort, order)


@BOTH_DATABASES
async def test_filters(catalogue):
    assert await titles(catalogue, genre="Horror") == ["Alien", "The Thing"]
    assert await titles(catalogue, genre=["Comedy", "Crime"]) == ["Amélie", "Heat"]
    assert await titles(catalogue, year_from="1980", year_to="1995") == ["Aliens", "Heat", "The Thing"]
    assert await titles(catalogue, year="1979") == ["Alien"]
    assert await titles(catalogue, resolution="2160p") == ["Heat"]
    assert await titles(catalogue, resolution="1080p", genre="Horror", sort="year") == ["Alien", "The Thing"]
    assert await titles(catalogue, q="ali") == ["Alien", "Aliens"]
    assert await titles(catalogue, q="amelie") == ["Amélie"]
    assert await titles(catalogue, q="thing") == ["The Thing"]
    assert await titles(catalogue, q="hing") == []  # prefixes of words, not any substring
    assert await titles(catalogue, library="1", q="heat") == ["Heat"]
    assert await titles(catalogue, library="2") == []
    body = await ok(catalogue, "/movies/collections")
    [collection] = body["items"]
    assert (collection["name"], collection["movie_count"]) == ("Alien Collection", 2)
    assert await titles(catalogue, collection=str(collection["id"])) == ["Alien", "Aliens"]


@BOTH_DATABASES
async def test_summaries_have_a_stable_shape(catalogue):
    body = await ok(catalogue, "/movies", q="heat")
    [item] = body["items"]
    assert set(item) == {"id", "key", "library_id", "title", "original_title", "sort_title", "year", "release_date",
                         "runtime", "rating", "genres", "resolution", "match_state", "added_at", "poster", "backdrop"}
    assert (item["key"], item["resolution"], item["release_date"], item["match_state"]) == (
        f"movie:{item['id']}", "2160p", "1995-12-15", "unmatched")


@pytest.mark.parametrize("params", [
    {"sort": "popularity"}, {"order": "up"}, {"page": "0"}, {"per_page": "101"}, {"per_page": "x"},
    {"year": "99"}, {"year": "1990", "year_from": "1980"}, {"resolution": "4k"}, {"collection": "-1"},
    {"library": "../etc"}, {"watched": "true"}, {"q": "x" * 201}, {"sort": ["title", "year"]},
])
async def test_bad_queries_are_400_with_a_reason(movies, params):
    status, body = await get(movies, "/movies", **params)
    assert status == 400 and body["code"] == "bad_request" and body["message"]


@BOTH_DATABASES
async def test_a_movie_the_caller_may_not_see_does_not_exist_for_them(catalogue):
    other = catalogue.add_library("2", "Kids")
    make_nfo_movie(catalogue.root.parent / "library-2" / "Up (2009).nfo", title="Up", year=2009,
                   genres=["Animation"])
    media = catalogue.track(make_video(catalogue.root.parent / "library-2" / "Up (2009).mkv"), other)
    [result] = await catalogue.ingest(media, library=other)
    up_id = int(result.item_key.split(":")[1])
    alien_id = await catalogue.query(lambda: Movie.get(Movie.title == "Alien").id)
    assert "Up" in await titles(catalogue)

    catalogue.harness.access.only(libraries=["2"])
    assert await titles(catalogue) == ["Up"]
    assert await titles(catalogue, library="1") == []
    for path in (f"/movies/{alien_id}", f"/movies/{alien_id}/files", f"/movies/{alien_id}/credits"):
        status, body = await get(catalogue, path)
        assert status == 404 and body["code"] == "not_found", path
    status, missing = await get(catalogue, "/movies/99999")
    status_hidden, hidden = await get(catalogue, f"/movies/{alien_id}")
    assert status == status_hidden == 404 and missing["message"].replace("99999", "") == hidden["message"].replace(
        str(alien_id), "")
    assert (await get(catalogue, f"/movies/{up_id}"))[0] == 200
    assert [g["name"] for g in (await get(catalogue, "/movies/genres"))[1]["items"]] == ["Animation"]
    assert (await get(catalogue, "/movies/collections"))[1]["items"] == []
    assert [i["title"] for i in (await get(catalogue, "/movies/recent"))[1]["items"]] == ["Up"]
    async with catalogue.harness.client() as client:
        for method, path, body in (("POST", f"/movies/{alien_id}/refresh", None),
                                   ("PATCH", f"/movies/{alien_id}", {"title": "x"}),
                                   ("PUT", f"/movies/{alien_id}/locks", {"fields": []}),
                                   ("GET", f"/movies/{alien_id}/identify", None)):
            response = await client.request(method, "/api/v1" + path, json=body)
            assert response.status == 404, path

    catalogue.harness.access.only()  # a caller granted nothing sees nothing
    assert await titles(catalogue) == []
    assert (await ok(catalogue, "/movies/genres"))["items"] == []
    assert (await get(catalogue, f"/movies/{up_id}"))[0] == 404


@BOTH_DATABASES
async def test_genres_collections_and_recent(catalogue):
    body = await ok(catalogue, "/movies/genres")
    assert {g["name"]: g["movie_count"] for g in body["items"]} == {
        "Action": 1, "Comedy": 1, "Crime": 1, "Drama": 1, "Horror": 2, "Romance": 1, "Science Fiction": 2}
    body = await ok(catalogue, "/movies/collections")
    collection_id = body["items"][0]["id"]
    body = await ok(catalogue, f"/movies/collections/{collection_id}")
    assert [m["title"] for m in body["movies"]] == ["Alien", "Aliens"] and body["movie_count"] == 2
    assert (await get(catalogue, "/movies/collections/424242"))[0] == 404
    body = await ok(catalogue, "/movies/recent", limit="2")
    assert [i["title"] for i in body["items"]] == ["The Thing", "Amélie"]
    assert (await get(catalogue, "/movies/recent", limit="0"))[0] == 400


@BOTH_DATABASES
async def test_files_of_a_movie(catalogue):
    movie_id = await catalogue.query(lambda: Movie.get(Movie.title == "Heat").id)
    body = await ok(catalogue, f"/movies/{movie_id}/files")
    [file] = body["items"]
    assert (file["relative_path"], file["resolution"], file["width"], file["container"]) == (
        "Heat (1995)/Heat (1995).mkv", "2160p", 3840, "mkv")
    assert file["audio_tracks"][0]["language"] == "eng" and file["duration"] > 0.5


async def test_refresh_enqueues_and_validates_its_body(catalogue):
    movie_id = await catalogue.query(lambda: Movie.get(Movie.title == "Heat").id)
    async with catalogue.harness.client() as client:
        response = await client.post(f"/api/v1/movies/{movie_id}/refresh", json={"replace": True})
        assert response.status == 202
        job_id = (await response.json())["job_id"]
        assert (await client.post(f"/api/v1/movies/{movie_id}/refresh", json={"replace": "yes"})).status == 400
        assert (await client.post(f"/api/v1/movies/{movie_id}/refresh")).status == 202
    queued = catalogue.harness.jobs.named("movies.enrich")
    assert any(q.id == job_id and q.payload == {"movie_id": movie_id, "replace": True} for q in queued)


@pytest.mark.parametrize("body", [
    {}, {"title": ""}, {"title": None}, {"year": "1999"}, {"year": 3000}, {"release_date": "1999-13-01"},
    {"runtime": -1}, {"genres": "Drama"}, {"rating": 10}, {"original_language": "english"}, {"overview": 5},
    {"match_state": "matched"},
])
async def test_edits_are_validated(movies, body):
    [result] = await movies.ingest(movies.video("Heat (1995).mkv"))
    movie_id = int(result.item_key.split(":")[1])
    async with movies.harness.client() as client:
        response = await client.patch(f"/api/v1/movies/{movie_id}", json=body)
        assert response.status == 400, body
        assert (await response.json())["code"] == "bad_request"


@BOTH_DATABASES
async def test_an_edit_is_saved_locked_and_reindexed(catalogue):
    movie_id = await catalogue.query(lambda: Movie.get(Movie.title == "Heat").id)
    async with catalogue.harness.client() as client:
        response = await client.patch(f"/api/v1/movies/{movie_id}", json={
            "title": "Heat (Director's Definitive Edition)", "sort_title": "Heat 2", "release_date": "1995-12-08",
            "original_language": "en", "overview": None})
        assert response.status == 200
        data = await response.json()
    assert data["release_date"] == "1995-12-08" and data["overview"] is None
    assert set(data["locked_fields"]) >= {"title", "sort_title", "release_date", "original_language", "overview"}
    assert catalogue.harness.search.documents["movie"][str(movie_id)]["title"].startswith("Heat (Director")
    assert await titles(catalogue, q="definitive") == ["Heat (Director's Definitive Edition)"]


async def test_locks_accept_only_known_fields(catalogue):
    movie_id = await catalogue.query(lambda: Movie.get(Movie.title == "Heat").id)
    async with catalogue.harness.client() as client:
        for body in ({"fields": ["title", "budget"]}, {"fields": "title"}, {"other": []}):
            response = await client.put(f"/api/v1/movies/{movie_id}/locks", json=body)
            assert response.status == 400, body
        response = await client.put(f"/api/v1/movies/{movie_id}/locks", json={"fields": []})
        assert (await response.json())["locked_fields"] == []


def _list_plan(sort: str, descending: bool) -> str:
    """The plan of the first page of ``GET /movies`` by ``sort``, with sorting made a last resort."""
    from revenge_hookspecs.db import is_sqlite
    from revenge_movies import views

    database = Movie._meta.database
    sql, params = views._visible(Movie.select(), None).order_by(
        *views.list_order(sort, descending)).paginate(1, 50).sql()
    if is_sqlite(database):
        return "\n".join(str(row[-1]) for row in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    with database.atomic():
        database.execute_sql("SET LOCAL enable_seqscan = off")
        database.execute_sql("SET LOCAL enable_sort = off")
        return "\n".join(row[0] for row in database.execute_sql(f"EXPLAIN {sql}", params))


@BOTH_DATABASES
@pytest.mark.parametrize(("sort", "descending", "index"), [
    ("title", False, "movies_sort_key_id"), ("title", True, "movies_sort_key_id"),
    ("year", True, "movies_year_desc_list"), ("rating", True, "movies_rating_desc_list"),
    ("added", True, "movies_added_desc_list"),
])
async def test_list_pages_are_read_off_an_index_without_sorting(movies, sort, descending, index):
    """NULLS LAST on the NOT NULL sort key, or an index out of step with the ORDER BY, means a sort
    of every movie for each page: the plan must walk the list index instead."""
    plan = await movies.query(_list_plan, sort, descending)
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
