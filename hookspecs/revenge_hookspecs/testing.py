"""The plugin test kit: test a Revenge plugin in isolation, without the server.

Installed as a pytest plugin through the ``pytest11`` entry point (``pip install
"revenge-hookspecs[testing]"``), it offers the ``revenge_plugin`` fixture::

    async def test_ping_route(revenge_plugin):
        harness = revenge_plugin(my_plugin, name="my_plugin", config={"url": "http://x"})
        async with harness.client() as client:
            response = await client.get("/api/v1/my_plugin/ping")
            assert response.status == 200

A :class:`PluginHarness` goes through the steps the server takes when it enables a plugin,
in the same order and with the same checks and messages: register the plugin on its own
pluggy manager (misspelled hooks fail), ``revenge_configure``, validate ``plugins.<name>``
against the plugin's config schema (the same conversions and error keys as the server),
apply the plugin's migrations to a real SQLite database, collect and check its
registrations. The self-check and ``startup`` are up to the test: :meth:`PluginHarness.enable`
(or ``async with harness:``) runs them in the server's order.

The services on the context are small in-process stand-ins that enforce the server's rules
(JSON values, key and payload checks, search validation and result shape) and record what
the plugin did: jobs are queued until :meth:`RecordingJobs.run_pending`, events reach the
plugin's own handlers, search is an in-memory index, the cache a TTL dictionary. Routes are
served without authentication; checking permissions is the server's business, so tests
assert the declared ``Route.permission`` instead.

This module never imports the server. The search rules are the SDK's own
(:mod:`revenge_hookspecs.search`), which the server applies too; the other rules are
re-implemented here, and the server's own tests keep both in step. aiohttp and loguru are
imported only when a harness is built, so merely having the SDK installed never breaks a
pytest run.
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
import re
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
from .errors import ApiError, NotFound
from .search import (
    LIBRARY_FIELD,
    PreparedDocument,
    build_request,
    document_ids,
    facet_key,
    load_all_documents,
    make_hit,
    prepare_document,
    prepare_documents,
    result,
    select_types,
    sorted_facet,
)
from .testing_media import MemoryArtwork, MemoryLibrary, MemoryMetadata
from .types import (
    REGISTRATION_KINDS,
    Caller,
    Event,
    EventHandler,
    Events,
    HostInfo,
    Job,
    Migrations,
    SearchDocumentType,
    flatten,
    is_core_route_path,
    job_payload,
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

# What the server enforces, repeated here (the kit must not import the server).
RESERVED_PLUGIN_NAMES = frozenset({"core", "load", "disabled"})
CLIENT_MAX_SIZE = 16 * 1024 * 1024
CACHE_MAX_KEY_LENGTH = 512
CACHE_DEFAULT_TTL = 300.0
"""The embedded server's ``cache.l1_ttl``: what ``ttl=None`` means (3600 s with Redis)."""

__all__ = [
    "API_PREFIX",
    "HarnessContext",
    "HarnessDatabase",
    "HarnessError",
    "JobFailed",
    "JobRun",
    "MemoryCache",
    "MemorySearch",
    "PluginActivationError",
    "PluginConfigError",
    "PluginHarness",
    "PluginLoadError",
    "PluginRegistrationError",
    "PluginSelfCheckError",
    "QueuedJob",
    "RecordingEvents",
    "RecordingJobs",
    "check_crontab",
    "load_entry_point",
    "revenge_plugin",
    "structure_config",
]


# --- errors ------------------------------------------------------------------------------------


class HarnessError(Exception):
    """Base class of what the test kit raises about a plugin."""


class PluginActivationError(HarnessError):
    """The server would not enable the plugin.

    ``status`` and ``message`` are what ``revenge plugins list`` would show (``load_error``,
    ``config_error``, ``failed`` or ``failed_self_check``); the text of the exception is the
    server's log line, ``plugin <name> <status>: <message>``.
    """

    default_status = "failed"

    def __init__(self, message: str, *, plugin: str = "", status: str | None = None):
        self.status = status or self.default_status
        self.message = message
        self.plugin = plugin
        super().__init__(f"plugin {plugin} {self.status}: {message}" if plugin else message)


class PluginLoadError(PluginActivationError):
    """The plugin could not be registered (unknown hook, bad signature, unmarked hook...).

    Also raised, with ``status == "failed"`` as in the server, when ``revenge_configure``
    raises or a migration fails.
    """

    default_status = "load_error"


class PluginConfigError(PluginActivationError, ConfigError):
    """The configuration does not fit the plugin's schema; ``key`` is the dotted key at fault.

    Its text is the server's message, ``<key>: <reason>``.
    """

    default_status = "config_error"

    def __init__(self, key: str, reason: str, *, plugin: str = ""):
        ConfigError.__init__(self, key, reason)
        self.status = self.default_status
        self.message = f"{key}: {reason}"
        self.plugin = plugin


class PluginRegistrationError(PluginActivationError, TypeError):
    """A registration the server would refuse: wrong type, duplicate, or a core route."""


class PluginSelfCheckError(PluginActivationError):
    """:meth:`PluginHarness.enable`: the self-check failed, so the server would not start it."""

    default_status = "failed_self_check"


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
    if data is not None and not isinstance(data, Mapping):
        raise PluginConfigError(f"plugins.{name}", "must be a mapping of keys", plugin=name)
    try:
        return structure_plugin_config(name, schema, data)
    except ConfigError as exc:
        raise PluginConfigError(exc.key, exc.reason, plugin=name) from None


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
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrations import Runner

    schema, table = physical_table(database, "shared", f"plugin_migrations_{plugin.replace('-', '_')}")
    runner = Runner(database, directory=str(directory), table_name=table, schema=schema)
    # As on the server: history in `shared`, scripts get a migrator on the default schema.
    runner.migrator = SchemaMigrator.from_database(database)
    return runner


