"""The Typesense backend: one collection per document type, named ``revenge_<type>``.

This module only speaks to Typesense; the service decides when to use it, what to do when
it fails (see :mod:`.service`) and keeps the database index as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import typesense
from typesense import exceptions as ts_errors

from revenge_hookspecs.types import SearchDocumentType

from .documents import (
    FACET_LIMIT,
    LIBRARY_FIELD,
    MAX_PER_PAGE,
    TYPE_FACET,
    PreparedDocument,
    SearchRequest,
    facet_key,
    make_hit,
    result,
    sorted_facet,
)

FIELD_TYPES = {"string": "string", "int": "int64", "float": "float", "bool": "bool", "string[]": "string[]"}
UNSCOPED_FIELD = "_unscoped"
"""True on documents without a ``library_id``: Typesense cannot filter on a missing value.
Declared field names start with a letter, so this one never clashes with them."""
INTERNAL_FIELDS = ("title_sort", UNSCOPED_FIELD)
"""Stored for sorting and filtering, never returned in a hit."""
IMPORT_CHUNK = 500
_OPERATORS = re.compile(r'"|(?:^|(?<=\s))-+')
# Errors that say Typesense is unreachable or unwell, as opposed to a bad request.
UNAVAILABLE = (
    httpx.HTTPError,
    asyncio.TimeoutError,
    OSError,  # the client's own errors derive from IOError; narrowed in is_unavailable()
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Typesense cannot answer now (so the circuit should open)."""
    if isinstance(exc, ts_errors.TypesenseClientError):
        # A rejected API key will not fix itself between two searches either.
        return isinstance(exc, (ts_errors.ServerError, ts_errors.ServiceUnavailable,
                                ts_errors.HTTPStatus0Error, ts_errors.Timeout,
                                ts_errors.RequestUnauthorized, ts_errors.RequestForbidden))
    return isinstance(exc, UNAVAILABLE)


class UnsupportedQuery(Exception):
    """A query Typesense cannot express; the database index answers it instead."""


