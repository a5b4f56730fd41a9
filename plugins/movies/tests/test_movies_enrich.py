"""Enrichment: matching at the providers, merging by the rules, artwork, identify, locks."""

from __future__ import annotations

import pytest
from movies_testkit import IMAGES, PROVIDER, matrix

from revenge_hookspecs.media import ArtworkInfo
from revenge_hookspecs.testing import JobFailed
from revenge_movies.models import Artwork, Movie, Person
from revenge_video.testing import make_image, make_nfo_movie

BOTH_DATABASES = pytest.mark.parametrize(
    "db_driver", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
"""Tests whose queries differ between the drivers run on PostgreSQL too (inside the repository)."""


def only_movie() -> Movie:
    [movie] = list(Movie.select())
    return movie


def artwork_rows() -> list[Artwork]:
    return list(Artwork.select().order_by(Artwork.kind, Artwork.id))


async def detail(movies, movie_id: int) -> dict:
    async with movies.harness.client() as client:
        response = await client.get(f"/api/v1/movies/{movie_id}")
        assert response.status == 200
        return await response.json()


@BOTH_DATABASES
async def test_a_sure_match_is_applied_with_everything_the_provider_knows(movies):
    await movies.ingest(movies.video("The.Matrix.1999.1080p.BluRay.x264-GROUP.mkv"))
    [run] = await movies.harness.run_jobs()
    assert run.result == "matched"
    assert movies.source.searches == [("The Matrix", 1999, {})]

    movie = await movies.query(only_movie)
    assert (movie.match_state, movie.match_provider, movie.match_external_id) == ("matched", PROVIDER, "603")
    assert movie.match_score >= 0.85 and movie.metadata_updated_at is not None
    data = await detail(movies, movie.id)
    assert (data["title"], data["runtime"], data["rating"], data["release_date"]) == (
        "The Matrix", 136, 8.2, "1999-03-31")
    assert data["tagline"] == "Welcome to the Real World." and data["original_language"] == "en"
    assert data["genres"] == ["Action", "Science Fiction"]
    assert data["studios"] == ["Village Roadshow", "Warner Bros."]
    assert data["collection"]["name"] == "The Matrix Collection"
    assert data["certifications"] == {"DE": "16", "US": "R"}
    assert data["external_ids"] == {PROVIDER: "603", "imdb": "tt0133093"}
    assert data["translations"]["de"]["title"] == "Matrix"
    doc = movies.harness.search.documents["movie"][str(movie.id)]
    assert doc["genre"] == ["Action", "Science Fiction"] and doc["collection"] == "The Matrix Collection"
    assert doc["people"] == ["Keanu Reeves", "Carrie-Anne Moss", "Lana Wachowski"]


async def test_artwork_prefers_the_library_language_then_no_language_and_people_get_pictures(movies):
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()

    movie = await movies.query(only_movie)
    primary = {r.kind: r for r in await movies.query(artwork_rows) if r.is_primary}
    sources = {ref.id: ref.source for ref in await movies.harness.artwork.for_item(f"movie:{movie.id}")}
    # en over a better-voted de and a better-voted textless one
    assert sources[primary["poster"].artwork_id] == f"{IMAGES}/matrix-poster-en.png"
    assert sources[primary["backdrop"].artwork_id] == f"{IMAGES}/matrix-backdrop.png"  # none over fr
    assert sources[primary["logo"].artwork_id] == f"{IMAGES}/matrix-logo-en.png"
    assert primary["poster"].source == PROVIDER and primary["poster"].blurhash
    people = await movies.query(lambda: {p.name: p.image_artwork_id for p in Person.select()})
    assert people["Keanu Reeves"] in sources and people["Carrie-Anne Moss"] in sources
    assert people["Lana Wachowski"] is None  # the provider has no picture of her
    data = await detail(movies, movie.id)
    assert data["poster"]["id"] == primary["poster"].artwork_id
    assert data["poster"]["urls"]["w342"] == f"/api/v1/images/{primary['poster'].artwork_id}/w342"


async def test_person_images_respect_the_configured_limit(movies, revenge_plugin):
    movies.harness.context.config.person_images = 1
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    pictured = await movies.query(lambda: [p.name for p in Person.select() if p.image_artwork_id])
    assert pictured == ["Keanu Reeves"]


async def test_a_german_library_gets_the_german_poster(movies):
    movies.harness.library.add_library(type(movies.library)("1", "Filme", "movie", movies.library.paths,
                                                            languages=("de-DE",)))
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    movie = await movies.query(only_movie)
    [poster] = [r for r in await movies.query(artwork_rows) if r.is_primary and r.kind == "poster"]
    sources = {ref.id: ref.source for ref in await movies.harness.artwork.for_item(f"movie:{movie.id}")}
    assert sources[poster.artwork_id] == f"{IMAGES}/matrix-poster-de.png"


async def test_local_artwork_stays_primary_over_the_providers(movies):
    make_image(movies.root / "The Matrix (1999)" / "poster.jpg", 50, 75)
    await movies.ingest(movies.video("The Matrix (1999)/The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    posters = [r for r in await movies.query(artwork_rows) if r.kind == "poster"]
    assert [(r.source, r.is_primary) for r in posters] == [("local", True), (PROVIDER, False)]


@BOTH_DATABASES
async def test_a_locked_artwork_kind_keeps_its_image(movies):
    media = movies.video("The Matrix (1999)/The Matrix (1999).mkv")
    await movies.ingest(media)
    await movies.harness.run_jobs()
    movie = await movies.query(only_movie)
    [before] = [r.artwork_id for r in await movies.query(artwork_rows) if r.is_primary and r.kind == "poster"]
    async with movies.harness.client() as client:
        await client.put(f"/api/v1/movies/{movie.id}/locks", json={"fields": ["poster"]})
    downloads = len(movies.harness.artwork.downloads)

    make_image(movies.root / "The Matrix (1999)" / "poster.jpg", 50, 75)
    await movies.ingest(media)
    movies.source.add(matrix(artwork=(ArtworkInfo("poster", f"{IMAGES}/blade-poster.png", language="en"),)))
    await movies.handler.refresh(movies.library, f"movie:{movie.id}", replace=True)

    posters = [r for r in await movies.query(artwork_rows) if r.kind == "poster"]
    assert [r.artwork_id for r in posters if r.is_primary] == [before]
    assert [r.source for r in posters] == [PROVIDER, "local"]  # the local one is kept, not shown
    assert len(movies.harness.artwork.downloads) == downloads


@BOTH_DATABASES
async def test_a_weak_match_waits_for_review_and_identify_applies_a_pick(movies):
    await movies.ingest(movies.video("Matrx Reloaded Fan Edit (2005).mkv"))
    [run] = await movies.harness.run_jobs()
    assert run.result == "needs_review"
    movie = await movies.query(only_movie)
    assert movie.match_state == "needs_review" and movie.match_score < 0.85
    assert movie.match_candidates[0]["external_id"] == "603"
    assert movies.source.lookups == []  # nothing applied
    assert (await detail(movies, movie.id))["match"]["candidates"][0]["title"] == "The Matrix"

    async with movies.harness.client() as client:
        response = await client.get(f"/api/v1/movies/{movie.id}/identify", params={"q": "Blade Runner"})
        assert response.status == 200
        found = await response.json()
        assert found["query"] == "Blade Runner" and found["year"] is None
        assert next((c["provider"], c["external_id"]) for c in found["candidates"]) == (PROVIDER, "78")
        assert found["candidates"][0]["score"] >= 0.85

        response = await client.post(f"/api/v1/movies/{movie.id}/identify",
                                     json={"provider": PROVIDER, "external_id": "603"})
        assert response.status == 200
        data = await response.json()
    assert data["title"] == "The Matrix" and data["year"] == 1999
    assert data["match"]["state"] == "matched" and data["match"]["external_id"] == "603"
    assert "match" in data["locked_fields"]
    assert movies.harness.library.items[f"movie:{movie.id}"].title == "The Matrix"


async def test_identify_defaults_to_the_movies_title_and_year(movies):
    await movies.ingest(movies.video("Blade Runner (1982).mkv"))
    movie = await movies.query(only_movie)
    async with movies.harness.client() as client:
        found = await (await client.get(f"/api/v1/movies/{movie.id}/identify")).json()
    assert (found["query"], found["year"]) == ("Blade Runner", 1982)
    assert movies.source.searches[-1] == ("Blade Runner", 1982, {})


async def test_identify_refuses_unknown_providers_ids_and_items(movies):
    await movies.ingest(movies.video("Blade Runner (1982).mkv"))
    movie = await movies.query(only_movie)
    async with movies.harness.client() as client:
        url = f"/api/v1/movies/{movie.id}/identify"
        for body in ({"provider": "imdb-scraper", "external_id": "1"}, {"provider": PROVIDER, "external_id": "../x"},
                     {"provider": PROVIDER}, {"provider": PROVIDER, "external_id": "1", "extra": True}, [1]):
            response = await client.post(url, json=body)
            assert response.status == 400, body
            assert (await response.json())["code"] == "bad_request"
        response = await client.post(url, json={"provider": PROVIDER, "external_id": "999"})
        assert response.status == 404
        movies.source.fail_lookups = True
        response = await client.post(url, json={"provider": PROVIDER, "external_id": "603"})
        assert response.status == 502 and (await response.json())["code"] == "provider_error"
    assert (await movies.query(only_movie)).match_state != "matched"


async def test_the_same_external_id_matches_whatever_the_title(movies):
    make_nfo_movie(movies.root / "x" / "rip01.nfo", title="Der Blade Runner", ids={"imdb": "tt0083658"})
    await movies.ingest(movies.video("x/rip01.mkv"))
    [run] = await movies.harness.run_jobs()
    assert run.result == "matched"
    movie = await movies.query(only_movie)
    assert (movie.match_external_id, movie.match_score) == ("78", 1.0)
    assert movies.source.searches == [("Der Blade Runner", None, {"imdb": "tt0083658"})]


@BOTH_DATABASES
async def test_nfo_values_win_unless_a_refresh_replaces_them(movies):
    make_nfo_movie(movies.root / "Blade Runner (1982)" / "movie.nfo", title="Blade Runner", year=1982,
                   plot="My own summary.", genres=["Neo-noir"])
    await movies.ingest(movies.video("Blade Runner (1982)/Blade Runner (1982).mkv"))
    await movies.harness.run_jobs()
    movie = await movies.query(only_movie)
    data = await detail(movies, movie.id)
    assert data["overview"] == "My own summary." and data["genres"] == ["Neo-noir"]
    assert data["runtime"] == 117  # what the NFO did not say comes from the provider

    await movies.handler.refresh(movies.library, f"movie:{movie.id}")
    assert (await detail(movies, movie.id))["overview"] == "My own summary."

    await movies.handler.refresh(movies.library, f"movie:{movie.id}", replace=True)
    data = await detail(movies, movie.id)
    assert data["overview"] == "A blade runner must pursue four replicants."
    assert data["genres"] == ["Drama", "Science Fiction"]


@BOTH_DATABASES
async def test_locked_fields_survive_refreshes(movies):
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    movie = await movies.query(only_movie)
    async with movies.harness.client() as client:
        response = await client.patch(f"/api/v1/movies/{movie.id}",
                                      json={"title": "Matrix, The (Remastered)", "genres": ["Cyberpunk"]})
        assert response.status == 200
        assert set((await response.json())["locked_fields"]) == {"title", "genres"}
        response = await client.put(f"/api/v1/movies/{movie.id}/locks",
                                    json={"fields": ["title", "genres", "overview"]})
        assert (await response.json())["locked_fields"] == ["genres", "overview", "title"]
    movies.source.add(matrix(title="The Matrix (new)", overview="Changed upstream.", genres=("Thriller",),
                             runtime_minutes=140))

    for replace in (False, True):
        await movies.handler.refresh(movies.library, f"movie:{movie.id}", replace=replace)
        data = await detail(movies, movie.id)
        assert data["title"] == "Matrix, The (Remastered)" and data["genres"] == ["Cyberpunk"]
        assert data["overview"] == "A hacker learns the truth about his reality."
        assert data["runtime"] == 140
    assert movies.harness.library.items[f"movie:{movie.id}"].title == "Matrix, The (Remastered)"
    assert movies.harness.search.documents["movie"][str(movie.id)]["title"] == "Matrix, The (Remastered)"


async def test_a_matched_movie_is_looked_up_again_by_its_id(movies):
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    await movies.harness.run_jobs()
    movie = await movies.query(only_movie)
    movies.source.searches.clear()
    await movies.handler.refresh(movies.library, f"movie:{movie.id}")
    assert movies.source.searches == [] and movies.source.lookups == ["603", "603"]


async def test_nothing_found_leaves_it_unmatched(movies):
    await movies.ingest(movies.video("Completely Unknown Home Video (2003).mkv"))
    [run] = await movies.harness.run_jobs()
    assert run.result == "unmatched"
    movie = await movies.query(only_movie)
    assert (movie.match_state, movie.match_candidates) == ("unmatched", [])


async def test_a_failing_provider_makes_the_job_retry_then_fail(movies):
    movies.source.fail_lookups = True
    await movies.ingest(movies.video("The Matrix (1999).mkv"))
    with pytest.raises(JobFailed) as failure:
        await movies.harness.run_jobs()
    [run] = failure.value.runs
    assert run.attempts == 4 and "503" in str(run.error)
    assert (await movies.query(only_movie)).match_state == "unmatched"


async def test_refresh_refuses_keys_of_other_types(movies):
    with pytest.raises(ValueError):
        await movies.handler.refresh(movies.library, "episode:1")


async def test_the_enrich_job_of_a_deleted_movie_does_nothing(movies):
    media = movies.video("The Matrix (1999).mkv")
    await movies.ingest(media)
    await movies.handler.files_removed(movies.library, [media])
    [run] = await movies.harness.run_jobs()
    assert run.result == "gone" and movies.source.searches == []
