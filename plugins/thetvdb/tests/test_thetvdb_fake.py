"""The fake TheTVDB itself answers as the v4 spec and the live API do (the server's tests rely on it)."""

from __future__ import annotations

import aiohttp
import pytest

from revenge_thetvdb.testing import DEFAULT_API_KEY, EPISODE_PAGE_SIZE, Catalogue, failure


@pytest.fixture
async def api(tvdb):
    """``await api(method, path, **kwargs)`` → (status, JSON body, headers), with a token."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{tvdb.api_url}/login", json={"apikey": tvdb.api_key}) as response:
            token = (await response.json())["data"]["token"]

        async def call(method: str, path: str, *, auth: bool = True, **kwargs):
            headers = {"Authorization": f"Bearer {token}"} if auth else {}
            async with session.request(method, f"{tvdb.api_url}{path}", headers=headers, **kwargs) as response:
                return response.status, await response.json(), response.headers

        yield call


def test_the_catalogue_has_what_the_tests_need():
    catalogue = Catalogue.default()
    breaking_bad = catalogue.episodes[81189]
    assert len(breaking_bad) >= 120
    assert {e["seasonNumber"] for e in breaking_bad} == {0, 1, 2, 3, 4, 5}
    remote = {r["sourceName"]: r["id"] for r in catalogue.series[81189]["remoteIds"]}
    assert remote.items() >= {"IMDB": "tt0903747", "TheMovieDB.com": "1396"}.items()  # as in the fake TMDb
    assert len(catalogue.episodes[920001]) > EPISODE_PAGE_SIZE == 500  # the daily show needs a second page
    assert catalogue.series[334824]["originalLanguage"] == "deu"


async def test_login_answers_a_jwt(tvdb):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{tvdb.api_url}/login", json={"apikey": DEFAULT_API_KEY}) as response:
            body = await response.json()
        assert response.status == 200 and body["status"] == "success"
        assert body["data"]["token"].count(".") == 2 and body["data"]["token"].startswith("eyJ")
        async with session.post(f"{tvdb.api_url}/login", json={"apikey": "wrong"}) as response:
            assert (response.status, await response.json()) == (401, failure("Unauthorized"))
        async with session.post(f"{tvdb.api_url}/login", json={"pin": "1"}) as response:
            assert response.status == 400


async def test_every_route_wants_the_bearer_token(api, tvdb):
    status, body, _ = await api("GET", "/series/81189", auth=False)
    assert (status, body) == (401, {"status": "failure", "message": "Unauthorized", "data": None})
    tvdb.expire_tokens()
    assert (await api("GET", "/series/81189"))[0] == 401


async def test_records_come_in_the_envelope_with_urls_of_the_fake(api, tvdb):
    status, body, _ = await api("GET", "/series/81189")
    assert status == 200 and body["status"] == "success"
    assert body["data"]["name"] == "Breaking Bad" and "artworks" not in body["data"]  # a base record
    assert body["data"]["image"].startswith(f"{tvdb.url}/banners/")
    assert body["data"]["nameTranslations"] == ["deu", "eng", "fra"]
    assert (await api("GET", "/series/1"))[:2] == (404, failure("NotFoundException: not found"))
    assert (await api("GET", "/series/abc"))[0] == 400


async def test_extended_records_take_meta_and_short(api):
    _, plain, _ = await api("GET", "/series/81189/extended")
    assert "translations" not in plain["data"] and plain["data"]["characters"]
    _, with_meta, _ = await api("GET", "/series/81189/extended", params={"meta": "translations", "short": "true"})
    assert {t["language"] for t in with_meta["data"]["translations"]["nameTranslations"]} == {"deu", "eng", "fra"}
    assert with_meta["data"]["characters"] is None and with_meta["data"]["artworks"] is None
    _, episodes, _ = await api("GET", "/series/273181/extended", params={"meta": "episodes"})
    assert len(episodes["data"]["episodes"]) == 10
    assert (await api("GET", "/series/81189/extended", params={"meta": "everything"}))[0] == 400


@pytest.mark.parametrize("fake_options", [{"episode_page_size": 100}])
async def test_episode_pages_link_to_each_other(api, tvdb, fake_options):
    _, first, _ = await api("GET", "/series/81189/episodes/default", params={"page": "0"})
    assert len(first["data"]["episodes"]) == 100 and first["data"]["series"]["id"] == 81189
    links = first["links"]
    assert links["prev"] is None and links["next"].endswith("/v4/series/81189/episodes/default?page=1")
    assert (links["total_items"], links["page_size"]) == (124, 100)
    _, last, _ = await api("GET", "/series/81189/episodes/default", params={"page": "1"})
    assert len(last["data"]["episodes"]) == 24 and last["links"]["next"] is None
    _, beyond, _ = await api("GET", "/series/81189/episodes/default", params={"page": "7"})
    assert beyond["data"]["episodes"] == [] and beyond["links"]["next"] is None


async def test_episode_lists_filter_as_the_spec_says(api):
    _, season, _ = await api("GET", "/series/81189/episodes/official", params={"season": "2"})
    assert [e["number"] for e in season["data"]["episodes"]] == list(range(1, 14))
    _, one, _ = await api("GET", "/series/81189/episodes/default", params={"season": "5", "episodeNumber": "16"})
    assert [e["name"] for e in one["data"]["episodes"]] == ["Felina"]
    _, dated, _ = await api("GET", "/series/920001/episodes/default", params={"airDate": "2024-02-29"})
    assert [(e["seasonNumber"], e["number"]) for e in dated["data"]["episodes"]] == [(2024, 44)]
    assert (await api("GET", "/series/81189/episodes/default", params={"episodeNumber": "3"}))[0] == 400
    assert (await api("GET", "/series/81189/episodes/sideways"))[0] == 400
    _, absolute, _ = await api("GET", "/series/81189/episodes/absolute")
    assert absolute["data"]["episodes"] == []  # Breaking Bad has no absolute order


async def test_translated_episode_lists_and_translations(api):
    _, german, _ = await api("GET", "/series/81189/episodes/default/deu", params={"season": "1"})
    assert german["data"]["episodes"][0]["name"] == "Der Anfang"
    _, later, _ = await api("GET", "/series/81189/episodes/default/deu", params={"season": "2"})
    assert later["data"]["episodes"][0]["name"] is None
    assert (await api("GET", "/series/81189/episodes/default/xxx"))[0] == 400
    _, translation, _ = await api("GET", "/series/334824/translations/eng")
    assert translation["data"]["name"] == "Dark" and translation["data"]["language"] == "eng"
    assert (await api("GET", "/series/334824/translations/jpn"))[0] == 404
    episode_id = german["data"]["episodes"][0]["id"]
    _, episode, _ = await api("GET", f"/episodes/{episode_id}/translations/deu")
    assert episode["data"]["name"] == "Der Anfang"


async def test_search_and_remote_ids(api):
    _, found, _ = await api("GET", "/search", params={"query": "breaking", "type": "series"})
    assert [r["tvdb_id"] for r in found["data"]] == ["81189", "910001"]  # by popularity
    assert found["data"][0]["translations"]["deu"] == "Breaking Bad" and found["data"][0]["year"] == "2008"
    _, limited, _ = await api("GET", "/search", params={"query": "breaking", "limit": "1", "offset": "1"})
    assert [r["name"] for r in limited["data"]] == ["Breaking Badly"]
    _, movies, _ = await api("GET", "/search", params={"query": "breaking", "type": "movie"})
    assert movies["data"] == []
    _, remote, _ = await api("GET", "/search/remoteid/tt5753856")
    assert [r["series"]["name"] for r in remote["data"]] == ["Dark"]


async def test_artwork_types_and_images(api, tvdb):
    _, types, _ = await api("GET", "/artwork/types")
    by_id = {t["id"]: t for t in types["data"]}
    assert (by_id[2]["name"], by_id[2]["recordType"]) == ("Poster", "series")
    assert (by_id[23]["name"], by_id[3]["name"], by_id[1]["name"]) == ("ClearLogo", "Background", "Banner")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{tvdb.url}/banners/v4/series/81189/posters/5f1e0001_t.jpg") as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
        async with session.get(f"{tvdb.url}/banners/v4/series/81189/posters/5f1e0001.gif") as response:
            assert response.status == 404


async def test_budget_failures_and_the_request_log(api, tvdb):
    tvdb.rate_limit(1, period=30.0)
    assert (await api("GET", "/series/81189"))[0] == 200
    status, body, headers = await api("GET", "/series/81189")
    assert (status, body["status"]) == (429, "failure")
    assert 1 <= int(headers["Retry-After"]) <= 30
    tvdb.rate_limit(None)
    tvdb.fail_next(1, 503, retry_after=2)
    status, _, headers = await api("GET", "/series/81189")
    assert (status, headers["Retry-After"]) == (503, "2")
    assert [(r.method, r.path, r.status) for r in tvdb.api_requests()] == [
        ("POST", "/v4/login", 200), ("GET", "/v4/series/81189", 200), ("GET", "/v4/series/81189", 429),
        ("GET", "/v4/series/81189", 503)]
    assert tvdb.logins[0].body == {"apikey": tvdb.api_key}
