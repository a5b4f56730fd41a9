"""Helpers for the movies tests: real generated media, a small fake provider, a harness with a library.

The fixtures are in ``conftest.py``; this module has a name of its own so tests can import it."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest

import revenge_movies.plugin as plugin
from revenge_hookspecs import MetadataMatch, MetadataProvider
from revenge_hookspecs.db import bind_models
from revenge_hookspecs.media import (
    ArtworkInfo,
    Credit,
    ItemMetadata,
    Library,
    MediaFile,
    ProviderError,
    Translation,
    match_score,
)
from revenge_hookspecs.testing import migration_runner
from revenge_movies.models import MODELS
from revenge_video.testing import make_image, make_video

PROVIDER = "fakedb"
IMAGES = "https://images.fakedb.test"


def matrix(**changes: Any) -> ItemMetadata:
    """What the fake provider knows about The Matrix."""
    meta = ItemMetadata(
        provider=PROVIDER, external_id="603", content_type="movie", title="The Matrix", original_title="The Matrix",
        original_language="en", year=1999, release_date="1999-03-31",
        overview="A hacker learns the truth about his reality.", tagline="Welcome to the Real World.",
        runtime_minutes=136, status="Released", rating=8.2, votes=25000, genres=("Action", "Science Fiction"),
        studios=("Warner Bros.", "Village Roadshow"), collection="The Matrix Collection", collection_id="2344",
        certifications={"US": "R", "DE": "16"}, external_ids={"imdb": "tt0133093"},
        credits=(
            Credit("Keanu Reeves", "actor", character="Neo", order=0, external_ids={PROVIDER: "6384"},
                   image_url=f"{IMAGES}/keanu.png"),
            Credit("Carrie-Anne Moss", "actor", character="Trinity", order=1, external_ids={PROVIDER: "530"},
                   image_url=f"{IMAGES}/carrie.png"),
            Credit("Lana Wachowski", "director", external_ids={PROVIDER: "9340"}),
        ),
        artwork=(
            ArtworkInfo("poster", f"{IMAGES}/matrix-poster-de.png", language="de", score=9.0),
            ArtworkInfo("poster", f"{IMAGES}/matrix-poster-en.png", language="en", score=5.0),
            ArtworkInfo("poster", f"{IMAGES}/matrix-poster-en-worse.png", language="en", score=1.0),
            ArtworkInfo("poster", f"{IMAGES}/matrix-poster-textless.png", score=8.0),
            ArtworkInfo("backdrop", f"{IMAGES}/matrix-backdrop-fr.png", language="fr", score=9.0),
            ArtworkInfo("backdrop", f"{IMAGES}/matrix-backdrop.png", score=3.0),
            ArtworkInfo("logo", f"{IMAGES}/matrix-logo-en.png", language="en"),
        ),
        translations={"de": Translation(title="Matrix", overview="Ein Hacker erfährt die Wahrheit.")},
    )
    return attrs.evolve(meta, **changes)


def blade_runner(**changes: Any) -> ItemMetadata:
    meta = ItemMetadata(
        provider=PROVIDER, external_id="78", content_type="movie", title="Blade Runner", year=1982,
        overview="A blade runner must pursue four replicants.", runtime_minutes=117, rating=7.9,
        genres=("Science Fiction", "Drama"), external_ids={"imdb": "tt0083658"},
        artwork=(ArtworkInfo("poster", f"{IMAGES}/blade-poster.png", language="en"),),
    )
    return attrs.evolve(meta, **changes)


@attrs.define
class FakeSource:
    """A metadata provider in memory: searches score with ``match_score`` as real providers do."""

    catalogue: dict[str, ItemMetadata] = attrs.Factory(dict)
    fail_lookups: bool = False
    searches: list[tuple[str, int | None, dict[str, str]]] = attrs.Factory(list)
    lookups: list[str] = attrs.Factory(list)

    def add(self, *items: ItemMetadata) -> None:
        for item in items:
            self.catalogue[item.external_id] = item

    async def search(self, content_type: str, query: str, *, year: int | None = None, language: str | None = None,
                     external_ids: Mapping[str, str] | None = None) -> list[MetadataMatch]:
        ids = dict(external_ids or {})
        self.searches.append((query, year, ids))
        matches = []
        for item in self.catalogue.values():
            same = ids.get(PROVIDER) == item.external_id or any(
                ids.get(kind) == value for kind, value in item.external_ids.items())
            score = match_score(query, year, item.title, item.year, alternative_titles=[item.original_title or ""],
                                same_external_id=same)
            if score >= 0.3:
                matches.append(MetadataMatch(PROVIDER, item.external_id, item.title, item.year, score,
                                             extra={"overview": item.overview}))
        return sorted(matches, key=lambda m: -m.score)

    async def lookup(self, content_type: str, external_id: str, *, language: str | None = None) -> ItemMetadata | None:
        self.lookups.append(external_id)
        if self.fail_lookups:
            raise ProviderError(PROVIDER, "503 Service Unavailable", status=503)
        return self.catalogue.get(external_id)


@attrs.define
class Movies:
    """A harness with one movie library under ``root`` and helpers that write real files."""

    harness: Any
    root: Path
    library: Library
    source: FakeSource
    images: dict[str, bytes]
    videos: Path

    @property
    def context(self) -> Any:
        return self.harness.context

    @property
    def handler(self) -> Any:
        return self.harness.registration("content_types", "movie").handler

    def video(self, relative: str, **options: Any) -> MediaFile:
        """Write a real video at ``relative`` below the library root and track it."""
        if options.get("width", 0) * options.get("height", 0) > 1_000_000:
            options.setdefault("fps", 2)  # big frames are slow to encode; two a second say the same
        target = self.root / relative
        # The same options give the same file: encode each once per session, then copy it.
        digest = hashlib.sha256(repr((target.suffix.lower(), sorted(options.items()))).encode()).hexdigest()[:16]
        made = self.videos / f"{digest}{target.suffix.lower()}"
        if not made.exists():
            make_video(made, **options)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, target)
        return self.track(target)

    def track(self, path: Path, library: Library | None = None) -> MediaFile:
        stat = os.stat(path)
        return self.harness.library.add_file(library or self.library, str(path), size=stat.st_size,
                                             mtime=stat.st_mtime)

    async def ingest(self, *files: MediaFile, library: Library | None = None) -> list[Any]:
        return list(await self.handler.ingest(library or self.library, files))

    async def query(self, fn: Any, *args: Any) -> Any:
        return await self.context.db.run(fn, *args)

    def add_library(self, library_id: str, name: str) -> Library:
        folder = self.root.parent / f"library-{library_id}"
        folder.mkdir(exist_ok=True)
        return self.harness.library.add_library(Library(library_id, name, "movie", (str(folder),)))


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("movies-videos")


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real PNGs the fake provider's image host serves, one colour per URL."""
    served: dict[str, bytes] = {}
    names = ["matrix-poster-de", "matrix-poster-en", "matrix-poster-en-worse", "matrix-poster-textless",
             "matrix-backdrop-fr",
             "matrix-backdrop", "matrix-logo-en", "keanu", "carrie", "blade-poster"]
    for number, name in enumerate(names):
        path = make_image(tmp_path_factory.mktemp("served") / f"{name}.png", 40, 60, color=(20 * number % 255, 80, 160))
        served[f"{IMAGES}/{name}.png"] = path.read_bytes()
    return served


