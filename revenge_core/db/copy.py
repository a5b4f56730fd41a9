"""Move an embedded install (SQLite) to PostgreSQL: what ``revenge db copy --to <url>`` runs.

The copy is safe to start while the server keeps serving and writing:

- the source is read inside one read transaction, so every table comes from the same
  snapshot (SQLite in WAL mode lets the server go on writing meanwhile);
- the target must hold no Revenge data; its schema and migration history come from the
  same migrations the source ran (the core's and each plugin's), not from translated DDL;
- tables are copied in foreign-key order, found by introspection, in batches, with each
  value converted to what its PostgreSQL column needs (SQLite keeps booleans as 0/1 and
  datetimes as text); sequences then continue after the highest copied id;
- every table is verified: row count and a checksum of its rows, values normalised the
  same way on both sides;
- all of it happens in one target transaction, committed only when every table matches,
  so a failure or a mismatch leaves the target exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import peewee
import psycopg2
import psycopg2.extras
from loguru import logger

from revenge_hookspecs.db import is_sqlite, physical_table

from ..config import mask_url
from .database import SCHEMAS, postgres_params, read_transaction
from .migrate import CORE, MigrationSet, core_set, make_runner, migration_lock

Progress = Callable[[str, int, int], None]
"""Called as ``progress("schema.table", rows_copied, rows_in_table)`` after each batch."""

TARGET_SCHEMAS = ("public", *SCHEMAS)
_CHECKSUM_MODULUS = 1 << 256


class CopyError(RuntimeError):
    """The copy could not be done; the target database was left as it was."""


@attrs.frozen
class TableReport:
    """How one table came across."""

    schema: str
    table: str
    source_rows: int
    target_rows: int
    checksum_match: bool

    @property
    def ok(self) -> bool:
        return self.checksum_match and self.source_rows == self.target_rows


@attrs.frozen
class CopyReport:
    """The outcome of :func:`copy_database`; the target was committed only when ``ok``."""

    tables: list[TableReport]
    ok: bool
    seconds: float
    #: Derived tables that were not copied (SQLite full-text indexes and their shadow tables);
    #: they are rebuilt by reindexing on the new database.
    skipped: list[str] = attrs.Factory(list)

    @property
    def rows(self) -> int:
        return sum(table.source_rows for table in self.tables)


# --- values -----------------------------------------------------------------------------------
# Each PostgreSQL column type gets a converter (SQLite value -> value PostgreSQL accepts) and a
# normaliser (converted value, or value read back from PostgreSQL -> canonical value). The
# checksums hash normalised values, so both sides are compared in the target column's terms.


class _Unconvertible(ValueError):
    pass


_BOOL_TEXT = {"0": False, "1": True, "f": False, "t": True, "false": False, "true": True}
# PostgreSQL numeric holds up to 131072 digits before the point; never round while normalising.
_EXACT = decimal.Context(prec=200_000)


def _to_bool(value: Any) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[value.strip().lower()]
    raise _Unconvertible("expected 0 or 1")


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Unconvertible("expected an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Unconvertible("expected a number")


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def _to_real(value: Any) -> float:
    number = _to_float(value)
    try:
        _float32(number)
    except OverflowError:
        raise _Unconvertible("out of range for real") from None
    return number


def _to_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, (int, str)):
        try:
            return decimal.Decimal(value.strip() if isinstance(value, str) else value)
        except decimal.InvalidOperation:
            pass
    raise _Unconvertible("expected a decimal number")


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)):
        text = str(value)
    else:
        raise _Unconvertible("expected text")
    if "\x00" in text:
        raise _Unconvertible("PostgreSQL text cannot hold a NUL character")
    return text


def _parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Unconvertible("expected a date and time (YYYY-MM-DD HH:MM:SS)")


def _to_timestamp(value: Any) -> dt.datetime:
    parsed = _parse_datetime(value)
    if parsed.tzinfo is not None:
        # PostgreSQL would drop the offset and keep the wall time; keep the instant instead.
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _to_timestamptz(value: Any) -> dt.datetime:
    parsed = _parse_datetime(value)
    # The server writes naive UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Unconvertible("expected a date (YYYY-MM-DD)")


def _to_time(value: Any) -> dt.time:
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Unconvertible("expected a time (HH:MM:SS)")


def _to_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        # A JSON number in a column without text affinity comes back as a number.
        return json.dumps(value)
    raise _Unconvertible("expected JSON text")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    raise _Unconvertible("expected binary data")


def _to_uuid(value: Any) -> str:
    try:
        if isinstance(value, str):
            return str(uuid.UUID(value.strip()))
        if isinstance(value, bytes) and len(value) == 16:
            return str(uuid.UUID(bytes=value))
    except ValueError:
        pass
    raise _Unconvertible("expected a UUID")


def _json_float(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() else number  # jsonb prints 1e2 as 100


_JSON_DECODER = json.JSONDecoder(parse_float=_json_float)
_JSON_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _norm_json(value: str) -> str:
    return _JSON_ENCODER.encode(_JSON_DECODER.decode(value))


@attrs.frozen
class _Kind:
    convert: Callable[[Any], Any]
    #: None where the converted value and the one psycopg2 returns are already equal and have
    #: equal reprs (ints, booleans, doubles, text, naive datetimes): nothing to normalise.
    normalise: Callable[[Any], Any] | None = None


def _same(value: Any) -> Any:
    return value


_INTEGER = _Kind(_to_int)
_TEXT = _Kind(_to_text)
_JSON = _Kind(_to_json, _norm_json)
_PASSTHROUGH = _Kind(_same, str)
_KINDS: dict[str, _Kind] = {
    "boolean": _Kind(_to_bool),
    "smallint": _INTEGER,
    "integer": _INTEGER,
    "bigint": _INTEGER,
    # real keeps single precision; compare at the precision the column stores.
    "real": _Kind(_to_real, lambda v: repr(_float32(v))),
    "double precision": _Kind(_to_float),
    "numeric": _Kind(_to_decimal, lambda v: str(_EXACT.normalize(v))),
    "text": _TEXT,
    "character varying": _TEXT,
    # char(n) comes back padded with spaces.
    "character": _Kind(_to_text, lambda v: v.rstrip(" ")),
    "timestamp without time zone": _Kind(_to_timestamp),
    "timestamp with time zone": _Kind(_to_timestamptz, lambda v: v.astimezone(dt.UTC).isoformat()),
    "date": _Kind(_to_date),
    "time without time zone": _Kind(_to_time),
    "json": _JSON,
    "jsonb": _JSON,
    "bytea": _Kind(_to_bytes, lambda v: bytes(v).hex()),
    # Converted values are canonical text; psycopg2 returns text or, once register_uuid() was
    # called anywhere in the process, uuid.UUID, whose str() is the same canonical text.
    "uuid": _Kind(_to_uuid, str),
}


def _row_normaliser(kinds: list[_Kind]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function normalising a row (converted, or as read back) for the checksum."""
    steps = [(index, kind.normalise) for index, kind in enumerate(kinds) if kind.normalise is not None]
    if not steps:
        return tuple

    def normalise(values: Sequence[Any]) -> tuple[Any, ...]:
        row = list(values)
        for index, norm in steps:
            if row[index] is not None:
                row[index] = norm(row[index])
        return tuple(row)

    return normalise


