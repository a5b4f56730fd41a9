"""The server's database: SQLite through apsw (embedded) or PostgreSQL through psycopg2.

peewee is synchronous, so every call runs on a small pool of database threads
(:meth:`Database.run`) and the event loop never waits on I/O. On PostgreSQL each call
checks a connection out of a pool that pings it first, so the pool heals by itself after
the server restarts; a call that loses its connection half way fails with
:class:`DatabaseUnavailable` rather than being replayed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import heapq
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
from loguru import logger
from playhouse.apsw_ext import APSWDatabase
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase

from revenge_hookspecs.db import bind_models, is_sqlite, sqlite_binding

from ..config import Config, mask_url

T = TypeVar("T")

SCHEMAS = ("shared", "qar")
SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "normal"),
    ("foreign_keys", 1),
    ("cache_size", -16000),
    ("temp_store", "memory"),
)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached; the request may be retried."""


def postgres_params(url: str) -> tuple[str, dict[str, Any]]:
    """Database name and psycopg2 keyword arguments from a postgres:// URL."""
    parts = urlsplit(url)
    params: dict[str, Any] = dict(parse_qsl(parts.query))
    if parts.hostname:
        params["host"] = parts.hostname
    if parts.port:
        params["port"] = parts.port
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    name = unquote(parts.path.lstrip("/")) or "postgres"
    return name, params


class SqliteDatabase(APSWDatabase):
    """apsw with the value conversions peewee's stock fields rely on."""

    def _add_conn_hooks(self, conn: Any) -> None:
        super()._add_conn_hooks(conn)
        conn.convert_binding = sqlite_binding


def read_transaction(database: peewee.Database) -> Any:
    """A transaction that only reads: one consistent snapshot, without taking SQLite's write lock.

    Write transactions on SQLite start IMMEDIATE (see :func:`open_peewee_database`); a read
    that did the same would queue behind every writer and serialise all readers.
    """
    if is_sqlite(database):
        return database.atomic(lock_type="DEFERRED")
    return database.atomic()


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's pool (which pings a connection on checkout) plus warm-up and idle pruning."""

    def __init__(self, *args: Any, min_connections: int = 0, max_idle: float = 1800.0, **kwargs: Any):
        self.min_connections = min_connections
        self.max_idle = max_idle
        self._returned_at: dict[int, float] = {}
        super().__init__(*args, **kwargs)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        super()._close(conn, close_conn)
        key = self.conn_key(conn)
        if close_conn:
            self._returned_at.pop(key, None)
        else:
            self._returned_at[key] = time.time()

    def warm(self) -> int:
        """Open connections until ``min_connections`` are idle in the pool."""
        opened = 0
        limit = self._max_connections or float("inf")
        while (len(self._connections) < self.min_connections
               and len(self._connections) + len(self._in_use) < limit):
            conn = super(PooledDatabase, self)._connect()  # a new driver connection, not a checkout
            with self._pool_lock:
                self._heap_counter += 1
                heapq.heappush(self._connections, (time.time(), self._heap_counter, conn))
            self._returned_at[self.conn_key(conn)] = time.time()
            opened += 1
        return opened

    def maintain(self) -> dict[str, int]:
        """Close connections idle too long (keeping the minimum) and any that fail a ping."""
        now = time.time()
        closed = dead = 0
        with self._pool_lock:
            idle, self._connections = self._connections, []
        keep = []
        for entry in sorted(idle):
            conn = entry[2]
            key = self.conn_key(conn)
            too_old = now - self._returned_at.get(key, entry[0]) > self.max_idle
            if too_old and len(keep) >= self.min_connections:
                closed += 1
            elif self._is_closed(conn):
                dead += 1
            else:
                keep.append(entry)
                continue
            self._returned_at.pop(key, None)
            self._close_raw(conn)
        with self._pool_lock:
            for entry in keep:
                heapq.heappush(self._connections, entry)
            self._pool_available.notify_all()
        warmed = self.warm()
        return {"closed_idle": closed, "closed_dead": dead, "opened": warmed}


def open_peewee_database(config: Config) -> peewee.Database:
    db_config = config.database
    if db_config.driver == "postgres":
        name, params = postgres_params(db_config.url)
        params.setdefault("connect_timeout", max(1, int(db_config.pool.timeout)))
        params.setdefault("application_name", "revenge")
        return PostgresPool(
            name,
            max_connections=db_config.pool.max_conns,
            stale_timeout=db_config.pool.max_conn_lifetime,
            timeout=db_config.pool.timeout,
            min_connections=db_config.pool.min_conns,
            max_idle=db_config.pool.max_conn_idle_time,
            **params,
        )
    path = config.sqlite_file
    path.parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE: a transaction takes the write lock when it begins, waiting out the busy
    # timeout, instead of upgrading a read snapshot later and failing at once with BUSY.
    return SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, timeout=30, lock_type="IMMEDIATE")


