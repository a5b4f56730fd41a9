"""The plugin test kit: test a Revenge plugin in isolation, without the server.

Installed as a pytest plugin through the ``pytest11`` entry point (``pip install
"revenge-hookspecs[testing]"``), it offers the ``revenge_plugin`` fixture::

    async def test_ping_route(revenge_plugin):
        harness = revenge_plugin(my_plugin, name="my_plugin", config={"url": "http://x"})
        async with harness.client() as client:
            response = await client.get("/api/v1/my_plugin/ping")
            assert response.status == 200

A :class:`PluginHarness` goes through the steps the server takes when it enables a plugin,
in the same order: register the plugin on its own pluggy manager (misspelled hooks fail),
``revenge_configure``, validate ``plugins.<name>`` against the plugin's config schema (the
same conversions and error keys as the server), apply the plugin's migrations to a real
SQLite database, collect and type-check its registrations. ``startup``, ``self_check`` and
``shutdown`` are awaited explicitly (or with ``async with harness:``).

The services on the context are small in-process stand-ins that record what the plugin did:
jobs are queued until :meth:`RecordingJobs.run_pending`, events reach the plugin's own
handlers, search is an in-memory index, the cache a TTL dictionary. Routes are served
without authentication; checking permissions is the server's business, so tests assert
the declared ``Route.permission`` instead.

aiohttp and loguru are imported only when a harness is built, so merely having the
SDK installed never breaks a pytest run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import difflib
import functools
import importlib.metadata
import inspect
import json
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs
import peewee
import pluggy
import pytest

from . import __version__, specs
from .config import ConfigError, structure_plugin_config
from .db import bind_models, physical_table
from .errors import ApiError
from .types import (
    REGISTRATION_KINDS,
    Event,
    EventHandler,
    HostInfo,
    Job,
    Migrations,
    SearchDocumentType,
    flatten,
    registration_key,
)

T = TypeVar("T")

PROJECT = specs.PROJECT
ENTRY_POINT_GROUP = "revenge.plugins"
API_PREFIX = "/api/v1"
HOOK_TIMEOUT = 30.0
EVENT_TIMEOUT = 30.0
USER_AGENT = f"Revenge-testkit/{__version__}"
SQLITE_PRAGMAS = (("journal_mode", "wal"), ("synchronous", "normal"), ("foreign_keys", 1))
HOOK_NAMES = tuple(sorted(n for n in dir(specs) if n.startswith("revenge_")))

__all__ = [
    "API_PREFIX",
    "HarnessContext",
    "HarnessDatabase",
    "HarnessError",
    "JobFailed",
    "JobRun",
    "MemoryCache",
    "MemorySearch",
    "PluginConfigError",
    "PluginHarness",
    "PluginLoadError",
    "PluginRegistrationError",
    "QueuedJob",
    "RecordingEvents",
    "RecordingJobs",
    "load_entry_point",
    "revenge_plugin",
    "structure_config",
]


# --- errors ------------------------------------------------------------------------------------


class HarnessError(Exception):
    """Base class of what the test kit raises about a plugin."""


class PluginLoadError(HarnessError):
    """The plugin could not be registered (unknown hook, bad signature, unmarked hook...)."""


class PluginConfigError(HarnessError, ConfigError):
    """The configuration does not fit the plugin's schema; ``key`` is the dotted key at fault."""


class PluginRegistrationError(HarnessError, TypeError):
    """A registration hook returned something the server would reject."""


class JobFailed(HarnessError):
    """A job still failed after all its retries; ``runs`` holds every failed run."""

    def __init__(self, runs: list[JobRun]):
        first = runs[0]
        super().__init__(
            f"job {first.job!r} failed after {first.attempts} attempt(s): {_describe(first.error)}"
            + (f" (and {len(runs) - 1} more failed job(s))" if len(runs) > 1 else "")
        )
        self.runs = runs


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- configuration -------------------------------------------------------------------------------
# The server validates with the same functions (revenge_hookspecs.config), so a value that
# passes here passes there.


def structure_config(name: str, schema: type | None, data: Mapping[str, Any] | None) -> Any:
    """Validate the ``plugins.<name>`` section against ``schema`` as the server does.

    :raises PluginConfigError: naming the key, e.g. ``plugins.<name>.timeout``.
    """
    try:
        return structure_plugin_config(name, schema, data)
    except ConfigError as exc:
        raise PluginConfigError(exc.key, exc.reason) from None


