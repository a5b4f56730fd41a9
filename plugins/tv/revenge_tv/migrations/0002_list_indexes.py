"""Indexes for the orderings of ``GET /tv/series``; ``tv_series.enrich_queued_at``.

``views.list_order`` orders by one column and then ``id`` in the same direction, nulls last
(``year DESC NULLS LAST, id DESC``). Each list index is ``(column, id)``: read forwards it gives
the ascending order, backwards the descending one, so a page is read off the index instead of
sorting the whole table. For the nullable ``year`` and ``rating`` a backward scan must meet the
nulls last: SQLite's indexes keep them first already, PostgreSQL's need ``NULLS FIRST``.

The list indexes replace those on ``sort_key``, ``year`` and ``added_at`` alone (each is a prefix
of one). ``enrich_queued_at`` keeps the ingest from queueing a second enrichment job for a series
whose first one has not run yet. Raw SQL, not models: this script must keep doing what it did.
"""

from revenge_hookspecs.db import is_sqlite, qualified_name

TABLE = "tv_series"
OLD_INDEXES = {"tv_series_sort_key": "sort_key", "tv_series_year": "year", "tv_series_added_at": "added_at"}
LIST_INDEXES = {  # name: (SQLite columns, PostgreSQL columns)
    "tv_series_sort_key_id": ("sort_key, id", "sort_key, id"),
    "tv_series_year_id": ("year, id", "year NULLS FIRST, id"),
    "tv_series_rating_id": ("rating, id", "rating NULLS FIRST, id"),
    "tv_series_added_at_id": ("added_at, id", "added_at, id"),
}


def up(migrator, db):
    table = qualified_name(db, "public", TABLE)
    column = "DATETIME" if is_sqlite(db) else "TIMESTAMP"
    db.execute_sql(f"ALTER TABLE {table} ADD COLUMN enrich_queued_at {column}")
    # An index is created in its table's schema: only dropping one needs the qualified name.
    for name in OLD_INDEXES:
        db.execute_sql(f"DROP INDEX IF EXISTS {qualified_name(db, 'public', name)}")
    for name, (sqlite_columns, postgres_columns) in LIST_INDEXES.items():
        columns = sqlite_columns if is_sqlite(db) else postgres_columns
        db.execute_sql(f'CREATE INDEX "{name}" ON {table} ({columns})')


def down(migrator, db):
    table = qualified_name(db, "public", TABLE)
    for name in reversed(LIST_INDEXES):
        db.execute_sql(f"DROP INDEX IF EXISTS {qualified_name(db, 'public', name)}")
    for name, column in OLD_INDEXES.items():
        db.execute_sql(f'CREATE INDEX "{name}" ON {table} ({column})')
    db.execute_sql(f"ALTER TABLE {table} DROP COLUMN enrich_queued_at")
