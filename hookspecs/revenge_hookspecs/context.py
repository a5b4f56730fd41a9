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
    """The search index, whichever backend the server runs on."""

    async def index(self, doc_type: str, documents: Iterable[Mapping[str, Any]]) -> None: ...

    async def delete(self, doc_type: str, ids: Iterable[str]) -> None: ...

    async def search(self, query: str, *, doc_types: Iterable[str] | None = None,
                     filters: Mapping[str, Any] | None = None,
                     facets: Iterable[str] = (), page: int = 1,
                     per_page: int = 20) -> Mapping[str, Any]: ...


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

    def http_client(self, **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        """An ``aiohttp.ClientSession`` with the host's timeouts and User-Agent.

        Use it as ``async with context.http_client() as session: ...``.
        """