# --- cache ---------------------------------------------------------------------------------------


def _check_cache_key(key: Any, what: str = "cache key") -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a {what} must be a non-empty string, not {key!r}")
    if len(key) > CACHE_MAX_KEY_LENGTH:
        raise ValueError(f"a {what} may have at most {CACHE_MAX_KEY_LENGTH} characters; this one has {len(key)}")


def _check_cache_ttl(ttl: float | None) -> None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"a cache ttl must be a positive number of seconds, not {ttl!r}")


def _cache_encode(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cache values must be JSON-serialisable: {exc}") from exc


class MemoryCache:
    """``context.cache``: a dictionary with time-to-live that keeps the server's rules.

    Values are stored as JSON and every read returns a freshly decoded copy (tuples come
    back as lists, mapping keys as strings); a value JSON cannot encode is a ``TypeError``.
    Keys are non-empty strings of at most 512 characters counting the ``plugin:<name>:``
    prefix the server adds; ``ttl`` must be positive, and ``None`` means
    :data:`CACHE_DEFAULT_TTL` seconds. ``clock`` is injectable so tests can expire entries.

    :param namespace: the prefix without its trailing ``:`` (``plugin:<name>`` in a harness).
    """

    _MISSING = object()

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, namespace: str | None = None,
                 default_ttl: float = CACHE_DEFAULT_TTL):
        if namespace is not None:
            _check_cache_key(namespace, "cache namespace")
        _check_cache_ttl(default_ttl)
        self.clock = clock
        self.prefix = "" if namespace is None else namespace + ":"
        self.default_ttl = default_ttl
        self._items: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, list[Any]] = {}  # key -> [lock, callers using it]

    def _key(self, key: str) -> str:
        _check_cache_key(key)
        full = self.prefix + key
        _check_cache_key(full)
        return full

    def _lookup(self, full: str) -> Any:
        expires, encoded = self._items.get(full, (0.0, self._MISSING))
        if encoded is not self._MISSING and not self.clock() < expires:
            del self._items[full]
            return self._MISSING
        return encoded

    def _store(self, full: str, encoded: str, ttl: float | None) -> None:
        self._items[full] = (self.clock() + (self.default_ttl if ttl is None else ttl), encoded)

    async def get(self, key: str, default: Any = None) -> Any:
        """A decoded copy of the value stored under ``key``, or ``default``."""
        encoded = self._lookup(self._key(key))
        return default if encoded is self._MISSING else json.loads(encoded)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-serialisable ``value`` for ``ttl`` seconds."""
        full = self._key(key)
        _check_cache_ttl(ttl)
        self._store(full, _cache_encode(value), ttl)

    async def delete(self, key: str) -> None:
        self._items.pop(self._key(key), None)

    async def get_or_set(self, key: str, factory: Callable[[], Awaitable[Any]],
                         ttl: float | None = None) -> Any:
        """The cached value, or ``await factory()`` stored for ``ttl`` seconds.

        As on the server, ``factory()`` must return an awaitable, concurrent callers for
        one missing key share one factory call, and the caller gets a decoded copy.
        """
        full = self._key(key)
        _check_cache_ttl(ttl)
        encoded = self._lookup(full)
        if encoded is not self._MISSING:
            return json.loads(encoded)
        entry = self._locks.setdefault(full, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                encoded = self._lookup(full)
                if encoded is self._MISSING:
                    encoded = _cache_encode(await factory())
                    self._store(full, encoded, ttl)
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._locks[full]
        return json.loads(encoded)

    async def clear(self) -> int:
        """Remove every key of this namespace (as the server's cache offers); returns how many."""
        live = self.keys()
        for key in live:
            self._items.pop(self.prefix + key, None)
        return len(live)

    def keys(self) -> list[str]:
        """Keys (without the prefix) that have not expired, for assertions."""
        return [k[len(self.prefix):] for k in list(self._items) if self._lookup(k) is not self._MISSING]


# --- jobs ----------------------------------------------------------------------------------------



_CRON_DASH = re.compile(r"(\d+)-(\d+)(?:/(\d+))?")
_CRON_EVERY = re.compile(r"\*/(\d+)")
# In the order the server's scheduler checks them: (name, position, allowed values).
_CRON_FIELDS = (("month", 3, range(1, 13)), ("day", 2, range(1, 32)), ("day_of_week", 4, range(8)),
                ("hour", 1, range(24)), ("minute", 0, range(60)))


def check_crontab(expression: str) -> None:
    """Raise ``ValueError`` for a crontab the server's scheduler would skip.

    ``Schedule`` checks only that there are five fields; the scheduler takes ``*``,
    numbers, ``a-b``, ``a-b/n``, ``*/n`` (not on day of week) and lists of those, within
    each field's range, and logs and skips anything else every minute.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"crontab {expression!r} must have five fields")
    for name, position, allowed in _CRON_FIELDS:
        value = fields[position]
        for piece in value.split(","):
            if piece == "*":
                continue
            if piece.isdigit():
                if int(piece) not in allowed:
                    raise ValueError(f"{int(piece)} is not a valid input")
                continue
            dash = _CRON_DASH.fullmatch(piece)
            if dash:
                low, high, step = int(dash[1]), int(dash[2]), int(dash[3] or 1)
                if low not in allowed or high not in allowed:
                    raise ValueError(f"{piece} is not a valid input")
                if step == 0:
                    raise ValueError("slice step cannot be zero")
                continue
            every = _CRON_EVERY.fullmatch(piece)
            if every:
                if name == "day_of_week":
                    raise ValueError("Cannot perform this kind of matching on day-of-week.")
                if int(every[1]) == 0:
                    raise ValueError("slice step cannot be zero")
                continue
            raise ValueError(f"{piece} is not a valid input")


@attrs.define
class QueuedJob:
    """A job the plugin enqueued; ``payload`` is what JSON gave back."""

    id: str
    job: str
    payload: dict[str, Any]
    delay: float = 0
    priority: int = 0


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
    """``context.jobs``: checks and records what is enqueued; :meth:`run_pending` runs it.

    :meth:`enqueue` raises ``ValueError`` where the server does: a job no enabled plugin
    registers (here: not registered by this plugin), a job of a plugin that is not enabled,
    a negative delay, or a payload that is not a JSON mapping with text keys (NaN included).
    The payload goes through JSON once, so jobs get exactly what JSON gives back.

    Runs follow the registered :class:`~revenge_hookspecs.Job`: coroutine functions are
    awaited on the loop under ``timeout``, plain functions run in a worker thread (where
    ``timeout`` does not apply), and failures are retried ``retries`` times. Nothing
    sleeps: ``delay`` only orders the queue, and the waits the server would make between
    retries (``retry_delay * 2**attempt``) are recorded on :class:`JobRun`.
    """

    def __init__(self, jobs: Callable[[], Mapping[str, Job]], context: Callable[[], Any], *,
                 plugin: str = "", is_enabled: Callable[[], bool] = lambda: True):
        self._jobs = jobs
        self._context = context
        self._plugin = plugin
        self._is_enabled = is_enabled
        self.enqueued: list[QueuedJob] = []
        self.pending: list[QueuedJob] = []
        self.runs: list[JobRun] = []

    def enqueue(self, job: str, payload: Mapping[str, Any] | None = None, *, delay: float = 0) -> str:
        """Queue a registered job by name, as the server does; returns its id."""
        registered = self._jobs().get(job)
        if registered is None:
            raise ValueError(f"unknown job {job!r}: no enabled plugin registers it")
        if not self._is_enabled():
            raise ValueError(f"job {job!r} belongs to plugin {self._plugin!r}, which is disabled")
        if delay < 0:
            raise ValueError(f"the delay of job {job!r} must not be negative, got {delay}")
        queued = QueuedJob(id=str(uuid.uuid4()), job=job, payload=job_payload(job, payload), delay=delay,
                           priority=registered.priority)
        self.enqueued.append(queued)
        self.pending.append(queued)
        return queued.id

    def named(self, job: str) -> list[QueuedJob]:
        """Every job enqueued so far under this name."""
        return [q for q in self.enqueued if q.job == job]

    def _next(self) -> QueuedJob:
        # Due first (smallest delay), then the higher priority, then first come.
        index = min(range(len(self.pending)),
                    key=lambda i: (self.pending[i].delay, -self.pending[i].priority, i))
        return self.pending.pop(index)

    async def run_pending(self, *, raise_errors: bool = True, limit: int = 1000) -> list[JobRun]:
        """Run queued jobs, including those they enqueue, until the queue is empty.

        :param raise_errors: raise :class:`JobFailed` when a job still fails after its
            retries (after the queue is drained); otherwise just return the runs.
        :param limit: stop a job that keeps enqueueing itself.
        :raises HarnessError: the plugin is not enabled (the server would not run them now).
        """
        runs: list[JobRun] = []
        while self.pending:
            if len(runs) >= limit:
                raise HarnessError(f"more than {limit} jobs ran; does a job keep enqueueing itself?")
            if not self._is_enabled():
                raise HarnessError(f"plugin {self._plugin!r} is not enabled: the server would not run its "
                                   f"{len(self.pending)} queued job(s) now")
            queued = self._next()
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

    async def _call(self, job: Job, payload: dict[str, Any]) -> Any:
        context = self._context()
        if inspect.iscoroutinefunction(job.func):
            async with asyncio.timeout(job.timeout):
                return await job.func(context, **payload)
        # The server runs plain functions in a worker thread, with no event loop of their own.
        result = await asyncio.to_thread(job.func, context, **payload)
        if inspect.isawaitable(result):
            async with asyncio.timeout(job.timeout):
                result = await result
        return result

    async def _run(self, job: Job, queued: QueuedJob) -> JobRun:
        run = JobRun(id=queued.id, job=queued.job, payload=queued.payload)
        payload: Any = queued.payload
        for attempt in range(job.retries + 1):
            run.attempts = attempt + 1
            # Each attempt reads the payload back from the queue: a fresh decoded copy.
            payload = json.loads(json.dumps(payload))
            try:
                result = await self._call(job, payload)
            except Exception as exc:
                run.error = exc
                if attempt < job.retries:
                    run.retry_delays.append(job.retry_delay * 2 ** attempt)
                continue
            run.result, run.error = result, None
            break
        return run


# --- events --------------------------------------------------------------------------------------


class RecordingEvents:
    """``context.events``: records every event and delivers it to the plugin's own handlers.

    Handlers run concurrently, each with the server's 30-second timeout. The server logs a
    failing handler, counts it against the plugin and carries on; the kit counts it too
    (``PluginHarness.runtime_errors``) but, while ``raise_errors`` is true (the default),
    re-raises the exception once every handler had its turn so that a test sees it. Set
    ``raise_errors = False`` (or pass it to :meth:`PluginHarness.emit`) to get the server's
    behaviour. Payloads must be JSON-serialisable.
    """

    def __init__(self, plugin: str, handlers: Callable[[], list[EventHandler]], *,
                 on_error: Callable[[EventHandler, Event, BaseException], None] | None = None):
        self._plugin = plugin
        self._handlers = handlers
        self._on_error = on_error
        self.raise_errors = True
        self.emitted: list[Event] = []
        self.deliveries: list[tuple[str, Event]] = []

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        """What the plugin calls; the event's source is the plugin."""
        await self.deliver(Event(name=name, payload=dict(payload or {}), source=self._plugin))

    async def deliver(self, event: Event, *, raise_errors: bool | None = None) -> Event:
        try:
            json.dumps(dict(event.payload))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"payload of event {event.name!r} is not JSON-serialisable: {exc}") from None
        self.emitted.append(event)
        handlers = [h for h in self._handlers() if h.event in (event.name, "*")]

        async def call(handler: EventHandler) -> Exception | None:
            try:
                async with asyncio.timeout(EVENT_TIMEOUT):
                    result = handler.handler(event)
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                return exc
            return None

        outcomes = await asyncio.gather(*(call(h) for h in handlers))
        errors: list[Exception] = []
        for handler, error in zip(handlers, outcomes, strict=True):
            if error is None:
                self.deliveries.append((handler.name, event))
                continue
            errors.append(error)
            if self._on_error is not None:
                self._on_error(handler, event, error)
        if errors and (self.raise_errors if raise_errors is None else raise_errors):
            if len(errors) == 1:
                raise errors[0]
            raise ExceptionGroup(f"{len(errors)} handlers of {event.name!r} failed", errors)
        return event

    def named(self, name: str) -> list[Event]:
        return [e for e in self.emitted if e.name == name]


