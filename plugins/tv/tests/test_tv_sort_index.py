"""Registry entries carry their place among their siblings, which "next up" walks a show by."""

from __future__ import annotations

from tv_testkit import Tree, rows, show_tree

from revenge_tv.models import Episode, Season


async def test_seasons_and_episodes_are_registered_with_their_numbers(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    items = harness.library.items
    seasons = {s.number: s for s in rows(harness, Season.select)}
    assert {number: items[f"season:{s.id}"].sort_index for number, s in seasons.items()} == {0: 0, 1: 1, 2: 2}
    episodes = rows(harness, Episode.select)
    assert episodes and all(items[f"episode:{e.id}"].sort_index == e.number for e in episodes)
    assert {items[f"episode:{e.id}"].sort_index for e in episodes if e.season_number == 1} == {1, 2, 3, 4}
    assert all(item.sort_index is None for key, item in items.items() if key.startswith("series:"))
