"""Helpers for the TV plugin's tests: a fake metadata provider and a TV library of real files.

The provider answers like a metadata provider plugin would (scored candidates, ItemMetadata
with seasons and episodes, artwork URLs); the library's files are real videos, images,
subtitles and NFOs written by :mod:`revenge_video.testing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revenge_hookspecs import MetadataMatch
from revenge_hookspecs.media import (
    ArtworkInfo,
    Credit,
    EpisodeMetadata,
    FileMove,
    ItemMetadata,
    Library,
    MediaFile,
    SeasonMetadata,
    Translation,
    match_score,
)
from revenge_hookspecs.testing import PluginHarness
from revenge_video.testing import make_image, make_nfo_episode, make_nfo_tvshow, make_srt, make_video

IMAGES = "https://images.example"


def show_metadata() -> ItemMetadata:
    """"Show" at the fake provider: specials, a season of four episodes and one of two."""

    def episode(season: int, number: int, aired: str, **extra: Any) -> EpisodeMetadata:
        return EpisodeMetadata(
            season=season, number=number, title=f"Provider S{season}E{number}", overview=f"About {season}x{number}.",
            air_date=aired, runtime_minutes=42, external_ids={"tmdb": f"{season}{number:02d}"},
            artwork=(ArtworkInfo("still", f"{IMAGES}/still/{season}/{number}.png"),),
            credits=(Credit("Guest Star", "guest", character="Visitor"), Credit("Ep Director", "director")),
            **extra)

    return ItemMetadata(
        provider="fakedb", external_id="100", content_type="tv", title="Show", original_title="Das Show",
        original_language="de", year=2019, release_date="2019-09-01", overview="A show about things.",
        status="Returning Series", rating=8.1, genres=("Drama", "Mystery"), networks=("HBO",),
        certifications={"US": "TV-MA", "DE": "16"}, external_ids={"imdb": "tt0100", "tvdb": "555"},
        credits=(Credit("Lead Actor", "actor", character="Hero", order=0, external_ids={"fakedb": "p1"}),
                 Credit("Show Creator", "creator")),
        artwork=(ArtworkInfo("poster", f"{IMAGES}/poster/de.png", language="de"),
                 ArtworkInfo("poster", f"{IMAGES}/poster/en.png", language="en"),
                 ArtworkInfo("backdrop", f"{IMAGES}/backdrop.png"),
                 ArtworkInfo("banner", f"{IMAGES}/banner.png"),
                 ArtworkInfo("logo", f"{IMAGES}/logo.png", language="en")),
        translations={"de": Translation(title="Das Show", overview="Eine Serie.")},
        seasons=(
            SeasonMetadata(0, title="Specials", episodes=(episode(0, 1, "2020-12-24"),)),
            SeasonMetadata(1, title="Season One", overview="The first season.", air_date="2019-09-01",
                           artwork=(ArtworkInfo("poster", f"{IMAGES}/season/1.png"),),
                           episodes=tuple(episode(1, n, f"2019-09-{n:02d}") for n in range(1, 5))),
            SeasonMetadata(2, title="Season Two", air_date="2020-09-01",
                           artwork=(ArtworkInfo("poster", f"{IMAGES}/season/2.png"),),
                           episodes=(episode(2, 1, "2020-09-01"), episode(2, 2, "2020-09-08"))),
        ),
    )


def daily_metadata() -> ItemMetadata:
    """A daily show numbered by the provider: 2024-03-15 is S29E56."""
    return ItemMetadata(
        provider="fakedb", external_id="200", content_type="tv", title="Daily Show", year=1996,
        seasons=(SeasonMetadata(29, episodes=(
            EpisodeMetadata(29, 55, title="March 14", air_date="2024-03-14"),
            EpisodeMetadata(29, 56, title="March 15", air_date="2024-03-15"),
        )),),
    )


def other_metadata() -> ItemMetadata:
    return ItemMetadata(provider="fakedb", external_id="300", content_type="tv", title="Completely Different",
                        year=2001, genres=("Comedy",), networks=("BBC",))


class FakeTvSource:
    """A metadata provider for ``tv``: finds shows by title, answers lookups, counts calls."""

    def __init__(self) -> None:
        self.shows = {m.external_id: m for m in (show_metadata(), daily_metadata(), other_metadata())}
        self.searches: list[tuple[str, int | None, dict[str, str]]] = []
        self.lookups: list[str] = []
        self.fail = False
        self.fail_lookups = False

    async def search(self, content_type: str, query: str, *, year: int | None = None, language: str | None = None,
                     external_ids: dict[str, str] | None = None) -> list[MetadataMatch]:
        self.searches.append((query, year, dict(external_ids or {})))
        if self.fail:
            raise RuntimeError("fakedb is down")
        matches = [MetadataMatch("fakedb", show.external_id, show.title, show.year,
                                 score=match_score(query, year, show.title, show.year))
                   for show in self.shows.values()]
        return sorted([m for m in matches if m.score > 0.3], key=lambda m: -m.score)

    async def lookup(self, content_type: str, external_id: str, *, language: str | None = None) -> Any:
        self.lookups.append(external_id)
        if self.fail or self.fail_lookups:
            raise RuntimeError("fakedb is down")
        return self.shows.get(external_id)


class Tree:
    """A TV library on disk, with its files tracked by the harness's MemoryLibrary."""

    def __init__(self, harness: PluginHarness, root: Path):
        self.harness = harness
        self.root = root
        self.library = harness.library.add_library(Library(id="lib1", name="TV", content_type="tv",
                                                           paths=(str(root),), languages=("en",)))
        self.files: dict[str, MediaFile] = {}

    def video(self, relative: str, **kwargs: Any) -> MediaFile:
        path = make_video(self.root / relative, **kwargs)
        media = self.harness.library.add_file(self.library, str(path), size=path.stat().st_size)
        self.files[relative] = media
        return media

    def image(self, relative: str, **kwargs: Any) -> Path:
        return make_image(self.root / relative, **kwargs)

    def srt(self, relative: str) -> Path:
        return make_srt(self.root / relative)

    def tvshow_nfo(self, folder: str, **kwargs: Any) -> Path:
        return make_nfo_tvshow(self.root / folder / "tvshow.nfo", **kwargs)

    def episode_nfo(self, relative: str, **kwargs: Any) -> Path:
        return make_nfo_episode(self.root / relative, **kwargs)

    async def ingest(self, *relatives: str) -> list[Any]:
        files = [self.files[r] for r in relatives] if relatives else list(self.files.values())
        return list(await self.handler.ingest(self.library, files))

    @property
    def handler(self) -> Any:
        [content_type] = self.harness.registrations("content_types")
        return content_type.handler

    def move(self, old: str, new: str) -> Any:
        """Rename a file on disk and in the library; returns the FileMove the server would send."""
        media = self.files.pop(old)
        target = self.root / new
        target.parent.mkdir(parents=True, exist_ok=True)
        (self.root / old).rename(target)
        moved = MediaFile(file_id=media.file_id, library_id=media.library_id, path=str(target), root=media.root,
                          relative_path=new, size=media.size, mtime=media.mtime, local_path=str(target),
                          item_key=media.item_key)
        self.harness.library.set_file(moved)
        self.files[new] = moved
        return FileMove(file_id=media.file_id, old_path=media.path, new_path=str(target), relative_path=new,
                        item_key=media.item_key)