# --- search --------------------------------------------------------------------------------------


def _word_matches(query_word: str, word: str) -> bool:
    return word == query_word or (len(query_word) >= 3 and word.startswith(query_word))


def _kit_score(text: str, doc: PreparedDocument) -> float | None:
    """The kit's own simple match: every query word is a word, or the start (3+ letters) of one.

    Whatever this finds, the embedded server's SQLite index finds too (it also tolerates
    typos and partial matches); the score only orders the kit's hits: 2 for the exact title, 1 when the title
    has every word, 0.8 when other searchable fields are needed.
    """
    words = text.split()
    if all(len(w) < 3 for w in words) and text not in doc.body:
        return None  # the server looks such short queries up as a phrase
    body_words = doc.body.split()
    if not all(any(_word_matches(w, d) for d in body_words) for w in words):
        return None
    if doc.title_norm == text:
        return 2.0
    title_words = doc.title_norm.split()
    return 1.0 if all(any(_word_matches(w, d) for d in title_words) for w in words) else 0.8


def _copy(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document's fields, detached from the index (as the server's JSON round trip)."""
    return json.loads(json.dumps(dict(fields)))


class MemorySearch:
    """``context.search``: an in-memory index with the server's validation and result shape.

    Documents and searches go through the server's own rules (:mod:`revenge_hookspecs.search`):
    only document types the plugin registers exist (``ValueError`` for any other, as for a
    type no enabled plugin registers); documents are checked and coerced (``id`` text or
    integer, ``title`` text, an optional ``library_id``, declared fields coerced to their
    type, undeclared keys and ``None`` values dropped); searches validate ``page``,
    ``per_page`` (1 to 250), filters (facet fields only: a value, a list of values, or
    ``{"min", "max"}`` for numbers), facets (facet fields, and ``type`` for the matches per
    document type) and ``library_ids``, and return::

        {"hits": [{...fields, "library_id"?, "id", "type", "title", "score"}], "found", "page",
         "per_page", "facets": {field: {value_as_text: count}}, "backend": "memory", "degraded": False}

    Matching is deliberately simple (see :func:`_kit_score`): normalised words, no typo
    tolerance, and scores of the kit's own.
    """

    backend = "memory"

    def __init__(self, doc_types: Callable[[], Mapping[str, SearchDocumentType]]):
        self._doc_types = doc_types
        self._index: dict[str, dict[str, PreparedDocument]] = {}

    @property
    def documents(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``documents[doc_type][id]``: each stored document (``id``, ``title``, ``library_id``
        when it has one, fields), for assertions."""
        return {
            doc_type: {doc_id: {"id": d.doc_id, "title": d.title, **_copy(d.fields),
                                **({LIBRARY_FIELD: d.library_id} if d.library_id is not None else {})}
                       for doc_id, d in table.items()}
            for doc_type, table in self._index.items()
        }

    def _types(self, names: Iterable[str] | str | None) -> list[SearchDocumentType]:
        # The server skips a broken type with a warning when searching every type.
        return select_types(self._doc_types(), names)

    def _type(self, name: str) -> SearchDocumentType:
        return self._types([name])[0]

    async def index(self, doc_type: str, documents: Iterable[Mapping[str, Any]]) -> None:
        """Insert or replace documents; every one is checked before anything is written."""
        kind = self._type(doc_type)
        table = self._index.setdefault(kind.name, {})
        for doc in prepare_documents(kind, documents):
            table.pop(doc.doc_id, None)
            table[doc.doc_id] = doc

    async def delete(self, doc_type: str, ids: Iterable[str]) -> None:
        """Remove documents by id; ids that are not indexed are ignored."""
        kind = self._type(doc_type)
        table = self._index.get(kind.name, {})
        for doc_id in document_ids(ids):
            table.pop(doc_id, None)

    async def reindex(self, doc_types: Iterable[str] | str | None = None) -> dict[str, int]:
        """What ``revenge search reindex`` does: reload each type from its ``load_all``.

        Documents ``load_all`` no longer yields are removed; a type without ``load_all``
        keeps what it has. Returns how many documents each type now has.
        """
        counts: dict[str, int] = {}
        for kind in self._types(doc_types):
            if kind.load_all is None:
                counts[kind.name] = len(self._index.get(kind.name, {}))
                continue
            loaded: dict[str, PreparedDocument] = {}
            async for document in load_all_documents(kind):
                doc = prepare_document(kind, document)
                loaded[doc.doc_id] = doc
            self._index[kind.name] = loaded
            counts[kind.name] = len(loaded)
        return counts

    async def search(self, query: str, *, doc_types: Iterable[str] | str | None = None,
                     filters: Mapping[str, Any] | None = None, facets: Iterable[str] = (),
                     page: int = 1, per_page: int = 20, library_ids: Iterable[str] | None = None,
                     include_unscoped: bool = True) -> dict[str, Any]:
        """Find documents; an empty query lists every one. ``ValueError`` where the server raises it.

        ``library_ids`` keeps the search to documents of those libraries (``None``: every
        library); ``include_unscoped`` says whether documents without a ``library_id`` match
        too. Totals and facet counts cover the same documents as the hits.
        """
        request = build_request(self._types(doc_types), query, filters=filters, facets=facets, page=page,
                                per_page=per_page, library_ids=library_ids, include_unscoped=include_unscoped)
        matched: list[tuple[float, str, PreparedDocument]] = []
        if not request.cannot_match:
            for doc_type in request.types:
                for doc in self._index.get(doc_type.name, {}).values():
                    if not request.in_scope(doc.library_id):
                        continue
                    if not all(c.matches(doc.fields) for c in request.conditions):
                        continue
                    score = _kit_score(request.text, doc) if request.query else 0.0
                    if score is not None:
                        matched.append((score, doc_type.name, doc))
        matched.sort(key=lambda m: (-m[0], m[2].title_norm, m[1], m[2].doc_id))
        counted: dict[str, dict[str, int]] = {}
        for facet in request.facets:
            counts: dict[str, int] = {}
            for _, doc_type_name, doc in matched:
                for v in facet.values(doc_type_name, doc.fields):
                    key = facet_key(v, facet.type)
                    counts[key] = counts.get(key, 0) + 1
            counted[facet.field] = sorted_facet(counts)
        page_of = matched[request.offset:request.offset + request.per_page]
        hits = [make_hit(doc_type, doc.doc_id, doc.title, round(float(score), 4), _copy(doc.fields), doc.library_id)
                for score, doc_type, doc in page_of]
        return result(request, hits=hits, found=len(matched), facets=counted, backend=self.backend,
                      degraded=False)


