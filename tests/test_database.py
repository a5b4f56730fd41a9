"""The database layer on both drivers: threads, schemas, pragmas, migrations, pool healing.

Everything runs against real SQLite files and the embedded PostgreSQL server; the checks
look at what the engines really hold (sqlite_master, information_schema, PRAGMA values).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import textwrap
import threading
import time
from pathlib import Path

import peewee
import psycopg2
import pytest

from revenge_core.config import Config
from revenge_core.db.database import Database, DatabaseUnavailable
from revenge_core.db.migrate import MigrationSet, core_set, downgrade, pending, status, upgrade
from revenge_hookspecs.db import Model
from tests.fixtures import make_config


@pytest.fixture
def db(config: Config):
    """A Database on the driver under test, with nothing migrated yet."""
    database = Database(config)
    yield database
    database.close()


class Note(Model):
    text = peewee.CharField()
    position = peewee.IntegerField()


class SharedThing(Model):
    label = peewee.CharField()
    flag = peewee.BooleanField(default=False)

    class Meta:
        schema = "shared"
        table_name = "thing"


class QarThing(Model):
    shared = peewee.ForeignKeyField(SharedThing)

    class Meta:
        schema = "qar"
        table_name = "thing"


class Stamped(Model):
    at = peewee.DateTimeField()
    day = peewee.DateField()
    amount = peewee.DecimalField(max_digits=10, decimal_places=2)


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, body in files.items():
        (folder / name).write_text(textwrap.dedent(body))
    return folder


WIDGET = """
    import peewee
    from revenge_hookspecs.db import Model, bind_models

    class Widget(Model):
        name = peewee.CharField()

        class Meta:
            schema = "shared"
            table_name = "widget"

    def up(migrator, db):
        bind_models(db, [Widget])
        db.create_tables([Widget])

    def down(migrator, db):
        bind_models(db, [Widget])
        db.drop_tables([Widget])
"""

GADGET = """
    import peewee
    from revenge_hookspecs.db import Model, bind_models

    class Widget(Model):
        class Meta:
            schema = "shared"
            table_name = "widget"

    class Gadget(Model):
        widget = peewee.ForeignKeyField(Widget)

        class Meta:
            table_name = "gadget"

    def up(migrator, db):
        bind_models(db, [Widget, Gadget])
        db.create_tables([Gadget])

    def down(migrator, db):
        bind_models(db, [Widget, Gadget])
        db.drop_tables([Gadget])
"""

SLOW = """
    import time
    from pathlib import Path

    def up(migrator, db):
        with Path(__file__).with_name("runs.txt").open("a") as runs:
            runs.write("{name}\\n")
        time.sleep(0.3)  # long enough for the other thread to arrive

    def down(migrator, db):
        pass
