"""Lookup: TMDb's movie and series answers mapped to ItemMetadata."""

from __future__ import annotations

import aiohttp
import pytest

from revenge_hookspecs.media import Credit, ItemMetadata, Translation
from revenge_hookspecs.testing_media import image_size


async def test_the_matrix(source, tmdb):
    movie = await source.lookup("movie", "603")
    assert isinstance(movie, ItemMetadata)
    assert (movie.provider, movie.external_id, movie.content_type) == ("tmdb", "603", "movie")
    assert (movie.title, movie.original_title, movie.original_language) == ("The Matrix", "The Matrix", "en")
    assert (movie.year, movie.release_date, movie.runtime_minutes) == (1999, "1999-03-30", 136)
    assert movie.tagline == "Welcome to the Real World."
    assert movie.overview.startswith("Set in the 22nd century")
    assert (movie.status, movie.rating, movie.votes) == ("Released", 7.9, 9551)
    assert movie.genres == ("Action", "Science Fiction")
    assert movie.studios == ("Village Roadshow Pictures", "Groucho II Film Partnership", "Silver Pictures",
                             "Warner Bros.")
    assert movie.countries == ("AU", "US")
    assert (movie.collection, movie.collection_id) == ("The Matrix Collection", "2344")
    assert movie.external_ids == {"tmdb": "603", "imdb": "tt0133093", "wikidata": "Q83495",
                                  "facebook": "TheMatrixMovie"}

    # the theatrical release's certification; a country whose theatrical one is empty takes the next
    assert movie.certifications == {"US": "R", "DE": "16", "GB": "15", "FR": "12"}

    actors = [c for c in movie.credits if c.role == "actor"]
    assert actors[0] == Credit("Keanu Reeves", "actor", character="Neo", order=0, external_ids={"tmdb": "6384"},
                               image_url=f"{tmdb.image_url}/original/4D0PpNI0kmP58hgrwGC3wCjxhnm.jpg")
    assert [a.character for a in actors[:4]] == ["Neo", "Morpheus", "Trinity", "Agent Smith"]
    crew = {(c.name, c.role) for c in movie.credits if c.role != "actor"}
    assert crew == {("Lana Wachowski", "director"), ("Lilly Wachowski", "director"), ("Lana Wachowski", "writer"),
                    ("Lilly Wachowski", "writer"), ("Joel Silver", "producer"), ("Don Davis", "composer")}

    assert movie.translations["de-DE"] == Translation(
        title="Matrix", overview=movie.translations["de-DE"].overview, tagline="Willkommen in der Wirklichkeit.")
    assert movie.translations["ja-JP"] == Translation(title="マトリックス")
    assert "es-ES" in movie.translations and movie.translations["es-ES"].overview is None

    [request] = tmdb.api_requests()
    assert request.path == "/3/movie/603"
    assert request.query["append_to_response"] == \
        "credits,images,external_ids,release_dates,translations,alternative_titles"
    assert request.query["include_image_language"] == "en,null"


async def test_artwork_urls_are_full_and_downloadable(source, tmdb):
    movie = await source.lookup("movie", "603")
    posters = [a for a in movie.artwork if a.kind == "poster"]
    backdrops = [a for a in movie.artwork if a.kind == "backdrop"]
    assert posters[0].url == f"{tmdb.image_url}/original/hEpWvX6Bp79eLxY1kX5ZZJcme5U.jpg"  # TMDb's choice first
    assert backdrops[0].url == f"{tmdb.image_url}/original/7u3pxc0K1wx32IleAkLv78MKgrw.jpg"
    assert {a.language for a in movie.artwork} <= {"en", None}  # include_image_language=en,null
    assert all(a.url.startswith(f"{tmdb.image_url}/original/") for a in movie.artwork)
    assert all(a.width and a.height and a.score is not None for a in posters)

    async with aiohttp.ClientSession() as session:
        for art in (posters[0], backdrops[0]):
            async with session.get(art.url) as response:
                assert response.status == 200
                assert response.content_type == "image/jpeg"
                width, height = image_size(await response.read())
            assert abs(width / height - art.width / art.height) < 0.01
            assert max(width, height) <= tmdb.max_image_side


async def test_fight_club_from_recorded_answers(source):
    movie = await source.lookup("movie", "550")
    assert (movie.title, movie.year, movie.collection) == ("Fight Club", 1999, None)
    assert movie.certifications["US"] == "R" and movie.certifications["DE"] == "18"
    assert movie.external_ids["imdb"] == "tt0137523"
    actors = [c for c in movie.credits if c.role == "actor"]
    assert (actors[0].name, actors[0].character) == ("Edward Norton", "Narrator")
    assert ("David Fincher", "director") in {(c.name, c.role) for c in movie.credits}
    logos = [a for a in movie.artwork if a.kind == "logo"]
    assert logos and all(a.language in ("en", None) for a in logos)
    assert movie.translations["de-DE"].tagline == "Übermut. Chaos. Seife."  # no German title: the same as the original