class PostgresDatabase:
    """``context.db`` on PostgreSQL for the tests that opt in (the kit itself only has SQLite)."""

    driver = "postgres"

    def __init__(self, url: str):
        from playhouse.db_url import connect

        self.database = connect(url)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="movies-test-pg")

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.database.connect(reuse_if_open=True)
        return fn(*args, **kwargs)

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(self._call, fn, *args, **kwargs))

    def run_sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self._executor.submit(self._call, fn, *args, **kwargs).result()

    def bind(self, models: Any) -> None:
        bind_models(self.database, models)

    def close(self) -> None:
        self._executor.submit(lambda: self.database.is_closed() or self.database.close()).result()
        self._executor.shutdown()


@pytest.fixture
def db_driver(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless a test module parametrises it (indirectly) with ``postgres`` too."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def movies(revenge_plugin, tmp_path: Path, images: dict[str, bytes], video_cache: Path, db_driver: str,
           request: pytest.FixtureRequest) -> Iterator[Movies]:
    harness = revenge_plugin(plugin, name="movies")
    postgres = None
    if db_driver == "postgres":
        try:
            url = request.getfixturevalue("pg_url")  # the repository's embedded PostgreSQL
        except pytest.FixtureLookupError:
            pytest.skip("PostgreSQL runs only inside the Revenge repository's test suite")
        postgres = PostgresDatabase(url)
        postgres.run_sync(lambda: postgres.database.execute_sql("CREATE SCHEMA IF NOT EXISTS shared"))
        postgres.run_sync(lambda: migration_runner(postgres.database, "movies", harness.migrations.path).up())
        harness.context.db = postgres
    source = FakeSource()
    source.add(matrix(), blade_runner())
    harness.metadata.extra.append(MetadataProvider(PROVIDER, {"movie"}, source))

    async def fetch(url: str) -> bytes:
        if url not in images:
            raise ValueError(f"404 from the fake image host: {url}")
        return images[url]

    harness.artwork.fetch = fetch
    root = tmp_path / "movies"
    root.mkdir()
    library = harness.library.add_library(Library("1", "Movies", "movie", (str(root),), languages=("en",)))
    harness.context.db.bind(MODELS)
    yield Movies(harness, root, library, source, images, video_cache)
    if postgres is not None:
        postgres.close()
    # The plugin only logs when the search index refuses a document; in tests that is a bug.
    refused = [message for _level, message in harness.logs if message.startswith("could not index")]
    assert refused == [], refused
