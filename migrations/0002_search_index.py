"""Core: the database search index, kept on every install as Typesense's fallback.

One row per document in ``shared.search_documents``. ``title_norm`` and ``body`` hold the
normalised title and searchable text (see ``revenge_core.search.text``); ``fields`` holds
the declared fields as JSON for filters and facets.

- SQLite: an external-content FTS5 table with the ``trigram`` tokenizer, kept in step by
  triggers, finds candidates by substring so that misspelt words still share trigrams.
- PostgreSQL: ``pg_trgm`` GIN indexes for similarity search, a ``simple`` tsvector for
  word matches, and a ``jsonb_path_ops`` index for the filters.
"""

from revenge_hookspecs.db import is_sqlite, physical_table, qualified_name

TABLE = "search_documents"
FTS_TABLE = "search_documents_fts"


def _postgres_table(db):
    return qualified_name(db, "shared", TABLE)


def _sqlite_up(db):
    table = physical_table(db, "shared", TABLE)[1]
    fts = physical_table(db, "shared", FTS_TABLE)[1]
    statements = [
        f"""CREATE TABLE "{table}" (
            id INTEGER PRIMARY KEY,
            doc_type TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            title TEXT NOT NULL,
            title_norm TEXT NOT NULL,
            body TEXT NOT NULL,
            fields TEXT NOT NULL DEFAULT '{{}}',
            updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
            UNIQUE (doc_type, doc_id))""",
        f"""CREATE VIRTUAL TABLE "{fts}" USING fts5(
            body, content='{table}', content_rowid='id', tokenize='trigram')""",
        # The FTS table stores no text of its own, so every change must be mirrored.
        f"""CREATE TRIGGER "{table}_ai" AFTER INSERT ON "{table}" BEGIN
            INSERT INTO "{fts}" (rowid, body) VALUES (new.id, new.body);
        END""",
        f"""CREATE TRIGGER "{table}_ad" AFTER DELETE ON "{table}" BEGIN
            INSERT INTO "{fts}" ("{fts}", rowid, body) VALUES ('delete', old.id, old.body);
        END""",
        f"""CREATE TRIGGER "{table}_au" AFTER UPDATE ON "{table}" BEGIN
            INSERT INTO "{fts}" ("{fts}", rowid, body) VALUES ('delete', old.id, old.body);
            INSERT INTO "{fts}" (rowid, body) VALUES (new.id, new.body);
        END""",
    ]
    for sql in statements:
        db.execute_sql(sql)


def _postgres_up(db):
    table = _postgres_table(db)
    statements = [
        # pg_trgm is a trusted extension (PostgreSQL 13+), so a database owner may create it.
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"""CREATE TABLE {table} (
            id BIGSERIAL PRIMARY KEY,
            doc_type VARCHAR(64) NOT NULL,
            doc_id VARCHAR(255) NOT NULL,
            title TEXT NOT NULL,
            title_norm TEXT NOT NULL,
            body TEXT NOT NULL,
            fields JSONB NOT NULL DEFAULT '{{}}',
            tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (doc_type, doc_id))""",
        f"CREATE INDEX search_documents_body_trgm ON {table} USING gin (body gin_trgm_ops)",
        f"CREATE INDEX search_documents_tsv ON {table} USING gin (tsv)",
        f"CREATE INDEX search_documents_fields ON {table} USING gin (fields jsonb_path_ops)",
    ]
    for sql in statements:
        db.execute_sql(sql)


def up(migrator, db):
    if is_sqlite(db):
        _sqlite_up(db)
    else:
        _postgres_up(db)


def down(migrator, db):
    if is_sqlite(db):
        table = physical_table(db, "shared", TABLE)[1]
        fts = physical_table(db, "shared", FTS_TABLE)[1]
        for trigger in ("ai", "ad", "au"):
            db.execute_sql(f'DROP TRIGGER IF EXISTS "{table}_{trigger}"')
        db.execute_sql(f'DROP TABLE IF EXISTS "{fts}"')
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
        return
    # pg_trgm stays: other schemas or plugins may rely on it, and it holds no data.
    db.execute_sql(f"DROP TABLE IF EXISTS {_postgres_table(db)}")