# --- database ------------------------------------------------------------------------------------


def _open_sqlite(path: Path) -> peewee.Database:
    # The stdlib driver, not apsw: apsw cannot bind datetime values written through plain
    # peewee.DateTimeField, which every plugin model (and playhouse's migration history) uses.
    return peewee.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, timeout=30)


class HarnessDatabase:
    """A real SQLite database file; :meth:`run` executes on one database thread.

    One thread keeps one connection, as the server's SQLite mode does, so a test sees the
    same transactional behaviour a plugin gets in production.
    """

    driver = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.database = _open_sqlite(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="revenge-testkit-db")
        self.closed = False

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.database.connect(reuse_if_open=True)
        return fn(*args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the database thread."""
        if self.closed:
            raise RuntimeError("the test database is closed")
        loop = asyncio.get_running_loop()
        bound = functools.partial(contextvars.copy_context().run, self._call, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, bound)

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the database thread from synchronous code and wait for it."""
        if self.closed:
            raise RuntimeError("the test database is closed")
        return self._executor.submit(self._call, fn, *args, **kwargs).result()

    def bind(self, models: Iterable[type[peewee.Model]]) -> None:
        """Bind models to this database, mapping their schema for SQLite."""
        bind_models(self.database, models)

    def tables(self) -> list[str]:
        """The physical table names, for assertions."""
        return self.run_sync(self.database.get_tables)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True

        def close_connection() -> None:
            if not self.database.is_closed():
                self.database.close()

        with contextlib.suppress(Exception):
            self._executor.submit(close_connection).result(timeout=5)
        self._executor.shutdown(wait=True)
        # A test may also have queried from its own thread.
        with contextlib.suppress(Exception):
            close_connection()


def migration_runner(database: peewee.Database, plugin: str, directory: Path) -> Any:
    """A ``playhouse.migrations.Runner`` keeping its history where the server keeps it."""
    from playhouse.migrations import Runner

    schema, table = physical_table(database, "shared", f"plugin_migrations_{plugin.replace('-', '_')}")
    return Runner(database, directory=str(directory), table_name=table, schema=schema)


# --- cache ---------------------------------------------------------------------------------------


class MemoryCache:
    """A dictionary with time-to-live. ``clock`` is injectable so tests can expire entries."""

    _MISSING = object()

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._items: dict[str, tuple[float | None, Any]] = {}

    def _lookup(self, key: str) -> Any:
        expires, value = self._items.get(key, (None, self._MISSING))
        if value is not self._MISSING and expires is not None and self.clock() >= expires:
            del self._items[key]
            return self._MISSING
        return value

    async def get(self, key: str, default: Any = None) -> Any:
        value = self._lookup(key)
        return default if value is self._MISSING else value

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._items[key] = (None if ttl is None else self.clock() + ttl, value)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def get_or_set(self, key: str, factory: Callable[[], Awaitable[Any]],
                         ttl: float | None = None) -> Any:
        value = self._lookup(key)
        if value is self._MISSING:
            value = factory()
            if inspect.isawaitable(value):
                value = await value
            await self.set(key, value, ttl)
        return value

    def keys(self) -> list[str]:
        """Keys that have not expired, for assertions."""
        return [k for k in list(self._items) if self._lookup(k) is not self._MISSING]


# --- jobs ----------------------------------------------------------------------------------------


@attrs.define
class QueuedJob:
    """A job the plugin enqueued."""

    id: str
    job: str
    payload: dict[str, Any]
    delay: float = 0


@attrs.define
class JobRun:
    """The outcome of running one queued job, retries included."""

    id: str
    job: str
    payload: dict[str, Any]
    attempts: int = 0
    result: Any = None
    error: BaseException | None = None
    retry_delays: list[float] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return self.error is None


class RecordingJobs:
    """``context.jobs``: records what is enqueued; :meth:`run_pending` runs it.

    Retries follow the registered :class:`~revenge_hookspecs.Job` (``retries``, ``timeout``)
    but never sleep: the delays the server would wait are recorded on :class:`JobRun`.
    ``delay`` given to :meth:`enqueue` is recorded and otherwise ignored.
    """

    def __init__(self, jobs: Callable[[], Mapping[str, Job]], context: Callable[[], Any]):
        self._jobs = jobs
        self._context = context
        self.enqueued: list[QueuedJob] = []
        self.pending: list[QueuedJob] = []
        self.runs: list[JobRun] = []

    def enqueue(self, job: str, payload: Mapping[str, Any] | None = None, *, delay: float = 0) -> str:
        """Queue a job by name; returns its id."""
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(f"job payload must be a mapping of keyword arguments, got {type(payload).__name__}")
        queued = QueuedJob(id=uuid.uuid4().hex, job=job, payload=dict(payload or {}), delay=delay)
        self.enqueued.append(queued)
        self.pending.append(queued)
        return queued.id

    def named(self, job: str) -> list[QueuedJob]:
        """Every job enqueued so far under this name."""
        return [q for q in self.enqueued if q.job == job]

    async def run_pending(self, *, raise_errors: bool = True, limit: int = 1000) -> list[JobRun]:
        """Run queued jobs, including those they enqueue, until the queue is empty.

        :param raise_errors: raise :class:`JobFailed` when a job still fails after its
            retries (after the queue is drained); otherwise just return the runs.
        :param limit: stop a job that keeps enqueueing itself.
        """
        runs: list[JobRun] = []
        while self.pending:
            if len(runs) >= limit:
                raise HarnessError(f"more than {limit} jobs ran; does a job keep enqueueing itself?")
            queued = self.pending.pop(0)
            registered = self._jobs()
            job = registered.get(queued.job)
            if job is None:
                known = ", ".join(sorted(registered)) or "none"
                raise LookupError(f"job {queued.job!r} is not registered by this plugin (registered: {known})")
            runs.append(await self._run(job, queued))
        self.runs.extend(runs)
        failed = [run for run in runs if not run.ok]
        if failed and raise_errors:
            raise JobFailed(failed) from failed[0].error
        return runs

    async def _run(self, job: Job, queued: QueuedJob) -> JobRun:
        run = JobRun(id=queued.id, job=queued.job, payload=queued.payload)
        for attempt in range(1, job.retries + 2):
            run.attempts = attempt
            try:
                result = job.func(self._context(), **queued.payload)
                if inspect.isawaitable(result):
                    async with asyncio.timeout(job.timeout):
                        result = await result
            except Exception as exc:
                run.error = exc
                if attempt <= job.retries:
                    run.retry_delays.append(job.retry_delay * 2 ** (attempt - 1))
                continue
            run.result, run.error = result, None
            break
        return run


# --- events --------------------------------------------------------------------------------------


class RecordingEvents:
    """``context.events``: records every event and delivers it to the plugin's own handlers.

    Handlers run one after another in registration order (the server runs them
    concurrently). Unlike the server, which logs a failing handler and carries on, the kit
    re-raises the handler's exception after every handler had its turn, so a test sees it.
    """

    def __init__(self, plugin: str, handlers: Callable[[], list[EventHandler]]):
        self._plugin = plugin
        self._handlers = handlers
        self.emitted: list[Event] = []
        self.deliveries: list[tuple[str, Event]] = []

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        """What the plugin calls; the event's source is the plugin."""
        await self.deliver(Event(name=name, payload=dict(payload or {}), source=self._plugin))

    async def deliver(self, event: Event) -> Event:
        try:
            json.dumps(dict(event.payload))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"payload of event {event.name!r} is not JSON-serialisable: {exc}") from None
        self.emitted.append(event)
        errors: list[Exception] = []
        for handler in self._handlers():
            if handler.event not in (event.name, "*"):
                continue
            try:
                async with asyncio.timeout(EVENT_TIMEOUT):
                    result = handler.handler(event)
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                errors.append(exc)
                continue
            self.deliveries.append((handler.name, event))
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} handlers of {event.name!r} failed", errors)
        return event

    def named(self, name: str) -> list[Event]:
        return [e for e in self.emitted if e.name == name]


