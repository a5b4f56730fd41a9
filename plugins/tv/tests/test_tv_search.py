"""Search documents: what is indexed on ingest and enrichment, and rebuilt by a reindex."""

from __future__ import annotations

from tv_testkit import Tree, rows, show_tree

from revenge_hookspecs.media import Library
from revenge_tv.models import Episode, Series


async def test_documents_follow_ingest_and_enrichment(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    [series] = rows(harness, Series.select)
    assert harness.search.documents["series"][str(series.id)] == {
        "id": str(series.id), "title": "Show", "library_id": "lib1", "year": 2019, "genre": [], "network": []}
    await harness.run_jobs()
    doc = harness.search.documents["series"][str(series.id)]
    assert doc == {"id": str(series.id), "title": "Show", "library_id": "lib1", "year": 2019,
                   "genre": ["Drama", "Mystery"], "network": ["HBO"], "original_title": "Das Show",
                   "status": "Returning Series"}
    [multi] = rows(harness, lambda: Episode.select().where((Episode.season_number == 1) & (Episode.number == 3)))
    assert harness.search.documents["episode"][str(multi.id)] == {
        "id": str(multi.id), "title": "Provider S1E3", "library_id": "lib1", "series_title": "Show",
        "series_id": series.id, "season": 1, "number": 3, "resolution": "720p", "air_year": 2019}


async def test_searching_finds_episodes_by_series_title_with_facets(tree: Tree, harness):
    show_tree(tree)
    await tree.ingest()
    await harness.run_jobs()
    found = await harness.search.search("show", doc_types=["episode"], facets=["resolution", "air_year"])
    assert found["found"] == 6
    assert found["facets"]["resolution"] == {"SD": 4, "720p": 2}  # the multi-episode file is 720p
    found = await harness.search.search("", doc_types=["series"], filters={"genre": "Mystery"})
    assert [h["title"] for h in found["hits"]] == ["Show"]
    found = await harness.search.search("das", doc_types=["series"])
    assert [h["title"] for h in found["hits"]] == ["Show"]  # by its original title


async def test_documents_carry_their_library(tree: Tree, harness):
    tree.video("Show/Season 01/Show - S01E01.mkv")
    other = harness.library.add_library(Library(id="lib2", name="Other", content_type="tv",
                                                paths=(str(tree.root.parent / "other"),)))
    from revenge_video.testing import make_video
    path = make_video(tree.root.parent / "other" / "Elsewhere" / "Elsewhere - S01E01.mkv")
    await tree.ingest()
    await tree.handler.ingest(other, [harness.library.add_file(other, str(path))])
    found = await harness.search.search("", doc_types=["series", "episode"], library_ids=["lib2"])
    assert {(h["type"], h["library_id"]) for h in found["hits"]} == {("series", "lib2"), ("episode", "lib2")}


async def test_a_reindex_rebuilds_the_same_documents(tree: Tree, harness):
    show_tree(tree)
    tree.video("Daily Show/Daily.Show.2024.03.15.mkv")
    await tree.ingest()
    await harness.run_jobs()
    before = harness.search.documents
    await harness.search.delete("episode", list(before["episode"]))
    counts = await harness.search.reindex()
    assert counts == {"series": 2, "episode": 7, "tv_person": 4}
    assert harness.search.documents == before
