"""Finding series: by title and year (scored), by TheTVDB id, by IMDb id through remote ids."""

from __future__ import annotations

from revenge_hookspecs.media import AUTO_MATCH_THRESHOLD, confident_match


def searches(tvdb) -> list[dict]:
    return [dict(r.query) for r in tvdb.api_requests("/search")]


async def test_a_title_and_year_find_the_series_and_score_it_first(source, tvdb):
    matches = await source.search("tv", "Breaking Bad", year=2008)
    assert [m.external_id for m in matches] == ["81189"]  # the year keeps "Breaking Badly" (2019) out
    [best] = matches
    assert best.provider == "thetvdb" and best.title == "Breaking Bad" and best.year == 2008
    assert best.score == 1.0
    assert best.extra["external_ids"] == {"tvdb": "81189", "imdb": "tt0903747", "tmdb": "1396", "tvmaze": "169"}
    assert best.extra["network"] == "AMC" and best.extra["country"] == "US"
    assert best.extra["poster_url"] == f"{tvdb.url}/banners/v4/series/81189/posters/5f1e0001.jpg"
    assert searches(tvdb) == [{"query": "Breaking Bad", "type": "series", "limit": "20", "year": "2008"}]


async def test_without_a_year_the_closer_title_wins_but_is_left_for_review(source):
    matches = await source.search("tv", "Breaking Bad")
    assert [m.title for m in matches] == ["Breaking Bad", "Breaking Badly"]
    exact, close = matches
    assert exact.score >= AUTO_MATCH_THRESHOLD > close.score
    assert confident_match(matches) is None  # too close a runner-up to decide without a year
    assert confident_match(await source.search("tv", "Breaking Bad", year=2008)).external_id == "81189"


async def test_a_wrong_year_falls_back_to_no_year(source, tvdb):
    matches = await source.search("tv", "Better Call Saul", year=2014)
    assert matches[0].external_id == "273181" and matches[0].year == 2015
    assert 0.85 <= matches[0].score < 1.0  # one year off costs a little
    assert [q.get("year") for q in searches(tvdb)] == ["2014", None]


async def test_aliases_and_translations_count_as_titles(source):
    [match] = await source.search("tv", "BrBa")
    assert match.external_id == "81189" and match.title == "Breaking Bad"
    assert match.score >= AUTO_MATCH_THRESHOLD


async def test_the_wanted_language_names_the_candidate(source):
    [dark] = await source.search("tv", "Dark", year=2017, language="en-GB")
    assert dark.title == "Dark" and dark.extra["original_language"] == "de"
    assert dark.extra["overview"].startswith("When children go missing")
    [german] = await source.search("tv", "Dark", year=2017, language="de")
    assert german.extra["overview"].startswith("Als in einer Kleinstadt")


async def test_a_known_tvdb_id_is_looked_up_directly(source, tvdb):
    [match] = await source.search("tv", "whatever the file said", external_ids={"tvdb": "273181"})
    assert (match.external_id, match.title, match.score) == ("273181", "Better Call Saul", 1.0)
    assert [r.path for r in tvdb.api_requests()][1:] == ["/v4/series/273181"]


async def test_an_imdb_id_is_searched_as_a_remote_id(source, tvdb):
    [match] = await source.search("tv", "Breaking Bad", external_ids={"imdb": "tt0903747"})
    assert match.external_id == "81189" and match.score == 1.0
    assert match.extra["external_ids"]["imdb"] == "tt0903747"
    assert [r.path for r in tvdb.api_requests()][1:] == ["/v4/search/remoteid/tt0903747"]


async def test_an_unknown_id_falls_back_to_the_title(source, tvdb):
    matches = await source.search("tv", "Dark", external_ids={"tvdb": "999999", "imdb": "tt0000001"})
    assert [m.external_id for m in matches] == ["334824"]
    assert [r.path for r in tvdb.api_requests()][1:] == [
        "/v4/series/999999", "/v4/search/remoteid/tt0000001", "/v4/search"]


async def test_a_title_candidate_sharing_an_id_scores_one(source):
    [match] = await source.search("tv", "Dark", year=2016, external_ids={"tmdb": "70523"})
    assert match.external_id == "334824" and match.score == 1.0


async def test_ids_that_are_not_ids_never_reach_a_url(source, tvdb):
    matches = await source.search("tv", "Dark", external_ids={"tvdb": "1/../../login", "imdb": "tt12?x=1"})
    assert [m.external_id for m in matches] == ["334824"]
    assert [r.path for r in tvdb.api_requests()][1:] == ["/v4/search"]


async def test_nothing_found_is_an_empty_list(source, tvdb):
    assert await source.search("tv", "No Such Series Anywhere") == []
    assert await source.search("tv", "   ") == []
    assert await source.search("movie", "Breaking Bad") == []  # series only
    assert [r.path for r in tvdb.api_requests()] == ["/v4/login", "/v4/search"]


async def test_the_server_chain_asks_it_for_series(make_harness):
    harness = make_harness()
    matches = await harness.metadata.search("tv", "Breaking Bad", year=2008)
    assert matches[0].provider == "thetvdb"
    assert harness.metadata.providers("tv") == ["thetvdb"]