# --- search --------------------------------------------------------------------------------------


class MemorySearch:
    """An in-memory index adequate for tests: every query word must occur in a searchable field.

    Searchable fields are ``title`` plus the fields a registered
    :class:`~revenge_hookspecs.SearchDocumentType` marks ``searchable`` (every text field for
    unregistered types). Results look like
    ``{"found", "page", "per_page", "hits": [{"type", "id", "document"}], "facets": {field: {value: count}}}``.
    """

    def __init__(self, doc_types: Callable[[], Mapping[str, SearchDocumentType]]):
        self._doc_types = doc_types
        self.documents: dict[str, dict[str, dict[str, Any]]] = {}

    async def index(self, doc_type: str, documents: Iterable[Mapping[str, Any]]) -> None:
        for document in documents:
            if "id" not in document or "title" not in document:
                raise ValueError(f"a {doc_type} document needs an 'id' and a 'title': {dict(document)!r}")
            self.documents.setdefault(doc_type, {})[str(document["id"])] = dict(document)

    async def delete(self, doc_type: str, ids: Iterable[str]) -> None:
        table = self.documents.get(doc_type, {})
        for doc_id in ids:
            table.pop(str(doc_id), None)

    def _text(self, doc_type: str, document: Mapping[str, Any]) -> str:
        declared = self._doc_types().get(doc_type)
        if declared is not None:
            names = ["title", *(f.name for f in declared.fields if f.searchable)]
        else:
            names = [k for k, v in document.items() if isinstance(v, (str, list))]
        parts: list[str] = []
        for name in names:
            value = document.get(name)
            parts.extend(map(str, value) if isinstance(value, list) else [str(value or "")])
        return " ".join(parts).lower()

    @staticmethod
    def _matches(document: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
        for name, wanted in filters.items():
            value = document.get(name)
            wanted_values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            have = value if isinstance(value, list) else [value]
            if not any(v in wanted_values for v in have):
                return False
        return True

    async def search(self, query: str, *, doc_types: Iterable[str] | None = None,
                     filters: Mapping[str, Any] | None = None, facets: Iterable[str] = (),
                     page: int = 1, per_page: int = 20) -> Mapping[str, Any]:
        words = query.lower().split()
        types = list(doc_types) if doc_types is not None else sorted(self.documents)
        hits = [
            (doc_type, document)
            for doc_type in types
            for document in self.documents.get(doc_type, {}).values()
            if all(w in self._text(doc_type, document) for w in words)
            and self._matches(document, filters or {})
        ]
        counted: dict[str, dict[Any, int]] = {}
        for facet in facets:
            counts: dict[Any, int] = {}
            for _, document in hits:
                value = document.get(facet)
                for v in value if isinstance(value, list) else [value]:
                    if v is not None:
                        counts[v] = counts.get(v, 0) + 1
            counted[facet] = counts
        start = (max(page, 1) - 1) * per_page
        return {
            "found": len(hits),
            "page": page,
            "per_page": per_page,
            "hits": [{"type": t, "id": str(d["id"]), "document": d} for t, d in hits[start:start + per_page]],
            "facets": counted,
        }


# --- the context ---------------------------------------------------------------------------------


class HarnessContext:
    """The :class:`~revenge_hookspecs.PluginContext` the kit hands the plugin."""

    def __init__(self, *, name: str, config: Any, data_dir: Path, logger: Any, db: HarnessDatabase,
                 cache: MemoryCache, jobs: RecordingJobs, events: RecordingEvents, search: MemorySearch):
        self.name = name
        self.config = config
        self._data_dir = data_dir
        self.logger = logger
        self.db = db
        self.cache = cache
        self.jobs = jobs
        self.events = events
        self.search = search

    @property
    def data_dir(self) -> Path:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return self._data_dir

    @contextlib.asynccontextmanager
    async def http_client(self, **kwargs: Any) -> AsyncIterator[Any]:
        """An ``aiohttp.ClientSession`` with the server's default timeouts."""
        import aiohttp

        headers = {"User-Agent": USER_AGENT, **(kwargs.pop("headers", None) or {})}
        kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=30, connect=10, sock_read=20))
        async with aiohttp.ClientSession(headers=headers, **kwargs) as session:
            yield session

    def __repr__(self) -> str:
        return f"<PluginContext {self.name} (test kit)>"


