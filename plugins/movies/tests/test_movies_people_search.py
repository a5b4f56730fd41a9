"""``movie_person`` documents: people are found by name, per library, and follow their movies."""

from __future__ import annotations

from pathlib import Path

import pytest
from movies_testkit import PROVIDER, matrix

from revenge_hookspecs.media import Credit, ItemMetadata
from revenge_movies.models import Movie, Person
from revenge_video.testing import make_video

BOTH_DATABASES = pytest.mark.parametrize(
    "db_driver", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

KEANU = Credit("Keanu Reeves", "actor", character="John Wick", order=0, external_ids={PROVIDER: "6384"})


def john_wick() -> ItemMetadata:
    return ItemMetadata(provider=PROVIDER, external_id="245891", content_type="movie", title="John Wick", year=2014,
                        credits=(KEANU, Credit("Chad Stahelski", "director", external_ids={PROVIDER: "40644"})))


def person_id(name: str) -> int:
    return Person.get(Person.name == name).id


async def people(movies, query: str, **scope) -> list[dict]:
    found = await movies.context.search.search(query, doc_types=["movie_person"], **scope)
    return found["hits"]


async def ingest_other_library(movies, name: str):
    other = movies.add_library("2", "Other")
    path = make_video(Path(other.paths[0]) / name)
    await movies.ingest(movies.track(path, other), library=other)
    return other


async def test_after_enrichment_people_are_found_by_name_with_what_they_are_known_for(movies):
    movies.source.add(john_wick())
    await movies.ingest(movies.video("The Matrix (1999).mkv"), movies.video("John Wick (2014).mkv"))
    await movies.harness.run_jobs()
    keanu = await movies.query(person_id, "Keanu Reeves")

    [hit] = await people(movies, "keanu reev")
    assert hit["id"] == f"{keanu}-1" and hit["title"] == "Keanu Reeves" and hit["library_id"] == "1"
    assert hit["known_for"] == ["John Wick", "The Matrix"]  # the newest first
    assert hit["roles"] == ["actor"] and hit["person_id"] == keanu
    [lana] = await people(movies, "wachowski", filters={"roles": "director"})
    assert lana["known_for"] == ["The Matrix"]
    found = await movies.context.search.search("", doc_types=["movie_person"], facets=["roles"])
    assert found["facets"]["roles"] == {"actor": 2, "director": 2}


async def test_a_typo_in_the_name_still_finds_the_person_on_the_server(movies):
    """The kit's search has no typo tolerance; the server's scoring (when it is installed) has."""
    text = pytest.importorskip("revenge_core.search.text")
    dbindex = pytest.importorskip("revenge_core.search.dbindex")
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    doc_type = movies.harness.registration("search_documents", "movie_person")
    from revenge_hookspecs.search import normalize_query, prepare_document

    docs = {d["title"]: prepare_document(doc_type, d) for d in movies.harness.search.documents["movie_person"].values()}
    keanu = docs["Keanu Reeves"]
    assert text.score(normalize_query("Keanu Reevs"), keanu.title_norm, keanu.body) >= dbindex.SQLITE_MIN_SCORE
    assert text.score(normalize_query("Carie-Ann Mos"), docs["Carrie-Anne Moss"].title_norm,
                      docs["Carrie-Anne Moss"].body) >= dbindex.SQLITE_MIN_SCORE


@BOTH_DATABASES
async def test_a_person_whose_only_movie_is_removed_disappears(movies):
    movies.source.add(john_wick())
    matrix_file = movies.video("The Matrix (1999).mkv")
    await movies.ingest(matrix_file, movies.video("John Wick (2014).mkv"))
    await movies.harness.run_jobs()
    assert [h["title"] for h in await people(movies, "carrie anne moss")] == ["Carrie-Anne Moss"]

    await movies.handler.files_removed(movies.library, [matrix_file])
    assert await people(movies, "carrie anne moss") == []
    assert await people(movies, "wachowski") == []
    [keanu] = await people(movies, "keanu")
    assert keanu["known_for"] == ["John Wick"]
    assert {d["title"] for d in movies.harness.search.documents["movie_person"].values()} == {
        "Keanu Reeves", "Chad Stahelski"}


async def test_credits_a_refresh_drops_take_the_person_out(movies):
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    movies.source.add(matrix(credits=matrix().credits[:1], title="The Matrix (Remastered)"))
    [movie] = await movies.query(lambda: list(Movie.select()))
    await movies.handler.refresh(movies.library, f"movie:{movie.id}", replace=True)
    assert [h["title"] for h in await people(movies, "")] == ["Keanu Reeves"]
    [keanu] = await people(movies, "keanu")
    assert keanu["known_for"] == ["The Matrix (Remastered)"]  # a retitled movie retitles its people's lists


@BOTH_DATABASES
async def test_a_person_is_found_only_in_the_libraries_the_caller_may_see(movies):
    movies.source.add(john_wick())
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await ingest_other_library(movies, "John Wick (2014).mkv")
    await movies.harness.run_jobs()
    keanu = await movies.query(person_id, "Keanu Reeves")

    # Carrie-Anne Moss is only in library 1: someone who sees library 2 alone never finds her.
    assert await people(movies, "carrie anne moss", library_ids=["2"]) == []
    assert await people(movies, "", library_ids=["2"], filters={"roles": "actor"}) != []
    # Keanu Reeves is in both: each library has its own document, listing only its own movies.
    [seen] = await people(movies, "keanu", library_ids=["2"])
    assert (seen["id"], seen["known_for"]) == (f"{keanu}-2", ["John Wick"])
    assert {h["id"] for h in await people(movies, "keanu", library_ids=["1", "2"])} == {f"{keanu}-1", f"{keanu}-2"}
    assert await people(movies, "keanu", library_ids=[]) == []


async def test_a_reindex_rebuilds_the_same_person_documents(movies):
    movies.source.add(john_wick())
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await ingest_other_library(movies, "John Wick (2014).mkv")
    await movies.harness.run_jobs()
    before = movies.harness.search.documents["movie_person"]
    assert len(before) == 5  # Keanu Reeves twice: once per library
    await movies.harness.search.delete("movie_person", list(before)[:2])
    assert (await movies.harness.search.reindex(["movie_person"])) == {"movie_person": 5}
    assert movies.harness.search.documents["movie_person"] == before


async def test_people_of_an_nfo_are_indexed_on_ingest_and_follow_the_nfo(movies):
    from revenge_video.testing import make_nfo_movie

    nfo = movies.root / "Heat (1995)" / "Heat (1995).nfo"
    nfo.parent.mkdir()
    make_nfo_movie(nfo, title="Heat", year=1995, directors=["Michael Mann"], actors=[("Al Pacino", "Hanna")])
    heat = movies.video("Heat (1995)/Heat (1995).mkv")
    await movies.ingest(heat)
    [mann] = await people(movies, "michael mann")
    assert (mann["known_for"], mann["roles"]) == (["Heat"], ["director"])

    make_nfo_movie(nfo, title="Heat", year=1995, actors=[("Robert De Niro", "McCauley")])
    await movies.ingest(heat)
    assert sorted(h["title"] for h in await people(movies, "")) == ["Robert De Niro"]