# --- the context ---------------------------------------------------------------------------------


class MemoryAccess:
    """Stand-in for ``context.access``: everything is visible until :meth:`only` narrows it.

    ``caller_as`` is the :class:`~revenge_hookspecs.types.Caller` every request seems to come
    from (an admin by default; set it to ``None`` to test an anonymous request).
    """

    def __init__(self) -> None:
        self.caller_as: Caller | None = Caller(user_id=1, username="tester", roles=frozenset({"admin"}),
                                               scopes=frozenset({"read", "write", "admin", "legacy:read"}))
        self._allowed: set[tuple[str, str]] | None = None

    def only(self, *, libraries: Iterable[Any] = (), items: Iterable[Any] = ()) -> None:
        """From now on the caller sees just these libraries (and their items) and items."""
        self._allowed = {("library", str(x)) for x in libraries} | {("item", str(x)) for x in items}

    def caller(self, request: Any) -> Caller | None:
        return self.caller_as

    async def can(self, request: Any, permission: str, resource_type: str, resource_id: str, *,
                  library_id: str | None = None) -> bool:
        if self.caller_as is None:
            return False
        if self._allowed is None:
            return True
        return ((resource_type, str(resource_id)) in self._allowed
                or (library_id is not None and ("library", str(library_id)) in self._allowed))

    async def visible_library_ids(self, request: Any, permission: str = "view") -> frozenset[str] | None:
        if self.caller_as is None:
            return frozenset()
        return None if self._allowed is None else frozenset(i for t, i in self._allowed if t == "library")

    async def require(self, request: Any, permission: str, resource_type: str, resource_id: str, *,
                      library_id: str | None = None) -> None:
        if not await self.can(request, permission, resource_type, resource_id, library_id=library_id):
            raise NotFound()


