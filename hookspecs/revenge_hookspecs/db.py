"""Database helpers shared by the server and plugins.

Revenge keeps content (``public``), shared services (``shared``) and adult content
(``qar``) apart. On PostgreSQL these are real schemas. SQLite has no schemas inside one
file, so a model's schema becomes a prefix of its table name there (``shared.users`` is
``shared_users``), which keeps foreign keys between them working.

Declare the schema on the model and let :func:`bind_models` do the rest::

    class Bookmark(revenge_hookspecs.db.Model):
        title = peewee.CharField()
        class Meta:
            schema = "shared"
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

import peewee

from .types import SCHEMAS

_ORIGINAL = "_revenge_original_table"


def is_sqlite(database: peewee.Database) -> bool:
    return isinstance(database, peewee.SqliteDatabase)


def physical_table(database: peewee.Database, schema: str | None, table: str) -> tuple[str | None, str]:
    """The (schema, table) pair a logical ``schema.table`` has on ``database``."""
    if schema not in (None, *SCHEMAS):
        raise ValueError(f"unknown schema {schema!r}; expected one of {SCHEMAS}")
    if is_sqlite(database):
        if schema in (None, "public"):
            return None, table
        return None, f"{schema}_{table}"
    return schema or "public", table


def qualified_name(database: peewee.Database, schema: str | None, table: str) -> str:
    """A quoted, qualified table name for raw SQL on ``database``."""
    phys_schema, phys_table = physical_table(database, schema, table)

    def quote(name: str) -> str:
        # SQLite and PostgreSQL both quote identifiers with double quotes.
        return '"' + name.replace('"', '""') + '"'

    return f"{quote(phys_schema)}.{quote(phys_table)}" if phys_schema else quote(phys_table)


def bind_models(database: peewee.Database, models: Iterable[type[peewee.Model]]) -> None:
    """Bind models to ``database``, mapping each model's schema for the driver."""
    for model in models:
        meta = model._meta
        original = getattr(meta, _ORIGINAL, None)
        if original is None:
            original = (meta.schema, meta.table_name)
            setattr(meta, _ORIGINAL, original)
        schema, table = physical_table(database, *original)
        meta.set_database(database)
        meta.schema = schema
        meta.set_table_name(table)


def logical_schema(model: type[peewee.Model]) -> str:
    """The schema a model was declared in (``public`` when none was given)."""
    original = getattr(model._meta, _ORIGINAL, None)
    schema = original[0] if original else model._meta.schema
    return schema or "public"


def sqlite_binding(_cursor: Any, _index: int, value: Any) -> Any:
    """Bind values apsw does not know, the way peewee writes them for SQLite.

    Install as ``apsw.Connection.convert_binding``; the string forms are the ones peewee's
    fields parse back (``2026-11-23 22:45:50.123456`` for a datetime).
    """
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return str(value)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in SQLite")


class Model(peewee.Model):
    """Base class for Revenge models; declares nothing but keeps tables named plainly."""

    class Meta:
        legacy_table_names = False
