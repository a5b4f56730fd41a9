"""Schema migrations for the core and for each plugin, on peewee's migration runner.

The core's scripts live in ``migrations/`` (installed as ``revenge_core.migrations``);
each plugin ships its own folder. Every set keeps its own history table in the ``shared``
schema, so plugins never see or disturb each other's history. Two instances starting at
once take a lock first, so a migration runs exactly once.
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrations import Migration, MigrationError, Runner

import revenge_core.migrations
from revenge_hookspecs.db import physical_table

if TYPE_CHECKING:
    from ..config import Config

CORE = "core"
CORE_MIGRATIONS = Path(revenge_core.migrations.__file__).parent


@attrs.frozen
class MigrationSet:
    """A named folder of migrations: the core's or one plugin's."""

    name: str
    directory: Path

    @property
    def history_table(self) -> str:
        return "migrations" if self.name == CORE else f"plugin_migrations_{self.name.replace('-', '_')}"


def core_set() -> MigrationSet:
    return MigrationSet(CORE, CORE_MIGRATIONS)


def make_runner(database: peewee.Database, migration_set: MigrationSet, config: Config | None = None) -> Runner:
    schema, table = physical_table(database, "shared", migration_set.history_table)
    runner = Runner(database, directory=str(migration_set.directory), table_name=table, schema=schema)
    # History lives in `shared`, but the migrator scripts get works on the default schema
    # (`public`); scripts name shared/qar tables through revenge_hookspecs.db.physical_table.
    runner.migrator = SchemaMigrator.from_database(database)
    # Scripts that transform data with the server's keys (encrypting stored secrets) read
    # the configuration here; None when the caller has none.
    runner.migrator.config = config
    return runner


@contextlib.contextmanager
def migration_lock(database: peewee.Database) -> Iterator[None]:
    """Serialise migrations across processes sharing the database."""
    if isinstance(database, peewee.PostgresqlDatabase):
        key = zlib.crc32(b"revenge-migrations")
        database.execute_sql("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))
        return
    lock_path = Path(database.database + ".migrate.lock")
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_schemas(database: peewee.Database) -> None:
    if isinstance(database, peewee.PostgresqlDatabase):
        for schema in ("shared", "qar"):
            database.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def upgrade(database: peewee.Database, migration_set: MigrationSet, target: str | None = None, *,
            config: Config | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied.

    :param config: the server's configuration, for scripts that need its keys.
    """
    if not migration_set.directory.is_dir():
        raise MigrationError(f"{migration_set.name}: no migrations folder at {migration_set.directory}")
    with database.connection_context(), migration_lock(database):
        _ensure_schemas(database)
        return make_runner(database, migration_set, config).up(target)


def downgrade(database: peewee.Database, migration_set: MigrationSet, target: str | None = None, *,
              config: Config | None = None) -> list[str]:
    """Revert the newest migration, or every one back through ``target``."""
    with database.connection_context(), migration_lock(database):
        return make_runner(database, migration_set, config).down(target)


def status(database: peewee.Database, migration_set: MigrationSet) -> list[Migration]:
    with database.connection_context():
        return make_runner(database, migration_set).status()


def pending(database: peewee.Database, migration_set: MigrationSet) -> list[str]:
    return [m.name for m in status(database, migration_set) if m.applied is None and m.path]