class _Checksum:
    """Row count and an order-independent digest of a table's rows.

    The digest is the sum of each row's SHA-256 modulo 2**256: as strong as hashing the rows
    sorted by primary key, without depending on the engines agreeing on sort order (SQLite
    compares text bytewise, PostgreSQL by collation), and it counts duplicate rows.
    """

    __slots__ = ("_sum", "count")

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0

    def add(self, normalised: tuple[Any, ...]) -> None:
        digest = hashlib.sha256(repr(normalised).encode("utf-8", "surrogatepass")).digest()
        self._sum += int.from_bytes(digest, "big")
        self.count += 1

    @property
    def value(self) -> int:
        return self._sum % _CHECKSUM_MODULUS


# --- structure --------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@attrs.frozen
class _Column:
    """A target column as information_schema describes it."""

    name: str
    data_type: str
    type_name: str  # quoted and schema-qualified, for casts
    nullable: bool
    generated: bool
    identity_always: bool


@attrs.frozen
class _ForeignKey:
    columns: tuple[str, ...]
    references: str  # SQLite table name
    referenced: tuple[str | None, ...]  # None: the referenced table's primary key


@attrs.define
class _Table:
    """A source table and where it lands."""

    source: str
    schema: str
    name: str
    columns: list[str]
    primary_key: list[str]
    foreign_keys: list[_ForeignKey]
    target_columns: dict[str, _Column]
    deferred: list[str] = attrs.Factory(list)
    #: Deferred columns of a table pointing into itself by primary key: rows are read in key
    #: order, so only a reference to a larger key (a row not written yet) needs deferring.
    forward_only: set[str] = attrs.Factory(set)

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def qualified(self) -> str:
        return f"{_quote(self.schema)}.{_quote(self.name)}"

    @property
    def kinds(self) -> list[_Kind]:
        return [_KINDS.get(self.target_columns[c].data_type, _PASSTHROUGH) for c in self.columns]