async def test_a_sequel_in_the_same_collection(source):
    movie = await source.lookup("movie", "604")
    assert (movie.title, movie.year, movie.collection_id) == ("The Matrix Reloaded", 2003, "2344")
    assert movie.credits == () and movie.certifications == {}


async def test_game_of_thrones_with_seasons_and_episodes(source, tmdb):
    show = await source.lookup("tv", "1399")
    assert (show.content_type, show.title, show.year, show.release_date) == ("tv", "Game of Thrones", 2011,
                                                                            "2011-04-17")
    assert show.networks == ("HBO",) and show.status == "Ended"
    assert show.certifications["US"] == "TV-MA" and show.certifications["AU"] == "R18+"
    assert show.external_ids["tvdb"] == "121361" and show.external_ids["imdb"] == "tt0944947"
    creators = [c.name for c in show.credits if c.role == "creator"]
    assert creators == ["David Benioff", "D.B. Weiss"]
    assert [c.name for c in show.credits if c.role == "actor"][:2] == ["Peter Dinklage", "Kit Harington"]
    assert ("Ramin Djawadi", "composer") in {(c.name, c.role) for c in show.credits}
    assert show.translations["de-DE"].title == "Game of Thrones - Das Lied von Eis und Feuer"

    assert [s.number for s in show.seasons] == [1, 2]
    one, two = show.seasons
    assert (one.title, one.air_date, len(one.episodes)) == ("Season 1", "2011-04-18", 10)
    assert one.artwork[0].url == f"{tmdb.image_url}/original/wgfKiqzuMrFIkU1M68DDDY8kGC1.jpg"
    pilot = one.episodes[0]
    assert (pilot.season, pilot.number, pilot.title, pilot.air_date, pilot.runtime_minutes) == (
        1, 1, "Winter Is Coming", "2011-04-17", 62)
    assert pilot.external_ids == {"tmdb": "63056"}
    assert pilot.artwork[0].kind == "still" and pilot.artwork[0].url.endswith("/9hGF3WUkBf7cSjMg0cdMDHJkByd.jpg")
    roles = {(c.name, c.role) for c in pilot.credits}
    assert ("Timothy Van Patten", "director") in roles and ("David Benioff", "writer") in roles
    assert ("Alik Sakharov", "director") not in roles  # the director of photography is no director
    guests = [c for c in pilot.credits if c.role == "guest"]
    assert guests and all(g.character for g in guests)
    assert [e.title for e in two.episodes][8:] == ["Blackwater", "Valar Morghulis"]

    # The series first; its seasons are fetched at the same time, so they arrive in any order.
    paths = [r.path for r in tmdb.api_requests()]
    assert paths[0] == "/3/tv/1399" and sorted(paths[1:]) == ["/3/tv/1399/season/1", "/3/tv/1399/season/2"]
    assert tmdb.api_requests()[0].query["append_to_response"] == \
        "credits,images,external_ids,content_ratings,translations"


async def test_series_added_by_a_test(source, tmdb):
    tmdb.add_tv({"id": 900100, "name": "Tiny Show", "first_air_date": "2020-01-05",
                 "seasons": [{"season_number": 1}]},
                seasons=[{"season_number": 1, "episodes": [{"name": "Pilot", "air_date": "2020-01-05"},
                                                           {"name": "Second"}]}],
                content_ratings={"results": [{"iso_3166_1": "US", "rating": "TV-PG"}]})
    show = await source.lookup("tv", "900100")
    assert show.certifications == {"US": "TV-PG"}
    [season] = show.seasons
    assert [(e.number, e.title) for e in season.episodes] == [(1, "Pilot"), (2, "Second")]


async def test_language_is_passed_and_translates(source, tmdb):
    movie = await source.lookup("movie", "603", language="de-DE")
    assert movie.title == "Matrix" and movie.original_title == "The Matrix"
    request = tmdb.api_requests()[-1]
    assert request.query["language"] == "de-DE" and request.query["include_image_language"] == "de,null"


async def test_unknown_ids_are_none(source, tmdb):
    assert await source.lookup("movie", "999999") is None
    assert await source.lookup("tv", "999999") is None
    assert [r.status for r in tmdb.api_requests()] == [404, 404]


@pytest.mark.parametrize("bad", ["tt0133093", "603/credits", "../../configuration", "-1", "0", "", "6" * 12])
async def test_ids_that_are_not_tmdb_ids_are_refused_locally(source, tmdb, bad):
    assert await source.lookup("movie", bad) is None
    assert tmdb.api_requests() == []


async def test_through_the_metadata_chain(make_harness):
    harness = make_harness()
    movie = await harness.metadata.lookup("movie", "tmdb", "603")
    assert movie.title == "The Matrix"
