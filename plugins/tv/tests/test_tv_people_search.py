"""``tv_person`` documents: people are found by name, per library, and follow their series."""

from __future__ import annotations

import attrs
import pytest
from tv_testkit import FakeTvSource, Tree, other_metadata, rows, show_tree

from revenge_hookspecs.media import Credit, ItemMetadata, Library
from revenge_hookspecs.search import normalize_query, prepare_document
from revenge_tv.models import Person, Series
from revenge_video.testing import make_video

LEAD = Credit("Lead Actor", "actor", character="Someone else", order=0, external_ids={"fakedb": "p1"})


def person_id(harness, name: str) -> int:
    return rows(harness, lambda: Person.select().where(Person.name == name))[0].id


async def people(harness, query: str, **scope) -> list[dict]:
    return (await harness.search.search(query, doc_types=["tv_person"], **scope))["hits"]


async def two_shows_with_the_lead(tree: Tree, harness, provider: FakeTvSource) -> None:
    """"Show" and "Completely Different", which credits the lead actor of "Show" too, enriched."""
    provider.shows["300"] = attrs.evolve(other_metadata(), credits=(LEAD,))
    show_tree(tree)
    tree.video("Completely Different/Season 01/Completely Different - S01E01.mkv")
    await tree.ingest()
    await harness.run_jobs()


async def ingest_elsewhere(tree: Tree, harness, provider: FakeTvSource) -> None:
    """A second library ("lib2") with "Elsewhere", whose provider entry credits the lead actor."""
    provider.shows["400"] = ItemMetadata(provider="fakedb", external_id="400", content_type="tv", title="Elsewhere",
                                         year=2022, credits=(LEAD, Credit("Elsewhere Creator", "creator")))
    folder = tree.root.parent / "other"
    other = harness.library.add_library(Library(id="lib2", name="Other", content_type="tv", paths=(str(folder),)))
    path = make_video(folder / "Elsewhere" / "Elsewhere - S01E01.mkv")
    await tree.handler.ingest(other, [harness.library.add_file(other, str(path))])


async def test_after_enrichment_people_are_found_by_name_with_their_series(tree: Tree, harness, provider):
    await two_shows_with_the_lead(tree, harness, provider)
    lead = person_id(harness, "Lead Actor")

    [hit] = await people(harness, "lead act")
    assert hit["id"] == f"{lead}-lib1" and hit["title"] == "Lead Actor" and hit["library_id"] == "lib1"
    assert hit["known_for"] == ["Show", "Completely Different"]  # the newest first
    assert hit["roles"] == ["actor"] and hit["person_id"] == lead
    # Episode credits count too: a guest star is known for the series of their episodes.
    [guest] = await people(harness, "guest star")
    assert (guest["known_for"], guest["roles"]) == (["Show"], ["guest"])
    found = await harness.search.search("", doc_types=["tv_person"], facets=["roles"])
    assert found["facets"]["roles"] == {"actor": 1, "creator": 1, "director": 1, "guest": 1}


async def test_a_typo_in_the_name_still_finds_the_person_on_the_server(tree: Tree, harness):
    """The kit's search has no typo tolerance; the server's scoring (when it is installed) has."""
    text = pytest.importorskip("revenge_core.search.text")
    dbindex = pytest.importorskip("revenge_core.search.dbindex")
    show_tree(tree)
    await tree.ingest()
    await harness.run_jobs()
    doc_type = harness.registration("search_documents", "tv_person")
    docs = {d["title"]: prepare_document(doc_type, d) for d in harness.search.documents["tv_person"].values()}
    lead = docs["Lead Actor"]
    assert text.score(normalize_query("Laed Actr"), lead.title_norm, lead.body) >= dbindex.SQLITE_MIN_SCORE


async def test_a_person_whose_only_series_is_removed_disappears(tree: Tree, harness, provider):
    await two_shows_with_the_lead(tree, harness, provider)
    assert [h["title"] for h in await people(harness, "show creator")] == ["Show Creator"]

    show_files = [media for relative, media in tree.files.items() if relative.startswith("Show (2019)/")]
    await tree.handler.files_removed(tree.library, show_files)
    assert await people(harness, "show creator") == []
    assert await people(harness, "guest star") == []
    [lead] = await people(harness, "lead actor")
    assert lead["known_for"] == ["Completely Different"]
    assert [d["title"] for d in harness.search.documents["tv_person"].values()] == ["Lead Actor"]


async def test_credits_a_refresh_drops_take_the_person_out(tree: Tree, harness, provider):
    show_tree(tree)
    await tree.ingest()
    await harness.run_jobs()
    provider.shows["100"] = attrs.evolve(provider.shows["100"], credits=(LEAD,))
    [content_type] = harness.registrations("content_types")
    [series] = rows(harness, Series.select)
    await content_type.handler.refresh(tree.library, f"series:{series.id}", replace=True)
    assert await people(harness, "show creator") == []
    assert [h["title"] for h in await people(harness, "lead actor")] == ["Lead Actor"]


async def test_a_person_is_found_only_in_the_libraries_the_caller_may_see(tree: Tree, harness, provider):
    show_tree(tree)
    await tree.ingest()
    await ingest_elsewhere(tree, harness, provider)
    await harness.run_jobs()
    lead = person_id(harness, "Lead Actor")

    # The creator of "Show" is only in lib1: someone who sees lib2 alone never finds them.
    assert await people(harness, "show creator", library_ids=["lib2"]) == []
    assert [h["title"] for h in await people(harness, "creator", library_ids=["lib2"])] == ["Elsewhere Creator"]
    # The lead actor is in both: each library has its own document, listing only its own series.
    [seen] = await people(harness, "lead actor", library_ids=["lib2"])
    assert (seen["id"], seen["known_for"]) == (f"{lead}-lib2", ["Elsewhere"])
    assert {h["id"] for h in await people(harness, "lead actor")} == {f"{lead}-lib1", f"{lead}-lib2"}
    assert await people(harness, "lead actor", library_ids=[]) == []


async def test_a_reindex_rebuilds_the_same_person_documents(tree: Tree, harness, provider):
    show_tree(tree)
    await tree.ingest()
    await ingest_elsewhere(tree, harness, provider)
    await harness.run_jobs()
    before = harness.search.documents["tv_person"]
    assert len(before) == 6  # the lead actor twice: once per library
    await harness.search.delete("tv_person", list(before)[:3])
    assert await harness.search.reindex(["tv_person"]) == {"tv_person": 6}
    assert harness.search.documents["tv_person"] == before
