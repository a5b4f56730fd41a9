"""The movies plugin's hold on the host: database, item registry, search index, jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from revenge_hookspecs.media import ItemRef, item_key
from revenge_video.people import Pair

from . import store
from .config import MoviesConfig
from .documents import DOC_TYPE, PERSON_TYPE, credited, documents, person_documents
from .models import MODELS

T = TypeVar("T")
ITEM_TYPE = "movie"
ENRICH_JOB = "movies.enrich"


def movie_key(movie_id: int) -> str:
    return item_key(ITEM_TYPE, movie_id)


class MovieService:
    """Shared by the handler, the enrichment job and the routes; stateless besides the context."""

    def __init__(self, context: Any):
        self.context = context
        self.config: MoviesConfig = context.config or MoviesConfig()
        context.db.bind(MODELS)

    @property
    def logger(self) -> Any:
        return self.context.logger

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.context.db.run(fn, *args, **kwargs)

    async def publish(self, movie_ids: Iterable[int], *, people: Iterable[Pair] = ()) -> None:
        """Register movies in the item registry and (re)index them after they changed.

        The people credited in them are reindexed too, with ``people``: those credited before
        the change (whoever lost their last credit in a library loses that document).
        """
        movie_ids = sorted(set(movie_ids))
        docs = await self.run(documents, movie_ids)
        await self.index_people(set(people) | await self.run(credited, movie_ids))
        if not docs:
            return
        await self.context.library.upsert_items([
            ItemRef(movie_key(int(doc["id"])), doc["library_id"], doc["title"], year=doc.get("year"))
            for doc in docs
        ])
        try:
            await self.context.search.index(DOC_TYPE, docs)
        except Exception as exc:  # the index is rebuilt by `revenge search reindex`; ingest goes on
            self.logger.opt(exception=exc).warning("could not index {} movie(s)", len(docs))

    async def forget(self, movie_ids: Sequence[int]) -> None:
        """Delete movies with their artwork, registry entries and search documents."""
        if not movie_ids:
            return
        keys = [movie_key(i) for i in movie_ids]
        for key in keys:
            await self.context.artwork.remove_item(key)
        await self.run(store.forget_person_images, keys)
        people = await self.run(credited, movie_ids)
        await self.run(store.delete_movies, list(movie_ids))
        await self.context.library.remove_items(keys)
        try:
            await self.context.search.delete(DOC_TYPE, [str(i) for i in movie_ids])
        except Exception as exc:
            self.logger.opt(exception=exc).warning("could not remove {} movie(s) from the index", len(movie_ids))
        await self.index_people(people)

    async def index_people(self, pairs: Iterable[Pair]) -> None:
        """Bring the ``movie_person`` documents of these people in these libraries up to date."""
        pairs = set(pairs)
        if not pairs:
            return
        docs, gone = await self.run(person_documents, pairs)
        try:
            if docs:
                await self.context.search.index(PERSON_TYPE, docs)
            if gone:
                await self.context.search.delete(PERSON_TYPE, gone)
        except Exception as exc:  # `revenge search reindex` repairs it
            self.logger.opt(exception=exc).warning("could not index {} person document(s)", len(docs) + len(gone))

    def enqueue_enrich(self, movie_id: int, *, replace: bool = False) -> str:
        return self.context.jobs.enqueue(ENRICH_JOB, {"movie_id": movie_id, "replace": replace})