class TypesenseError(RuntimeError):
    """Typesense answered, but not as expected (a document it refused, a failed search)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The 2.x client warns about APIs of Typesense 30 whenever it builds its helper objects.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def collection_name(doc_type: str) -> str:
    return f"revenge_{doc_type}"


def collection_schema(doc_type: SearchDocumentType) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"name": "title", "type": "string"},
        # Breaks ties between equal text matches and orders browsing, as the database does.
        {"name": "title_sort", "type": "string", "sort": True},
        {"name": LIBRARY_FIELD, "type": "string", "optional": True},
        {"name": UNSCOPED_FIELD, "type": "bool"},
    ]
    for field in doc_type.fields:
        fields.append({
            "name": field.name,
            "type": FIELD_TYPES[field.type],
            "facet": field.facet,
            "optional": True,
            # Typesense keeps unindexed fields in the document without the memory cost.
            "index": field.facet or field.searchable,
        })
    return {"name": collection_name(doc_type.name), "fields": fields}


def schema_signature(fields: Sequence[dict[str, Any]]) -> set[tuple[str, str, bool, bool]]:
    return {(f["name"], f["type"], bool(f.get("facet", False)), bool(f.get("index", True))) for f in fields}


def query_by(doc_type: SearchDocumentType) -> tuple[str, str]:
    """``query_by`` and its weights: the title first, then the searchable text fields."""
    names = ["title"] + [f.name for f in doc_type.fields if f.searchable and f.type in ("string", "string[]")]
    weights = ["2"] + ["1"] * (len(names) - 1)
    return ",".join(names), ",".join(weights)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if "`" in value:
        # Typesense quotes filter values in backticks and has no escape for one inside.
        raise UnsupportedQuery(f"filter value {value!r} contains a backtick")
    return f"`{value}`"


def library_filter(request: SearchRequest) -> str:
    """The ``filter_by`` clause that keeps a search to its libraries (and, if asked, to no library)."""
    if request.library_ids is None:
        either = [f"{UNSCOPED_FIELD}:=false"]
    elif request.library_ids:
        values = ",".join(_literal(v) for v in sorted(request.library_ids))
        either = [f"{LIBRARY_FIELD}:=[{values}]"]
    else:
        either = []
    if request.include_unscoped:
        either.append(f"{UNSCOPED_FIELD}:=true")
    return "(" + " || ".join(either) + ")"


def filter_by(request: SearchRequest) -> str:
    parts = [library_filter(request)] if request.scoped else []
    for condition in request.conditions:
        if condition.is_range:
            if condition.minimum is not None:
                parts.append(f"{condition.field}:>={_literal(condition.minimum)}")
            if condition.maximum is not None:
                parts.append(f"{condition.field}:<={_literal(condition.maximum)}")
        else:
            values = ",".join(_literal(v) for v in condition.values)
            parts.append(f"{condition.field}:=[{values}]")
    return " && ".join(parts)


def typesense_query(query: str) -> str:
    """The query without Typesense's operators (``-word`` excludes, quotes make phrases).

    Other punctuation stays, so "spider-man" still meets Typesense's own tokenizer.
    """
    cleaned = _OPERATORS.sub(" ", query).strip()
    return cleaned or "*"


def document_body(doc: PreparedDocument) -> dict[str, Any]:
    body = {**doc.fields, "id": doc.doc_id, "title": doc.title, "title_sort": doc.title_norm,
            UNSCOPED_FIELD: doc.library_id is None}
    if doc.library_id is not None:
        body[LIBRARY_FIELD] = doc.library_id
    return body


class TypesenseIndex:
    """Collections and documents in Typesense, with a short timeout on every call."""

    name = "typesense"

    def __init__(self, url: str, api_key: str, timeout: float):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        node = {"host": parts.hostname or "127.0.0.1", "port": port, "protocol": parts.scheme or "http",
                "path": parts.path.rstrip("/")}
        self.timeout = timeout
        # Writes may carry hundreds of documents; they get more time than a search.
        self.write_timeout = max(10.0, timeout * 5)
        common = {"api_key": api_key, "nodes": [node], "num_retries": 0, "retry_interval_seconds": 0.1,
                  "healthcheck_interval_seconds": 1}
        with _quiet():
            self._search_client = typesense.AsyncClient({**common, "connection_timeout_seconds": timeout})
            self._write_client = typesense.AsyncClient({**common, "connection_timeout_seconds": self.write_timeout})

    def _collection(self, name: str) -> Any:
        with _quiet():
            return self._write_client.collections[name]

    async def close(self) -> None:
        for client in (self._search_client, self._write_client):
            await client.api_call.aclose()

    async def health(self) -> None:
        async with asyncio.timeout(self.timeout):
            answer = await self._search_client.api_call.get("/health", entity_type=dict)
        if not answer.get("ok"):
            raise TypesenseError(f"Typesense reports it is not healthy: {answer}")

    # --- collections ----------------------------------------------------------------------------

    async def ensure_collection(self, doc_type: SearchDocumentType) -> str:
        """Create the type's collection if missing: ``created``, ``changed`` (schema differs) or ``ok``."""
        schema = collection_schema(doc_type)
        async with asyncio.timeout(self.write_timeout):
            try:
                current = await self._collection(schema["name"]).retrieve()
            except ts_errors.ObjectNotFound:
                try:
                    await self._write_client.collections.create(schema)
                except ts_errors.ObjectAlreadyExists:
                    return "ok"  # another instance created it a moment ago
                return "created"
        if schema_signature(current["fields"]) != schema_signature(schema["fields"]):
            return "changed"
        return "ok"

    async def recreate_collection(self, doc_type: SearchDocumentType) -> None:
        """Drop and create the type's collection, empty, with the current schema."""
        schema = collection_schema(doc_type)
        async with asyncio.timeout(self.write_timeout):
            try:
                await self._collection(schema["name"]).delete()
            except ts_errors.ObjectNotFound:
                pass
            await self._write_client.collections.create(schema)

    # --- documents ------------------------------------------------------------------------------

    async def upsert(self, doc_type: str, documents: Sequence[PreparedDocument]) -> None:
        collection = self._collection(collection_name(doc_type))
        for start in range(0, len(documents), IMPORT_CHUNK):
            chunk = [document_body(doc) for doc in documents[start : start + IMPORT_CHUNK]]
            async with asyncio.timeout(self.write_timeout):
                answers = await collection.documents.import_(chunk, {"action": "upsert"})
            refused = [a for a in answers if not a.get("success")]
            if refused:
                raise TypesenseError(f"Typesense refused {len(refused)} of {len(chunk)} documents "
                                     f"of type {doc_type!r}: {refused[0].get('error')}")

    async def delete(self, doc_type: str, ids: Sequence[str]) -> None:
        # Filtering on id (rather than DELETE /documents/<id>) copes with any id, even "a/b".
        collection = self._collection(collection_name(doc_type))
        for start in range(0, len(ids), IMPORT_CHUNK):
            quoted = ",".join(_literal(i) for i in ids[start : start + IMPORT_CHUNK])
            async with asyncio.timeout(self.write_timeout):
                await collection.documents.delete({"filter_by": f"id:[{quoted}]"})

    # --- search ---------------------------------------------------------------------------------

    async def search(self, request: SearchRequest) -> dict[str, Any]:
        """Ask every collection of the request in one multi-search and merge the answers."""
        single = len(request.types) == 1
        if not single and request.page * request.per_page > MAX_PER_PAGE:
            # Merging needs the top page*per_page of each collection, which Typesense caps.
            raise UnsupportedQuery("pages this deep across several document types")
        filters = filter_by(request)
        searches = []
        for doc_type in request.types:
            fields, weights = query_by(doc_type)
            declared = {f.name for f in doc_type.fields}
            params: dict[str, Any] = {
                "collection": collection_name(doc_type.name),
                "q": typesense_query(request.query),
                "query_by": fields,
                "query_by_weights": weights,
                "prioritize_exact_match": True,
                "sort_by": "title_sort:asc" if request.browse else "_text_match:desc,title_sort:asc",
                "page": request.page if single else 1,
                "per_page": request.per_page if single else request.page * request.per_page,
                "exclude_fields": ",".join(INTERNAL_FIELDS),
            }
            if filters:
                params["filter_by"] = filters
            facet_names = [f.field for f in request.facets if f.field in declared]
            if facet_names:
                params["facet_by"] = ",".join(facet_names)
                params["max_facet_values"] = FACET_LIMIT
            searches.append(params)
        async with asyncio.timeout(self.timeout):
            answer = await self._search_client.multi_search.perform({"searches": searches}, {})
        return self._merge(request, answer["results"], single)

    def _merge(self, request: SearchRequest, answers: list[dict[str, Any]], single: bool) -> dict[str, Any]:
        scored: list[tuple[float, str, str, dict[str, Any]]] = []
        found = 0
        counts: dict[str, dict[str, int]] = {f.field: {} for f in request.facets}
        kinds = {f.field: f.type for f in request.facets}
        for doc_type, answer in zip(request.types, answers, strict=True):
            if "error" in answer:
                raise TypesenseError(f"Typesense could not search {doc_type.name!r}: {answer['error']}")
            found += answer.get("found", 0)
            if answer.get("found") and TYPE_FACET in counts:
                # The built-in facet: every match of this collection is of its type.
                counts[TYPE_FACET][doc_type.name] = answer["found"]
            for hit in answer.get("hits", []):
                document = dict(hit["document"])
                doc_id, title = document.pop("id"), document.pop("title")
                library_id = document.pop(LIBRARY_FIELD, None)
                score = float(hit.get("text_match", 0))
                hit_body = make_hit(doc_type.name, doc_id, title, score, document, library_id)
                scored.append((score, hit_body["title"].casefold(), doc_type.name, hit_body))
            for facet in answer.get("facet_counts", []):
                field = facet["field_name"]
                bucket = counts.setdefault(field, {})
                for entry in facet.get("counts", []):
                    key = facet_key(entry["value"], kinds[field])
                    bucket[key] = bucket.get(key, 0) + entry["count"]
        if single:
            hits = [entry[3] for entry in scored]
        else:
            scored.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
            hits = [entry[3] for entry in scored[request.offset : request.offset + request.per_page]]
        facets = {field: sorted_facet(values) for field, values in counts.items()}
        return result(request, hits=hits, found=found, facets=facets, backend=self.name, degraded=False)
