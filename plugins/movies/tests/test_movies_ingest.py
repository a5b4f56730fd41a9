"""Ingest: real generated files become movies, versions, probe facts, local metadata and artwork."""

from __future__ import annotations

import os
import shutil

import attrs
import pytest

from revenge_hookspecs import FileInfo
from revenge_hookspecs.media import FileMove
from revenge_movies.models import Artwork, Genre, Movie, MovieExternalId, MovieFile, MovieGenre
from revenge_video.testing import Track, make_image, make_nfo_movie, make_srt, make_video


def movies_rows() -> list[Movie]:
    return list(Movie.select().order_by(Movie.id))


def files_of(movie_id: int) -> list[MovieFile]:
    return list(MovieFile.select().where(MovieFile.movie == movie_id).order_by(MovieFile.relative_path))


def ids_of(movie_id: int) -> dict[str, str]:
    return {r.kind: r.value for r in MovieExternalId.select().where(MovieExternalId.movie == movie_id)}


def genres_of(movie_id: int) -> list[str]:
    return [g.name for g in Genre.select().join(MovieGenre).where(MovieGenre.movie == movie_id).order_by(Genre.name)]


async def test_a_clean_name_becomes_a_registered_indexed_movie_with_an_enrich_job(movies):
    media = movies.video("The Matrix (1999)/The Matrix (1999).mkv")
    [result] = await movies.ingest(media)

    [movie] = await movies.query(movies_rows)
    assert (movie.title, movie.year, movie.library_id) == ("The Matrix", 1999, "1")
    assert result.file_id == media.file_id and result.item_key == f"movie:{movie.id}" and result.error is None
    ref = movies.harness.library.items[f"movie:{movie.id}"]
    assert (ref.title, ref.year, ref.library_id) == ("The Matrix", 1999, "1")
    doc = movies.harness.search.documents["movie"][str(movie.id)]
    assert doc["title"] == "The Matrix" and doc["year"] == 1999 and doc["library_id"] == "1"
    assert [q.payload for q in movies.harness.jobs.named("movies.enrich")] == [
        {"movie_id": movie.id, "replace": False}]


async def test_scene_names_and_versions_of_one_movie_share_it(movies):
    files = [
        movies.video("The.Matrix.1999.1080p.BluRay.x264-GROUP.mkv", width=1920, height=1080),
        movies.video("The Matrix (1999)/The Matrix (1999) - Director's Cut.mkv"),
        movies.video("The Matrix (1999)/The Matrix (1999) - 720p.mp4", width=1280, height=720),
    ]
    results = await movies.ingest(*files)

    [movie] = await movies.query(movies_rows)
    assert {r.item_key for r in results} == {f"movie:{movie.id}"}
    rows = await movies.query(files_of, movie.id)
    assert sorted(r.version for r in rows) == ["1080p", "720p", "Director's Cut"]
    assert len(movies.harness.jobs.named("movies.enrich")) == 1


async def test_same_title_other_year_is_another_movie(movies):
    await movies.ingest(movies.video("Dune (1984).mkv"), movies.video("Dune (2021).mkv"))
    assert [(m.title, m.year) for m in await movies.query(movies_rows)] == [("Dune", 1984), ("Dune", 2021)]


async def test_parts_of_one_movie_are_numbered_files_of_it(movies):
    await movies.ingest(movies.video("Long Movie (1970)/Long Movie (1970) cd1.avi"),
                        movies.video("Long Movie (1970)/Long Movie (1970) cd2.avi"))
    [movie] = await movies.query(movies_rows)
    assert [r.part for r in await movies.query(files_of, movie.id)] == [1, 2]


async def test_an_nfo_describes_the_movie_and_its_ids_and_values_win_over_the_name(movies):
    make_nfo_movie(movies.root / "Unsorted" / "br-final.nfo", title="Blade Runner", year=1982,
                   ids={"tmdb": "78", "imdb": "tt0083658"}, plot="Local plot.", genres=["Noir", "Science Fiction"],
                   studios=["The Ladd Company"], set_name="Blade Runner Collection", mpaa="Rated R",
                   directors=["Ridley Scott"], actors=[("Harrison Ford", "Rick Deckard")], runtime=117)
    await movies.ingest(movies.video("Unsorted/br-final.mkv"))

    [movie] = await movies.query(movies_rows)
    assert (movie.title, movie.year, movie.overview, movie.runtime) == ("Blade Runner", 1982, "Local plot.", 117)
    assert await movies.query(ids_of, movie.id) == {"tmdb": "78", "imdb": "tt0083658"}
    assert await movies.query(genres_of, movie.id) == ["Noir", "Science Fiction"]
    assert {"title", "year", "overview", "genres", "credits", "collection", "certifications"} <= set(
        movie.local_fields)
    async with movies.harness.client() as client:
        detail = await (await client.get(f"/api/v1/movies/{movie.id}")).json()
        credits = await (await client.get(f"/api/v1/movies/{movie.id}/credits")).json()
    assert detail["collection"]["name"] == "Blade Runner Collection"
    assert detail["certifications"] == {"US": "R"} and detail["studios"] == ["The Ladd Company"]
    assert [(c["name"], c["character"]) for c in credits["cast"]] == [("Harrison Ford", "Rick Deckard")]
    assert [(c["name"], c["role"]) for c in credits["crew"]] == [("Ridley Scott", "director")]