class HarnessContext:
    """The :class:`~revenge_hookspecs.PluginContext` the kit hands the plugin."""

    def __init__(self, *, name: str, config: Any, data_dir: Path, logger: Any, db: HarnessDatabase,
                 cache: MemoryCache, jobs: RecordingJobs, events: RecordingEvents, search: MemorySearch,
                 access: MemoryAccess, library: MemoryLibrary, metadata: MemoryMetadata, artwork: MemoryArtwork):
        self.name = name
        self.config = config
        self._data_dir = data_dir
        self.logger = logger
        self.db = db
        self.cache = cache
        self.jobs = jobs
        self.events = events
        self.search = search
        self.access = access
        self.library = library
        self.metadata = metadata
        self.artwork = artwork

    @property
    def data_dir(self) -> Path:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return self._data_dir

    @contextlib.asynccontextmanager
    async def http_client(self, **kwargs: Any) -> AsyncIterator[Any]:
        """An ``aiohttp.ClientSession`` with the server's defaults (timeouts, no raise_for_status)."""
        import aiohttp

        headers = {"User-Agent": USER_AGENT, **(kwargs.pop("headers", None) or {})}
        kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=30, connect=10, sock_read=20))
        kwargs.setdefault("raise_for_status", False)
        async with aiohttp.ClientSession(headers=headers, **kwargs) as session:
            yield session

    def __repr__(self) -> str:
        return f"<PluginContext {self.name} (test kit)>"


