"""The fake TMDb answers like the real one: error bodies, headers, filters, images."""

from __future__ import annotations

import aiohttp
import pytest

from revenge_hookspecs.testing_media import image_size
from revenge_tmdb.testing import FakeTMDb
from revenge_tmdb.testing.catalogue import Catalogue


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http, url, **params):
    async with http.get(url, params=params) as response:
        body = await response.json() if response.content_type == "application/json" else await response.read()
        return response.status, response.headers, body


async def test_error_bodies_are_tmdbs(tmdb, http):
    status, _, body = await get(http, f"{tmdb.api_url}/movie/603", api_key="nope")
    assert (status, body) == (401, {"success": False, "status_code": 7,
                                    "status_message": "Invalid API key: You must be granted a valid key."})
    status, _, body = await get(http, f"{tmdb.api_url}/movie/603")
    assert status == 401 and body["status_code"] == 7
    for path in ("/movie/1", "/tv/1/season/1", "/tv/1399/season/9", "/nothing/here", "/movie/603/reviewz"):
        status, _, body = await get(http, f"{tmdb.api_url}{path}", api_key=tmdb.api_key)
        assert (status, body["status_code"]) == (404, 34), path
    status, _, body = await get(http, f"{tmdb.api_url}/search/movie", api_key=tmdb.api_key)
    assert (status, body) == (422, {"errors": ["query must be provided"]})
    status, _, body = await get(http, f"{tmdb.api_url}/search/movie", api_key=tmdb.api_key, query="x", page="0")
    assert (status, body["status_code"]) == (400, 22)


async def test_rate_limit_headers_and_429(tmdb, http):
    tmdb.rate_limit(2, period=30)
    statuses = []
    for _ in range(3):
        status, headers, body = await get(http, f"{tmdb.api_url}/configuration", api_key=tmdb.api_key)
        statuses.append((status, headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]))
    assert statuses == [(200, "2", "1"), (200, "2", "0"), (429, "2", "0")]
    assert body["status_code"] == 25
    assert 28 <= int(headers["Retry-After"]) <= 30
    tmdb.rate_limit(None)
    assert (await get(http, f"{tmdb.api_url}/configuration", api_key=tmdb.api_key))[0] == 200


async def test_injected_failures_and_the_log(tmdb, http):
    tmdb.fail_next(2, 503, retry_after=7)
    answers = [await get(http, f"{tmdb.api_url}/movie/603", api_key=tmdb.api_key) for _ in range(3)]
    assert [a[0] for a in answers] == [503, 503, 200]
    assert answers[0][1]["Retry-After"] == "7" and answers[0][2]["status_code"] == 9
    assert [(r.path, r.status) for r in tmdb.requests] == [("/3/movie/603", s) for s in (503, 503, 200)]


async def test_append_to_response_language_and_image_languages(tmdb, http):
    status, _, movie = await get(http, f"{tmdb.api_url}/movie/603", api_key=tmdb.api_key,
                                 append_to_response="credits,images,videos", language="de-DE")
    assert status == 200
    assert movie["title"] == "Matrix" and movie["original_title"] == "The Matrix"
    assert movie["credits"]["cast"][0]["name"] == "Keanu Reeves" and "id" not in movie["credits"]
    assert movie["videos"] == {"results": []}
    assert {i["iso_639_1"] for i in movie["images"]["posters"]} <= {"de", None}
    _, _, images = await get(http, f"{tmdb.api_url}/movie/603/images", api_key=tmdb.api_key,
                             include_image_language="pt")
    assert images["id"] == 603 and {i["iso_639_1"] for i in images["posters"]} == {"pt"}


async def test_a_series_lists_the_seasons_it_serves(tmdb, http):
    _, _, show = await get(http, f"{tmdb.api_url}/tv/1399", api_key=tmdb.api_key)
    assert [(s["season_number"], s["episode_count"]) for s in show["seasons"]] == [(1, 10), (2, 10)]
    assert (show["number_of_seasons"], show["number_of_episodes"]) == (2, 20)
    _, _, season = await get(http, f"{tmdb.api_url}/tv/1399/season/2", api_key=tmdb.api_key)
    assert season["episodes"][0]["name"] == "The North Remembers"
    _, _, ratings = await get(http, f"{tmdb.api_url}/tv/1399/content_ratings", api_key=tmdb.api_key)
    assert ratings["id"] == 1399 and {"iso_3166_1": "US", "rating": "TV-MA", "descriptors": []} in ratings["results"]


async def test_search_and_find(tmdb, http):
    _, _, found = await get(http, f"{tmdb.api_url}/search/movie", api_key=tmdb.api_key, query="matrix revolutions")
    assert [r["id"] for r in found["results"]] == [605, 483777]
    _, _, found = await get(http, f"{tmdb.api_url}/search/movie", api_key=tmdb.api_key, query="matrix")
    assert found["total_results"] == 19 and found["total_pages"] == 1 and found["results"][0]["id"] == 603
    assert 55931 not in [r["id"] for r in found["results"]]  # "The Animatrix": words, not substrings
    _, _, found = await get(http, f"{tmdb.api_url}/search/tv", api_key=tmdb.api_key, query="thrones",
                            first_air_date_year="2011")
    assert [r["name"] for r in found["results"]] == ["Game of Thrones"]
    _, _, found = await get(http, f"{tmdb.api_url}/find/tt0944947", api_key=tmdb.api_key, external_source="imdb_id")
    assert found["tv_results"][0]["id"] == 1399 and found["tv_results"][0]["media_type"] == "tv"
    assert found["movie_results"] == []


async def test_images_are_real_and_sized(tmdb, http):
    status, headers, data = await get(http, f"{tmdb.image_url}/w92/hEpWvX6Bp79eLxY1kX5ZZJcme5U.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert image_size(data) == (92, 138)
    status, headers, data = await get(http, f"{tmdb.image_url}/original/7dz2vnG9gEKmlBdAOmlxfDGcWYz.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert image_size(data) == (500, 167)  # 1500x500 drawn at most max_image_side wide
    for bad in ("/original/unknown.jpg", "/w92/..%2Fetc%2Fpasswd", "/huge/hEpWvX6Bp79eLxY1kX5ZZJcme5U.jpg"):
        assert (await get(http, f"{tmdb.image_url}{bad}"))[0] == 404, bad


async def test_catalogue_entries_added_by_a_test_are_served(tmdb, http):
    tmdb.add_movie({"id": 42, "title": "Added Movie", "release_date": "2024-02-03", "poster_path": "/added.jpg"})
    _, _, found = await get(http, f"{tmdb.api_url}/search/movie", api_key=tmdb.api_key, query="added movie",
                            primary_release_year="2024")
    assert [r["id"] for r in found["results"]] == [42]
    _, _, movie = await get(http, f"{tmdb.api_url}/movie/42", api_key=tmdb.api_key)
    assert movie["original_title"] == "Added Movie" and movie["genres"] == []
    assert (await get(http, f"{tmdb.image_url}/w185/added.jpg"))[0] == 200
    with pytest.raises(ValueError, match="unknown movie parts"):
        tmdb.add_movie({"id": 43, "title": "x"}, reviews={})


async def test_a_bearer_token_and_an_empty_catalogue(http):
    async with FakeTMDb(catalogue=Catalogue()) as empty:
        for token, expected in ((empty.read_access_token, 404), (empty.api_key, 401)):
            async with http.get(f"{empty.api_url}/movie/603", headers={"Authorization": f"Bearer {token}"}) as answer:
                assert answer.status == expected