async def test_nfo_ids_join_files_whose_names_disagree(movies):
    for folder, name in (("A", "blade.runner.final.cut.mkv"), ("B", "BR (1982) remaster.mkv")):
        make_nfo_movie(movies.root / folder / (name.rsplit(".", 1)[0] + ".nfo"), title="Blade Runner",
                       ids={"imdb": "tt0083658"})
    await movies.ingest(movies.video("A/blade.runner.final.cut.mkv"))
    await movies.ingest(movies.video("B/BR (1982) remaster.mkv"))
    [movie] = await movies.query(movies_rows)
    assert len(await movies.query(files_of, movie.id)) == 2


async def test_an_id_in_the_file_name_is_an_external_id(movies):
    await movies.ingest(movies.video("The Matrix (1999) {tmdb-603}.mkv"))
    [movie] = await movies.query(movies_rows)
    assert (await movies.query(ids_of, movie.id)).get("tmdb") == "603"


async def test_samples_and_extras_are_not_movies(movies):
    results = await movies.ingest(movies.video("Heat (1995)/Heat (1995)-sample.mkv"),
                                  movies.video("Heat (1995)/Trailers/Heat trailer.mkv"),
                                  movies.video("Heat (1995)/Heat (1995).mkv"))
    assert [r.item_key is None for r in results] == [True, True, False]
    assert all(r.error is None for r in results)
    [movie] = await movies.query(movies_rows)
    assert [r.relative_path for r in await movies.query(files_of, movie.id)] == ["Heat (1995)/Heat (1995).mkv"]


async def test_probe_facts_and_subtitles_embedded_and_sidecar_are_stored(movies):
    media = movies.video("Heat (1995)/Heat (1995).mkv", width=1280, height=720, seconds=1.5,
                         audio=("eng", Track("ger", title="Deutsch")), subtitles=("eng",), chapters=2)
    make_srt(movies.root / "Heat (1995)" / "Heat (1995).fre.forced.srt")
    await movies.ingest(media)

    [movie] = await movies.query(movies_rows)
    [row] = await movies.query(files_of, movie.id)
    assert (row.resolution, row.width, row.height, row.container, row.video_codec) == (
        "720p", 1280, 720, "mkv", "h264")
    assert row.duration == pytest.approx(1.5, abs=0.1)
    assert row.size == media.size and row.probe_error is None and row.hdr is None
    assert [(a["language"], a["title"]) for a in row.audio_tracks] == [("eng", None), ("ger", "Deutsch")]
    assert [(s["language"], s["forced"], s["external"]) for s in row.subtitle_tracks] == [
        ("eng", False, False), ("fre", True, True)]
    assert row.subtitle_tracks[1]["path"] == "Heat (1995)/Heat (1995).fre.forced.srt"
    assert len(row.chapters) == 2
    assert movies.harness.search.documents["movie"][str(movie.id)]["resolution"] == "720p"


async def test_hdr_is_recorded(movies):
    await movies.ingest(movies.video("Lucy (2014).mkv", hdr=True))
    [movie] = await movies.query(movies_rows)
    assert (await movies.query(files_of, movie.id))[0].hdr == "HDR10"


async def test_a_damaged_file_is_recorded_and_still_becomes_a_movie_from_its_name(movies):
    path = make_video(movies.root / "Alien (1979).mkv")
    path.write_bytes(path.read_bytes()[:200])  # a real file cut short
    [result] = await movies.ingest(movies.track(path))

    [movie] = await movies.query(movies_rows)
    assert result.item_key == f"movie:{movie.id}" and (movie.title, movie.year) == ("Alien", 1979)
    [row] = await movies.query(files_of, movie.id)
    assert row.probe_error and "Alien (1979).mkv" in row.probe_error and row.resolution is None