# --- HTTP ----------------------------------------------------------------------------------------
# The server's error body, codes and request ids, so tests assert what API clients will see.

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}
_ERROR_MESSAGES = {
    404: "Nothing lives at this address.",
    405: "This address does not accept that method.",
}
_KEPT_ERROR_HEADERS = ("allow", "retry-after", "www-authenticate", "location")


# --- the harness ---------------------------------------------------------------------------------


def load_entry_point(name: str) -> Any:
    """The plugin object published under ``revenge.plugins`` as ``name`` (proves it is installed)."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise LookupError(f"no plugin named {name!r} in the {ENTRY_POINT_GROUP!r} entry points; is it installed?")


def _valid_plugin_name(name: str) -> bool:
    return (isinstance(name, str) and name not in RESERVED_PLUGIN_NAMES
            and name.replace("-", "_").replace("_", "a").isalnum())


class PluginHarness:
    """One plugin, enabled the way the server enables it, on real but local services.

    Construction runs the server's activation up to and including the registrations (which
    are then live: routes served, events delivered, its jobs enqueueable), and raises what
    would put the plugin in ``load_error``, ``config_error`` or ``failed``. The rest is up
    to the test: :meth:`enable` runs the self-check and then ``revenge_startup`` as the
    server does, :meth:`startup`, :meth:`self_check` and :meth:`shutdown` run one step each.

    :param plugin: the plugin object (usually its module).
    :param name: the plugin's name, as its entry point is named.
    :param config: the ``plugins.<name>`` section, as it would appear in the config file.
    :param tmp_path: where the database and the data folder go (a temporary folder if omitted).
    :param host: what ``revenge_configure`` receives; a plausible default otherwise.
    :raises PluginLoadError: invalid or reserved name, unknown or unmarked hooks, bad hook
        signatures (``load_error``); ``revenge_configure`` raised, missing migrations
        folder, failing migration (``failed``).
    :raises PluginConfigError: the config does not fit the plugin's schema (``config_error``).
    :raises PluginRegistrationError: a registration hook returned the wrong type, a
        duplicate, or a route at a core address (``failed``).
    :raises PluginActivationError: a hook raised (``failed``); the cause is chained.
    """

    def __init__(self, plugin: Any, name: str, config: Mapping[str, Any] | None = None,
                 tmp_path: Path | None = None, *, host: HostInfo | None = None):
        if not _valid_plugin_name(name):
            raise PluginLoadError(f"invalid plugin name {name!r}", plugin=name)
        self.name = name
        self.plugin = plugin
        self.tmp_path = Path(tmp_path) if tmp_path is not None else Path(tempfile.mkdtemp(prefix="revenge-testkit-"))
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        self.host = host or HostInfo(version=__version__, api_prefix=API_PREFIX,
                                     data_dir=self.tmp_path / "data", database_driver="sqlite")
        self.status = "disabled"
        self.message = ""
        self.started = False
        self.stopped = False
        self.closed = False
        self.route_errors: list[BaseException] = []
        self.runtime_errors: list[BaseException] = []
        self.logs: list[tuple[str, str]] = []
        self._registrations: dict[str, list[Any]] = {kind: [] for kind in REGISTRATION_KINDS}
        # _live: the registrations are in the (one-plugin) registry; _enabled: is_enabled().
        self._live = False
        self._enabled = False
        self._log_handler: int | None = None
        self.db: HarnessDatabase | None = None
        self.migrations: Migrations | None = None

        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        # Historic, as on the server: the call reaches the plugin the moment it registers.
        self.pm.hook.revenge_configure.call_historic(kwargs={"host": self.host})
        self._register()
        try:
            try:
                self.config_schema = self._call("revenge_config_schema")
            except Exception as exc:
                raise self._failed("revenge_config_schema", exc) from exc
            self.config = structure_config(name, self.config_schema, config)
            self._build_context()
            self.migrations_applied = self._migrate()
            self._registrations = self._collect()
            self._check_schedules()
        except BaseException:
            self.close()
            raise
        # Registered: live, and counted as enabled as if the server had finished activating it.
        self._live = self._enabled = True
        self.status = "enabled"

    # --- enabling ------------------------------------------------------------------------

    def _failed(self, hook: str, exc: BaseException) -> PluginActivationError:
        return PluginActivationError(f"{hook} raised {_describe(exc)}", plugin=self.name)

    def _register(self) -> None:
        unmarked = [
            hook for hook in HOOK_NAMES
            if callable(getattr(self.plugin, hook, None)) and self.pm.parse_hookimpl_opts(self.plugin, hook) is None
        ]
        if unmarked:
            # The server silently ignores these; the kit refuses them.
            raise PluginLoadError(
                f"defines {', '.join(unmarked)} without @hookimpl; "
                "mark hook implementations with revenge_hookspecs.hookimpl", plugin=self.name,
            )
        try:
            self.pm.register(self.plugin, name=self.name)
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(str(exc), plugin=self.name) from exc
        except Exception as exc:
            raise PluginLoadError(f"revenge_configure raised {_describe(exc)}", plugin=self.name,
                                  status="failed") from exc
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            unknown = [c.name for c in self.pm.get_hookcallers(self.plugin) or [] if not c.has_spec()]
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, HOOK_NAMES, n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise PluginLoadError("unknown hook " + (", ".join(hints) or str(exc)), plugin=self.name) from exc

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
        self.cache = MemoryCache(namespace=f"plugin:{self.name}")
        self.jobs = RecordingJobs(self._live_jobs, lambda: self.context, plugin=self.name,
                                  is_enabled=lambda: self._enabled)
        self.events = RecordingEvents(self.name, lambda: self._live_registrations("event_handlers"),
                                      on_error=self._handler_failed)
        self.search = MemorySearch(lambda: {d.name: d for d in self._live_registrations("search_documents")})
        self.access = MemoryAccess()
        self.library = MemoryLibrary(plugin=self.name,
                                     content_types=lambda: self._live_registrations("content_types"))
        self.metadata = MemoryMetadata(lambda: self._live_registrations("metadata_providers"))
        self.artwork = MemoryArtwork()
        self.context = HarnessContext(
            name=self.name, config=self.config, data_dir=self.host.data_dir / "plugins" / self.name,
            logger=bound, db=self.db, cache=self.cache, jobs=self.jobs, events=self.events, search=self.search,
            access=self.access, library=self.library, metadata=self.metadata, artwork=self.artwork,
        )

    def _migrate(self) -> list[str]:
        try:
            migrations = self._call("revenge_migrations")
        except Exception as exc:
            raise self._failed("revenge_migrations", exc) from exc
        if migrations is None:
            self.migrations = None
            return []
        if not isinstance(migrations, Migrations):
            raise PluginRegistrationError("revenge_migrations must return Migrations(path)", plugin=self.name)
        if not migrations.path.is_dir():
            raise PluginLoadError(
                f"migration failed: MigrationError: {self.name}: no migrations folder at {migrations.path}",
                plugin=self.name, status="failed",
            )
        self.migrations = migrations
        try:
            return self.db.run_sync(lambda: self.migration_runner().up())
        except Exception as exc:
            raise PluginLoadError(f"migration failed: {_describe(exc)}", plugin=self.name,
                                  status="failed") from exc

    def migration_runner(self) -> Any:
        """The ``playhouse.migrations.Runner`` for the plugin's migrations (to test ``down``)."""
        if self.migrations is None:
            raise HarnessError(f"plugin {self.name!r} ships no migrations")
        return migration_runner(self.db.database, self.name, self.migrations.path)

    def _collect(self) -> dict[str, list[Any]]:
        # The server's order: call and type-check every kind, then core routes, then duplicates.
        collected: dict[str, list[Any]] = {}
        for kind, expected in REGISTRATION_KINDS.items():
            hook = f"revenge_{kind}"
            try:
                items = list(flatten(self._call(hook, context=self.context)))
            except Exception as exc:
                raise self._failed(hook, exc) from exc
            for item in items:
                if not isinstance(item, expected):
                    raise PluginRegistrationError(
                        f"{hook} returned {type(item).__name__}, expected {expected.__name__}", plugin=self.name
                    )
            collected[kind] = items
        for route in collected["routes"]:
            if is_core_route_path(route.path):
                raise PluginRegistrationError(f"route {route.method} {API_PREFIX}{route.path} belongs to the core",
                                              plugin=self.name)
        for kind, items in collected.items():
            seen: set[str] = set()
            for item in items:
                key = registration_key(item)
                if key in seen:
                    raise PluginRegistrationError(
                        f"{kind} {key!r} is registered by both {self.name!r} and {self.name!r}", plugin=self.name
                    )
                seen.add(key)
        return collected

    def _check_schedules(self) -> None:
        for schedule in self._registrations["schedules"]:
            try:
                check_crontab(schedule.crontab)
            except ValueError as exc:
                warnings.warn(f"plugin {self.name!r}: schedule {schedule.name!r} would never fire on the server: "
                              f"{exc}", stacklevel=4)

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

    def _live_registrations(self, kind: str) -> list[Any]:
        return self.registrations(kind) if self._live else []

    def _live_jobs(self) -> dict[str, Job]:
        return {job.name: job for job in self._live_registrations("jobs")}

    @property
    def enabled(self) -> bool:
        """Whether the server would count the plugin as enabled now (``enqueue`` works)."""
        return self._enabled

    @property
    def last_error(self) -> str:
        """The server's ``last_error``: the latest runtime error's type and first line."""
        return _describe(self.runtime_errors[-1]) if self.runtime_errors else ""

    def _handler_failed(self, handler: EventHandler, event: Event, exc: BaseException) -> None:
        self.runtime_errors.append(exc)
        self.context.logger.opt(exception=exc).error(
            "event handler {} of plugin {} failed on {}", handler.name, self.name, event.name
        )

    def _set_state(self, *, live: bool, enabled: bool, status: str, message: str = "") -> None:
        self._live, self._enabled, self.status, self.message = live, enabled, status, message

    # --- lifecycle ----------------------------------------------------------------------------

    async def enable(self) -> None:
        """Finish activating the plugin as the server does: self-check, then ``revenge_startup``.

        The plugin counts as enabled from the moment ``revenge_startup`` is called (not
        during its self-check); afterwards its handlers get ``plugin.enabled``.

        :raises PluginSelfCheckError: the self-check failed; nothing is started.
        :raises PluginActivationError: ``revenge_startup`` raised (the cause is chained).
        """
        self._set_state(live=True, enabled=False, status="disabled")
        verdict = await self.self_check()
        if verdict is not None:
            self._set_state(live=False, enabled=False, status="failed_self_check", message=verdict)
            raise PluginSelfCheckError(verdict, plugin=self.name)
        try:
            await self.startup()
        except Exception as exc:
            raise self._failed("revenge_startup", exc) from exc
        await self.emit(Events.PLUGIN_ENABLED, {"plugin": self.name})

    async def startup(self) -> Any:
        """Await the plugin's ``revenge_startup``; the plugin counts as enabled while it runs.

        If it raises, the plugin is ``failed`` as on the server (nothing is live any more)
        and the exception propagates.
        """
        self._set_state(live=True, enabled=True, status="enabled")
        self.started, self.stopped = True, False
        try:
            return await self._acall("revenge_startup", context=self.context)
        except Exception as exc:
            self.started = False
            self._set_state(live=False, enabled=False, status="failed",
                            message=f"revenge_startup raised {_describe(exc)}")
            raise

    async def shutdown(self) -> Any:
        """Await the plugin's ``revenge_shutdown``; afterwards nothing of it is live.

        The server logs and ignores an exception here; the kit lets it propagate.
        """
        try:
            return await self._acall("revenge_shutdown", context=self.context)
        finally:
            self.stopped = True
            self._set_state(live=False, enabled=False, status="disabled", message="server stopped")

    async def self_check(self) -> str | None:
        """``None`` when the plugin says it can work, otherwise the server's message.

        ``False`` or ``""`` gives ``"self-check failed"``, another string itself, and an
        exception ``"<Type>: <first line>"``. While it runs the plugin is not enabled, as on
        the server, where the self-check comes before startup.
        """
        enabled, self._enabled = self._enabled, False
        try:
            verdict = await self._acall("revenge_self_check", context=self.context)
        except Exception as exc:
            return _describe(exc)
        finally:
            self._enabled = enabled
        if verdict is False or isinstance(verdict, str):
            return verdict if isinstance(verdict, str) and verdict else "self-check failed"
        return None

    async def __aenter__(self) -> PluginHarness:
        await self.enable()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.shutdown()

    # --- driving the plugin ---------------------------------------------------------------------

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None, *, source: str = "core",
                   raise_errors: bool | None = None) -> Event:
        """Emit an event as the server would; the plugin's matching handlers receive it.

        :param raise_errors: re-raise a failing handler's exception (default:
            ``events.raise_errors``, true); ``False`` only logs and counts it, as the server.
        """
        event = Event(name=name, payload=dict(payload or {}), source=source)
        return await self.events.deliver(event, raise_errors=raise_errors)

    async def run_jobs(self, *, raise_errors: bool = True) -> list[JobRun]:
        """Run every queued job (see :meth:`RecordingJobs.run_pending`)."""
        return await self.jobs.run_pending(raise_errors=raise_errors)

    async def run_schedule(self, name: str, *, raise_errors: bool = True) -> list[JobRun]:
        """Enqueue what a registered schedule would enqueue, and run it now.

        :raises ValueError: the server's scheduler would skip it: a crontab it cannot
            parse, or a job or payload that ``enqueue`` refuses.
        """
        schedule = self.registration("schedules", name)
        try:
            check_crontab(schedule.crontab)
        except ValueError as exc:
            raise ValueError(f"schedule {name!r} never fires on the server: {exc}") from None
        self.jobs.enqueue(schedule.job, schedule.payload)
        return await self.jobs.run_pending(raise_errors=raise_errors)

    def make_app(self) -> Any:
        """An ``aiohttp.web.Application`` serving the plugin's routes under ``/api/v1``, without auth.

        As on the server: the JSON error body with the server's codes and messages, an
        ``X-Request-ID`` on every response, 16 MiB request bodies, handlers awaited (a plain
        function is a 500), and every route answering 404 while the plugin is not live.
        """
        from aiohttp import web

        # A typed request key where aiohttp has them (3.13+), a plain one before.
        rid_key: Any = web.RequestKey("revenge_request_id", str) if hasattr(web, "RequestKey") else "revenge_request_id"

        def error(request: web.Request, status: int, code: str, message: str,
                  details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> web.Response:
            body = {"code": code, "message": message, "details": dict(details or {}),
                    "request_id": request.get(rid_key, "")}
            return web.json_response(body, status=status, headers=headers)

        @web.middleware
        async def request_id(request: web.Request, handler: Any) -> web.StreamResponse:
            incoming = request.headers.get("X-Request-ID", "")
            request[rid_key] = rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                exc.headers["X-Request-ID"] = rid
                raise
            response.headers["X-Request-ID"] = rid
            return response

        @web.middleware
        async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                if not self._live:
                    raise web.HTTPNotFound()
                return await handler(request)
            except ApiError as exc:
                if exc.status >= 500:
                    self.context.logger.error("{} {} failed: {} {}", request.method, request.path, exc.code,
                                              exc.message)
                return error(request, exc.status, exc.code, exc.message, exc.details)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                status = exc.status
                message = _ERROR_MESSAGES.get(status) or (
                    exc.text if exc.text and not exc.text.startswith(f"{status}:") else exc.reason)
                headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_ERROR_HEADERS}
                return error(request, status, _ERROR_CODES.get(status, f"http_{status}"), message, headers=headers)
            except json.JSONDecodeError:
                return error(request, 400, "invalid_json", "The request body is not valid JSON.")
            except Exception as exc:
                self.route_errors.append(exc)
                self.context.logger.opt(exception=exc).error("{} {} raised", request.method, request.path)
                return error(request, 500, "internal_error", "Something went wrong on the server; it has been logged.")

        def guard(handler: Callable[..., Any]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def guarded(request: web.Request) -> web.StreamResponse:
                try:
                    return await handler(request)
                except (ApiError, web.HTTPException):
                    raise
                except Exception as exc:
                    self.runtime_errors.append(exc)
                    raise

            return guarded

        app = web.Application(middlewares=[request_id, errors], client_max_size=CLIENT_MAX_SIZE)
        for route in self.registrations("routes"):
            app.router.add_route(route.method, API_PREFIX + route.path, guard(route.handler))
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
        return f"<PluginHarness {self.name} {self.status}>"


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