@attrs.frozen
class _Source:
    """What the source holds, read inside its snapshot."""

    tables: list[str]
    skipped: list[str]
    histories: dict[MigrationSet, list[str]]
    high_water: dict[str, int]  # AUTOINCREMENT tables: the largest id ever handed out


def _history_tables(database: peewee.Database) -> tuple[str, str]:
    """The core's history table and the prefix of plugin history tables, as named on ``database``."""
    core = physical_table(database, "shared", MigrationSet(CORE, Path()).history_table)[1]
    plugin_prefix = physical_table(database, "shared", MigrationSet("x", Path()).history_table)[1][:-1]
    return core, plugin_prefix


def _read_source(source: peewee.Database, migration_sets: Sequence[MigrationSet]) -> _Source:
    listing = source.execute_sql("PRAGMA main.table_list").fetchall()
    tables, skipped = [], []
    for _schema, name, kind, *_rest in listing:
        if name.startswith("sqlite_"):
            continue
        if kind == "table":
            tables.append(name)
        elif kind in ("virtual", "shadow"):
            skipped.append(name)
    core_history, plugin_prefix = _history_tables(source)
    history_names = {name for name in tables if name == core_history or name.startswith(plugin_prefix)}
    if core_history not in history_names:
        raise CopyError("the source holds no Revenge migration history; is it a Revenge database?")

    by_history = {physical_table(source, "shared", s.history_table)[1]: s for s in migration_sets}
    unknown = sorted(history_names - set(by_history))
    if unknown:
        names = ", ".join(name.removeprefix(plugin_prefix) for name in unknown)
        raise CopyError(
            f"the source has migrations of plugins whose migrations were not given ({names}); "
            "install and enable the same plugins as the running server, then copy again"
        )
    histories = {}
    # The core first, then the plugins in the order given (one plugin may build on another).
    for migration_set in sorted(migration_sets, key=lambda s: s.name != CORE):
        name = physical_table(source, "shared", migration_set.history_table)[1]
        if name in history_names:
            applied = source.execute_sql(f"SELECT name FROM {_quote(name)} ORDER BY name").fetchall()
            histories[migration_set] = [row[0] for row in applied]

    high_water = {}
    if "sqlite_sequence" in {row[1] for row in listing}:
        high_water = dict(source.execute_sql("SELECT name, seq FROM sqlite_sequence").fetchall())
    return _Source(sorted(set(tables) - history_names), sorted(skipped), histories, high_water)


def _target_columns(target: peewee.Database) -> dict[tuple[str, str], dict[str, _Column]]:
    cursor = target.execute_sql(
        "SELECT table_schema, table_name, column_name, data_type, udt_schema, udt_name, is_nullable, "
        "is_generated, identity_generation FROM information_schema.columns "
        "WHERE table_schema = ANY(%s) ORDER BY table_schema, table_name, ordinal_position",
        (list(TARGET_SCHEMAS),),
    )
    columns: dict[tuple[str, str], dict[str, _Column]] = {}
    for schema, table, name, data_type, udt_schema, udt_name, nullable, generated, identity in cursor:
        columns.setdefault((schema, table), {})[name] = _Column(
            name, data_type, f"{_quote(udt_schema)}.{_quote(udt_name)}", nullable == "YES",
            generated == "ALWAYS", identity == "ALWAYS",
        )
    return columns


def _is_history(schema: str, table: str) -> bool:
    return schema == "shared" and (table == "migrations" or table.startswith("plugin_migrations_"))


def _has_rows(target: peewee.Database, qualified: str) -> bool:
    return target.execute_sql(f"SELECT EXISTS (SELECT 1 FROM {qualified})").fetchone()[0]


