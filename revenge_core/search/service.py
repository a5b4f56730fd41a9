"""The search service: one interface over Typesense and the database index.

The database index (SQLite FTS5 or PostgreSQL pg_trgm) is written on every install. With
``search.url`` set, Typesense is the primary backend and is written as well; when it
cannot answer a search, the database index does, and the result says ``degraded``.

Keeping Typesense honest:

- a failed Typesense write never fails the caller; the document type is marked *dirty*,
  and searches on it are answered from the database index until Typesense holds the same
  documents again;
- a dirty type is repaired from the database index in the background as soon as
  Typesense answers again, or by :meth:`SearchService.reindex`;
- after Typesense fails, a circuit breaker sends every search straight to the database
  for :attr:`SearchService.cooldown` seconds rather than waiting on a dead server.

Dirty marks live in this process; another instance learns of a gap when its own writes fail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from loguru import logger

from revenge_hookspecs.types import SearchDocumentType

from ..config import Config
from ..db.database import Database
from ..plugins.registry import Registry
from .dbindex import DatabaseIndex, open_database_index
from .documents import (
    PreparedDocument,
    SearchRequest,
    build_request,
    document_ids,
    load_all_documents,
    prepare_document,
    prepare_documents,
    result,
    select_types,
)
from .typesense_index import TypesenseIndex, UnsupportedQuery, is_unavailable

REINDEX_BATCH = 500
DEFAULT_COOLDOWN = 30.0


class CircuitBreaker:
    """Open for ``cooldown`` seconds after a failure; closed again by the next success."""

    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic):
        self.cooldown = cooldown
        self.clock = clock
        self.open_until = 0.0
        self.last_error = ""

    @property
    def allows(self) -> bool:
        return self.clock() >= self.open_until

    def failure(self, error: BaseException | str) -> None:
        self.open_until = self.clock() + self.cooldown
        self.last_error = str(error) or type(error).__name__

    def success(self) -> None:
        self.open_until = 0.0
        self.last_error = ""


class SearchService:
    """Index, search and rebuild search documents of every registered document type."""

    def __init__(self, config: Config, db: Database, registry: Registry, *,
                 cooldown: float = DEFAULT_COOLDOWN, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.db = db
        self.registry = registry
        self.database_index: DatabaseIndex = open_database_index(db)
        search = config.search
        self.typesense: TypesenseIndex | None = (
            TypesenseIndex(search.url, search.api_key, search.timeout) if search.url else None)
        self.backend = "typesense" if self.typesense is not None else db.driver
        self.breaker = CircuitBreaker(cooldown, clock)
        self.dirty: set[str] = set()
        self._ready: set[tuple[str, Any]] = set()  # (type, fields) whose collection is known good
        self._locks: dict[str, asyncio.Lock] = {}
        self._repairs: dict[str, asyncio.Task[None]] = {}
        self._repair_not_before: dict[str, float] = {}  # after a failed repair, wait a cooldown
        self._reindexing: set[str] = set()

    @property
    def cooldown(self) -> float:
        return self.breaker.cooldown

    @cooldown.setter
    def cooldown(self, seconds: float) -> None:
        self.breaker.cooldown = seconds

    async def start(self) -> None:
        """Check that Typesense answers, when configured; an unreachable one is reported, not fatal."""
        if self.typesense is None:
            return
        url = self.config.search.url
        try:
            await self.typesense.health()
            logger.info("search: Typesense at {} is primary, the {} index is the fallback", url, self.db.driver)
        except Exception as exc:
            self.breaker.failure(exc)
            logger.warning("search: Typesense at {} is not answering ({}); searches use the {} index",
                           url, self.breaker.last_error, self.db.driver)

    async def close(self) -> None:
        """Stop background repairs and close connections to Typesense."""
        repairs = [task for task in self._repairs.values() if not task.done()]
        for task in repairs:
            task.cancel()
        await asyncio.gather(*repairs, return_exceptions=True)
        self._repairs.clear()
        if self.typesense is not None:
            await self.typesense.close()
            self.typesense = None

    # --- document types -------------------------------------------------------------------------

    def document_types(self, names: Iterable[str] | str | None = None) -> list[SearchDocumentType]:
        """The registered document types ``names`` names (all usable ones when ``None``).

        :raises ValueError: for a type no enabled plugin registers, or one declaring a
            reserved field; searching every type skips such a type with a warning instead.
        """
        registered = {t.name: t for t in self.registry.of("search_documents")}
        return select_types(registered, names,
                            on_skip=lambda exc: logger.warning("search: skipping document type: {}", exc))

    def _type(self, name: str) -> SearchDocumentType:
        return self.document_types([name])[0]

    def _lock(self, doc_type: str) -> asyncio.Lock:
        return self._locks.setdefault(doc_type, asyncio.Lock())

    # --- writes ---------------------------------------------------------------------------------

    async def index(self, doc_type: str, documents: Iterable[Mapping[str, Any]]) -> None:
        """Insert or replace documents (each with ``id`` and ``title``) of a registered type."""
        kind = self._type(doc_type)
        prepared = prepare_documents(kind, documents)
        if not prepared:
            return
        await self.database_index.upsert(kind.name, prepared)
        if self.typesense is not None:
            typesense = self.typesense
            await self._typesense_write(kind, "index", lambda: typesense.upsert(kind.name, prepared),
                                        covered=len(prepared))

    async def delete(self, doc_type: str, ids: Iterable[str]) -> None:
        """Remove documents by id; ids that are not indexed are ignored."""
        kind = self._type(doc_type)
        ids = document_ids(ids)
        if not ids:
            return
        await self.database_index.delete(kind.name, ids)
        if self.typesense is not None:
            typesense = self.typesense
            await self._typesense_write(kind, "delete", lambda: typesense.delete(kind.name, ids))

    async def _typesense_write(self, kind: SearchDocumentType, action: str,
                               write: Callable[[], Awaitable[None]], *, covered: int = 0) -> None:
        """Mirror a database write to Typesense; a failure marks the type dirty instead of raising."""
        if not self.breaker.allows:
            self._mark_dirty(kind.name, f"{action} skipped while Typesense is unavailable")
            return
        try:
            async with self._lock(kind.name):
                await self._ensure_collection(kind, covered)
                await write()
            self.breaker.success()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._typesense_failed(exc)
            self._mark_dirty(kind.name, f"{action} failed: {exc or type(exc).__name__}")

    def _typesense_failed(self, exc: BaseException) -> None:
        if is_unavailable(exc):
            self.breaker.failure(exc)

    def _mark_dirty(self, doc_type: str, reason: str) -> None:
        if doc_type not in self.dirty:
            logger.warning("search: Typesense is missing changes to {!r} ({}); the {} index answers for it "
                           "until it is repaired", doc_type, reason, self.db.driver)
        self.dirty.add(doc_type)

    async def _ensure_collection(self, kind: SearchDocumentType, covered: int = 0) -> None:
        """Create the collection on first use; one that is new or outdated gets repaired.

        ``covered`` is how many documents the write under way puts into it: a new
        collection is complete only if the database index holds no others.
        """
        key = (kind.name, kind.fields)
        if key in self._ready:
            return
        assert self.typesense is not None
        state = await self.typesense.ensure_collection(kind)
        if state == "changed":
            self._mark_dirty(kind.name, "its fields changed")
        elif state == "created" and await self.database_index.count(kind.name) > covered:
            self._mark_dirty(kind.name, "its collection was missing")
        self._ready.add(key)

    # --- repair and reindex ---------------------------------------------------------------------

    async def _repair(self, kind: SearchDocumentType) -> int:
        """Rebuild the type's Typesense collection from the database index; returns its size."""
        assert self.typesense is not None
        count = 0
        async with self._lock(kind.name):
            await self.typesense.recreate_collection(kind)
            async for batch in self.database_index.batches(kind.name, REINDEX_BATCH):
                await self.typesense.upsert(kind.name, batch)
                count += len(batch)
            self._ready.add((kind.name, kind.fields))
            self.dirty.discard(kind.name)
        self.breaker.success()
        logger.info("search: Typesense collection for {!r} rebuilt with {} documents", kind.name, count)
        return count

    def _schedule_repair(self, kind: SearchDocumentType) -> None:
        """Repair a dirty type in the background, unless under way, failed lately, or reindexing."""
        running = self._repairs.get(kind.name)
        if running is not None and not running.done():
            return
        if kind.name in self._reindexing or self.breaker.clock() < self._repair_not_before.get(kind.name, 0.0):
            return

        async def repair() -> None:
            try:
                await self._repair(kind)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._typesense_failed(exc)
                # Without this a type Typesense keeps refusing would be rebuilt on every search.
                self._repair_not_before[kind.name] = self.breaker.clock() + self.breaker.cooldown
                logger.warning("search: repairing Typesense for {!r} failed: {}", kind.name, exc)

        self._repairs[kind.name] = asyncio.create_task(repair(), name=f"search-repair-{kind.name}")

    async def reindex(self, doc_types: Iterable[str] | str | None = None) -> dict[str, int]:
        """Rebuild the index of each type (all registered when ``None``) from its ``load_all``.

        Documents that ``load_all`` no longer yields are removed. A type without
        ``load_all`` keeps what the database index holds, and Typesense is rebuilt from
        it. Returns how many documents each type now has.
        """
        counts: dict[str, int] = {}
        for kind in self.document_types(doc_types):
            self._reindexing.add(kind.name)
            try:
                if kind.load_all is not None:
                    counts[kind.name] = await self._reload(kind)
                else:
                    counts[kind.name] = await self.database_index.count(kind.name)
                if self.typesense is not None:
                    await self._reindex_typesense(kind)
            finally:
                self._reindexing.discard(kind.name)
        return counts

    async def _reindex_typesense(self, kind: SearchDocumentType) -> None:
        try:
            await self._repair(kind)
            self._repair_not_before.pop(kind.name, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._typesense_failed(exc)
            self.dirty.add(kind.name)
            logger.warning("search: reindex could not update Typesense for {!r} ({}); the {} index answers "
                           "for it until it is repaired", kind.name, exc or type(exc).__name__, self.db.driver)

    async def _reload(self, kind: SearchDocumentType) -> int:
        if self.typesense is not None:
            # The database index keeps every document until the end, so it answers meanwhile.
            self.dirty.add(kind.name)
        seen: set[str] = set()
        batch: list[PreparedDocument] = []
        async for document in load_all_documents(kind):
            doc = prepare_document(kind, document)
            batch.append(doc)
            seen.add(doc.doc_id)
            if len(batch) >= REINDEX_BATCH:
                await self.database_index.upsert(kind.name, prepare_unique(batch))
                batch = []
        await self.database_index.upsert(kind.name, prepare_unique(batch))
        stale = await self.database_index.ids(kind.name) - seen
        await self.database_index.delete(kind.name, sorted(stale))
        logger.info("search: reindexed {} documents of {!r} ({} removed)", len(seen), kind.name, len(stale))
        return len(seen)

    # --- search ---------------------------------------------------------------------------------

    async def search(self, query: str, *, doc_types: Iterable[str] | str | None = None,
                     filters: Mapping[str, Any] | None = None, facets: Iterable[str] = (),
                     page: int = 1, per_page: int = 20, library_ids: Iterable[str] | None = None,
                     include_unscoped: bool = True) -> dict[str, Any]:
        """Find documents; see the module docstring for which backend answers.

        :param query: free text; misspellings are tolerated. Empty lists every document.
        :param doc_types: document types to search, all registered ones when ``None``.
        :param filters: ``{field: value}``, ``{field: [values]}`` (any of them) or, for
            numbers, ``{field: {"min": .., "max": ..}}``; only facet fields qualify.
        :param facets: facet fields to count over every match (not just this page).
        :param library_ids: only documents whose ``library_id`` is one of these match;
            ``None`` means every library. Totals and facet counts cover the same documents.
        :param include_unscoped: whether documents without a ``library_id`` (people, for
            example) match as well.
        :returns: ``hits`` (``id``, ``type``, ``title``, ``score``, ``library_id`` when
            the document has one, and the document's fields), ``found``, ``page``,
            ``per_page``, ``facets`` (``{field: {value: count}}``), ``backend`` (which one
            answered) and ``degraded`` (true when Typesense is primary but the database
            index answered).
        :raises ValueError: for an unknown type or field, or a bad value or page.
        """
        request = build_request(self.document_types(doc_types), query, filters=filters, facets=facets,
                                page=page, per_page=per_page, library_ids=library_ids,
                                include_unscoped=include_unscoped)
        if request.cannot_match:
            return result(request, hits=[], found=0, facets={}, backend=self.backend, degraded=False)
        if self.typesense is None:
            return await self.database_index.search(request)
        answer = await self._search_typesense(request)
        if answer is not None:
            return answer
        return await self.database_index.search(request, degraded=True)

    async def _search_typesense(self, request: SearchRequest) -> dict[str, Any] | None:
        """Typesense's answer, or ``None`` when the database index has to answer."""
        assert self.typesense is not None
        if not self.breaker.allows:
            return None
        try:
            for kind in request.types:
                await self._ensure_collection(kind)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._typesense_failed(exc)
            logger.warning("search: Typesense is unavailable ({}); answering from the {} index",
                           exc or type(exc).__name__, self.db.driver)
            return None
        dirty = [kind for kind in request.types if kind.name in self.dirty]
        if dirty:
            for kind in dirty:
                self._schedule_repair(kind)
            return None
        try:
            answer = await self.typesense.search(request)
        except UnsupportedQuery as exc:
            logger.debug("search: {}; answering from the {} index", exc, self.db.driver)
            return await self.database_index.search(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._typesense_failed(exc)
            logger.warning("search: Typesense search failed ({}); answering from the {} index",
                           exc or type(exc).__name__, self.db.driver)
            return None
        self.breaker.success()
        return answer

    # --- health ---------------------------------------------------------------------------------

    async def ping(self) -> dict[str, Any]:
        """Health for ``/health/ready``.

        ``ok`` is the health of the primary ``backend``. ``fallback`` names the database
        index that answers searches while Typesense cannot (``None`` without Typesense, or
        when the database does not answer either); ``degraded`` says that it currently
        does for some searches; ``error`` says what failed.
        """
        database_error = ""
        try:
            await self.database_index.ping()
        except Exception as exc:
            database_error = str(exc) or type(exc).__name__
        if self.typesense is None:
            answer: dict[str, Any] = {"backend": self.backend, "ok": not database_error, "fallback": None,
                                      "degraded": False}
            if database_error:
                answer["error"] = f"{self.db.driver}: {database_error}"
            return answer
        typesense_error = ""
        try:
            await self.typesense.health()
            self.breaker.success()
        except Exception as exc:
            typesense_error = str(exc) or type(exc).__name__
            self._typesense_failed(exc)
        answer = {
            "backend": self.backend,
            "ok": not typesense_error,
            "fallback": None if database_error else self.db.driver,
            "degraded": bool(typesense_error or self.dirty),
            "dirty": sorted(self.dirty),
        }
        errors = {"typesense": typesense_error, self.db.driver: database_error}
        if any(errors.values()):
            answer["error"] = "; ".join(f"{name}: {error}" for name, error in errors.items() if error)
        return answer


def prepare_unique(batch: list[PreparedDocument]) -> list[PreparedDocument]:
    """The last of each id, so one upsert statement never touches a row twice."""
    return list({doc.doc_id: doc for doc in batch}.values())