"""


def physical_tables(database: Database) -> set[str]:
    """Tables as the engine names them: ``schema.table`` on PostgreSQL, ``table`` on SQLite."""
    return {f"{schema}.{table}" if schema else table for schema, table in database.tables()}


# --- calls ------------------------------------------------------------------------------------


async def test_run_executes_off_the_event_loop_thread(db: Database):
    loop_thread = threading.current_thread().name

    name, answer = await db.run(lambda: (threading.current_thread().name,
                                         db.database.execute_sql("SELECT 41 + 1").fetchone()[0]))

    assert name != loop_thread and name.startswith("revenge-db")
    assert answer == 42


async def test_concurrent_runs_all_land(db: Database):
    db.bind([Note])
    await db.run(db.database.create_tables, [Note])
    threads: set[str] = set()
    together = threading.Barrier(4)

    def insert(position: int) -> int:
        threads.add(threading.current_thread().name)
        if position < 4:
            together.wait(10)  # the first four run at once, on four threads
        return Note.create(text=f"note {position}", position=position).id

    ids = await asyncio.gather(*(db.run(insert, n) for n in range(50)))

    assert len(set(ids)) == 50
    assert await db.run(lambda: sorted(n.position for n in Note.select())) == list(range(50))
    assert len(threads) == 4


async def test_models_land_in_their_schema(db: Database):
    db.bind([SharedThing, QarThing])
    await db.run(db.ensure_schemas)
    await db.run(db.database.create_tables, [SharedThing, QarThing])

    def round_trip() -> tuple[str, bool]:
        thing = SharedThing.create(label="O'Brien — ü", flag=True)
        QarThing.create(shared=thing)
        found = QarThing.select().join(SharedThing).get()
        return found.shared.label, found.shared.flag

    assert await db.run(round_trip) == ("O'Brien — ü", True)
    if db.driver == "sqlite":
        names = await db.run(lambda: {r[0] for r in db.database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()})
        assert {"shared_thing", "qar_thing"} <= names and "thing" not in names
        assert {"shared_thing", "qar_thing"} <= physical_tables(db)
    else:
        names = await db.run(lambda: set(db.database.execute_sql(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name = 'thing'"
        ).fetchall()))
        assert names == {("shared", "thing"), ("qar", "thing")}
        assert {"shared.thing", "qar.thing"} <= physical_tables(db)


async def test_sqlite_connections_use_wal_and_normal_sync(sqlite_config: Config):
    database = Database(sqlite_config)
    together = threading.Barrier(4)

    def pragmas() -> tuple[str, str, int, int]:
        together.wait(10)  # one call on each database thread, each with its own connection
        execute = database.database.execute_sql
        return (threading.current_thread().name, execute("PRAGMA journal_mode").fetchone()[0],
                execute("PRAGMA synchronous").fetchone()[0], execute("PRAGMA foreign_keys").fetchone()[0])

    try:
        results = await asyncio.gather(*(database.run(pragmas) for _ in range(4)))
    finally:
        database.close()

    assert len({name for name, *_ in results}) == 4
    assert {tuple(values) for _, *values in results} == {("wal", 1, 1)}  # synchronous 1 is NORMAL


async def test_models_store_datetimes_dates_and_decimals(config: Config):
    database = Database(config)
    database.bind([Stamped])
    at, day, amount = dt.datetime(2024, 2, 29, 23, 59, 58, 123456), dt.date(2024, 2, 29), decimal.Decimal("12.34")
    try:
        await database.run(database.database.create_tables, [Stamped])
        await database.run(Stamped.create, at=at, day=day, amount=amount)
        row = await database.run(Stamped.get)
    finally:
        database.close()
    assert (row.at, row.day, row.amount) == (at, day, amount)


async def test_a_closed_database_refuses_calls(db: Database):
    db.close()
    with pytest.raises(DatabaseUnavailable):
        await db.run(lambda: None)


# --- migrations -------------------------------------------------------------------------------


def test_core_migrations_go_up_and_down(config: Config):
    database = Database(config)
    names = [m.name for m in status(database.database, core_set())]
    try:
        assert names and pending(database.database, core_set()) == names

        assert upgrade(database.database, core_set()) == names
        assert upgrade(database.database, core_set()) == []
        assert all(m.applied for m in status(database.database, core_set()))
        shared = "shared.plugin_state" if database.driver == "postgres" else "shared_plugin_state"
        history = "shared.migrations" if database.driver == "postgres" else "shared_migrations"
        assert {shared, history} <= physical_tables(database)

        assert downgrade(database.database, core_set()) == names[-1:]
        assert pending(database.database, core_set()) == names[-1:]
        assert downgrade(database.database, core_set(), names[0]) == names[-2::-1]
        assert pending(database.database, core_set()) == names
        assert shared not in physical_tables(database)
    finally:
        database.close()


def test_a_plugin_set_keeps_its_own_history(config: Config, tmp_path: Path):
    plugin = MigrationSet("my-plugin", write_migrations(tmp_path / "my_plugin", {
        "0001_widget.py": WIDGET, "0002_gadget.py": GADGET,
    }))
    database = Database(config)
    try:
        upgrade(database.database, core_set())
        core_names = [m.name for m in status(database.database, core_set())]
        assert upgrade(database.database, plugin) == ["0001_widget", "0002_gadget"]

        on_pg = database.driver == "postgres"
        tables = physical_tables(database)
        assert ("shared.plugin_migrations_my_plugin" if on_pg else "shared_plugin_migrations_my_plugin") in tables
        assert ("shared.widget" if on_pg else "shared_widget") in tables
        assert ("public.gadget" if on_pg else "gadget") in tables

        assert downgrade(database.database, plugin) == ["0002_gadget"]
        assert pending(database.database, plugin) == ["0002_gadget"]
        # The core's history neither sees nor loses anything.
        assert [m.name for m in status(database.database, core_set()) if m.applied] == core_names
        assert pending(database.database, core_set()) == []

        assert upgrade(database.database, plugin) == ["0002_gadget"]
        assert [m.name for m in status(database.database, plugin)] == ["0001_widget", "0002_gadget"]
    finally:
        database.close()


def test_concurrent_upgrades_apply_each_migration_once(config: Config, tmp_path: Path):
    folder = write_migrations(tmp_path / "slow", {
        "0001_a.py": SLOW.format(name="0001_a"), "0002_b.py": SLOW.format(name="0002_b"),
    })
    slow = MigrationSet("slow", folder)
    database = Database(config)
    barrier = threading.Barrier(2)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        barrier.wait(10)
        try:
            applied.append(upgrade(database.database, slow))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    try:
        threads = [threading.Thread(target=migrate) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        if errors:
            raise errors[0]
        assert sorted(applied, key=len) == [[], ["0001_a", "0002_b"]]
        assert (folder / "runs.txt").read_text().split() == ["0001_a", "0002_b"]
        assert [m.name for m in status(database.database, slow) if m.applied] == ["0001_a", "0002_b"]
    finally:
        database.close()


# --- the PostgreSQL pool ----------------------------------------------------------------------


def _backend_pid(database: Database) -> int:
    return database.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


@pytest.mark.postgres
async def test_the_pool_heals_after_the_server_restarts(postgres_server, pg_url: str, tmp_path: Path):
    database = Database(make_config(tmp_path, "postgres", pg_url))
    together = threading.Barrier(4)

    def hold() -> int:
        together.wait(10)  # four calls at once open all four pool connections
        return _backend_pid(database)

    try:
        before = set(await asyncio.gather(*(database.run(hold) for _ in range(4))))
        assert len(before) == 4 and database.pool_stats()["idle"] == 4

        await asyncio.to_thread(postgres_server.restart)

        failures = 0
        for _attempt in range(3):
            try:
                first = await database.run(_backend_pid, database)
                break
            except DatabaseUnavailable:
                failures += 1
        else:
            pytest.fail("the pool kept handing out dead connections")
        assert first not in before and failures <= 2
        # Once healed, nothing dead is left: every connection now in use works.
        together.reset()
        after = await asyncio.gather(*(database.run(hold) for _ in range(12)))
        assert not set(after) & before
        assert database.pool_stats()["in_use"] == 0
    finally:
        database.close()


@pytest.mark.postgres
async def test_a_connection_killed_mid_call_is_reported_unavailable(pg_url: str, tmp_path: Path):
    database = Database(make_config(tmp_path, "postgres", pg_url), threads=1)
    started = threading.Event()
    pids: list[int] = []

    def sleep_on_the_server() -> None:
        pids.append(_backend_pid(database))
        started.set()
        database.database.execute_sql("SELECT pg_sleep(5)")

    try:
        call = asyncio.ensure_future(database.run(sleep_on_the_server))
        assert await asyncio.to_thread(started.wait, 10)
        killer = psycopg2.connect(pg_url)
        killer.autocommit = True
        with killer.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
        killer.close()
        with pytest.raises(DatabaseUnavailable):
            await call
        assert database.pool_stats()["in_use"] == 0
        assert await database.run(lambda: database.database.execute_sql("SELECT 1").fetchone()) == (1,)
    finally:
        database.close()


async def test_pool_stats_add_up(db: Database):
    stats = db.pool_stats()
    if db.driver == "sqlite":
        assert stats == {"in_use": 0, "idle": 0, "max": 4}
        return
    assert stats == {"in_use": 0, "idle": 0, "max": db.config.database.pool.max_conns}

    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        release.wait(10)

    call = asyncio.ensure_future(db.run(hold))
    assert await asyncio.to_thread(inside.wait, 10)
    assert db.pool_stats()["in_use"] == 1
    release.set()
    await call
    assert db.pool_stats() == {"in_use": 0, "idle": 1, "max": stats["max"]}

    def busy() -> None:
        time.sleep(0.05)
        db.database.execute_sql("SELECT 1")

    await asyncio.gather(*(db.run(busy) for _ in range(20)))
    final = db.pool_stats()
    assert final["in_use"] == 0 and 1 <= final["idle"] <= final["max"]
