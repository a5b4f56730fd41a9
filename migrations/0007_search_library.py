"""Core: the library each search document belongs to, so searches can keep to a user's libraries.

Adds ``library_id`` (text, empty for documents not tied to a library, such as people) to
``shared.search_documents``, with an index for the ``library_id IN (...)`` condition every
scoped search carries. The FTS5 table on SQLite indexes ``body`` only and needs no change.
Existing documents have no library until their plugin indexes them again
(``revenge search reindex``).
"""

from revenge_hookspecs.db import is_sqlite, physical_table, qualified_name

TABLE = "search_documents"
INDEX = "search_documents_library"
MAX_ID_LENGTH = 255


def up(migrator, db):
    table = qualified_name(db, "shared", TABLE)
    column = "TEXT" if is_sqlite(db) else f"VARCHAR({MAX_ID_LENGTH})"
    db.execute_sql(f"ALTER TABLE {table} ADD COLUMN library_id {column}")
    # An index is created in its table's schema, so only SQLite's needs the prefix.
    db.execute_sql(f'CREATE INDEX "{physical_table(db, "shared", INDEX)[1]}" ON {table} (library_id)')


def down(migrator, db):
    # SQLite cannot drop a column that an index still covers.
    db.execute_sql(f"DROP INDEX IF EXISTS {qualified_name(db, 'shared', INDEX)}")
    db.execute_sql(f"ALTER TABLE {qualified_name(db, 'shared', TABLE)} DROP COLUMN library_id")
