"""Moves and removals: items follow their files, and what is left empty goes."""

from __future__ import annotations

from tv_testkit import Tree, rows, show_tree

from revenge_tv.models import Artwork, Episode, EpisodeFile, Season, Series


def episode_keys(harness) -> dict[tuple[int, int | None], int]:
    return {(e.season_number, e.number): e.id for e in rows(harness, Episode.select)}


async def ingested_show(tree: Tree, harness) -> Tree:
    show_tree(tree)
    await tree.ingest()
    await harness.run_jobs()
    return tree


async def test_removing_the_last_file_of_a_season_drops_episode_and_season(tree: Tree, harness):
    await ingested_show(tree, harness)
    before = episode_keys(harness)
    season_two = rows(harness, lambda: Season.select().where(Season.number == 2))[0]
    await tree.handler.files_removed(tree.library, [tree.files["Show (2019)/Season 02/Show - S02E01.mkv"]])

    assert (2, 1) not in episode_keys(harness)
    assert sorted(s.number for s in rows(harness, Season.select)) == [0, 1]
    items = harness.library.items
    assert f"episode:{before[(2, 1)]}" not in items and f"season:{season_two.id}" not in items
    assert f"episode:{before[(1, 1)]}" in items
    assert str(before[(2, 1)]) not in harness.search.documents["episode"]
    assert not rows(harness, lambda: Artwork.select().where((Artwork.owner_type == "season")
                                                            & (Artwork.owner_id == season_two.id)))
    assert not [ref for ref, _ in harness.artwork.images.values() if ref.item_key == f"season:{season_two.id}"]
    [series] = rows(harness, Series.select)
    assert harness.search.documents["series"][str(series.id)]["title"] == "Show"


async def test_removing_a_multi_episode_file_drops_both_episodes(tree: Tree, harness):
    await ingested_show(tree, harness)
    await tree.handler.files_removed(tree.library, [tree.files["Show (2019)/Season 01/Show.S01E02E03.720p.mkv"]])
    assert sorted(episode_keys(harness)) == [(0, 1), (1, 1), (1, 4), (2, 1)]


async def test_removing_every_file_drops_the_series_with_its_artwork_and_entries(tree: Tree, harness):
    await ingested_show(tree, harness)
    [series] = rows(harness, Series.select)
    await tree.handler.files_removed(tree.library, list(tree.files.values()))
    for model in (Series, Season, Episode, EpisodeFile, Artwork):
        assert rows(harness, model.select) == [], model
    assert harness.library.items == {}
    assert harness.artwork.images == {}
    assert harness.search.documents.get("series", {}) == {} and harness.search.documents.get("episode", {}) == {}
    assert f"series:{series.id}" not in harness.library.items


async def test_a_renamed_file_keeps_its_episode(tree: Tree, harness):
    await ingested_show(tree, harness)
    before = episode_keys(harness)
    move = tree.move("Show (2019)/Season 01/Show - 1x04.mkv", "Show (2019)/Season 01/Show - S01E04 - Title.mkv")
    await tree.handler.files_moved(tree.library, [move])
    assert episode_keys(harness) == before
    [row] = rows(harness, lambda: EpisodeFile.select().where(EpisodeFile.file_id == move.file_id))
    assert row.relative_path == "Show (2019)/Season 01/Show - S01E04 - Title.mkv"
    assert row.resolution == "SD" and row.duration  # the probe's facts survive a move


async def test_a_file_renamed_to_another_episode_moves_to_it(tree: Tree, harness):
    await ingested_show(tree, harness)
    before = episode_keys(harness)
    move = tree.move("Show (2019)/Season 01/Show - 1x04.mkv", "Show (2019)/Season 01/Show - S01E05.mkv")
    await tree.handler.files_moved(tree.library, [move])
    after = episode_keys(harness)
    assert (1, 4) not in after and (1, 5) in after
    assert f"episode:{before[(1, 4)]}" not in harness.library.items
    assert f"episode:{after[(1, 5)]}" in harness.library.items


async def test_renaming_the_show_folder_keeps_the_series(tree: Tree, harness):
    await ingested_show(tree, harness)
    [series] = rows(harness, Series.select)
    before = episode_keys(harness)
    moves = [tree.move(old, old.replace("Show (2019)", "Show (2019) [tvdb-555]", 1)) for old in list(tree.files)]
    await tree.handler.files_moved(tree.library, moves)
    [after] = rows(harness, Series.select)
    assert after.id == series.id and after.folder == "Show (2019) [tvdb-555]"
    assert episode_keys(harness) == before


async def test_a_file_moved_to_another_show_leaves_its_series(tree: Tree, harness):
    await ingested_show(tree, harness)
    move = tree.move("Show (2019)/Season 02/Show - S02E01.mkv", "Another Show/Season 02/Another Show - S02E01.mkv")
    await tree.handler.files_moved(tree.library, [move])
    titles = sorted(s.title for s in rows(harness, Series.select))
    assert titles == ["Another Show", "Show"]
    assert sorted(s.number for s in rows(harness, lambda: Season.select().join(Series).where(Series.title == "Show"))) \
        == [0, 1]
    queued = [q.payload["series_id"] for q in harness.jobs.pending if q.job == "tv.enrich"]
    assert len(queued) == 1


async def test_a_file_moved_into_an_extras_folder_stops_being_an_episode(tree: Tree, harness):
    await ingested_show(tree, harness)
    move = tree.move("Show (2019)/Season 02/Show - S02E01.mkv", "Show (2019)/Extras/Making of.mkv")
    await tree.handler.files_moved(tree.library, [move])
    assert (2, 1) not in episode_keys(harness)
    assert rows(harness, lambda: EpisodeFile.select().where(EpisodeFile.file_id == move.file_id)) == []
