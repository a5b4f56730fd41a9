"""What the handler, the job and the routes share: the plugin's ways into the host.

The database (blocking work on its thread, writes in a transaction), the item registry,
artwork and the search index, all reached through the plugin's context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from revenge_hookspecs.media import ItemRef

from . import documents, store
from .config import TvConfig
from .handler import TvHandler, tv_item
from .models import MODELS, Episode, Season, Series

T = TypeVar("T")


def tv_for(context: Any) -> Tv:
    """A :class:`Tv` for a plugin context; it keeps no state of its own, so any number may exist."""
    return Tv(context)


def season_title(number: int) -> str:
    return "Specials" if number == 0 else f"Season {number}"


class Tv:
    def __init__(self, context: Any):
        self.context = context
        self.config: TvConfig = context.config or TvConfig()
        context.db.bind(MODELS)
        self.handler = TvHandler(self)

    # --- the database -------------------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.context.db.run(fn, *args, **kwargs)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in one transaction."""
        database = self.context.db.database

        def atomic() -> T:
            with database.atomic():
                return fn(*args, **kwargs)

        return await self.context.db.run(atomic)

    async def series_of(self, item_key: str) -> int | None:
        """The series an item key belongs to, or ``None``."""
        try:
            item_type, item_id = tv_item(item_key)
        except ValueError:
            return None
        model = {"series": Series, "season": Season, "episode": Episode}[item_type]

        def find() -> int | None:
            row = model.get_or_none(model.id == item_id)
            return None if row is None else (row.id if model is Series else row.series_id)

        return await self.read(find)

    async def enrich(self, series_id: int, *, replace: bool = False, provider: str | None = None,
                     external_id: str | None = None) -> str:
        from .enrich import enrich_series

        return await enrich_series(self, series_id, replace=replace, provider=provider, external_id=external_id)

    # --- artwork -------------------------------------------------------------------------------------

    async def store_artwork(self, owner: str, owner_id: int, kind: str, *, source: str, path: str | None = None,
                            url: str | None = None, language: str | None = None) -> Any:
        """Store an image of an item and remember it; a failure is logged, never raised."""
        try:
            ref = await self.context.artwork.store(f"{owner}:{owner_id}", kind, path=path, url=url, language=language)
        except Exception as exc:  # a broken or unreachable image costs only itself
            self.context.logger.warning("tv: cannot store the {} of {}:{} from {}: {}", kind, owner, owner_id,
                                        path or url, exc)
            return None
        await self.write(store.record_artwork, owner, owner_id, ref, source=source)
        return ref

    # --- the registry and the index -----------------------------------------------------------------

    async def forget(self, pruned: store.Pruned) -> None:
        """Tell the host about deleted series, seasons and episodes."""
        keys = pruned.keys()
        await self.index_people(pruned.people)
        if not keys:
            return
        for key in keys:
            await self.context.artwork.remove_item(key)
        await self.context.library.remove_items(keys)
        for doc_type, ids in ((documents.EPISODE, pruned.episodes), (documents.SERIES, pruned.series)):
            if ids:
                await self._indexing(self.context.search.delete, doc_type, [str(i) for i in ids])

    async def publish(self, *, series: Iterable[int] = (), seasons: Iterable[int] = (), episodes: Iterable[int] = (),
                      all_episodes: bool = False, people: Iterable[tuple[int, str]] = ()) -> None:
        """Register items and index documents for rows that are new or changed.

        ``all_episodes`` includes every episode of ``series`` (their documents carry the series title).
        The people credited in ``series`` are reindexed, and ``people`` (``(person_id, library_id)``
        credited before a change: whoever lost their last credit in a library loses that document).
        """
        series_ids, season_ids, episode_ids = set(series), set(seasons), set(episodes)
        if all_episodes and series_ids:
            episode_ids |= set(await self.read(documents.episode_ids_of, series_ids))
        refs = await self.read(item_refs, series_ids, season_ids, episode_ids)
        if refs:
            await self.context.library.upsert_items(refs)
        if series_ids:
            await self._indexing(self.context.search.index, documents.SERIES,
                                 await self.read(documents.series_documents, series_ids))
        if episode_ids:
            await self._indexing(self.context.search.index, documents.EPISODE,
                                 await self.read(documents.episode_documents, episode_ids))
        await self.index_people({*people, *(await self.read(documents.credited, series_ids))})

    async def index_people(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Bring the ``tv_person`` documents of these people in these libraries up to date."""
        pairs = set(pairs)
        if not pairs:
            return
        docs, gone = await self.read(documents.person_documents, pairs)
        if docs:
            await self._indexing(self.context.search.index, documents.PERSON, docs)
        if gone:
            await self._indexing(self.context.search.delete, documents.PERSON, gone)

    async def _indexing(self, call: Callable[..., Any], doc_type: str, payload: list[Any]) -> None:
        """Index or delete documents; a failing index is logged, ``revenge search reindex`` repairs it."""
        try:
            await call(doc_type, payload)
        except Exception as exc:
            self.context.logger.opt(exception=exc).warning("tv: could not update {} {} document(s) in the index",
                                                           len(payload), doc_type)


def item_refs(series_ids: set[int], season_ids: set[int], episode_ids: set[int]) -> list[ItemRef]:
    """Blocking: registry entries, parents first. Parents of the episodes and seasons come along."""
    episodes = list(Episode.select().where(Episode.id.in_(sorted(episode_ids)))) if episode_ids else []
    season_ids = season_ids | {e.season_id for e in episodes}
    seasons = list(Season.select().where(Season.id.in_(sorted(season_ids)))) if season_ids else []
    series_ids = series_ids | {s.series_id for s in seasons}
    shows = {s.id: s for s in Series.select().where(Series.id.in_(sorted(series_ids)))} if series_ids else {}
    refs = [ItemRef(key=f"series:{s.id}", library_id=s.library_id, title=s.title, year=s.year,
                    added_at=s.added_at) for s in shows.values()]
    refs += [ItemRef(key=f"season:{s.id}", library_id=shows[s.series_id].library_id,
                     title=s.title or season_title(s.number), parent_key=f"series:{s.series_id}",
                     year=s.air_date.year if s.air_date else None, added_at=s.added_at, sort_index=s.number)
             for s in seasons if s.series_id in shows]
    refs += [ItemRef(key=f"episode:{e.id}", library_id=shows[e.series_id].library_id,
                     title=documents.episode_title(e), parent_key=f"season:{e.season_id}",
                     year=e.air_date.year if e.air_date else None, added_at=e.added_at, sort_index=e.number)
             for e in episodes if e.series_id in shows]
    return refs
