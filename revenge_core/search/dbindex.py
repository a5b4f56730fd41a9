"""The search index in the server's own database: SQLite FTS5 or PostgreSQL pg_trgm.

It is always kept up to date, whichever backend is primary, so that it can answer when
Typesense cannot. Every method that touches the database runs on a database thread
through :meth:`Database.run`. SQL is written with ``?`` placeholders; user input only
ever travels as parameters, and field names have been checked against the registered
document types before they reach this module (see :mod:`.documents`).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from revenge_hookspecs.db import qualified_name

from ..db.database import Database, read_transaction
from .documents import (
    FACET_LIMIT,
    Condition,
    Facet,
    PreparedDocument,
    SearchRequest,
    facet_key,
    make_hit,
    result,
    sorted_facet,
)
from .text import fts_match_expression, score

TABLE = "search_documents"
FTS_TABLE = "search_documents_fts"
WRITE_CHUNK = 100
DELETE_CHUNK = 500
SQLITE_MIN_SCORE = 0.55
POSTGRES_MIN_SCORE = 0.4
POSTGRES_WORD_SIMILARITY = "0.5"
"""pg_trgm's gate for ``<%``: lower than its 0.6 default so "matrx" still finds "matrix"."""


def table_name(database: Any, table: str) -> str:
    """The quoted physical name of a ``shared`` table (``"shared"."x"`` or ``"shared_x"``)."""
    return qualified_name(database, "shared", table)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class DatabaseIndex:
    """What both database backends share; the subclasses hold the SQL that differs."""

    name = ""
    json_param = "?"
    materialized = ""
    """``MATERIALIZED `` where the database needs telling to compute ``matched`` only once."""

    def __init__(self, db: Database):
        self.db = db
        self.database = db.database
        self.table = table_name(self.database, TABLE)

    def _sql(self, sql: str) -> str:
        return sql

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self.database.execute_sql(self._sql(sql), tuple(params))

    @staticmethod
    def _load_fields(value: Any) -> dict[str, Any]:
        return json.loads(value) if isinstance(value, str) else dict(value or {})

    # --- writes -----------------------------------------------------------------------------

    async def upsert(self, doc_type: str, documents: Sequence[PreparedDocument]) -> None:
        """Insert or replace documents of one type."""
        if documents:
            await self.db.run(self._upsert, doc_type, documents)

    def _upsert(self, doc_type: str, documents: Sequence[PreparedDocument]) -> None:
        row = f"(?, ?, ?, ?, ?, {self.json_param}, ?, CURRENT_TIMESTAMP)"
        with self.database.atomic():
            for chunk in _chunks(documents, WRITE_CHUNK):
                params: list[Any] = []
                for doc in chunk:
                    params += [doc_type, doc.doc_id, doc.title, doc.title_norm, doc.body,
                               json.dumps(doc.fields, ensure_ascii=False, separators=(",", ":")), doc.library_id]
                self._execute(
                    f"INSERT INTO {self.table} "
                    "(doc_type, doc_id, title, title_norm, body, fields, library_id, updated_at) "
                    f"VALUES {', '.join([row] * len(chunk))} "
                    "ON CONFLICT (doc_type, doc_id) DO UPDATE SET title = excluded.title, "
                    "title_norm = excluded.title_norm, body = excluded.body, fields = excluded.fields, "
                    "library_id = excluded.library_id, updated_at = excluded.updated_at",
                    params,
                )

    async def delete(self, doc_type: str, ids: Sequence[str]) -> None:
        if ids:
            await self.db.run(self._delete, doc_type, ids)

    def _delete(self, doc_type: str, ids: Sequence[str]) -> None:
        with self.database.atomic():
            for chunk in _chunks(ids, DELETE_CHUNK):
                self._execute(f"DELETE FROM {self.table} WHERE doc_type = ? AND doc_id IN ({_marks(len(chunk))})",
                              [doc_type, *chunk])

    # --- reads ------------------------------------------------------------------------------

    async def count(self, doc_type: str) -> int:
        def run() -> int:
            return self._execute(f"SELECT count(*) FROM {self.table} WHERE doc_type = ?", [doc_type]).fetchone()[0]

        return await self.db.run(run)

    async def ids(self, doc_type: str) -> set[str]:
        def run() -> set[str]:
            cursor = self._execute(f"SELECT doc_id FROM {self.table} WHERE doc_type = ?", [doc_type])
            return {row[0] for row in cursor.fetchall()}

        return await self.db.run(run)

    async def batches(self, doc_type: str, size: int = 500) -> AsyncIterator[list[PreparedDocument]]:
        """Every document of one type, ``size`` at a time, in storage order."""

        def run(after: int) -> list[tuple[Any, ...]]:
            return self._execute(
                f"SELECT id, doc_id, title, title_norm, body, fields, library_id FROM {self.table} "
                "WHERE doc_type = ? AND id > ? ORDER BY id LIMIT ?",
                [doc_type, after, size],
            ).fetchall()

        after = 0
        while rows := await self.db.run(run, after):
            yield [PreparedDocument(doc_id=r[1], title=r[2], title_norm=r[3], body=r[4],
                                    fields=self._load_fields(r[5]), library_id=r[6]) for r in rows]
            after = rows[-1][0]

    async def ping(self) -> None:
        await self.db.aping()

    # --- search -----------------------------------------------------------------------------

    async def search(self, request: SearchRequest, *, degraded: bool = False) -> dict[str, Any]:
        return await self.db.run(self._search, request, degraded)

    def _search(self, request: SearchRequest, degraded: bool) -> dict[str, Any]:
        # One snapshot, so the count, the page and the facets see the same documents.
        with read_transaction(self.database):
            cte, cte_params = self._matched(request)
            rows = self._execute(
                f"{cte} SELECT d.doc_type, d.doc_id, d.title, d.fields, m.score, d.library_id "
                f"FROM matched m CROSS JOIN {self.table} d WHERE d.id = m.id "
                "ORDER BY m.score DESC, d.title_norm, d.doc_type, d.doc_id LIMIT ? OFFSET ?",
                [*cte_params, request.per_page, request.offset],
            ).fetchall()
            if rows and len(rows) < request.per_page:
                found = request.offset + len(rows)
            else:
                found = self._execute(f"{cte} SELECT count(*) FROM matched", cte_params).fetchone()[0]
            facets = {facet.field: self._facet(cte, cte_params, facet) for facet in request.facets}
        hits = [make_hit(r[0], r[1], r[2], round(float(r[4]), 4), self._load_fields(r[3]), r[5]) for r in rows]
        return result(request, hits=hits, found=found, facets=facets, backend=self.name, degraded=degraded)

    def _matched(self, request: SearchRequest) -> tuple[str, list[Any]]:
        """A ``WITH matched AS (...)`` clause yielding ``(id, score)`` of every match."""
        if request.browse:
            where, params = self._where(request)
            return (f"WITH matched AS {self.materialized}(SELECT d.id AS id, 0.0 AS score FROM {self.table} d "
                    f"WHERE {where})", params)
        return self._text_matched(request)

    def _text_matched(self, request: SearchRequest) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def _where(self, request: SearchRequest) -> tuple[str, list[Any]]:
        names = request.type_names
        parts = [f"d.doc_type IN ({_marks(len(names))})"]
        params: list[Any] = list(names)
        if request.scoped:
            sql, scope_params = _library_condition(request)
            parts.append(sql)
            params += scope_params
        for condition in request.conditions:
            sql, condition_params = self._condition(condition)
            parts.append(sql)
            params += condition_params
        return " AND ".join(parts), params

    def _condition(self, condition: Condition) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def _facet(self, cte: str, cte_params: list[Any], facet: Facet) -> dict[str, int]:
        sql, params = self._type_facet_sql() if facet.by_type else self._facet_sql(facet)
        rows = self._execute(f"{cte} {sql}", [*cte_params, *params, FACET_LIMIT]).fetchall()
        return sorted_facet({facet_key(value, facet.type): count for value, count in rows})

    def _type_facet_sql(self) -> tuple[str, list[Any]]:
        """The built-in ``type`` facet: matches per document type, the same SQL on both databases."""
        return (f"SELECT d.doc_type AS v, count(*) AS c FROM matched m CROSS JOIN {self.table} d "
                "WHERE d.id = m.id GROUP BY d.doc_type ORDER BY c DESC, v LIMIT ?", [])

    def _facet_sql(self, facet: Facet) -> tuple[str, list[Any]]:
        raise NotImplementedError


