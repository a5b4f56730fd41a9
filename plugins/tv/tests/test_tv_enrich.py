"""Enrichment: matching at the providers and merging seasons, episodes, people and artwork."""

from __future__ import annotations

import datetime

import pytest
from tv_testkit import IMAGES, Tree, rows, show_tree

from revenge_hookspecs import MetadataMatch
from revenge_hookspecs.media import ProviderError
from revenge_hookspecs.testing import JobFailed
from revenge_tv import views
from revenge_tv.models import (
    Artwork,
    Episode,
    EpisodeCredit,
    Season,
    Series,
    SeriesCertification,
    SeriesCredit,
    SeriesTranslation,
)
from revenge_tv.service import tv_for


def one_series(harness, title: str | None = None) -> Series:
    found = rows(harness, lambda: Series.select().where(Series.title == title) if title else Series.select())
    assert len(found) == 1, found
    return found[0]


def episodes_of(harness, series_id: int) -> dict[tuple[int, int | None], Episode]:
    return {(e.season_number, e.number): e
            for e in rows(harness, lambda: Episode.select().where(Episode.series == series_id))}


async def test_a_clear_match_merges_the_series(tree: Tree, harness, provider):
    show_tree(tree)
    await tree.ingest()
    [run] = await harness.run_jobs()
    assert run.result == "matched"
    assert provider.searches == [("Show", 2019, {"tvdb": "555"})]
    series = one_series(harness)
    assert (series.match_state, series.match_provider, series.match_external_id) == ("matched", "fakedb", "100")
    assert series.match_score == 1.0
    assert series.original_title == "Das Show" and series.status == "Returning Series" and series.rating == 8.1
    assert series.first_air_date == datetime.date(2019, 9, 1)
    assert series.overview == "From the NFO."  # the NFO wins over the provider unless a refresh replaces
    detail = await tv_for(harness.context).read(lambda: views.series_detail(series.id))
    assert detail["genres"] == ["Drama", "Mystery"] and detail["networks"] == ["HBO"]
    assert detail["external_ids"] == {"fakedb": "100", "imdb": "tt0100", "tvdb": "555"}
    assert {c.country: c.rating for c in rows(harness, SeriesCertification.select)} == {"US": "TV-MA", "DE": "16"}
    assert [t.language for t in rows(harness, SeriesTranslation.select)] == ["de"]
    assert sorted(c.role for c in rows(harness, SeriesCredit.select)) == ["actor", "creator"]


