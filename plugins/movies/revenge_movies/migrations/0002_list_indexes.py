"""Indexes for the orderings of ``GET /movies``; ``movies.enrich_queued_at``.

``views.list_order`` orders by the sort key (``sort_key, id``) or by a column descending with the
title tiebreak (``year DESC NULLS LAST, sort_key, id``). Each list index matches one of those
orderings exactly, so a page is read off the index instead of sorting the whole table. SQLite
takes no ``NULLS LAST`` in an index, and needs none: its ``DESC`` puts nulls last already;
PostgreSQL's ``DESC`` puts them first, so there the index says ``NULLS LAST``.

``(sort_key, id)`` replaces the index on ``sort_key`` alone. ``enrich_queued_at`` keeps the
ingest from queueing a second enrichment job for a movie whose first one has not run yet.
Raw SQL, not models: this script must keep doing what it did, whatever the models become.
"""

from revenge_hookspecs.db import is_sqlite, qualified_name

TABLE = "movies"
OLD_INDEX = "movies_sort_key"
LIST_INDEXES = {  # name: (SQLite columns, PostgreSQL columns)
    "movies_sort_key_id": ("sort_key, id", "sort_key, id"),
    "movies_year_desc_list": ("year DESC, sort_key, id", "year DESC NULLS LAST, sort_key, id"),
    "movies_rating_desc_list": ("rating DESC, sort_key, id", "rating DESC NULLS LAST, sort_key, id"),
    "movies_added_desc_list": ("added_at DESC, sort_key, id", "added_at DESC, sort_key, id"),
}


def up(migrator, db):
    table = qualified_name(db, "public", TABLE)
    column = "DATETIME" if is_sqlite(db) else "TIMESTAMP"
    db.execute_sql(f"ALTER TABLE {table} ADD COLUMN enrich_queued_at {column}")
    # An index is created in its table's schema: only dropping one needs the qualified name.
    db.execute_sql(f"DROP INDEX IF EXISTS {qualified_name(db, 'public', OLD_INDEX)}")
    for name, (sqlite_columns, postgres_columns) in LIST_INDEXES.items():
        columns = sqlite_columns if is_sqlite(db) else postgres_columns
        db.execute_sql(f'CREATE INDEX "{name}" ON {table} ({columns})')


def down(migrator, db):
    table = qualified_name(db, "public", TABLE)
    for name in reversed(LIST_INDEXES):
        db.execute_sql(f"DROP INDEX IF EXISTS {qualified_name(db, 'public', name)}")
    db.execute_sql(f'CREATE INDEX "{OLD_INDEX}" ON {table} (sort_key)')
    db.execute_sql(f"ALTER TABLE {table} DROP COLUMN enrich_queued_at")