def _library_condition(request: SearchRequest) -> tuple[str, list[Any]]:
    """The condition that keeps a search to its libraries (and, if asked, to no library)."""
    library_ids = sorted(request.library_ids) if request.library_ids is not None else None
    if library_ids is None:
        either = ["d.library_id IS NOT NULL"]
    elif library_ids:
        either = [f"d.library_id IN ({_marks(len(library_ids))})"]
    else:
        either = []
    if request.include_unscoped:
        either.append("d.library_id IS NULL")
    # build_request never lets both sides be empty (nothing could match; see cannot_match).
    return "(" + " OR ".join(either) + ")", list(library_ids or ())


def _json_path(field: str) -> str:
    # Field names match the SDK's name pattern (no quotes); quoting keeps "." literal.
    return f'$."{field}"'


def _score_or_less(query: str, title: str, body: str) -> float:
    """:func:`.text.score`, exact from ``SQLITE_MIN_SCORE`` up; below it, possibly less."""
    return score(query, title, body, SQLITE_MIN_SCORE)


class SqliteIndex(DatabaseIndex):
    """FTS5 trigram candidates, scored in Python by :func:`.text.score`.

    Every candidate (every document sharing a trigram with the query, or containing a query
    too short for trigrams) is scored, not only the best by bm25, so ``found`` and the facet
    counts count every match, as on PostgreSQL.
    """

    name = "sqlite"
    _connections_with_score: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, db: Database):
        super().__init__(db)
        self.fts = table_name(self.database, FTS_TABLE)

    def _condition(self, condition: Condition) -> tuple[str, list[Any]]:
        path = _json_path(condition.field)
        if condition.is_range:
            # Only numbers: SQLite orders text above every number, which would match any range.
            parts = ["json_type(d.fields, ?) IN ('integer', 'real')"]
            params: list[Any] = [path]
            for op, bound in ((">=", condition.minimum), ("<=", condition.maximum)):
                if bound is not None:
                    parts.append(f"json_extract(d.fields, ?) {op} ?")
                    params += [path, bound]
            return "(" + " AND ".join(parts) + ")", params
        values = [int(v) if isinstance(v, bool) else v for v in condition.values]
        if condition.type == "string[]":
            return (f"EXISTS (SELECT 1 FROM json_each(d.fields, ?) AS j WHERE j.value IN ({_marks(len(values))}))",
                    [path, *values])
        return f"json_extract(d.fields, ?) IN ({_marks(len(values))})", [path, *values]

    def _facet_sql(self, facet: Facet) -> tuple[str, list[Any]]:
        path = _json_path(facet.field)
        # CROSS JOIN keeps SQLite's join order: the matched ids drive, each document is found by
        # its primary key. Left to itself the planner may scan every document instead.
        if facet.type == "string[]":
            return (f"SELECT j.value AS v, count(*) AS c FROM matched m CROSS JOIN {self.table} d "
                    "CROSS JOIN json_each(d.fields, ?) AS j WHERE d.id = m.id GROUP BY v ORDER BY c DESC, v LIMIT ?",
                    [path])
        return (f"SELECT json_extract(d.fields, ?) AS v, count(*) AS c FROM matched m CROSS JOIN {self.table} d "
                "WHERE d.id = m.id AND json_extract(d.fields, ?) IS NOT NULL "
                "GROUP BY v ORDER BY c DESC, v LIMIT ?", [path, path])

    def _ensure_score_function(self) -> None:
        # Each database thread has its own connection; register once on each.
        connection = self.database.connection()
        if connection not in self._connections_with_score:
            connection.create_scalar_function("revenge_search_score", _score_or_less, 3, deterministic=True)
            self._connections_with_score.add(connection)

    def _text_matched(self, request: SearchRequest) -> tuple[str, list[Any]]:
        self._ensure_score_function()
        where, params = self._where(request)
        match = fts_match_expression(request.text)
        if match:
            candidates = f"SELECT rowid AS id FROM {self.fts} WHERE {self.fts} MATCH ?"
            candidate_params = [match]
        else:
            # Only words under three letters ("up", "it"): too short for trigrams.
            candidates = f"SELECT id FROM {self.table} WHERE body LIKE ?"
            candidate_params = [f"%{request.text}%"]
        # Scoring runs Python per candidate, so it runs once into a per-connection temp
        # table instead of once for each of the count, page and facet queries.
        self._execute("CREATE TEMP TABLE IF NOT EXISTS revenge_search_matched "
                      "(id INTEGER PRIMARY KEY, score REAL NOT NULL)")
        self._execute("DELETE FROM temp.revenge_search_matched")
        self._execute(
            "INSERT INTO temp.revenge_search_matched (id, score) SELECT id, score FROM ("
            f"SELECT d.id AS id, revenge_search_score(?, d.title_norm, d.body) AS score "
            # CROSS JOIN: the candidates drive, each document is looked up by its primary key.
            # LIMIT -1 keeps SQLite from flattening the subquery, which would score each
            # match twice (once for the WHERE, once for the value).
            f"FROM ({candidates}) AS c CROSS JOIN {self.table} d WHERE d.id = c.id AND {where} LIMIT -1) "
            "WHERE score >= ?",
            [request.text, *candidate_params, *params, SQLITE_MIN_SCORE],
        )
        return "WITH matched AS (SELECT id, score FROM temp.revenge_search_matched)", []


