"""What the host hands a plugin: the :class:`PluginContext` and the services on it.

A plugin never imports the server. Everything it needs arrives here, typed as protocols so
that the server, the SDK's test kit, or anything else can provide it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import peewee

T = TypeVar("T")


@runtime_checkable
class PluginDatabase(Protocol):
    """The server's database, shared by core and plugins.

    ``database`` is a peewee database; run blocking work through :meth:`run` so it never
    blocks the event loop. Bind your models with :meth:`bind` before using them.
    """

    database: peewee.Database
    driver: str  # "sqlite" or "postgres"

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a database thread with a connection open."""

    def bind(self, models: Iterable[type[peewee.Model]]) -> None:
        """Bind models to this database, mapping their schema for the driver."""


@runtime_checkable
class PluginCache(Protocol):
    """A key-value cache with time-to-live; keys are namespaced per plugin by the host."""

    async def get(self, key: str, default: Any = None) -> Any: ...

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def get_or_set(self, key: str, factory: Callable[[], Awaitable[Any]],
                         ttl: float | None = None) -> Any: ...


@runtime_checkable
class PluginJobs(Protocol):
    """The job queue. Jobs are registered with ``revenge_jobs`` and enqueued by name."""

    def enqueue(self, job: str, payload: Mapping[str, Any] | None = None, *,
                delay: float = 0) -> str:
        """Queue a job; returns its id."""


@runtime_checkable
class PluginEvents(Protocol):
    """The event bus."""

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        """Deliver an event to every handler subscribed to it."""


@runtime_checkable
class PluginSearch(Protocol):
    """The search index, whichever backend the server runs on.

    The rules for documents and searches are in :mod:`revenge_hookspecs.search`.
    """

    async def index(self, doc_type: str, documents: Iterable[Mapping[str, Any]]) -> None:
        """Insert or replace documents (each with ``id``, ``title`` and, if it belongs to a
        library, ``library_id``) of a registered type."""

    async def delete(self, doc_type: str, ids: Iterable[str]) -> None:
        """Remove documents by id; ids that are not indexed are ignored."""

    async def search(self, query: str, *, doc_types: Iterable[str] | None = None,
                     filters: Mapping[str, Any] | None = None,
                     facets: Iterable[str] = (), page: int = 1,
                     per_page: int = 20, library_ids: Iterable[str] | None = None,
                     include_unscoped: bool = True) -> Mapping[str, Any]:
        """Find documents; an empty query lists every one.

        ``library_ids`` keeps results, totals and facet counts to documents whose
        ``library_id`` is one of them (``None``: every library; pass
        ``await context.access.visible_library_ids(request)`` in a route).
        ``include_unscoped`` says whether documents without a ``library_id`` (people, for
        example) match as well. ``facets`` names facet fields to count over every match, or
        ``"type"`` to count matches per document type. :raises ValueError: for an unknown
        type or field, or a bad value or page.
        """


@runtime_checkable
class PluginAccess(Protocol):
    """Who is calling, and what they may see: apply it in every route that returns items.

    ``permission`` is ``view``, ``download`` or ``manage``; ``resource_type`` is ``library``
    or ``item``. What a caller may not see must look like it does not exist: use
    :meth:`require`, which answers 404, never 403.
    """

    def caller(self, request: Any) -> Any:
        """The :class:`~revenge_hookspecs.types.Caller` of a request, or ``None`` on a public route."""

    async def can(self, request: Any, permission: str, resource_type: str, resource_id: str, *,
                  library_id: str | None = None) -> bool:
        """Whether the caller may ``permission`` the resource (for an item, pass its library too)."""

    async def visible_library_ids(self, request: Any, permission: str = "view") -> frozenset[str] | None:
        """The libraries the caller may ``permission``; ``None`` means every library."""

    async def require(self, request: Any, permission: str, resource_type: str, resource_id: str, *,
                      library_id: str | None = None) -> None:
        """Raise :class:`~revenge_hookspecs.errors.NotFound` unless :meth:`can` is true."""