class Database:
    """The database as the rest of the server sees it."""

    def __init__(self, config: Config, *, threads: int | None = None):
        self.config = config
        self.driver = config.database.driver
        self.database = open_peewee_database(config)
        workers = threads or (config.database.pool.max_conns if self.driver == "postgres" else 4)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="revenge-db")
        self._lock = threading.Lock()
        self.closed = False

    @property
    def description(self) -> str:
        if self.driver == "postgres":
            return f"postgres {mask_url(self.config.database.url)}"
        return f"sqlite {self.config.sqlite_file}"

    # --- calls ----------------------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` with a connection on the current thread (for threads we own)."""
        database = self.database
        if self.driver == "sqlite":
            # One long-lived connection per database thread; opening one costs the pragmas.
            database.connect(reuse_if_open=True)
            return fn(*args, **kwargs)
        conn = None
        try:
            with database.connection_context():
                conn = database.connection()
                return fn(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            # psycopg2 marks a connection it lost with closed != 0; by now the pool has it back,
            # so look at the one this call used rather than asking for another.
            if isinstance(exc, peewee.InterfaceError) or conn is None or getattr(conn, "closed", 0):
                self._discard_connections()
                raise DatabaseUnavailable(f"lost the connection to the database: {exc}".strip()) from exc
            raise

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a database thread."""
        if self.closed:
            raise DatabaseUnavailable("the database is closed")
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        bound = functools.partial(ctx.run, self.call, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, bound)

    def _discard_connections(self) -> None:
        database = self.database
        try:
            database.manual_close()
        except Exception:  # the connection is already gone
            pass
        if isinstance(database, PooledPostgresqlDatabase):
            database.close_idle()
        logger.warning("database connection lost; the pool will reconnect on next use")

    def maintain(self) -> dict[str, int]:
        """Pool upkeep, run every ``database.pool.health_check_period`` seconds."""
        if isinstance(self.database, PostgresPool):
            return self.database.maintain()
        return {}

    async def maintenance_loop(self) -> None:
        period = self.config.database.pool.health_check_period
        if self.driver != "postgres" or period <= 0:
            return
        while True:
            await asyncio.sleep(period)
            try:
                report = await asyncio.get_running_loop().run_in_executor(self._executor, self.maintain)
                if report.get("closed_dead"):
                    logger.warning("database pool: dropped {} dead connection(s)", report["closed_dead"])
            except Exception as exc:  # the server may be restarting; next round tries again
                logger.warning("database pool upkeep failed: {}", exc)

    # --- schema ---------------------------------------------------------------------------

    def bind(self, models: Iterable[type[peewee.Model]]) -> None:
        bind_models(self.database, models)

    def ensure_schemas(self) -> None:
        """Create the shared and qar schemas on PostgreSQL (SQLite maps them to prefixes)."""
        if self.driver != "postgres":
            return
        for schema in SCHEMAS:
            self.database.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def tables(self) -> list[tuple[str | None, str]]:
        """Every (schema, table) the database holds, in physical names."""
        if self.driver == "postgres":
            cursor = self.database.execute_sql(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('public', 'shared', 'qar') AND table_type = 'BASE TABLE' "
                "ORDER BY 1, 2"
            )
            return [(s, t) for s, t in cursor.fetchall()]
        return [(None, t) for t in self.database.get_tables()]

    # --- health ---------------------------------------------------------------------------

    def ping(self) -> float:
        started = time.perf_counter()
        self.database.execute_sql("SELECT 1").fetchone()
        return time.perf_counter() - started

    async def aping(self) -> float:
        return await self.run(self.ping)

    def pool_stats(self) -> dict[str, int]:
        database = self.database
        if isinstance(database, PooledPostgresqlDatabase):
            return {
                "in_use": len(database._in_use),
                "idle": len(database._connections),
                "max": database._max_connections or 0,
            }
        return {"in_use": 0, "idle": 0, "max": self._executor._max_workers}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True

        def close_thread_connection() -> None:
            if not self.database.is_closed():
                self.database.close()

        # Each database thread holds its own connection; close them where they live.
        futures = [self._executor.submit(close_thread_connection) for _ in range(self._executor._max_workers)]
        for future in futures:
            try:
                future.result(timeout=5)
            except Exception:
                pass
        self._executor.shutdown(wait=True)
        if isinstance(self.database, PooledPostgresqlDatabase):
            self.database.close_all()
        elif not self.database.is_closed():
            self.database.close()


def sqlite_path_of(database: peewee.Database) -> Path | None:
    return Path(database.database) if is_sqlite(database) else None