async def test_local_artwork_is_stored_and_primary(movies):
    folder = movies.root / "Heat (1995)"
    make_image(folder / "poster.jpg", 60, 90)
    make_image(folder / "Heat (1995)-fanart.png", 160, 90)
    await movies.ingest(movies.video("Heat (1995)/Heat (1995).mkv"))

    [movie] = await movies.query(movies_rows)
    rows = await movies.query(lambda: list(Artwork.select().where(Artwork.movie == movie.id).order_by(Artwork.kind)))
    assert [(r.kind, r.source, r.is_primary, r.width) for r in rows] == [
        ("backdrop", "local", True, 160), ("poster", "local", True, 60)]
    stored = {ref.id: ref for ref in await movies.harness.artwork.for_item(f"movie:{movie.id}")}
    assert {r.artwork_id for r in rows} == set(stored)


async def test_loose_files_in_the_library_root_do_not_take_the_folder_art(movies):
    make_image(movies.root / "poster.jpg", 60, 90)
    await movies.ingest(movies.video("Heat (1995).mkv"), movies.video("Alien (1979).mkv"))
    assert movies.harness.artwork.images == {}


async def test_a_changed_file_of_a_matched_movie_is_not_enriched_again(movies):
    media = movies.video("The Matrix (1999).mkv")
    await movies.ingest(media)
    await movies.harness.run_jobs()
    [movie] = await movies.query(movies_rows)
    assert movie.match_state == "matched"
    queued = len(movies.harness.jobs.enqueued)

    make_video(movies.root / "The Matrix (1999).mkv", width=1920, height=1080)  # replaced in place
    [result] = await movies.ingest(media)
    assert result.item_key == f"movie:{movie.id}"
    assert len(movies.harness.jobs.enqueued) == queued
    assert (await movies.query(files_of, movie.id))[0].resolution == "1080p"


async def test_ingesting_twice_is_idempotent(movies):
    media = movies.video("Heat (1995).mkv")
    first = await movies.ingest(media)
    second = await movies.ingest(media)
    assert first == second
    assert len(await movies.query(movies_rows)) == 1
    assert len(await movies.query(lambda: list(MovieFile.select()))) == 1


async def test_files_moved_updates_paths(movies):
    media = movies.video("Heat (1995).mkv")
    await movies.ingest(media)
    await movies.handler.files_moved(movies.library, [FileMove(media.file_id, media.path, media.path + ".moved",
                                                                "Crime/Heat (1995).mkv")])
    [movie] = await movies.query(movies_rows)
    assert [r.relative_path for r in await movies.query(files_of, movie.id)] == ["Crime/Heat (1995).mkv"]


async def test_files_removed_drops_versions_then_the_movie_with_its_artwork_and_entries(movies):
    make_image(movies.root / "Heat (1995)" / "poster.png", 60, 90)
    one = movies.video("Heat (1995)/Heat (1995) - 1080p.mkv", width=1920, height=1080)
    two = movies.video("Heat (1995)/Heat (1995) - 720p.mkv", width=1280, height=720)
    await movies.ingest(one, two)
    [movie] = await movies.query(movies_rows)
    key = f"movie:{movie.id}"
    assert movies.harness.search.documents["movie"][str(movie.id)]["resolution"] == "1080p"

    await movies.handler.files_removed(movies.library, [one])
    assert [r.version for r in await movies.query(files_of, movie.id)] == ["720p"]
    assert movies.harness.search.documents["movie"][str(movie.id)]["resolution"] == "720p"
    assert key in movies.harness.library.items

    await movies.handler.files_removed(movies.library, [two])
    assert await movies.query(movies_rows) == []
    assert await movies.query(lambda: list(Artwork.select())) == []
    assert key not in movies.harness.library.items
    assert str(movie.id) not in movies.harness.search.documents.get("movie", {})
    assert await movies.harness.artwork.for_item(key) == []


async def test_a_file_gone_before_ingest_is_an_error_and_the_batch_goes_on(movies):
    gone = movies.video("Alien (1979)/Alien (1979).mkv")
    good = movies.video("Heat (1995).mkv")
    shutil.rmtree(movies.root / "Alien (1979)")
    results = await movies.ingest(gone, good)

    assert results[0].item_key is None and "FileNotFoundError" in results[0].error
    assert results[1].item_key is not None and results[1].error is None
    assert [m.title for m in await movies.query(movies_rows)] == ["Heat"]


