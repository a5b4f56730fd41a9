"""``revenge db copy``: an embedded SQLite install moved to a real PostgreSQL server.

The source is a real SQLite install (core migrations plus a small plugin written into the
test's folder) filled with awkward values; the target is a fresh database on the embedded
PostgreSQL server. Every check reads the target back with psycopg2.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import random
import textwrap
import threading
import uuid
from pathlib import Path

import peewee
import psycopg2
import pytest

from revenge_core.config import Config
from revenge_core.db.copy import CopyError, CopyReport, copy_database, discover_migration_sets
from revenge_core.db.database import open_peewee_database, postgres_params
from revenge_core.db.migrate import MigrationSet, core_set, status, upgrade

pytestmark = pytest.mark.postgres

ARTISTS = 3000
TRACKS = 5000
TAGS = 300

PLUGIN_MIGRATION = '''
"""Fake plugin: a public and a shared table with foreign keys, and one in qar."""

import peewee
from revenge_hookspecs.db import Model, bind_models


class JSONBField(peewee.TextField):
    field_type = "JSONB"


class Artist(Model):
    name = peewee.CharField(max_length=200)
    active = peewee.BooleanField(default=True)
    rating = peewee.DoubleField(null=True)
    score = peewee.FloatField(null=True)
    born = peewee.DateTimeField(null=True)
    notes = peewee.TextField(null=True)

    class Meta:
        table_name = "fake_artist"


class Track(Model):
    artist = peewee.ForeignKeyField(Artist)
    parent = peewee.ForeignKeyField("self", null=True)
    title = peewee.TextField(null=True)
    explicit = peewee.BooleanField(null=True)
    played_at = peewee.DateTimeField(null=True)
    length = peewee.DecimalField(max_digits=12, decimal_places=3, null=True)
    guid = peewee.UUIDField(null=True)
    payload = JSONBField(null=True)

    class Meta:
        schema = "shared"
        table_name = "fake_track"


class Tag(Model):
    name = peewee.CharField(primary_key=True, max_length=100)
    track = peewee.ForeignKeyField(Track, null=True)
    weight = peewee.SmallIntegerField(default=0)

    class Meta:
        schema = "qar"
        table_name = "fake_tag"


MODELS = [Artist, Track, Tag]


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, MODELS)
    db.drop_tables(MODELS)
'''

NAMES = ["Sigur Rós", "Motörhead", "Björk 'quoted' \"double\"", "🎸 emoji", "back\\slash", "100% %s",
         "line\nbreak", "tab\there", "   padded   ", "", "日本語", "O'Brien; DROP TABLE x;--"]


@pytest.fixture
def plugin_set(tmp_path: Path) -> MigrationSet:
    folder = tmp_path / "fake_plugin_migrations"
    folder.mkdir()
    (folder / "0001_x.py").write_text(textwrap.dedent(PLUGIN_MIGRATION))
    return MigrationSet("fake-plugin", folder)


def _sql_time(value: dt.datetime | None) -> str | None:
    # How peewee stores a datetime in SQLite: str(datetime).
    return None if value is None else str(value)


def make_rows(seed: int = 7) -> dict[str, list[tuple]]:
    """Deterministic rows as the SQLite source stores them."""
    rng = random.Random(seed)
    base = dt.datetime(2001, 2, 3, 4, 5, 6)
    artists = []
    for i in range(1, ARTISTS + 1):
        name = f"{NAMES[i % len(NAMES)]} #{i}"
        born = base + dt.timedelta(seconds=rng.randrange(10**9), microseconds=rng.choice([0, rng.randrange(10**6)]))
        notes = None if i % 7 == 0 else json.dumps({"i": i, "tags": ["a", "ü"], "nested": {"x": 1.5}},
                                                   ensure_ascii=i % 2 == 0)
        artists.append((i, name, i % 3 != 0, None if i % 11 == 0 else rng.uniform(-1e6, 1e6),
                        None if i % 13 == 0 else 0.1 * i, _sql_time(None if i % 17 == 0 else born), notes))
    tracks = []
    for i in range(1, TRACKS + 1):
        # Some tracks point at a parent with a higher id (in a later batch): the copy must cope.
        parent = i + 1 if i % 10 == 0 and i < TRACKS else (i - 1 if i % 3 == 0 else None)
        title = None if i % 9 == 0 else f"{NAMES[(i * 7) % len(NAMES)]} — track {i}"
        explicit = None if i % 5 == 0 else int(i % 2 == 0)
        played = None if i % 4 == 0 else base + dt.timedelta(minutes=i, microseconds=i)
        length = None if i % 6 == 0 else f"{rng.randrange(10**6)}.{rng.randrange(1000):03d}"
        payload = None if i % 8 == 0 else json.dumps({"n": i, "list": [1, 2.5, None, True], "s": "é\"'"})
        tracks.append((i, rng.randrange(1, ARTISTS + 1), parent, title, explicit, _sql_time(played), length,
                       uuid.UUID(int=rng.getrandbits(128)).hex, payload))
    tags = [(f"tag-{i}-{NAMES[i % len(NAMES)][:20]}", None if i % 4 == 0 else rng.randrange(1, TRACKS + 1),
             i % 300) for i in range(TAGS)]
    plugin_state = [("fake-plugin", 1, 3, _sql_time(base), "admin"), ("other", 0, 4, _sql_time(base), "")]
    return {"fake_artist": artists, "shared_fake_track": tracks, "qar_fake_tag": tags,
            "shared_plugin_state": plugin_state}


INSERTS = {
    "fake_artist": 'INSERT INTO "fake_artist" (id, name, active, rating, score, born, notes) '
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "shared_fake_track": 'INSERT INTO "shared_fake_track" (id, artist_id, parent_id, title, explicit, played_at, '
                         "length, guid, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "qar_fake_tag": 'INSERT INTO "qar_fake_tag" (name, track_id, weight) VALUES (?, ?, ?)',
    "shared_plugin_state": 'INSERT INTO "shared_plugin_state" (name, enabled, revision, updated_at, updated_by) '
                           "VALUES (?, ?, ?, ?, ?)",
}


@pytest.fixture
def rows() -> dict[str, list[tuple]]:
    return make_rows()


@pytest.fixture
def source(sqlite_config: Config, plugin_set: MigrationSet, rows: dict[str, list[tuple]]):
    """A filled SQLite install with the core's and the fake plugin's migrations applied."""
    db = open_peewee_database(sqlite_config)
    upgrade(db, core_set())
    upgrade(db, plugin_set)
    with db.connection_context(), db.atomic():
        # Forward references inside shared_fake_track are fine for SQLite until commit.
        db.execute_sql("PRAGMA defer_foreign_keys = ON")
        for table, values in rows.items():
            db.cursor().executemany(INSERTS[table], values)
    yield db
    if not db.is_closed():
        db.close()


def connect(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def target_tables(url: str) -> list[tuple[str, str]]:
    return query(url, "SELECT table_schema, table_name FROM information_schema.tables "
                      "WHERE table_schema IN ('public', 'shared', 'qar') ORDER BY 1, 2")


def target_database(url: str) -> peewee.PostgresqlDatabase:
    name, params = postgres_params(url)
    return peewee.PostgresqlDatabase(name, **params)


def by_table(report: CopyReport) -> dict[str, tuple[int, int, bool]]:
    return {f"{t.schema}.{t.table}": (t.source_rows, t.target_rows, t.checksum_match) for t in report.tables}


# --- the copy ---------------------------------------------------------------------------------


def test_copy_moves_every_row_and_value(source, pg_url, plugin_set, rows):
    # A core table with an FTS5 index on SQLite and a generated tsvector on PostgreSQL.
    source.execute_sql(
        'INSERT INTO "shared_search_documents" (doc_type, doc_id, title, title_norm, body, fields, updated_at) '
        "VALUES ('movie', '42', 'Amélie', 'amelie', 'le fabuleux destin', ?, '2024-05-06 07:08:09')",
        (json.dumps({"year": 2001, "rating": 1e1, "genres": ["romance"]}),),
    )
    seen: dict[str, tuple[int, int]] = {}
    report = copy_database(source, pg_url, [core_set(), plugin_set], batch_size=700,
                           progress=lambda table, done, total: seen.__setitem__(table, (done, total)))

    assert report.ok, report
    counts = by_table(report)
    assert all(match for _, _, match in counts.values())
    assert {name: counts[name] for name in (
        "public.fake_artist", "shared.fake_track", "qar.fake_tag", "shared.plugin_state",
        "shared.plugin_migration_state",
    )} == {
        "public.fake_artist": (ARTISTS, ARTISTS, True),
        "shared.fake_track": (TRACKS, TRACKS, True),
        "qar.fake_tag": (TAGS, TAGS, True),
        "shared.plugin_state": (2, 2, True),
        "shared.plugin_migration_state": (0, 0, True),
    }
    assert not any(name.startswith("shared.migrations") or "plugin_migrations" in name for name in counts)
    assert "shared_search_documents_fts" in report.skipped  # derived; rebuilt by reindexing
    names = [f"{t.schema}.{t.table}" for t in report.tables]
    assert names.index("public.fake_artist") < names.index("shared.fake_track") < names.index("qar.fake_tag")
    assert seen["public.fake_artist"] == (ARTISTS, ARTISTS)
    assert seen["shared.plugin_migration_state"] == (0, 0)
    assert report.rows == sum(t.source_rows for t in report.tables) >= ARTISTS + TRACKS + TAGS + 3
    assert report.seconds > 0

    # Every artist, compared with what was written to SQLite, in PostgreSQL's own types.
    got = {r[0]: r for r in query(pg_url, 'SELECT id, name, active, rating, score, born, notes FROM "fake_artist"')}
    for i, name, active, rating, score, born, notes in rows["fake_artist"]:
        row = got[i]
        assert row[1] == name and row[2] is bool(active) and row[3] == rating
        assert row[4] == (None if score is None else pytest.approx(score, rel=1e-6))  # real: single precision
        assert row[5] == (None if born is None else dt.datetime.fromisoformat(born))
        assert row[6] == notes

    tracks = {r[0]: r for r in query(pg_url, 'SELECT id, artist_id, parent_id, title, explicit, played_at, '
                                             'length, guid, payload FROM "shared"."fake_track"')}
    for i, artist, parent, title, explicit, played, length, guid, payload in rows["shared_fake_track"]:
        row = tracks[i]
        assert row[1:4] == (artist, parent, title)
        assert row[4] is (None if explicit is None else bool(explicit))
        assert row[5] == (None if played is None else dt.datetime.fromisoformat(played))
        assert row[6] == (None if length is None else decimal.Decimal(length))
        assert str(row[7]) == str(uuid.UUID(guid))
        assert row[8] == (None if payload is None else json.loads(payload))
    assert tracks[10][2] == 11  # a forward reference across batches survived

    assert sorted(query(pg_url, 'SELECT name, track_id, weight FROM "qar"."fake_tag"')) == sorted(
        rows["qar_fake_tag"])
    assert query(pg_url, 'SELECT enabled, updated_at FROM "shared"."plugin_state" WHERE name = %s',
                 ("fake-plugin",)) == [(True, dt.datetime(2001, 2, 3, 4, 5, 6))]
    [(fields, updated_at, tsv)] = query(
        pg_url, 'SELECT fields, updated_at, tsv::text FROM "shared"."search_documents" WHERE doc_id = %s', ("42",))
    assert fields == {"year": 2001, "rating": 10, "genres": ["romance"]}
    assert updated_at == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    assert "'fabuleux'" in tsv


def test_copy_continues_sequences_and_migration_history(source, pg_url, plugin_set):
    source.execute_sql('DELETE FROM "fake_artist" WHERE id > ? AND id NOT IN (SELECT artist_id FROM '
                       '"shared_fake_track")', (ARTISTS - 10,))
    last = source.execute_sql('SELECT max(id) FROM "fake_artist"').fetchone()[0]
    assert copy_database(source, pg_url, [core_set(), plugin_set]).ok

    conn = connect(pg_url)
    with conn.cursor() as cur:
        cur.execute('INSERT INTO "fake_artist" (name, active) VALUES (%s, true) RETURNING id', ("new",))
        assert cur.fetchone()[0] == last + 1
        cur.execute('INSERT INTO "shared"."fake_track" (artist_id) VALUES (1) RETURNING id')
        assert cur.fetchone()[0] == TRACKS + 1
    conn.close()

    target = target_database(pg_url)
    try:
        for migration_set in (core_set(), plugin_set):
            on_source = [m.name for m in status(source, migration_set) if m.applied]
            on_target = [m.name for m in status(target, migration_set) if m.applied]
            assert on_source == on_target and on_target
        # The history tables were written by the target's own migrations, not copied.
        assert ("shared", "plugin_migrations_fake_plugin") in target_tables(pg_url)
    finally:
        target.close()


def test_copy_keeps_autoincrement_high_water_mark(sqlite_config, pg_url):
    """A SQLite AUTOINCREMENT table never reuses ids; neither must the copy."""
    folder = sqlite_config.data_dir / "auto_migrations"
    folder.mkdir(parents=True)
    (folder / "0001_auto.py").write_text(textwrap.dedent('''
        import peewee

        def up(migrator, db):
            if isinstance(db, peewee.PostgresqlDatabase):
                db.execute_sql('CREATE TABLE "shared"."auto" (id SERIAL PRIMARY KEY, v TEXT)')
            else:
                db.execute_sql('CREATE TABLE "shared_auto" (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)')

        def down(migrator, db):
            pass
    '''))
    auto = MigrationSet("auto", folder)
    db = open_peewee_database(sqlite_config)
    upgrade(db, core_set())
    upgrade(db, auto)
    for value in "abcde":
        db.execute_sql('INSERT INTO "shared_auto" (v) VALUES (?)', (value,))
    db.execute_sql('DELETE FROM "shared_auto" WHERE id > 2')

    assert copy_database(db, pg_url, [core_set(), auto]).ok
    assert query(pg_url, """SELECT nextval(pg_get_serial_sequence('"shared"."auto"', 'id'))""") == [(6,)]
    db.close()


CYCLE_MIGRATION = '''
import peewee


def up(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql('CREATE TABLE "shared"."egg" (id SERIAL PRIMARY KEY, hen_id INTEGER)')
        db.execute_sql('CREATE TABLE "shared"."hen" (id SERIAL PRIMARY KEY, '
                       'egg_id INTEGER NOT NULL REFERENCES "shared"."egg" (id))')
        db.execute_sql('ALTER TABLE "shared"."egg" ADD FOREIGN KEY (hen_id) REFERENCES "shared"."hen" (id)')
    else:
        db.execute_sql('CREATE TABLE "shared_egg" (id INTEGER PRIMARY KEY, '
                       'hen_id INTEGER REFERENCES "shared_hen" (id))')
        db.execute_sql('CREATE TABLE "shared_hen" (id INTEGER PRIMARY KEY, '
                       'egg_id INTEGER NOT NULL REFERENCES "shared_egg" (id))')


def down(migrator, db):
    pass
'''


def test_copy_breaks_foreign_key_cycles(sqlite_config, pg_url):
    """Eggs point at hens and hens at eggs: the nullable side is filled in after both are in."""
    folder = sqlite_config.data_dir / "cycle_migrations"
    folder.mkdir(parents=True)
    (folder / "0001_cycle.py").write_text(CYCLE_MIGRATION)
    cycle = MigrationSet("cycle", folder)
    db = open_peewee_database(sqlite_config)
    upgrade(db, core_set())
    upgrade(db, cycle)
    eggs = [(i, None if i % 7 == 0 else (i % 1500) + 1) for i in range(1, 1501)]
    hens = [(i, 1501 - i) for i in range(1, 1501)]
    with db.connection_context(), db.atomic():
        db.execute_sql("PRAGMA defer_foreign_keys = ON")
        db.cursor().executemany('INSERT INTO "shared_egg" (id, hen_id) VALUES (?, ?)', eggs)
        db.cursor().executemany('INSERT INTO "shared_hen" (id, egg_id) VALUES (?, ?)', hens)

    report = copy_database(db, pg_url, [core_set(), cycle], batch_size=400)

    assert report.ok
    assert by_table(report)["shared.egg"] == (1500, 1500, True)
    assert sorted(query(pg_url, 'SELECT id, hen_id FROM "shared"."egg"')) == eggs
    assert sorted(query(pg_url, 'SELECT id, egg_id FROM "shared"."hen"')) == hens
    db.close()


def test_copy_reads_one_snapshot_while_the_server_keeps_writing(source, sqlite_config, pg_url, plugin_set):
    """Artists and tracks referencing them keep arriving during the copy; the copy sees neither."""
    server = open_peewee_database(sqlite_config)
    started, wrote_some, stop = threading.Event(), threading.Event(), threading.Event()
    written = []

    def keep_writing() -> None:
        started.wait(30)
        with server.connection_context():
            while not stop.is_set():
                with server.atomic():
                    artist = server.execute_sql(
                        'INSERT INTO "fake_artist" (name, active) VALUES (?, 1) RETURNING id', ("late",)
                    ).fetchone()[0]
                    server.execute_sql('INSERT INTO "shared_fake_track" (artist_id) VALUES (?)', (artist,))
                written.append(artist)
                if len(written) >= 25:
                    wrote_some.set()

    def progress(_table: str, _done: int, _total: int) -> None:
        # The snapshot is fixed before the first batch; let the writer get going now.
        started.set()
        assert wrote_some.wait(30)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        report = copy_database(source, pg_url, [core_set(), plugin_set], batch_size=500, progress=progress)
    finally:
        stop.set()
        started.set()
        writer.join(30)

    assert report.ok, report
    assert len(written) >= 25
    counts = by_table(report)
    assert counts["public.fake_artist"] == (ARTISTS, ARTISTS, True)
    assert counts["shared.fake_track"] == (TRACKS, TRACKS, True)
    assert query(pg_url, 'SELECT count(*), max(id) FROM "fake_artist"') == [(ARTISTS, ARTISTS)]
    with server.connection_context():
        total = server.execute_sql('SELECT count(*) FROM "fake_artist"').fetchone()[0]
    assert total == ARTISTS + len(written)
    server.close()


# --- refusing and failing cleanly ---------------------------------------------------------------


def test_copy_refuses_a_target_holding_data(source, pg_url, plugin_set):
    target = target_database(pg_url)
    upgrade(target, core_set())
    query(pg_url, 'INSERT INTO "shared"."plugin_state" (name, enabled, revision, updated_at, updated_by) '
                  "VALUES ('keep-me', true, 1, now(), '')")
    before = target_tables(pg_url)

    with pytest.raises(CopyError, match=r"already holds data \(in shared\.plugin_state\)"):
        copy_database(source, pg_url, [core_set(), plugin_set])

    assert target_tables(pg_url) == before
    assert query(pg_url, 'SELECT name FROM "shared"."plugin_state"') == [("keep-me",)]
    target.close()


def test_copy_accepts_a_migrated_but_empty_target(source, pg_url, plugin_set):
    """A server started once on the new database leaves empty tables: that is still empty."""
    target = target_database(pg_url)
    upgrade(target, core_set())
    target.close()
    report = copy_database(source, pg_url, [core_set(), plugin_set])
    assert report.ok
    assert query(pg_url, 'SELECT count(*) FROM "shared"."fake_track"') == [(TRACKS,)]


def test_a_value_that_cannot_convert_leaves_the_target_empty(source, pg_url, plugin_set):
    # SQLite takes anything in a BooleanField's INTEGER column; PostgreSQL's boolean does not.
    source.execute_sql('UPDATE "shared_fake_track" SET explicit = ? WHERE id = ?', ("maybe", 4321))
    seen = []

    with pytest.raises(CopyError) as failure:
        copy_database(source, pg_url, [core_set(), plugin_set], batch_size=1000,
                      progress=lambda table, done, _total: seen.append((table, done)))

    message = str(failure.value)
    assert "shared.fake_track.explicit" in message and "id=4321" in message and "'maybe'" in message
    assert ("public.fake_artist", ARTISTS) in seen  # earlier tables had been written
    assert target_tables(pg_url) == []
    assert query(pg_url, "SELECT nspname FROM pg_namespace WHERE nspname IN ('shared', 'qar')") == []


def test_a_checksum_mismatch_rolls_everything_back(source, pg_url, plugin_set):
    """A trigger on the target alters names as they arrive: counts match, contents do not."""
    target = target_database(pg_url)
    upgrade(target, core_set())
    upgrade(target, plugin_set)
    target.execute_sql(
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$"
    )
    target.execute_sql('CREATE TRIGGER shout BEFORE INSERT ON "fake_artist" FOR EACH ROW EXECUTE FUNCTION shout()')
    target.close()

    report = copy_database(source, pg_url, [core_set(), plugin_set])

    assert not report.ok
    counts = by_table(report)
    assert counts["public.fake_artist"] == (ARTISTS, ARTISTS, False)
    assert counts["shared.fake_track"] == (TRACKS, TRACKS, True)
    assert query(pg_url, 'SELECT (SELECT count(*) FROM "fake_artist") + (SELECT count(*) FROM "shared"."fake_track")'
                         ' + (SELECT count(*) FROM "shared"."plugin_state")') == [(0,)]


def test_copy_refuses_plugin_history_without_its_migrations(source, pg_url):
    with pytest.raises(CopyError, match="fake_plugin"):
        copy_database(source, pg_url, [core_set()])
    assert target_tables(pg_url) == []


def test_copy_refuses_a_source_table_the_target_would_not_have(source, pg_url, plugin_set):
    source.execute_sql('CREATE TABLE "stray" (id INTEGER PRIMARY KEY, v TEXT)')
    source.execute_sql("INSERT INTO stray (v) VALUES ('precious')")
    with pytest.raises(CopyError, match="stray"):
        copy_database(source, pg_url, [core_set(), plugin_set])
    assert target_tables(pg_url) == []


def test_copy_skips_full_text_indexes(source, pg_url, plugin_set):
    source.execute_sql('CREATE VIRTUAL TABLE "search_fts" USING fts5(title)')
    source.execute_sql("INSERT INTO search_fts (title) VALUES ('derived, rebuilt by reindexing')")
    report = copy_database(source, pg_url, [core_set(), plugin_set])
    assert report.ok
    assert "search_fts" in report.skipped and "search_fts_data" in report.skipped


def test_discover_migration_sets_finds_the_plugins_the_source_has_run(source, plugin_set, tmp_path):
    source.connect()
    plugin_dirs = {"never-enabled": tmp_path / "nowhere", "fake-plugin": plugin_set.directory}
    found = discover_migration_sets(source, plugin_dirs)
    assert found == [core_set(), plugin_set]
    assert not source.is_closed()  # a connection the caller had stays open


@pytest.mark.parametrize("url", ["mysql://localhost/revenge", "revenge.db"])
def test_copy_wants_a_postgresql_url(source, plugin_set, url):
    with pytest.raises(CopyError, match="postgresql://"):
        copy_database(source, url, [core_set(), plugin_set])


def test_copy_wants_an_embedded_source(pg_url):
    with pytest.raises(CopyError, match="SQLite"):
        copy_database(target_database(pg_url), pg_url, [core_set()])
