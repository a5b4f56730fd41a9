"""Ingest: real files become series, seasons and episodes with their local metadata."""

from __future__ import annotations

import datetime
import os

from tv_testkit import Tree, rows, show_tree

from revenge_tv.models import Artwork, Episode, EpisodeFile, EpisodeFileLink, Season, Series
from revenge_video.testing import make_image, make_nfo_tvshow


async def test_a_show_folder_becomes_a_series_with_seasons_and_episodes(tree: Tree, harness):
    show_tree(tree)
    results = dict(zip(tree.files, await tree.ingest(), strict=True))

    assert results["Show (2019)/Season 01/Show - S01E01-sample.mkv"].item_key is None
    assert all(r.error is None for r in results.values())
    [series] = rows(harness, Series.select)
    assert (series.title, series.year, series.folder) == ("Show", 2019, "Show (2019)")
    assert series.overview == "From the NFO." and "overview" in series.local_fields
    seasons = {s.number: s for s in rows(harness, Season.select)}
    assert sorted(seasons) == [0, 1, 2]
    episodes = {(e.season_number, e.number): e for e in rows(harness, Episode.select)}
    assert sorted(episodes) == [(0, 1), (1, 1), (1, 2), (1, 3), (1, 4), (2, 1)]
    assert episodes[(1, 1)].title == "Pilot (NFO)"
    assert episodes[(1, 1)].air_date == datetime.date(2019, 9, 1)
    assert episodes[(1, 1)].external_ids == {"tvdb": "9001"}
    assert all(e.season_id == seasons[e.season_number].id for e in episodes.values())

    # The multi-episode file holds two episodes and its result names the first.
    multi = results["Show (2019)/Season 01/Show.S01E02E03.720p.mkv"]
    assert multi.item_key == f"episode:{episodes[(1, 2)].id}"
    [file_row] = rows(harness, lambda: EpisodeFile.select().where(EpisodeFile.file_id == multi.file_id))
    linked = rows(harness, lambda: EpisodeFileLink.select().where(EpisodeFileLink.episode_file == file_row.id))
    assert sorted(link.episode_id for link in linked) == [episodes[(1, 2)].id, episodes[(1, 3)].id]
    assert (file_row.width, file_row.height, file_row.resolution) == (1280, 720, "720p")
    assert file_row.video_codec == "h264" and file_row.duration > 0.5
    assert results["Show (2019)/Season 01/Show - 1x04.mkv"].item_key == f"episode:{episodes[(1, 4)].id}"


