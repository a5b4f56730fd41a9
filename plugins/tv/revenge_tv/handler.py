"""The TV content handler: the server hands it a library's files, it keeps series, seasons and
episodes in step with them.

A file becomes one or more episodes (``S01E02E03`` holds two) of a season of a series, found by
the show folder and the numbers in its name. A daily show's file (``Show.2024.03.15.mkv``)
becomes an episode known by its air date until enrichment learns its number. Samples and
extras are left alone. Whatever a file brings along (NFOs, subtitles, posters and thumbs)
is read on ingest; metadata providers are asked later by the ``tv.enrich`` job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from revenge_hookspecs.media import FileMove, IngestResult, Library, MediaFile, parse_item_key
from revenge_video.names import ParsedName, parse_name_async

from . import local, store
from .models import Episode, EpisodeFile, EpisodeFileLink, Series
from .paths import folder_title, show_folder

if TYPE_CHECKING:
    from .service import Tv

ENRICH_JOB = "tv.enrich"


class NotAnEpisode(ValueError):
    """The file's name says no season and episode, air date or absolute number."""


@attrs.define
class Batch:
    """What one call changed, acted on once at its end."""

    series: set[int] = attrs.Factory(set)
    seasons: set[int] = attrs.Factory(set)
    episodes: set[int] = attrs.Factory(set)
    enrich: set[int] = attrs.Factory(set)
    pruned: store.Pruned = attrs.Factory(store.Pruned)
    shows: dict[str, local.ShowFacts | None] = attrs.Factory(dict)
    """tvshow.nfo by its path, read once per batch."""
    artwork_done: set[tuple[str, int, str]] = attrs.Factory(set)

    def placed(self, placed: store.Placed) -> None:
        self.series.add(placed.series_id)
        self.seasons.add(placed.season_id)
        self.episodes.update(placed.episode_ids)
        self.pruned.merge(placed.pruned)
        if placed.created:
            self.enrich.add(placed.series_id)


def episode_target(parsed: ParsedName) -> store.EpisodeTarget:
    """Which episodes a parsed name points at. :raises NotAnEpisode: when it points at none."""
    if parsed.episodes and parsed.season is not None:
        return store.EpisodeTarget(season=parsed.season, numbers=parsed.episodes)
    if parsed.air_date is not None:
        season = parsed.season if parsed.season is not None else parsed.air_date.year
        return store.EpisodeTarget(season=season, air_date=parsed.air_date)
    absolute = parsed.absolute_episode if parsed.absolute_episode is not None else parsed.episode
    if absolute is not None:
        return store.EpisodeTarget(season=parsed.season if parsed.season is not None else 1, absolute=absolute)
    raise NotAnEpisode("the file name gives no episode number (S01E02, 1x02), air date or absolute number")


def series_facts(relative_path: str, parsed: ParsedName, show: local.ShowFacts | None) -> store.SeriesFacts:
    folder = show_folder(relative_path)
    name, name_year = folder_title(folder) if folder else (None, None)
    title = parsed.title or name or "Unknown series"
    facts = store.SeriesFacts(folder=folder, title=title, year=parsed.year or name_year,
                              external_ids=dict(parsed.external_ids) if folder else {})
    if show is not None:
        facts.external_ids.update(show.external_ids)
        facts.fields = dict(show.fields)
        facts.year = show.fields.get("year") or facts.year
    return facts