def show_tree(tree: Tree) -> Tree:
    """The usual show: NFOs, artwork, a multi-episode file, ``1x03`` naming, specials, a sample."""
    tree.tvshow_nfo("Show (2019)", title="Show", year=2019, ids={"tvdb": "555"}, plot="From the NFO.")
    tree.image("Show (2019)/poster.jpg")
    tree.image("Show (2019)/season01-poster.jpg")
    tree.video("Show (2019)/Season 01/Show - S01E01.mkv", subtitles=("eng",))
    tree.episode_nfo("Show (2019)/Season 01/Show - S01E01.nfo", title="Pilot (NFO)", season=1, episode=1,
                     aired="2019-09-01", ids={"tvdb": "9001"})
    tree.image("Show (2019)/Season 01/Show - S01E01-thumb.jpg", width=320, height=180)
    tree.srt("Show (2019)/Season 01/Show - S01E01.fr.forced.srt")
    tree.video("Show (2019)/Season 01/Show.S01E02E03.720p.mkv", width=1280, height=720)
    tree.video("Show (2019)/Season 01/Show - 1x04.mkv")
    tree.video("Show (2019)/Season 02/Show - S02E01.mkv")
    tree.video("Show (2019)/Specials/Show - S00E01.mkv")
    tree.video("Show (2019)/Season 01/Show - S01E01-sample.mkv")
    return tree


def rows(harness: PluginHarness, query: Any) -> list[Any]:
    """The rows a peewee query (a callable returning one) selects, read on the test database."""
    return harness.db.run_sync(lambda: list(query()))


LIST_INDEXES = [  # (sort, descending, the index the first page of GET /tv/series must walk)
    ("title", False, "tv_series_sort_key_id"), ("title", True, "tv_series_sort_key_id"),
    ("year", True, "tv_series_year_id"), ("rating", True, "tv_series_rating_id"),
    ("added", True, "tv_series_added_at_id"),
]


def list_plan(sort: str, descending: bool) -> str:
    """The plan of the first page of ``GET /tv/series`` by ``sort``, with sorting made a last resort."""
    from revenge_hookspecs.db import is_sqlite
    from revenge_tv import views
    from revenge_tv.models import Series

    database = Series._meta.database
    sql, params = views._visible(Series.select(), None).order_by(
        *views.list_order(sort, descending)).paginate(1, 50).sql()
    if is_sqlite(database):
        return "\n".join(str(row[-1]) for row in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    with database.atomic():
        database.execute_sql("SET LOCAL enable_seqscan = off")
        database.execute_sql("SET LOCAL enable_sort = off")
        return "\n".join(row[0] for row in database.execute_sql(f"EXPLAIN {sql}", params))