async def test_seasons_episodes_and_specials_get_their_metadata(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    await harness.run_jobs()
    series = one_series(harness)
    seasons = {s.number: s for s in rows(harness, lambda: Season.select().where(Season.series == series.id))}
    assert (seasons[1].title, seasons[1].overview) == ("Season One", "The first season.")
    assert seasons[2].air_date == datetime.date(2020, 9, 1)
    assert seasons[0].title == "Specials"
    episodes = episodes_of(harness, series.id)
    assert episodes[(1, 1)].title == "Pilot (NFO)"  # local
    assert episodes[(1, 1)].external_ids == {"tvdb": "9001", "tmdb": "101"}  # the NFO's and the provider's
    assert episodes[(1, 2)].title == "Provider S1E2" and episodes[(1, 3)].title == "Provider S1E3"
    assert episodes[(1, 4)].runtime == 42 and episodes[(1, 4)].air_date == datetime.date(2019, 9, 4)
    assert episodes[(0, 1)].title == "Provider S0E1"
    assert episodes[(2, 1)].external_ids == {"tmdb": "201"}
    guests = rows(harness, lambda: EpisodeCredit.select().where(EpisodeCredit.episode == episodes[(2, 1)].id))
    assert sorted(c.role for c in guests) == ["director", "guest"]
    # Seasons and episodes the provider knows but the disk does not hold are not invented.
    assert sorted(seasons) == [0, 1, 2] and (2, 2) not in episodes


async def test_local_artwork_stays_primary_and_providers_fill_the_rest(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    await harness.run_jobs()
    series = one_series(harness)
    art = rows(harness, lambda: Artwork.select().where(Artwork.is_primary))
    primary = {(a.owner_type, a.owner_id, a.kind): a.source for a in art}
    seasons = {s.number: s.id for s in rows(harness, Season.select)}
    episodes = episodes_of(harness, series.id)
    assert primary[("series", series.id, "poster")] == "local"
    assert primary[("series", series.id, "backdrop")] == "fakedb"
    assert primary[("series", series.id, "banner")] == "fakedb"
    assert primary[("series", series.id, "logo")] == "fakedb"
    assert primary[("season", seasons[1], "poster")] == "local"
    assert primary[("season", seasons[2], "poster")] == "fakedb"
    assert primary[("episode", episodes[(1, 1)].id, "still")] == "local"
    assert primary[("episode", episodes[(1, 2)].id, "still")] == "fakedb"
    # Of the posters on offer, the one in the library's language was downloaded.
    assert f"{IMAGES}/poster/en.png" in harness.artwork.downloads
    assert f"{IMAGES}/poster/de.png" not in harness.artwork.downloads


async def test_a_daily_show_episode_learns_its_number_by_air_date(tree: Tree, harness):
    tree.video("Daily Show/Daily.Show.2024.03.15.mkv")
    await tree.ingest()
    [placeholder] = rows(harness, Episode.select)
    old_season = placeholder.season_id
    await harness.run_jobs()
    [episode] = rows(harness, Episode.select)
    assert episode.id == placeholder.id  # the same item: grants and user data stay
    assert (episode.season_number, episode.number, episode.title) == (29, 56, "March 15")
    [season] = rows(harness, Season.select)
    assert season.number == 29 and season.id != old_season
    items = harness.library.items
    assert f"season:{old_season}" not in items
    assert items[f"episode:{episode.id}"].parent_key == f"season:{season.id}"


async def test_a_daily_file_joins_an_episode_that_exists_already(tree: Tree, harness):
    tree.video("Daily Show/Season 29/Daily Show - S29E56.mkv")
    tree.video("Daily Show/Daily.Show.2024.03.15.720p.mkv")
    await tree.ingest()
    assert len(rows(harness, Episode.select)) == 2
    await harness.run_jobs()
    [episode] = rows(harness, Episode.select)
    assert (episode.season_number, episode.number) == (29, 56)
    files = await tv_for(harness.context).read(lambda: views.episode_files(episode.id))
    assert len(files) == 2
    assert sorted(k.split(":")[0] for k in harness.library.items) == ["episode", "season", "series"]


async def test_a_weak_candidate_leaves_the_series_for_review(tree: Tree, harness, provider):
    tree.video("Completely Unrelated Title/Season 01/Completely Unrelated Title - S01E01.mkv")
    await tree.ingest()
    [run] = await harness.run_jobs()
    assert run.result == "needs_review"
    series = one_series(harness)
    assert series.match_state == "needs_review" and series.match_provider is None
    assert series.match_candidates and series.match_candidates[0]["external_id"] == "300"
    assert series.match_score < 0.85
    assert provider.lookups == []


async def test_no_candidates_leaves_the_series_unmatched(tree: Tree, harness, provider):
    provider.shows.clear()
    tree.video("Nothing Known/Nothing Known - S01E01.mkv")
    await tree.ingest()
    [run] = await harness.run_jobs()
    assert run.result == "unmatched" and one_series(harness).match_state == "unmatched"


async def test_a_failing_lookup_is_retried_then_gives_up(tree: Tree, harness, provider):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    await tree.ingest()
    provider.fail_lookups = True
    with pytest.raises(JobFailed, match="fakedb is down"):
        await harness.run_jobs()
    [run] = harness.jobs.runs
    assert run.attempts == 4  # the first run and three retries
    assert one_series(harness).match_state == "unmatched"


async def test_an_outage_fails_the_job_for_a_retry_instead_of_leaving_the_series_unmatched(tree: Tree, harness,
                                                                                           provider):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    await tree.ingest()
    provider.fail = True
    [run] = await harness.run_jobs(raise_errors=False)
    # Every provider failed: the chain says so, and the job is retried rather than "nothing found".
    assert isinstance(run.error, ProviderError) and run.attempts == 4
    assert one_series(harness).match_state == "unmatched"
    provider.fail = False
    await tree.ingest()  # the file changed: nothing new, but the series is still unmatched
    [run] = await harness.run_jobs()
    assert run.result == "matched"


async def test_a_matched_series_is_looked_up_again_without_searching(tree: Tree, harness, provider):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    await tree.ingest()
    await harness.run_jobs()
    searches = len(provider.searches)
    series = one_series(harness)
    assert await tv_for(harness.context).enrich(series.id) == "matched"
    assert len(provider.searches) == searches and provider.lookups == ["100", "100"]


async def test_an_nfo_id_decides_over_a_weak_title(tree: Tree, harness, provider):
    original = provider.search

    async def search(content_type, query, **kwargs):
        found = await original(content_type, query, **kwargs)
        # The provider answers an id search with the show, scored low by its differing title.
        return [MetadataMatch("fakedb", "100", "Show", 2019, score=0.4, extra={"external_ids": {"tvdb": "555"}}),
                *found]

    provider.search = search
    tree.tvshow_nfo("Renamed Folder", title="Renamed Folder", ids={"tvdb": "555"})
    tree.video("Renamed Folder/Season 01/Renamed Folder - S01E01.mkv")
    await tree.ingest()
    [run] = await harness.run_jobs()
    assert run.result == "matched" and one_series(harness).match_external_id == "100"


async def test_the_handler_refreshes_a_series_by_any_of_its_items(tree: Tree, harness, provider):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    await tree.ingest()
    await harness.run_jobs()
    [episode] = rows(harness, Episode.select)
    await tree.handler.refresh(tree.library, f"episode:{episode.id}")
    await tree.handler.refresh(tree.library, f"season:{episode.season_id}", replace=True)
    assert provider.lookups == ["100", "100", "100"]
    assert len(provider.searches) == 2  # a replacing refresh searches again
    for key in ("movie:1", f"episode:{episode.id + 1}"):
        with pytest.raises(LookupError):
            await tree.handler.refresh(tree.library, key)