@runtime_checkable
class PluginLibrary(Protocol):
    """Libraries, their files and the item registry (see :mod:`revenge_hookspecs.media`).

    Register every item a content type creates with :meth:`upsert_items` (movies, series,
    seasons, episodes...): grants, user data, artwork access and home screens go by it.
    """

    async def get(self, library_id: str) -> Any:
        """The :class:`~revenge_hookspecs.media.Library`; raises ``NotFound`` when unknown."""

    async def libraries(self, content_type: str | None = None) -> list[Any]:
        """Every library, or those of one content type."""

    async def files(self, *, library_id: str | None = None, item_key: str | None = None,
                    file_ids: Iterable[str] | None = None, include_missing: bool = False) -> list[Any]:
        """Tracked :class:`~revenge_hookspecs.media.MediaFile` s matching every given criterion."""

    async def upsert_items(self, items: Iterable[Any]) -> None:
        """Add or update :class:`~revenge_hookspecs.media.ItemRef` s (``added_at`` is kept once set)."""

    async def remove_items(self, keys: Iterable[str]) -> None:
        """Forget items (their grants, user data and artwork go with them)."""

    async def item(self, key: str) -> Any:
        """The :class:`~revenge_hookspecs.media.ItemRef` of a key, or ``None``."""

    def storage(self, library: Any) -> Any:
        """The :class:`~revenge_hookspecs.types.Storage` that holds a library's files."""


@runtime_checkable
class PluginMetadata(Protocol):
    """The enabled metadata providers, asked in order with fallback past failures."""

    def providers(self, content_type: str, order: Iterable[str] = ()) -> list[str]:
        """Provider names for a content type, in the order they are asked."""

    async def search(self, content_type: str, query: str, *, year: int | None = None,
                     language: str | None = None, external_ids: Mapping[str, str] | None = None,
                     order: Iterable[str] = (), only: str | None = None) -> list[Any]:
        """:class:`~revenge_hookspecs.types.MetadataMatch` es from the first provider that has any.

        Raises :class:`~revenge_hookspecs.media.ProviderError` when every provider asked failed,
        so a job can retry instead of taking an outage for "no match"."""

    async def lookup(self, content_type: str, provider: str, external_id: str, *,
                     language: str | None = None) -> Any:
        """:class:`~revenge_hookspecs.media.ItemMetadata` from one provider, or ``None``."""


@runtime_checkable
class PluginArtwork(Protocol):
    """Images of items: stored once, served resized at ``/api/v1/images/{id}/{size}``
    behind the same access rules as their item."""

    async def store(self, item_key: str, kind: str, *, url: str | None = None, data: bytes | None = None,
                    path: str | None = None, language: str | None = None) -> Any:
        """Store an image from a URL (downloaded once), bytes, or a local file; returns an
        :class:`~revenge_hookspecs.media.ArtworkRef`. Storing the same source again returns
        the stored image. :raises ValueError: not an image."""

    async def for_item(self, item_key: str) -> list[Any]:
        """Every :class:`~revenge_hookspecs.media.ArtworkRef` of an item."""

    async def remove_item(self, item_key: str) -> None:
        """Drop an item's images."""


@runtime_checkable
class PluginContext(Protocol):
    """Everything a plugin gets from the host.

    :ivar name: the plugin's name (its entry-point name).
    :ivar config: the plugin's validated configuration (an instance of the class its
        ``revenge_config_schema`` returned), or ``None`` when it declares none.
    :ivar data_dir: a folder that belongs to this plugin alone; created on demand.
    :ivar logger: a loguru logger bound to the plugin's name.
    :ivar db: the database.
    :ivar cache: the cache.
    :ivar jobs: the job queue.
    :ivar events: the event bus.
    :ivar search: the search index.
    :ivar access: who is calling a route and which libraries and items they may see.
    :ivar library: libraries, their files and the item registry.
    :ivar metadata: the metadata providers, in order, with fallback.
    :ivar artwork: stored, resized and access-checked images of items.
    """

    name: str
    config: Any
    data_dir: Path
    logger: Any
    db: PluginDatabase
    cache: PluginCache
    jobs: PluginJobs
    events: PluginEvents
    search: PluginSearch
    access: PluginAccess
    library: PluginLibrary
    metadata: PluginMetadata
    artwork: PluginArtwork

    def http_client(self, **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        """An ``aiohttp.ClientSession`` with the host's timeouts and User-Agent.

        Use it as ``async with context.http_client() as session: ...``.
        """