def _refuse_unless_empty(target: peewee.Database) -> None:
    """Stop unless the target's tables hold no rows (a server may have migrated it already)."""
    cursor = target.execute_sql(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        (list(TARGET_SCHEMAS),),
    )
    holding = [
        f"{schema}.{table}" for schema, table in cursor.fetchall()
        if not _is_history(schema, table) and _has_rows(target, f"{_quote(schema)}.{_quote(table)}")
    ]
    if holding:
        more = f" and {len(holding) - 5} more" if len(holding) > 5 else ""
        raise CopyError(
            f"the target database already holds data (in {', '.join(holding[:5])}{more}); "
            "copy into a new, empty database (for example: createdb revenge) and try again"
        )


def _migrate(target: peewee.Database, histories: dict[MigrationSet, list[str]]) -> None:
    """Bring the target to the source's migration state and check both list the same names."""
    for schema in SCHEMAS:
        target.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
    for migration_set, applied in histories.items():
        if not applied:
            continue
        runner = make_runner(target, migration_set)
        try:
            runner.up(applied[-1])
        except Exception as exc:
            raise CopyError(
                f"could not run the {migration_set.name} migrations on the target: {exc}. "
                "The installed code must be the same version as the running server"
            ) from exc
        on_target = sorted(m.name for m in runner.status() if m.applied)
        if on_target != applied:
            missing = sorted(set(applied) - set(on_target))
            extra = sorted(set(on_target) - set(applied))
            raise CopyError(
                f"the {migration_set.name} migrations differ between source and target "
                f"(only in the source: {missing or 'none'}; only in the target: {extra or 'none'})"
            )


def _map_tables(source: peewee.Database, target: peewee.Database, names: Iterable[str]) -> list[_Table]:
    """Find each source table's target table and columns; refuse anything that would be lost."""
    target_columns = _target_columns(target)
    tables, homeless = [], []
    for name in names:
        mapped = _target_name(name, target_columns)
        if mapped is None:
            homeless.append(name)
            continue
        info = source.execute_sql("SELECT name, pk FROM pragma_table_info(?)", (name,)).fetchall()
        columns = target_columns[mapped]
        missing = [column for column, _pk in info if column not in columns]
        if missing:
            raise CopyError(
                f"{name}: columns {', '.join(missing)} exist in the source but not in "
                f"{mapped[0]}.{mapped[1]} on the target; their data would be lost"
            )
        fks: dict[int, tuple[list[str], str, list[str | None]]] = {}
        for fk_id, _seq, ref_table, from_column, to_column, *_rest in source.execute_sql(
            "SELECT * FROM pragma_foreign_key_list(?)", (name,)
        ).fetchall():
            fk = fks.setdefault(fk_id, ([], ref_table, []))
            fk[0].append(from_column)
            fk[2].append(to_column)
        tables.append(_Table(
            source=name,
            schema=mapped[0],
            name=mapped[1],
            # Generated columns are computed by PostgreSQL itself.
            columns=[column for column, _pk in info if not columns[column].generated],
            primary_key=[column for column, pk in sorted(info, key=lambda c: c[1]) if pk],
            foreign_keys=[_ForeignKey(tuple(cols), ref, tuple(to)) for cols, ref, to in fks.values()],
            target_columns=columns,
        ))
    if homeless:
        raise CopyError(
            f"the source tables {', '.join(homeless)} have no counterpart on the target after "
            "migrating it; they belong to no migrations that were given, so they would be lost"
        )
    return tables


