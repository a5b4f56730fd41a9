"""``MoviesHandler``: the content handler that turns a movie library's files into movies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from revenge_hookspecs.media import FileMove, IngestResult, Library, MediaFile, parse_item_key
from revenge_video.people import Pair

from . import enrich, local, store
from .documents import credited
from .facts import LocalMovie
from .service import ITEM_TYPE, MovieService, movie_key

MAX_ERROR = 500


def credited_in_movie_of(library_id: str, media: MediaFile, movie: LocalMovie) -> set[Pair]:
    """Blocking: the people credited in the movie a file is about to be attached to."""
    found = store.movie_of_file(library_id, media.file_id, movie)
    return credited([found.id]) if found is not None else set()


class MoviesHandler:
    """The :class:`~revenge_hookspecs.media.ContentHandler` of the ``movie`` content type.

    Ingest makes one movie per title and year (or per external id from an NFO); every further
    file of it (another edition or resolution, a second part) becomes a version of that movie.
    New movies, and movies not matched yet, get a ``movies.enrich`` job, unless one is queued already
    (``Movie.enrich_queued_at``).
    """

    def __init__(self, context: Any):
        self.context = context

    @property
    def service(self) -> MovieService:
        # Built per call: cheap, and it binds the models to the database of this context.
        return MovieService(self.context)

    async def ingest(self, library: Library, files: Sequence[MediaFile]) -> list[IngestResult]:
        service = self.service
        results: list[IngestResult] = []
        touched: set[int] = set()
        to_enrich: set[int] = set()
        credited_before: set[Pair] = set()
        for media in files:
            try:
                gathered = await local.gather(self.context, library, media,
                                              probe_timeout=service.config.probe_timeout)
                if gathered is None:
                    results.append(IngestResult(media.file_id, None))
                    continue
                if gathered.movie.credits:  # the NFO's credits replace the movie's: remember who had one
                    credited_before |= await service.run(credited_in_movie_of, library.id, media, gathered.movie)
                attached = await service.run(store.attach_file, library.id, media, gathered.movie, gathered.facts)
                await self._store_local_artwork(service, attached.movie_id, gathered.artwork)
            except Exception as exc:
                service.logger.opt(exception=exc).warning("could not ingest {}", media.relative_path)
                results.append(IngestResult(media.file_id, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR]))
                continue
            touched.add(attached.movie_id)
            if not attached.was_matched:
                to_enrich.add(attached.movie_id)
            results.append(IngestResult(media.file_id, movie_key(attached.movie_id)))
        await service.publish(touched, people=credited_before)
        await self._enqueue_enrich(service, to_enrich)
        return results

    @staticmethod
    async def _enqueue_enrich(service: MovieService, movie_ids: set[int]) -> None:
        # One job per movie until it runs, however many batches touch the movie meanwhile.
        claimed = await service.run(store.claim_enrich, movie_ids)
        for index, movie_id in enumerate(claimed):
            try:
                service.enqueue_enrich(movie_id)
            except Exception:
                await service.run(store.release_enrich, claimed[index:])
                raise

    async def _store_local_artwork(self, service: MovieService, movie_id: int,
                                   images: Sequence[local.LocalImage]) -> None:
        key = movie_key(movie_id)
        for image in images:
            try:
                if image.local_path is not None:
                    ref = await self.context.artwork.store(key, image.kind, path=image.local_path)
                else:
                    ref = await self.context.artwork.store(key, image.kind, data=image.data)
            except (OSError, ValueError) as exc:
                service.logger.warning("local {} of {} not stored: {}", image.kind, key, exc)
                continue
            await service.run(store.add_artwork, movie_id, ref, source=store.LOCAL)

    async def files_moved(self, library: Library, moves: Sequence[FileMove]) -> None:
        await self.service.run(store.move_files, [(m.file_id, m.relative_path) for m in moves])

    async def files_removed(self, library: Library, files: Sequence[MediaFile]) -> None:
        service = self.service
        orphans, keeping = await service.run(store.remove_files, [f.file_id for f in files])
        await service.forget(orphans)
        await service.publish(keeping)

    async def refresh(self, library: Library, item_key: str, *, replace: bool = False) -> None:
        item_type, raw_id = parse_item_key(item_key)
        if item_type != ITEM_TYPE or not raw_id.isdigit():
            raise ValueError(f"{item_key!r} is not a movie of this plugin")
        await enrich.enrich(self.service, int(raw_id), replace=replace)