class TvHandler:
    """:class:`~revenge_hookspecs.media.ContentHandler` of the ``tv`` content type."""

    def __init__(self, tv: Tv):
        self.tv = tv
        self.context = tv.context

    # --- ingest ------------------------------------------------------------------------------------

    async def ingest(self, library: Library, files: Sequence[MediaFile]) -> list[IngestResult]:
        batch = Batch()
        results = []
        for media in files:
            try:
                results.append(await self._ingest_one(library, media, batch))
            except NotAnEpisode as exc:
                results.append(IngestResult(media.file_id, error=str(exc)))
            except Exception as exc:  # one bad file must not cost the others their ingest
                self.context.logger.exception("tv: cannot ingest {}", media.relative_path)
                results.append(IngestResult(media.file_id, error=f"{type(exc).__name__}: {exc}"))
        await self.finish(library, batch)
        return results

    async def _ingest_one(self, library: Library, media: MediaFile, batch: Batch) -> IngestResult:
        parsed = await parse_name_async(media.relative_path, kind="episode")
        if parsed.is_sample or parsed.is_extra:
            # A file that used to be an episode and is now a sample or extra leaves it.
            batch.pruned.merge(await self.tv.write(store.remove_files, [media.file_id]))
            return IngestResult(media.file_id, item_key=None)
        target = episode_target(parsed)
        found = None
        if media.local_path is not None:
            found = await local.read_file(media, target, probe_timeout=self.tv.config.probe_timeout)
        show = None
        if found is not None and found.series_nfo is not None:
            if found.series_nfo not in batch.shows:
                batch.shows[found.series_nfo] = await asyncio.to_thread(local.read_show, media, found.series_nfo)
            show = batch.shows[found.series_nfo]
        if found is not None:
            target.episode_fields = dict(found.episode_fields)
            target.season_fields = dict(found.season_fields)
        facts = series_facts(media.relative_path, parsed, show)
        placed = await self.tv.write(store.place_file, library.id, media.file_id, media.relative_path, facts,
                                     target, local.file_columns(parsed, media, found))
        batch.placed(placed)
        if found is not None:
            await self._local_artwork(media, placed, target.season, found, batch)
        first, *later = placed.episode_ids
        return IngestResult(media.file_id, item_key=f"episode:{first}", also=tuple(f"episode:{i}" for i in later))

    async def _local_artwork(self, media: MediaFile, placed: store.Placed, season: int, found: local.FileFound,
                             batch: Batch) -> None:
        """Store the images beside the file: the show's, its season's and the episode's own."""
        for art in found.sidecars.artwork:
            if art.level == "series":
                owners = [("series", placed.series_id)]
            elif art.level == "season":
                owners = [("season", placed.season_id)] if art.season == season else []
            else:
                owners = [("episode", episode_id) for episode_id in placed.episode_ids]
            kind = "still" if art.level == "episode" and art.kind == "thumb" else art.kind
            for owner, owner_id in owners:
                if (owner, owner_id, art.path) in batch.artwork_done:
                    continue
                batch.artwork_done.add((owner, owner_id, art.path))
                path = local.local_file(media, art.path)
                if path is not None:
                    await self.tv.store_artwork(owner, owner_id, kind, source="local", path=path)

    # --- moves and removals --------------------------------------------------------------------------

    async def files_moved(self, library: Library, moves: Sequence[FileMove]) -> None:
        batch = Batch()
        known = await self.tv.read(lambda: {row.file_id: row for row in EpisodeFile.select().where(
            EpisodeFile.file_id.in_([m.file_id for m in moves]))})
        unknown = [m.file_id for m in moves if m.file_id not in known]
        await self.tv.write(self._follow_folder_renames, library.id, [m for m in moves if m.file_id in known])
        for move in moves:
            if move.file_id not in known:
                continue
            parsed = await parse_name_async(move.relative_path, kind="episode")
            try:
                if parsed.is_sample or parsed.is_extra:
                    raise NotAnEpisode("now a sample or an extra")
                target = episode_target(parsed)
            except NotAnEpisode:
                batch.pruned.merge(await self.tv.write(store.remove_files, [move.file_id]))
                continue
            facts = series_facts(move.relative_path, parsed, None)
            placed = await self.tv.write(store.place_file, library.id, move.file_id, move.relative_path, facts,
                                         target, None)
            batch.placed(placed)
        if unknown:
            # Files this type skipped before (an extra moved into a season folder) may be episodes now.
            await self.ingest(library, await self.context.library.files(library_id=library.id, file_ids=unknown))
        await self.finish(library, batch)

    @staticmethod
    def _follow_folder_renames(library_id: str, moves: Sequence[FileMove]) -> None:
        """A show folder renamed as a whole keeps its series (and so its id, grants and user data)."""
        by_series: dict[int, set[str]] = {}
        for move in moves:
            links = (EpisodeFileLink.select(EpisodeFileLink, EpisodeFile).join(EpisodeFile)
                     .where(EpisodeFile.file_id == move.file_id))
            for link in links:
                series_id = link.episode.series_id
                by_series.setdefault(series_id, set()).add(show_folder(move.relative_path))
        moved_ids = {m.file_id for m in moves}
        for series_id, folders in by_series.items():
            series = Series.get_by_id(series_id)
            if len(folders) != 1 or not series.folder:
                continue
            folder = folders.pop()
            if not folder or folder == series.folder:
                continue
            key = store.SeriesFacts(folder=folder, title=series.title).key
            if Series.get_or_none((Series.library_id == library_id) & (Series.location_key == key)):
                continue
            others = (EpisodeFile.select(EpisodeFile.file_id).join(EpisodeFileLink).join(Episode)
                      .where(Episode.series == series_id).distinct())
            if any(row.file_id not in moved_ids for row in others):
                continue  # some files stay behind: this is not a rename of the whole show
            series.folder, series.location_key = folder, key
            store.touch(series)

    async def files_removed(self, library: Library, files: Sequence[MediaFile]) -> None:
        batch = Batch()
        batch.pruned.merge(await self.tv.write(store.remove_files, [f.file_id for f in files]))
        await self.finish(library, batch)

    async def refresh(self, library: Library, item_key: str, *, replace: bool = False) -> None:
        series_id = await self.tv.series_of(item_key)
        if series_id is None:
            raise LookupError(f"no TV item {item_key!r}")
        await self.tv.enrich(series_id, replace=replace)

    # --- the end of a batch ----------------------------------------------------------------------------

    async def finish(self, library: Library, batch: Batch) -> None:
        """Tell the registry, the artwork service and the search index what changed."""
        pruned = batch.pruned
        batch.series -= set(pruned.series)
        batch.seasons -= set(pruned.seasons)
        batch.episodes -= set(pruned.episodes)
        await self.tv.forget(pruned)
        await self.tv.publish(series=batch.series | pruned.touched_series, seasons=batch.seasons,
                              episodes=batch.episodes)
        # New series, and changed ones not matched yet: one job each until it runs, however many
        # batches touch the series meanwhile.
        claimed = await self.tv.write(store.claim_enrich, batch.enrich - set(pruned.series),
                                      batch.series - batch.enrich)
        for index, series_id in enumerate(claimed):
            try:
                self.context.jobs.enqueue(ENRICH_JOB, {"series_id": series_id})
            except Exception:
                await self.tv.write(store.release_enrich, claimed[index:])
                raise


def tv_item(item_key: str) -> tuple[str, int]:
    """``("series" | "season" | "episode", id)`` of a TV item key. :raises ValueError: another key."""
    item_type, raw = parse_item_key(item_key)
    if item_type not in ("series", "season", "episode") or not raw.isdigit():
        raise ValueError(f"{item_key!r} is not a TV item")
    return item_type, int(raw)
