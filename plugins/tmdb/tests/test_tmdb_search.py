"""Search: by title and year, by external id, scored with the SDK's match_score."""

from __future__ import annotations

from revenge_hookspecs.media import AUTO_MATCH_THRESHOLD


async def test_title_and_year_finds_the_matrix_first_and_sure(source, tmdb):
    matches = await source.search("movie", "The Matrix", year=1999)
    best = matches[0]
    assert (best.provider, best.external_id, best.title, best.year) == ("tmdb", "603", "The Matrix", 1999)
    assert best.score >= AUTO_MATCH_THRESHOLD
    assert best.extra["poster_url"] == f"{tmdb.image_url}/original/hEpWvX6Bp79eLxY1kX5ZZJcme5U.jpg"
    [request] = tmdb.api_requests("/3/search/movie")
    assert request.query["primary_release_year"] == "1999"
    assert request.query["query"] == "The Matrix"
    assert request.query["include_adult"] == "false"
    assert request.query["language"] == "en-US"


async def test_sequels_score_lower_and_results_are_ordered(source):
    matches = await source.search("movie", "The Matrix")
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    scores = {m.title: m.score for m in matches}
    assert matches[0].title == "The Matrix"
    assert scores["The Matrix"] >= AUTO_MATCH_THRESHOLD
    assert scores["The Matrix Reloaded"] < AUTO_MATCH_THRESHOLD
    assert scores["The Matrix Reloaded"] < scores["The Matrix"] - 0.2

    reloaded = await source.search("movie", "The Matrix Reloaded", year=2003)
    assert reloaded[0].external_id == "604" and reloaded[0].score >= AUTO_MATCH_THRESHOLD


async def test_year_falls_back_to_any_release_then_to_none(source, tmdb):
    # premiered at a 1998 festival, released in 1999: a file named "(1998)" still finds it
    tmdb.add_movie({"id": 900001, "title": "Festival Darling", "release_date": "1999-02-01"},
                   release_dates={"results": [{"iso_3166_1": "US", "release_dates": [
                       {"certification": "", "release_date": "1998-09-10T00:00:00.000Z", "type": 1}]}]})
    [match] = await source.search("movie", "Festival Darling", year=1998)
    assert match.external_id == "900001" and match.year == 1999
    sent = [r.query for r in tmdb.api_requests("/3/search/movie")]
    assert [("primary_release_year" in q, "year" in q) for q in sent] == [(True, False), (False, True)]

    tmdb.requests.clear()
    [match] = await source.search("movie", "Festival Darling", year=2005)
    assert match.external_id == "900001" and match.score < AUTO_MATCH_THRESHOLD
    assert len(tmdb.api_requests("/3/search/movie")) == 3


async def test_original_title_counts_as_an_alternative(source, tmdb):
    tmdb.add_movie({"id": 900002, "title": "The Tale of Ikebukuro", "original_title": "Ikebukuro Monogatari",
                    "original_language": "ja", "release_date": "2001-05-05"})
    [match] = await source.search("movie", "Ikebukuro Monogatari", year=2001)
    assert match.title == "The Tale of Ikebukuro"
    assert match.score == 1.0
    assert match.extra["original_title"] == "Ikebukuro Monogatari"


async def test_by_imdb_id_uses_find_and_is_certain(source, tmdb):
    [match] = await source.search("movie", "whatever the file was called", external_ids={"imdb": "tt0133093"})
    assert (match.external_id, match.score) == ("603", 1.0)
    [request] = tmdb.api_requests()
    assert request.path == "/3/find/tt0133093"
    assert request.query["external_source"] == "imdb_id"


async def test_by_tmdb_id_looks_the_title_up_directly(source, tmdb):
    [match] = await source.search("tv", "", external_ids={"tmdb": "1399"})
    assert (match.external_id, match.title, match.year, match.score) == ("1399", "Game of Thrones", 2011, 1.0)
    assert [r.path for r in tmdb.api_requests()] == ["/3/tv/1399"]


async def test_by_tvdb_id_finds_the_series(source, tmdb):
    [match] = await source.search("tv", "Game of Thrones", external_ids={"tvdb": "121361"})
    assert (match.external_id, match.score) == ("1399", 1.0)
    assert tmdb.api_requests()[0].query["external_source"] == "tvdb_id"


async def test_unknown_ids_fall_back_to_the_title(source, tmdb):
    matches = await source.search("movie", "Fight Club", year=1999,
                                  external_ids={"tmdb": "999999", "imdb": "tt9999999"})
    assert matches[0].external_id == "550" and matches[0].score >= AUTO_MATCH_THRESHOLD
    assert [r.path for r in tmdb.api_requests()] == ["/3/movie/999999", "/3/find/tt9999999", "/3/search/movie"]


async def test_malformed_ids_never_reach_tmdb(source, tmdb):
    matches = await source.search("movie", "", external_ids={"tmdb": "../configuration", "imdb": "tt1?x=1"})
    assert matches == []
    assert tmdb.api_requests() == []


async def test_tv_search_with_first_air_date_year(source, tmdb):
    matches = await source.search("tv", "Game of Thrones", year=2011)
    assert matches[0].external_id == "1399" and matches[0].score >= AUTO_MATCH_THRESHOLD
    assert tmdb.api_requests("/3/search/tv")[0].query["first_air_date_year"] == "2011"


async def test_nothing_found_and_other_content_types(source, tmdb):
    assert await source.search("movie", "Zzyzx Nonexistent", year=1990) == []
    assert await source.search("music", "The Matrix") == []
    assert await source.search("movie", "   ") == []


async def test_language_gives_translated_titles(source):
    matches = await source.search("movie", "The Matrix", year=1999, language="de-DE")
    assert matches[0].title == "Matrix"  # TMDb answers in the asked language; the original still scores
    assert matches[0].score >= AUTO_MATCH_THRESHOLD


async def test_through_the_metadata_chain(make_harness):
    harness = make_harness()
    matches = await harness.metadata.search("movie", "The Matrix", year=1999)
    assert matches[0].external_id == "603"
    assert harness.metadata.attempts[-1].provider == "tmdb" and harness.metadata.attempts[-1].ok