class FolderStorage:
    """A storage backend without local paths (think object storage), serving one folder."""

    def __init__(self, root):
        self.root = str(root)
        self.opened: list[str] = []

    def _check(self, path: str) -> str:
        if not (path == self.root or path.startswith(self.root + "/")) or ".." in path.split("/"):
            raise PermissionError(path)
        return path

    async def list(self, path: str) -> list[FileInfo]:
        folder = self._check(path)
        return [FileInfo(os.path.join(folder, name), os.path.getsize(os.path.join(folder, name)), 0.0,
                         is_dir=os.path.isdir(os.path.join(folder, name))) for name in sorted(os.listdir(folder))]

    async def stat(self, path: str) -> FileInfo:
        return FileInfo(self._check(path), os.path.getsize(path), 0.0)

    async def open(self, path: str, start: int = 0, end: int | None = None, chunk_size: int = 65536):
        self.opened.append(os.path.basename(self._check(path)))
        with open(path, "rb") as handle:
            handle.seek(start)
            yield handle.read((end - start + 1) if end is not None else -1)

    def roots(self) -> list[str]:
        return [self.root]


async def test_without_a_local_path_the_storage_is_read_and_nothing_is_probed(movies):
    storage = FolderStorage(movies.root)
    movies.harness.library.storages["localfs"] = storage
    folder = movies.root / "Blade Runner (1982)"
    make_nfo_movie(folder / "Blade Runner (1982).nfo", title="Blade Runner", year=1982, ids={"imdb": "tt0083658"})
    make_image(folder / "folder.jpg", 60, 90)
    media = attrs.evolve(movies.video("Blade Runner (1982)/Blade Runner (1982).mkv"), local_path=None)
    movies.harness.library.set_file(media)
    [result] = await movies.ingest(media)

    [movie] = await movies.query(movies_rows)
    assert result.item_key == f"movie:{movie.id}" and movie.title == "Blade Runner"
    assert await movies.query(ids_of, movie.id) == {"imdb": "tt0083658"}
    [row] = await movies.query(files_of, movie.id)
    assert row.probe_error == "not probed: the storage gives no local path" and row.container == "mkv"
    assert sorted(storage.opened) == ["Blade Runner (1982).nfo", "folder.jpg"]
    [poster] = await movies.harness.artwork.for_item(f"movie:{movie.id}")
    assert (poster.kind, poster.width, poster.height) == ("poster", 60, 90)


async def test_neighbours_that_lead_outside_the_library_are_not_read(movies, tmp_path):
    outside = tmp_path / "private"
    make_image(outside / "secret.png", 60, 90)
    make_nfo_movie(outside / "secret.nfo", title="Leaked Title", ids={"imdb": "tt0000001"})
    folder = movies.root / "Heat (1995)"
    folder.mkdir()
    (folder / "poster.png").symlink_to(outside / "secret.png")
    (folder / "Heat (1995).nfo").symlink_to(outside / "secret.nfo")
    await movies.ingest(movies.video("Heat (1995)/Heat (1995).mkv"))

    [movie] = await movies.query(movies_rows)
    assert (movie.title, await movies.query(ids_of, movie.id)) == ("Heat", {})
    assert movies.harness.artwork.images == {}


async def test_a_file_whose_local_path_lies_elsewhere_is_probed_there_and_its_neighbours_read_by_storage(
        movies, tmp_path):
    storage = FolderStorage(movies.root)
    movies.harness.library.storages["localfs"] = storage
    make_nfo_movie(movies.root / "Heat (1995)" / "Heat (1995).nfo", title="Heat", year=1995, plot="From the NFO.")
    media = movies.video("Heat (1995)/Heat (1995).mkv", width=1280, height=720)
    target = tmp_path / "disk2" / "heat-real.mkv"  # where a symlinked file really lives
    target.parent.mkdir()
    shutil.move(media.path, target)
    os.symlink(target, media.path)
    [result] = await movies.ingest(attrs.evolve(media, local_path=str(target)))

    [movie] = await movies.query(movies_rows)
    assert result.item_key == f"movie:{movie.id}" and movie.overview == "From the NFO."
    assert storage.opened == ["Heat (1995).nfo"]
    [row] = await movies.query(files_of, movie.id)
    assert (row.resolution, row.probe_error) == ("720p", None)


async def test_an_unmatched_movie_gets_one_enrich_job_until_it_runs(movies):
    media = movies.video("Heat (1995).mkv")  # the provider does not know it: it stays unmatched
    await movies.ingest(media)
    make_video(movies.root / "Heat (1995).mkv", width=1280, height=720)  # changed before the job ran
    await movies.ingest(media)
    await movies.ingest(media)
    [queued] = movies.harness.jobs.named("movies.enrich")
    [movie] = await movies.query(movies_rows)
    assert queued.payload == {"movie_id": movie.id, "replace": False} and movie.enrich_queued_at is not None

    await movies.harness.run_jobs()
    [movie] = await movies.query(movies_rows)
    assert movie.match_state != "matched" and movie.enrich_queued_at is None
    await movies.ingest(media)  # changed again after the job ran: worth another try
    assert len(movies.harness.jobs.named("movies.enrich")) == 2