class PostgresIndex(DatabaseIndex):
    """pg_trgm similarity and a ``simple`` tsvector, scored in SQL."""

    name = "postgres"
    json_param = "CAST(? AS jsonb)"
    materialized = "MATERIALIZED "

    def _sql(self, sql: str) -> str:
        # psycopg2 uses %s placeholders, so a literal % (as in the <% operator) doubles.
        return sql.replace("%", "%%").replace("?", "%s")

    def _condition(self, condition: Condition) -> tuple[str, list[Any]]:
        if condition.is_range:
            number = "CASE WHEN jsonb_typeof(d.fields -> ?) = 'number' THEN (d.fields ->> ?)::numeric END"
            parts, params = [], []
            for op, bound in ((">=", condition.minimum), ("<=", condition.maximum)):
                if bound is not None:
                    parts.append(f"{number} {op} ?")
                    params += [condition.field, condition.field, bound]
            return "(" + " AND ".join(parts) + ")", params
        # Containment works for scalars and for an element of an array, and uses the GIN index.
        wrap = (lambda v: [v]) if condition.type == "string[]" else (lambda v: v)
        params = [json.dumps({condition.field: wrap(v)}) for v in condition.values]
        return "(" + " OR ".join(["d.fields @> CAST(? AS jsonb)"] * len(params)) + ")", params

    def _search(self, request: SearchRequest, degraded: bool) -> dict[str, Any]:
        """One statement: the matched set is computed once and the page, count and facets read it.

        ``matched`` is a ``MATERIALIZED`` CTE, so the fuzzy match (the costly part) runs once
        per search instead of once for each of the page, the count and every facet; the page
        and the facets come back as JSON arrays in the same row.
        """
        with read_transaction(self.database):
            cte, params = self._matched(request)
            columns = ["(SELECT count(*) FROM matched)"]
            columns.append(
                "(SELECT coalesce(json_agg(json_build_array(p.doc_type, p.doc_id, p.title, p.fields, p.score, "
                "p.library_id) ORDER BY p.score DESC, p.title_norm, p.doc_type, p.doc_id), '[]'::json) FROM ("
                "SELECT d.doc_type, d.doc_id, d.title, d.title_norm, d.fields, m.score, d.library_id "
                f"FROM matched m JOIN {self.table} d ON d.id = m.id "
                "ORDER BY m.score DESC, d.title_norm, d.doc_type, d.doc_id LIMIT ? OFFSET ?) AS p)")
            params += [request.per_page, request.offset]
            for facet in request.facets:
                sql, facet_params = self._type_facet_sql() if facet.by_type else self._facet_sql(facet)
                columns.append(f"(SELECT coalesce(json_agg(json_build_array(f.v, f.c)), '[]'::json) FROM ({sql}) AS f)")
                params += [*facet_params, FACET_LIMIT]
            found, rows, *facet_rows = self._execute(f"{cte} SELECT {', '.join(columns)}", params).fetchone()
        facets = {facet.field: sorted_facet({facet_key(value, facet.type): count for value, count in counts})
                  for facet, counts in zip(request.facets, facet_rows, strict=True)}
        hits = [make_hit(r[0], r[1], r[2], round(float(r[4]), 4), self._load_fields(r[3]), r[5]) for r in rows]
        return result(request, hits=hits, found=found, facets=facets, backend=self.name, degraded=degraded)

    def _facet_sql(self, facet: Facet) -> tuple[str, list[Any]]:
        if facet.type == "string[]":
            return (f"SELECT e.v, count(*) AS c FROM matched m JOIN {self.table} d ON d.id = m.id "
                    "CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(d.fields -> ?) = 'array' "
                    "THEN d.fields -> ? ELSE '[]'::jsonb END) AS e(v) GROUP BY e.v ORDER BY c DESC, e.v LIMIT ?",
                    [facet.field, facet.field])
        return (f"SELECT d.fields ->> ? AS v, count(*) AS c FROM matched m JOIN {self.table} d ON d.id = m.id "
                "WHERE d.fields ->> ? IS NOT NULL GROUP BY v ORDER BY c DESC, v LIMIT ?",
                [facet.field, facet.field])

    def _text_matched(self, request: SearchRequest) -> tuple[str, list[Any]]:
        self._execute("SELECT set_config('pg_trgm.word_similarity_threshold', ?, true)",
                      [POSTGRES_WORD_SIMILARITY])
        where, params = self._where(request)
        text = request.text
        cte = (
            f"WITH matched AS {self.materialized}(SELECT id, score FROM ("
            "SELECT d.id AS id, GREATEST("
            "0.7 * word_similarity(?, d.title_norm) + 0.3 * similarity(?, d.title_norm), "
            "0.8 * word_similarity(?, d.body)) "
            "+ CASE WHEN d.title_norm = ? THEN 2 ELSE 0 END "
            "+ 0.1 * ts_rank(d.tsv, plainto_tsquery('simple', ?)) AS score "
            f"FROM {self.table} d WHERE {where} "
            "AND (? <% d.body OR d.tsv @@ plainto_tsquery('simple', ?))"
            ") AS s WHERE score >= ?)"
        )
        return cte, [text, text, text, text, text, *params, text, text, POSTGRES_MIN_SCORE]


def open_database_index(db: Database) -> DatabaseIndex:
    return PostgresIndex(db) if db.driver == "postgres" else SqliteIndex(db)