async def test_probe_facts_and_subtitles_are_kept(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest("Show (2019)/Season 01/Show - S01E01.mkv")
    [row] = rows(harness, EpisodeFile.select)
    assert row.container.startswith("matroska") and row.probe_error is None
    assert [t["language"] for t in row.audio_tracks] == ["eng"]
    embedded = [t for t in row.subtitle_tracks if not t["external"]]
    external = [t for t in row.subtitle_tracks if t["external"]]
    assert [t["language"] for t in embedded] == ["eng"]
    assert [(t["language"], t["forced"], t["path"]) for t in external] == [
        ("fre", True, "Show (2019)/Season 01/Show - S01E01.fr.forced.srt")]


async def test_items_are_registered_parents_first(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    items = harness.library.items
    [series] = rows(harness, Series.select)
    season = rows(harness, lambda: Season.select().where(Season.number == 1))[0]
    episode = rows(harness, lambda: Episode.select().where((Episode.season_number == 1) & (Episode.number == 2)))[0]
    assert items[f"series:{series.id}"].title == "Show"
    assert items[f"season:{season.id}"].parent_key == f"series:{series.id}"
    assert items[f"season:{season.id}"].title == "Season 1"
    assert items[f"episode:{episode.id}"].parent_key == f"season:{season.id}"
    specials = rows(harness, lambda: Season.select().where(Season.number == 0))[0]
    assert items[f"season:{specials.id}"].title == "Specials"
    assert len([k for k in items if k.startswith("episode:")]) == 6


async def test_local_artwork_is_stored_for_series_season_and_episode(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    art = {(a.owner_type, a.kind): a for a in rows(harness, Artwork.select)}
    season = rows(harness, lambda: Season.select().where(Season.number == 1))[0]
    pilot = rows(harness, lambda: Episode.select().where((Episode.season_number == 1) & (Episode.number == 1)))[0]
    assert art[("series", "poster")].is_primary and art[("series", "poster")].source == "local"
    assert art[("season", "poster")].owner_id == season.id
    assert art[("episode", "still")].owner_id == pilot.id
    assert (art[("episode", "still")].width, art[("episode", "still")].height) == (320, 180)
    stored = {(ref.item_key, ref.kind) for ref, _ in harness.artwork.images.values()}
    assert (f"episode:{pilot.id}", "still") in stored and (f"season:{season.id}", "poster") in stored


async def test_one_enrichment_job_per_new_series(tree: Tree, harness):
    show_tree(tree)
    tree.video("Daily Show/Daily.Show.2024.03.15.mkv")
    await tree.ingest()
    queued = harness.jobs.named("tv.enrich")
    ids = {s.id for s in rows(harness, Series.select)}
    assert sorted(q.payload["series_id"] for q in queued) == sorted(ids)


async def test_a_daily_show_file_waits_as_an_episode_known_by_its_date(tree: Tree, harness):
    tree.video("Daily Show/Daily.Show.2024.03.15.mkv")
    [result] = await tree.ingest()
    [episode] = rows(harness, Episode.select)
    assert result.item_key == f"episode:{episode.id}"
    assert (episode.number, episode.air_date, episode.season_number) == (None, datetime.date(2024, 3, 15), 2024)


async def test_a_name_without_numbers_is_an_error_the_server_keeps(tree: Tree, harness):
    tree.video("Show/Season 01/Pilot.mkv")
    [result] = await tree.ingest()
    assert result.item_key is None and "episode number" in result.error
    assert rows(harness, Series.select) == []


async def test_ingest_is_idempotent(tree: Tree, harness):
    show_tree(tree)
    first = await tree.ingest()
    artwork = len(rows(harness, Artwork.select))
    second = await tree.ingest()
    assert [r.item_key for r in first] == [r.item_key for r in second]
    assert len(rows(harness, Episode.select)) == 6
    assert len(rows(harness, EpisodeFileLink.select)) == 6
    assert len(rows(harness, Artwork.select)) == artwork == len(harness.artwork.images) == 3


async def test_loose_files_at_the_root_group_by_title(tree: Tree, harness):
    tree.video("Other.Show.S01E01.mkv")
    tree.video("Other.Show.S01E02.mkv")
    tree.video("Third.Show.S01E01.mkv")
    await tree.ingest()
    titles = sorted(s.title for s in rows(harness, Series.select))
    assert titles == ["Other Show", "Third Show"]


async def test_sidecars_that_lead_outside_the_library_are_not_read(tree: Tree, harness, tmp_path):
    outside = tmp_path / "outside"
    secret = make_nfo_tvshow(outside / "tvshow.nfo", title="Secret", plot="Not for the library.")
    picture = make_image(outside / "poster.jpg")
    (tree.root / "Show").mkdir(parents=True)
    os.symlink(secret, tree.root / "Show" / "tvshow.nfo")
    os.symlink(picture, tree.root / "Show" / "poster.jpg")
    tree.video("Show/Season 01/Show - S01E01.mkv")
    [result] = await tree.ingest()
    assert result.error is None
    [series] = rows(harness, Series.select)
    assert (series.title, series.overview) == ("Show", None)
    assert rows(harness, Artwork.select) == [] and harness.artwork.images == {}


async def test_a_file_that_cannot_be_probed_is_still_an_episode(tree: Tree, harness):
    media = tree.video("Show/Season 01/Show - S01E01.mkv")
    (tree.root / media.relative_path).write_bytes(b"\x1aE\xdf\xa3 not really matroska" * 10)
    [result] = await tree.ingest()
    assert result.item_key is not None and result.error is None
    [row] = rows(harness, EpisodeFile.select)
    assert "cannot probe" in row.probe_error and row.duration is None and row.container == "mkv"


async def test_an_unmatched_series_gets_one_enrichment_job_until_it_runs(tree: Tree, harness, provider):
    provider.shows.clear()  # nothing matches: the series stays unmatched
    tree.video("Quatermass Xperiment/Season 01/Quatermass Xperiment - S01E01.mkv")
    await tree.ingest()
    tree.video("Quatermass Xperiment/Season 01/Quatermass Xperiment - S01E02.mkv")  # another batch before the job ran
    await tree.ingest("Quatermass Xperiment/Season 01/Quatermass Xperiment - S01E02.mkv")
    [series] = rows(harness, Series.select)
    assert [q.payload for q in harness.jobs.named("tv.enrich")] == [{"series_id": series.id}]
    assert series.enrich_queued_at is not None

    await harness.run_jobs()
    [series] = rows(harness, Series.select)
    assert series.match_state == "unmatched" and series.enrich_queued_at is None
    # A file added after the job ran: worth another try.
    tree.video("Quatermass Xperiment/Season 01/Quatermass Xperiment - S01E03.mkv")
    await tree.ingest("Quatermass Xperiment/Season 01/Quatermass Xperiment - S01E03.mkv")
    assert len(harness.jobs.named("tv.enrich")) == 2
