"""A full series: seasons and every episode page, specials, translations, artwork, credits."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from revenge_hookspecs.media import ARTWORK_KINDS, ItemMetadata
from revenge_thetvdb.mapping import ARTWORK_TYPES

SMALL_PAGES = {"episode_page_size": 50}


def episode_pages(tvdb, series_id: str, language: str | None = None) -> list[str]:
    path = f"/series/{series_id}/episodes/default" + (f"/{language}" if language else "")
    return [r.query.get("page") for r in tvdb.api_requests(path)]


def by_number(meta: ItemMetadata) -> dict:
    return {(e.season, e.number): e for s in meta.seasons for e in s.episodes}


@pytest.mark.parametrize("fake_options", [SMALL_PAGES])
async def test_every_page_of_episodes_is_fetched(source, tvdb, fake_options):
    meta = await source.lookup("tv", "81189")
    assert episode_pages(tvdb, "81189") == ["0", "1", "2"]  # 124 episodes, 50 a page
    assert sum(len(s.episodes) for s in meta.seasons) == 124
    assert [(s.number, len(s.episodes)) for s in meta.seasons] == [(0, 62), (1, 7), (2, 13), (3, 13), (4, 13),
                                                                   (5, 16)]
    for season in meta.seasons:
        assert [e.number for e in season.episodes] == list(range(1, len(season.episodes) + 1))


async def test_the_series_record_is_described_in_full(source, tvdb):
    meta = await source.lookup("tv", "81189", language="en")
    assert (meta.provider, meta.external_id, meta.content_type) == ("thetvdb", "81189", "tv")
    assert (meta.title, meta.original_title, meta.original_language) == ("Breaking Bad", "Breaking Bad", "en")
    assert (meta.year, meta.release_date, meta.status, meta.runtime_minutes) == (2008, "2008-01-20", "Ended", 47)
    assert meta.overview.startswith("A chemistry teacher")
    assert meta.genres == ("Drama", "Crime", "Thriller")
    assert meta.networks == ("AMC",)
    assert meta.studios == ("Sony Pictures Television", "High Bridge Productions")
    assert meta.countries == ("US",)
    assert meta.certifications == {"US": "TV-MA", "DE": "16", "GB": "15"}
    assert meta.external_ids == {"tvdb": "81189", "imdb": "tt0903747", "tmdb": "1396", "tvmaze": "169"}
    assert set(meta.translations) == {"en", "de", "fr"}
    assert meta.translations["de"].overview.startswith("Ein Chemielehrer")
    assert meta.translations["fr"].overview is None
    # the default page size holds the whole series: one page, and no translated pages for English
    assert [r.path for r in tvdb.api_requests()] == [
        "/v4/login", "/v4/series/81189/extended", "/v4/series/81189/episodes/default"]
    assert tvdb.api_requests("/series/81189/extended")[0].query == {"meta": "translations", "short": "false"}


async def test_episodes_carry_their_dates_numbers_and_stills(source, tvdb):
    episodes = by_number(await source.lookup("tv", "81189"))
    pilot = episodes[(1, 1)]
    assert (pilot.title, pilot.air_date, pilot.runtime_minutes, pilot.absolute_number) == (
        "Pilot", "2008-01-20", 58, 1)
    assert pilot.external_ids["tvdb"].isdigit()
    [still] = pilot.artwork
    assert still.kind == "still" and still.url.startswith(f"{tvdb.url}/banners/v4/episode/")
    assert episodes[(5, 16)].title == "Felina" and episodes[(5, 16)].absolute_number == 62
    assert episodes[(5, 9)].air_date == "2013-08-11"  # the second half of the last season, a year later
    assert episodes[(3, 1)].title == "No Más"


async def test_specials_are_season_zero(source):
    meta = await source.lookup("tv", "81189")
    specials = meta.seasons[0]
    assert specials.number == 0 and len(specials.episodes) == 62
    first = specials.episodes[0]
    assert (first.title, first.air_date, first.absolute_number) == ("Inside Breaking Bad: Pilot", "2008-01-20", None)
    assert specials.air_date == "2008-01-20"


async def test_only_the_default_season_order_is_used(source):
    meta = await source.lookup("tv", "81189")
    # the DVD order has seasons 1-5 too, without posters; the aired order's have one each
    assert [s.number for s in meta.seasons] == [0, 1, 2, 3, 4, 5]
    for season in meta.seasons[1:]:
        assert season.external_ids["tvdb"].isdigit()
        assert [a.kind for a in season.artwork] == ["poster", "poster"]  # its own, and the artwork record's


async def test_artwork_types_map_to_kinds(source, tvdb):
    meta = await source.lookup("tv", "81189", language="en")
    kinds = [a.kind for a in meta.artwork]
    assert set(kinds) == {"poster", "backdrop", "banner", "logo", "clearart"}  # no icon, no cinemagraph
    assert kinds.count("poster") == 3 and kinds.count("backdrop") == 2
    posters = [a for a in meta.artwork if a.kind == "poster"]
    assert [a.language for a in posters] == ["en", "en", "de"]  # the wanted language first, by score
    assert posters[0].url == f"{tvdb.url}/banners/v4/series/81189/posters/5f1e0001.jpg"
    assert (posters[0].width, posters[0].height, posters[0].score) == (680, 1000, 100000.0)
    backdrops = [a for a in meta.artwork if a.kind == "backdrop"]
    assert [a.language for a in backdrops] == ["en", None]
    [logo] = [a for a in meta.artwork if a.kind == "logo"]
    assert logo.url.endswith(".png") and "/clearlogo/" in logo.url
    german = await source.lookup("tv", "81189", language="de")
    assert [a.language for a in german.artwork if a.kind == "poster"] == ["de", "en", "en"]
    assert [a.language for a in german.artwork if a.kind == "backdrop"] == [None, "en"]  # no text beats English


async def test_the_artwork_table_agrees_with_artwork_types(source, tvdb):
    answer = await source.get("/artwork/types")
    served = {t["id"]: (t["recordType"], t["name"]) for t in answer["data"]}
    names = {"poster": "Poster", "backdrop": "Background", "banner": "Banner", "logo": "ClearLogo",
             "clearart": "ClearArt", "still": ("16:9 Screencap", "4:3 Screencap"), "profile": "Photo"}
    for type_id, (record_type, kind) in ARTWORK_TYPES.items():
        assert kind in ARTWORK_KINDS
        assert served[type_id][0] == record_type
        assert served[type_id][1] in (names[kind] if isinstance(names[kind], tuple) else (names[kind],))


async def test_artwork_urls_serve_real_images(source, tvdb):
    meta = await source.lookup("tv", "81189")
    wanted = {a.kind: a for a in meta.artwork}
    async with aiohttp.ClientSession() as session:
        for kind, expected_format in (("poster", "JPEG"), ("backdrop", "JPEG"), ("logo", "PNG")):
            async with session.get(wanted[kind].url) as response:
                assert response.status == 200
                image = Image.open(io.BytesIO(await response.read()))
                assert image.format == expected_format
                assert abs(image.width / image.height - wanted[kind].width / wanted[kind].height) < 0.02
        async with session.get(f"{tvdb.url}/banners/v4/series/81189/posters/nope.jpg") as response:
            assert response.status == 404
    assert not any(r.headers.get("Authorization") for r in tvdb.requests if r.is_image)


async def test_the_artwork_service_stores_a_poster(make_harness, tvdb):
    harness = make_harness()

    async def fetch(url: str) -> bytes:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            return await response.read()

    harness.artwork.fetch = fetch
    meta = await harness.metadata.lookup("tv", "thetvdb", "81189")
    poster = next(a for a in meta.artwork if a.kind == "poster")
    stored = await harness.artwork.store("series:1", "poster", url=poster.url)
    assert (stored.width, stored.height) == (218, 320)  # drawn at most 320 pixels high, 680:1000


async def test_credits_come_from_characters(source):
    meta = await source.lookup("tv", "81189")
    actors = [(c.name, c.character, c.order) for c in meta.credits if c.role == "actor"]
    assert actors[:3] == [("Bryan Cranston", "Walter White", 0), ("Aaron Paul", "Jesse Pinkman", 1),
                          ("Anna Gunn", "Skyler White", 2)]
    assert len(actors) == 6
    roles = {c.name: c.role for c in meta.credits}
    assert roles["Vince Gilligan"] == "creator" and roles["Mark Johnson"] == "producer"
    assert "Dave Porter" not in roles  # crew has no role here
    assert "Raymond Cruz" not in roles  # a guest of one episode belongs to that episode
    cranston = next(c for c in meta.credits if c.name == "Bryan Cranston")
    assert cranston.external_ids["tvdb"].isdigit() and cranston.image_url.startswith("http://127.0.0.1:")
    episodes = by_number(meta)
    assert [(c.name, c.role, c.character) for c in episodes[(1, 6)].credits] == [
        ("Raymond Cruz", "guest", "Tuco Salamanca")]
    assert [(c.name, c.role) for c in episodes[(1, 2)].credits] == [("Adam Bernstein", "director")]


async def test_a_second_language_translates_the_series_and_its_episodes(source, tvdb):
    meta = await source.lookup("tv", "81189", language="de-DE")
    assert meta.title == "Breaking Bad"
    assert meta.overview.startswith("Ein Chemielehrer")
    episodes = by_number(meta)
    assert episodes[(1, 1)].title == "Der Anfang"
    assert episodes[(1, 1)].overview == "Staffel 1, Folge 1 von Breaking Bad."
    assert episodes[(2, 1)].title == "Seven Thirty-Seven"  # no German title: TheTVDB's own
    assert episode_pages(tvdb, "81189", "deu") == ["0"]


async def test_an_original_language_series_is_translated_to_english(source, tvdb):
    meta = await source.lookup("tv", "334824", language="en-US")
    assert (meta.title, meta.original_title, meta.original_language) == ("Dark", "Dark", "de")
    assert meta.overview.startswith("When children go missing")
    assert meta.countries == ("DE",) and meta.networks == ("Netflix",)
    episodes = by_number(meta)
    assert episodes[(1, 1)].title == "Secrets"
    assert episodes[(1, 6)].title == "Sic Mundus Creatus Est"  # not translated: the original
    assert episode_pages(tvdb, "334824", "eng") == ["0"]
    german = await source.lookup("tv", "334824", language="de")
    assert by_number(german)[(1, 1)].title == "Geheimnisse" and german.overview.startswith("Als in einer")
    assert episode_pages(tvdb, "334824", "deu") == []  # the original language needs no translated pages


async def test_a_daily_show_spans_two_pages_of_500(source, tvdb):
    meta = await source.lookup("tv", "920001")
    assert episode_pages(tvdb, "920001") == ["0", "1"]
    assert [(s.number, len(s.episodes)) for s in meta.seasons] == [(2023, 260), (2024, 262)]
    dates = [e.air_date for s in meta.seasons for e in s.episodes]
    assert len(set(dates)) == 522 and dates == sorted(dates)
    leap = by_number(meta)[(2024, 44)]
    assert (leap.air_date, leap.title) == ("2024-02-29", "February 29, 2024")
    assert meta.seasons[0].air_date == "2023-01-02"


async def test_unknown_and_invalid_ids_are_none(source, tvdb):
    assert await source.lookup("tv", "999999") is None
    before = len(tvdb.requests)
    assert await source.lookup("tv", "81189/../../login") is None
    assert await source.lookup("tv", "tt0903747") is None
    assert await source.lookup("movie", "81189") is None
    assert len(tvdb.requests) == before