def _target_name(source_name: str, existing: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    existing = set(existing)
    for schema in SCHEMAS:
        prefix = f"{schema}_"
        if source_name.startswith(prefix) and (schema, source_name[len(prefix):]) in existing:
            return schema, source_name[len(prefix):]
    if ("public", source_name) in existing:
        return "public", source_name
    return None


def _dependency_order(tables: list[_Table]) -> list[_Table]:
    """Tables in foreign-key order. Foreign keys in a cycle (a table referencing itself, say)
    are deferred: written as NULL first and filled in once every row is there."""
    by_name = {table.source.lower(): table for table in tables}
    for table in tables:
        for fk in table.foreign_keys:
            if fk.references.lower() == table.source.lower() and _deferrable(table, fk):
                table.deferred.extend(c for c in fk.columns if c not in table.deferred)
                if len(table.primary_key) == 1 and fk.referenced in ((None,), tuple(table.primary_key)):
                    table.forward_only.add(fk.columns[0])

    def depends_on(table: _Table, remaining: set[str]) -> set[str]:
        return {
            fk.references.lower() for fk in table.foreign_keys
            if fk.references.lower() in remaining and fk.references.lower() != table.source.lower()
            and not set(fk.columns) <= set(table.deferred)
        }

    order: list[_Table] = []
    remaining = set(by_name)
    while remaining:
        ready = sorted(name for name in remaining if not depends_on(by_name[name], remaining))
        if not ready:
            # A cycle between tables: defer one table's nullable keys into the rest of it.
            for name in sorted(remaining):
                table = by_name[name]
                blocking = [fk for fk in table.foreign_keys if fk.references.lower() in remaining
                            and fk.references.lower() != name]
                if blocking and all(_deferrable(table, fk) for fk in blocking):
                    for fk in blocking:
                        table.deferred.extend(c for c in fk.columns if c not in table.deferred)
                    break
            else:
                raise CopyError(
                    f"the tables {', '.join(sorted(remaining))} reference each other through "
                    "NOT NULL foreign keys; there is no order to copy them in"
                )
            continue
        order.extend(by_name[name] for name in ready)
        remaining -= set(ready)
    return order


def _deferrable(table: _Table, fk: _ForeignKey) -> bool:
    return bool(table.primary_key) and all(
        column in table.columns and table.target_columns[column].nullable for column in fk.columns
    )


# --- copying ----------------------------------------------------------------------------------


@attrs.define
class _Deferred:
    table: _Table
    rows: list[tuple[Any, ...]] = attrs.Factory(list)  # primary key values, then deferred values


def _copy_table(
    source: peewee.Database,
    cursor: Any,
    table: _Table,
    batch_size: int,
    progress: Progress,
) -> tuple[_Checksum, _Deferred]:
    """Copy one table in batches; returns the source checksum and the deferred key values."""
    total = source.execute_sql(f"SELECT count(*) FROM {_quote(table.source)}").fetchone()[0]
    converters = [kind.convert for kind in table.kinds]
    normalise = _row_normaliser(table.kinds)
    columns = table.columns
    pk_index = [columns.index(c) for c in table.primary_key]
    always = [columns.index(c) for c in table.deferred if c not in table.forward_only]
    forward = [columns.index(c) for c in table.forward_only]
    deferred_index = [columns.index(c) for c in table.deferred]
    own_key = pk_index[0] if forward else 0
    order = ", ".join(_quote(c) for c in table.primary_key) or "rowid"
    column_list = ", ".join(_quote(c) for c in columns)
    overriding = (
        " OVERRIDING SYSTEM VALUE" if any(table.target_columns[c].identity_always for c in columns) else ""
    )
    insert = f"INSERT INTO {table.qualified} ({column_list}){overriding} VALUES %s"
    rows = iter(source.execute_sql(f"SELECT {column_list} FROM {_quote(table.source)} ORDER BY {order}"))
    checksum = _Checksum()
    deferred = _Deferred(table)
    progress(table.label, 0, total)
    while batch := list(islice(rows, batch_size)):
        converted = []
        for row in batch:
            try:
                values = [None if v is None else conv(v) for v, conv in zip(row, converters, strict=True)]
                checksum.add(normalise(values))
            except (ValueError, TypeError, ArithmeticError):
                raise _conversion_error(table, row) from None
            postpone = [i for i in always if values[i] is not None]
            # Compared as SQLite holds them, since rows arrive in SQLite's key order.
            postpone += [i for i in forward if row[i] is not None and _after(row[i], row[own_key])]
            if postpone:
                deferred.rows.append(tuple(values[i] for i in pk_index + deferred_index))
                for i in postpone:
                    values[i] = None
            converted.append(values)
        psycopg2.extras.execute_values(cursor, insert, converted, page_size=batch_size)
        progress(table.label, checksum.count, max(total, checksum.count))
    return checksum, deferred


def _after(reference: Any, key: Any) -> bool:
    """Whether a row referencing ``reference`` comes before that row in key order."""
    try:
        return reference > key
    except TypeError:  # SQLite lets one column mix types; assume the worst
        return True


def _conversion_error(table: _Table, row: Sequence[Any]) -> CopyError:
    """Say which value of ``row`` could not be converted, and why."""
    where = ", ".join(f"{c}={row[table.columns.index(c)]!r}" for c in table.primary_key) or "a row"
    for column, value, kind in zip(table.columns, row, table.kinds, strict=True):
        if value is None:
            continue
        try:
            converted = kind.convert(value)
            if kind.normalise is not None:
                kind.normalise(converted)
        except (ValueError, TypeError, ArithmeticError) as exc:
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            return CopyError(
                f"{table.label}.{column} ({where}): cannot store {shown} in a PostgreSQL "
                f"{table.target_columns[column].data_type} column: {exc}. Fix the value in the "
                "source and copy again"
            )
    return CopyError(f"{table.label} ({where}): a value could not be converted")


def _apply_deferred(cursor: Any, deferred: _Deferred, batch_size: int) -> None:
    """Fill in the foreign keys written as NULL, now that every row they point to exists."""
    table = deferred.table
    if not deferred.rows:
        return
    # The table was just filled; without statistics the planner would scan it for every batch.
    cursor.execute(f"ANALYZE {table.qualified}")
    keys = table.primary_key + table.deferred
    types = [table.target_columns[c].type_name for c in keys]
    template = "(" + ", ".join(f"%s::{type_name}" for type_name in types) + ")"
    assignments = ", ".join(f"{_quote(c)} = v.{_quote(c)}" for c in table.deferred)
    match = " AND ".join(f"t.{_quote(c)} = v.{_quote(c)}" for c in table.primary_key)
    psycopg2.extras.execute_values(
        cursor,
        f"UPDATE {table.qualified} AS t SET {assignments} FROM (VALUES %s) "
        f"AS v({', '.join(_quote(c) for c in keys)}) WHERE {match}",
        deferred.rows,
        template=template,
        page_size=batch_size,
    )


def _reset_sequences(target: peewee.Database, table: _Table, high_water: int) -> None:
    """Make serial and identity columns continue after the largest id copied (or ever used)."""
    sequences = target.execute_sql(
        "SELECT column_name, pg_get_serial_sequence(%s, column_name) FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (table.qualified, table.schema, table.name),
    ).fetchall()
    for column, sequence in sequences:
        if sequence is None:
            continue
        target.execute_sql(
            f"SELECT setval(%s, GREATEST(COALESCE(MAX({_quote(column)}), 0), %s) + 1, false) "
            f"FROM {table.qualified}",
            (sequence, high_water),
        )


def _target_checksum(target: peewee.Database, table: _Table, batch_size: int) -> _Checksum:
    normalise = _row_normaliser(table.kinds)
    checksum = _Checksum()
    # peewee keeps psycopg2 in autocommit mode (BEGIN is explicit), where named cursors need
    # WITH HOLD; it is closed before the transaction ends.
    cursor = target.connection().cursor(name=f"revenge_copy_{uuid.uuid4().hex}", withhold=True)
    cursor.itersize = max(batch_size, 2000)
    try:
        cursor.execute(f"SELECT {', '.join(_quote(c) for c in table.columns)} FROM {table.qualified}")
        for row in cursor:
            checksum.add(normalise(row))
    finally:
        cursor.close()
    return checksum


def _open_target(target_url: str) -> peewee.PostgresqlDatabase:
    if urlsplit(target_url).scheme not in ("postgres", "postgresql"):
        raise CopyError(f"the target must be a postgresql:// URL, not {mask_url(target_url)!r}")
    name, params = postgres_params(target_url)
    params.setdefault("connect_timeout", 10)
    params.setdefault("application_name", "revenge-db-copy")
    target = peewee.PostgresqlDatabase(name, **params)
    try:
        target.connect()
    except peewee.PeeweeException as exc:
        raise CopyError(f"cannot connect to {mask_url(target_url)}: {exc}".strip()) from exc
    # Read JSON back as text so both sides are normalised from the same representation.
    connection = target.connection()
    psycopg2.extras.register_default_json(connection, loads=_same)
    psycopg2.extras.register_default_jsonb(connection, loads=_same)
    return target


@contextmanager
def _connected(database: peewee.Database) -> Iterator[None]:
    """A connection on this thread for the block; one the caller had open stays open."""
    opened = database.is_closed()
    database.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened and not database.is_closed():
            database.close()


def discover_migration_sets(source: peewee.Database, plugin_dirs: Mapping[str, Path]) -> list[MigrationSet]:
    """The core's migrations and those of each plugin in ``plugin_dirs`` (name -> migrations
    folder) that has migration history in ``source``; pass the result to :func:`copy_database`.

    A plugin with history in the source but missing from ``plugin_dirs`` is left out here;
    :func:`copy_database` then refuses to copy and names it.
    """
    with _connected(source):
        tables = {row[0] for row in source.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    found = [core_set()]
    for name, directory in plugin_dirs.items():
        migration_set = MigrationSet(name, Path(directory))
        if physical_table(source, "shared", migration_set.history_table)[1] in tables:
            found.append(migration_set)
    return found


def copy_database(
    source: peewee.Database,
    target_url: str,
    migration_sets: list[MigrationSet],
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy the embedded install ``source`` into the PostgreSQL database at ``target_url``.

    :param source: the install's SQLite database; the server may keep running and writing.
    :param target_url: a ``postgresql://`` URL of a database without Revenge data.
    :param migration_sets: the core's and the installed plugins' migrations; every set whose
        history exists in the source is applied to the target up to the same migration.
    :param batch_size: rows per read and per multi-row INSERT.
    :param progress: called as ``progress("schema.table", copied, total)`` after each batch.
    :returns: a report; the target was committed only when ``report.ok``.
    :raises CopyError: when the copy cannot be done (nothing is written to the target).
    """
    if not is_sqlite(source):
        raise CopyError("the source must be an embedded (SQLite) install")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    report_progress = progress or (lambda _table, _done, _total: None)
    target = _open_target(target_url)
    try:
        # The migration lock also keeps a server that starts on the target from migrating
        # it while the copy is under way; it is released after the transaction ends.
        with _connected(source), migration_lock(target):
            result = _copy(source, target, migration_sets, batch_size, report_progress)
    except (peewee.PeeweeException, psycopg2.Error) as exc:
        raise CopyError(f"the copy failed and the target was left unchanged: {exc}".strip()) from exc
    finally:
        target.close()
    tables, skipped = result
    report = CopyReport(tables=tables, ok=all(table.ok for table in tables),
                        seconds=time.perf_counter() - started, skipped=skipped)
    if report.ok:
        logger.info("copied {} rows in {} tables to {} in {:.1f}s", report.rows, len(tables),
                    mask_url(target_url), report.seconds)
    else:
        logger.warning("copy to {} rolled back: {} differ after copying", mask_url(target_url),
                       ", ".join(f"{t.schema}.{t.table}" for t in tables if not t.ok))
    return report


def _copy(
    source: peewee.Database,
    target: peewee.PostgresqlDatabase,
    migration_sets: list[MigrationSet],
    batch_size: int,
    progress: Progress,
) -> tuple[list[TableReport], list[str]]:
    with target.atomic() as transaction, read_transaction(source):
        # The first read fixes the source snapshot; everything below reads from it.
        source.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
        found = _read_source(source, migration_sets)
        _refuse_unless_empty(target)
        _migrate(target, found.histories)
        tables = _dependency_order(_map_tables(source, target, found.tables))
        # Migrations may seed rows; the source's rows (seeded the same way) replace them.
        seeded = [table.qualified for table in tables if _has_rows(target, table.qualified)]
        if seeded:
            target.execute_sql(f"TRUNCATE {', '.join(seeded)}")

        cursor = target.cursor()
        copied = []
        for table in tables:
            try:
                copied.append((table, *_copy_table(source, cursor, table, batch_size, progress)))
            except psycopg2.Error as exc:
                raise CopyError(
                    f"{table.label}: PostgreSQL refused the rows: {exc}".strip()
                    + "; the target was left unchanged"
                ) from exc
        for _table, _checksum, deferred in copied:
            _apply_deferred(cursor, deferred, batch_size)
        reports = []
        for table, checksum, _deferred in copied:
            _reset_sequences(target, table, found.high_water.get(table.source, 0))
            on_target = _target_checksum(target, table, batch_size)
            reports.append(TableReport(
                schema=table.schema,
                table=table.name,
                source_rows=checksum.count,
                target_rows=on_target.count,
                checksum_match=checksum.value == on_target.value and checksum.count == on_target.count,
            ))
        if not all(report.ok for report in reports):
            transaction.rollback()  # and begin an empty one for peewee to commit on the way out
    return reports, found.skipped