# --- the harness ---------------------------------------------------------------------------------


def load_entry_point(name: str) -> Any:
    """The plugin object published under ``revenge.plugins`` as ``name`` (proves it is installed)."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise LookupError(f"no plugin named {name!r} in the {ENTRY_POINT_GROUP!r} entry points; is it installed?")


def _valid_plugin_name(name: str) -> bool:
    return bool(name) and name.replace("-", "_").replace("_", "a").isalnum()


class PluginHarness:
    """One plugin, enabled the way the server enables it, on real but local services.

    :param plugin: the plugin object (usually its module).
    :param name: the plugin's name, as its entry point is named.
    :param config: the ``plugins.<name>`` section, as it would appear in the config file.
    :param tmp_path: where the database and the data folder go (a temporary folder if omitted).
    :param host: what ``revenge_configure`` receives; a plausible default otherwise.
    :raises PluginLoadError: unknown or unmarked hooks, bad hook signatures, a failing
        ``revenge_configure``, or failing migrations.
    :raises PluginConfigError: the config does not fit the plugin's schema.
    :raises PluginRegistrationError: a registration hook returned the wrong type or a duplicate.
    """

    def __init__(self, plugin: Any, name: str, config: Mapping[str, Any] | None = None,
                 tmp_path: Path | None = None, *, host: HostInfo | None = None):
        if not _valid_plugin_name(name):
            raise PluginLoadError(f"invalid plugin name {name!r}: use letters, digits, '-' and '_'")
        self.name = name
        self.plugin = plugin
        self.tmp_path = Path(tmp_path) if tmp_path is not None else Path(tempfile.mkdtemp(prefix="revenge-testkit-"))
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        self.host = host or HostInfo(version=__version__, api_prefix=API_PREFIX,
                                     data_dir=self.tmp_path / "data", database_driver="sqlite")
        self.started = False
        self.stopped = False
        self.closed = False
        self.route_errors: list[BaseException] = []
        self.logs: list[tuple[str, str]] = []
        self._registrations: dict[str, list[Any]] = {kind: [] for kind in REGISTRATION_KINDS}
        self._log_handler: int | None = None
        self.db: HarnessDatabase | None = None
        self.migrations: Migrations | None = None

        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        # Historic, as on the server: the call reaches the plugin the moment it registers.
        self.pm.hook.revenge_configure.call_historic(kwargs={"host": self.host})
        self._register()
        try:
            self.config_schema = self._call("revenge_config_schema")
            self.config = structure_config(name, self.config_schema, config)
            self._build_context()
            self.migrations_applied = self._migrate()
            self._registrations = self._collect()
        except BaseException:
            self.close()
            raise

    # --- enabling ------------------------------------------------------------------------

    def _register(self) -> None:
        unmarked = [
            hook for hook in HOOK_NAMES
            if callable(getattr(self.plugin, hook, None)) and self.pm.parse_hookimpl_opts(self.plugin, hook) is None
        ]
        if unmarked:
            raise PluginLoadError(
                f"plugin {self.name!r} defines {', '.join(unmarked)} without @hookimpl; "
                "mark hook implementations with revenge_hookspecs.hookimpl"
            )
        try:
            self.pm.register(self.plugin, name=self.name)
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(f"plugin {self.name!r}: {exc}") from exc
        except Exception as exc:
            raise PluginLoadError(f"plugin {self.name!r}: revenge_configure raised {_describe(exc)}") from exc
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            unknown = [c.name for c in self.pm.get_hookcallers(self.plugin) or [] if not c.has_spec()]
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, HOOK_NAMES, n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise PluginLoadError(f"plugin {self.name!r}: unknown hook " + (", ".join(hints) or str(exc))) from exc

    def _call(self, hook: str, **available: Any) -> Any:
        # Pass only what the specification names, so the kit follows the specs as they evolve.
        caller = getattr(self.pm.hook, hook)
        argnames = caller.spec.argnames if caller.spec is not None else ()
        results = caller(**{k: v for k, v in available.items() if k in argnames})
        # Only this plugin is registered, so there is at most one result; pluggy drops None.
        return results[0] if results else None

    async def _acall(self, hook: str, **kwargs: Any) -> Any:
        result = self._call(hook, **kwargs)
        if inspect.isawaitable(result):
            async with asyncio.timeout(HOOK_TIMEOUT):
                result = await result
        return result

    def _build_context(self) -> None:
        from loguru import logger

        token = uuid.uuid4().hex
        bound = logger.bind(plugin=self.name, revenge_testkit=token)
        self._log_handler = logger.add(
            lambda message: self.logs.append((message.record["level"].name, message.record["message"])),
            filter=lambda record: record["extra"].get("revenge_testkit") == token,
            level="TRACE",
        )
        self.db = HarnessDatabase(self.tmp_path / "revenge.db")
        self.cache = MemoryCache()
        self.jobs = RecordingJobs(self._jobs_by_name, lambda: self.context)
        self.events = RecordingEvents(self.name, lambda: self.registrations("event_handlers"))
        self.search = MemorySearch(lambda: {d.name: d for d in self.registrations("search_documents")})
        self.context = HarnessContext(
            name=self.name, config=self.config, data_dir=self.tmp_path / "data" / "plugins" / self.name,
            logger=bound, db=self.db, cache=self.cache, jobs=self.jobs, events=self.events, search=self.search,
        )

    def _migrate(self) -> list[str]:
        migrations = self._call("revenge_migrations", context=self.context)
        if migrations is None:
            self.migrations = None
            return []
        if not isinstance(migrations, Migrations):
            raise PluginRegistrationError(
                f"revenge_migrations returned {type(migrations).__name__}; return Migrations(path)"
            )
        if not migrations.path.is_dir():
            raise PluginLoadError(f"plugin {self.name!r}: no migrations folder at {migrations.path}")
        self.migrations = migrations
        try:
            return self.db.run_sync(lambda: self.migration_runner().up())
        except Exception as exc:
            raise PluginLoadError(f"plugin {self.name!r}: migration failed: {_describe(exc)}") from exc

    def migration_runner(self) -> Any:
        """The ``playhouse.migrations.Runner`` for the plugin's migrations (to test ``down``)."""
        if self.migrations is None:
            raise HarnessError(f"plugin {self.name!r} ships no migrations")
        return migration_runner(self.db.database, self.name, self.migrations.path)

    def _collect(self) -> dict[str, list[Any]]:
        collected: dict[str, list[Any]] = {}
        for kind, expected in REGISTRATION_KINDS.items():
            hook = f"revenge_{kind}"
            items = list(flatten(self._call(hook, context=self.context)))
            seen: set[str] = set()
            for item in items:
                if not isinstance(item, expected):
                    raise PluginRegistrationError(
                        f"{hook} returned {type(item).__name__}, expected {expected.__name__}"
                    )
                key = registration_key(item)
                if key in seen:
                    raise PluginRegistrationError(f"{hook} registered {key!r} twice")
                seen.add(key)
            collected[kind] = items
        return collected

    # --- what the plugin registered ------------------------------------------------------------

    def registrations(self, kind: str) -> list[Any]:
        """Every registration of one kind (a key of ``REGISTRATION_KINDS``, e.g. ``"routes"``)."""
        if kind not in REGISTRATION_KINDS:
            raise KeyError(f"unknown registration kind {kind!r}; expected one of {', '.join(REGISTRATION_KINDS)}")
        return list(self._registrations[kind])

    def registration(self, kind: str, key: str) -> Any:
        """One registration by name (``"GET /path"`` for routes)."""
        for item in self.registrations(kind):
            if registration_key(item) == key:
                return item
        known = ", ".join(registration_key(i) for i in self.registrations(kind)) or "none"
        raise LookupError(f"no {kind} registration {key!r} (registered: {known})")

    def _jobs_by_name(self) -> dict[str, Job]:
        return {job.name: job for job in self.registrations("jobs")}

    # --- lifecycle ----------------------------------------------------------------------------

    async def startup(self) -> Any:
        """Await the plugin's ``revenge_startup``."""
        result = await self._acall("revenge_startup", context=self.context)
        self.started, self.stopped = True, False
        return result

    async def shutdown(self) -> Any:
        """Await the plugin's ``revenge_shutdown``."""
        result = await self._acall("revenge_shutdown", context=self.context)
        self.stopped = True
        return result

    async def self_check(self) -> str | None:
        """``None`` when the plugin says it can work, otherwise the message the server would show."""
        try:
            verdict = await self._acall("revenge_self_check", context=self.context)
        except Exception as exc:
            return _describe(exc)
        if verdict is False:
            return "self-check returned False"
        if isinstance(verdict, str):
            return verdict
        return None

    async def __aenter__(self) -> PluginHarness:
        await self.startup()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.shutdown()

    # --- driving the plugin ---------------------------------------------------------------------

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None, *, source: str = "core") -> Event:
        """Emit an event as the server would; the plugin's matching handlers receive it."""
        return await self.events.deliver(Event(name=name, payload=dict(payload or {}), source=source))

    async def run_jobs(self, *, raise_errors: bool = True) -> list[JobRun]:
        """Run every queued job (see :meth:`RecordingJobs.run_pending`)."""
        return await self.jobs.run_pending(raise_errors=raise_errors)

    async def run_schedule(self, name: str, *, raise_errors: bool = True) -> list[JobRun]:
        """Enqueue what a registered schedule would enqueue, and run it now."""
        schedule = self.registration("schedules", name)
        self.jobs.enqueue(schedule.job, dict(schedule.payload))
        return await self.jobs.run_pending(raise_errors=raise_errors)

    def make_app(self) -> Any:
        """An ``aiohttp.web.Application`` serving the plugin's routes under ``/api/v1``, without auth."""
        from aiohttp import web

        @web.middleware
        async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
            # The server's error body, so tests can assert what API clients will see.
            try:
                return await handler(request)
            except ApiError as exc:
                return _error(exc.status, exc.code, exc.message, exc.details)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                return _error(exc.status, f"http_{exc.status}", exc.reason)
            except json.JSONDecodeError:
                return _error(400, "invalid_json", "The request body is not valid JSON.")
            except Exception as exc:
                self.route_errors.append(exc)
                self.context.logger.opt(exception=exc).error("{} {} raised", request.method, request.path)
                return _error(500, "internal_error", "Something went wrong on the server; it has been logged.")

        def _error(status: int, code: str, message: str, details: Mapping[str, Any] | None = None) -> web.Response:
            body = {"code": code, "message": message, "details": dict(details or {}), "request_id": "testkit"}
            return web.json_response(body, status=status)

        app = web.Application(middlewares=[errors])
        for route in self.registrations("routes"):
            app.router.add_route(route.method, API_PREFIX + route.path, route.handler)
        return app

    @contextlib.asynccontextmanager
    async def client(self, **kwargs: Any) -> AsyncIterator[Any]:
        """An ``aiohttp.test_utils.TestClient`` on :meth:`make_app`, on a real local socket."""
        from aiohttp.test_utils import TestClient, TestServer

        client = TestClient(TestServer(self.make_app()), **kwargs)
        await client.start_server()
        try:
            yield client
        finally:
            await client.close()

    # --- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database and the log capture (the fixture does this for you)."""
        if self.closed:
            return
        self.closed = True
        if self.started and not self.stopped:
            warnings.warn(f"plugin {self.name!r} was started but never shut down; await harness.shutdown()",
                          stacklevel=2)
        if self._log_handler is not None:
            from loguru import logger

            with contextlib.suppress(ValueError):
                logger.remove(self._log_handler)
            self._log_handler = None
        if self.db is not None:
            self.db.close()

    def __repr__(self) -> str:
        return f"<PluginHarness {self.name}>"


# --- the pytest plugin ---------------------------------------------------------------------------

@pytest.fixture
def revenge_plugin(tmp_path: Path) -> Iterator[Callable[..., PluginHarness]]:
    """Build :class:`PluginHarness` objects, closed when the test ends.

    ``revenge_plugin(plugin, name="my_plugin", config={...}, host=None)``; pass the entry-point
    name as a string instead of the plugin object to load it from the installed entry points.
    """
    harnesses: list[PluginHarness] = []

    def make(plugin: Any, name: str | None = None, config: Mapping[str, Any] | None = None, *,
             host: HostInfo | None = None) -> PluginHarness:
        if isinstance(plugin, str):
            name = name or plugin
            plugin = load_entry_point(plugin)
        if name is None:
            raise TypeError("revenge_plugin() needs name=..., the plugin's entry-point name")
        folder = tmp_path / f"revenge-plugin-{len(harnesses)}-{name}"
        harness = PluginHarness(plugin, name, config, folder, host=host)
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        harness.close()
