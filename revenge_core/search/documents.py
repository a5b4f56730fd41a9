"""Search documents and queries, checked against the registered document types.

Everything a caller hands the search service passes through here first: documents are
coerced to their declared field types, and filters and facets are checked against an
allowlist of declared facet fields, so backends only ever see validated names and values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from revenge_hookspecs.types import SearchDocumentType, SearchField

from .text import normalize, normalize_query, searchable_text

MAX_PER_PAGE = 250
MAX_ID_LENGTH = 255
FACET_LIMIT = 100
"""At most this many values per facet, the most frequent first."""

RESERVED_FIELDS = frozenset({"id", "title", "type", "score", "title_sort"})
"""Names the service uses itself; a document type cannot declare them as fields."""

TEXT_TYPES = frozenset({"string", "string[]"})
NUMBER_TYPES = frozenset({"int", "float"})


@attrs.frozen
class PreparedDocument:
    """A document as every backend stores it."""

    doc_id: str
    title: str
    title_norm: str
    body: str
    fields: Mapping[str, Any]


@attrs.frozen
class Condition:
    """One validated filter: ``values`` (any of them matches) or a ``minimum``/``maximum`` range."""

    field: str
    type: str
    values: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_range(self) -> bool:
        return not self.values


@attrs.frozen
class Facet:
    field: str
    type: str


@attrs.frozen
class SearchRequest:
    """A validated search. ``text`` is the normalised query; empty means "list everything"."""

    query: str
    text: str
    types: tuple[SearchDocumentType, ...]
    conditions: tuple[Condition, ...] = ()
    facets: tuple[Facet, ...] = ()
    page: int = 1
    per_page: int = 20

    @property
    def browse(self) -> bool:
        return not self.query

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def cannot_match(self) -> bool:
        """True when nothing can match: no type is left, or the query has no words at all."""
        return not self.types or (bool(self.query) and not self.text)


def check_document_type(doc_type: SearchDocumentType) -> None:
    """Reject a type whose field names clash with the ones every hit carries."""
    for field in doc_type.fields:
        if field.name in RESERVED_FIELDS:
            raise ValueError(
                f"search document type {doc_type.name!r} declares the field {field.name!r}, "
                f"which is reserved ({', '.join(sorted(RESERVED_FIELDS))}); rename it"
            )


# --- documents ----------------------------------------------------------------------------------


def _coerce(field: SearchField, value: Any, where: str) -> Any:
    kind = field.type
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "string[]" and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(dict.fromkeys(value))  # a value counts once in a facet, as in Typesense
    raise ValueError(f"{where}: field {field.name!r} must be {kind}, got {value!r}")


def prepare_document(doc_type: SearchDocumentType, document: Mapping[str, Any]) -> PreparedDocument:
    """Check one document against its type. Keys that are not declared fields are dropped."""
    if not isinstance(document, Mapping):
        raise ValueError(f"search document of type {doc_type.name!r} must be a mapping, got {document!r}")
    raw_id = document.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
        raise ValueError(f"search document of type {doc_type.name!r} needs an 'id' (text), got {raw_id!r}")
    doc_id = str(raw_id)
    where = f"search document {doc_type.name}/{doc_id}"
    if len(doc_id) > MAX_ID_LENGTH:
        raise ValueError(f"{where}: 'id' is longer than {MAX_ID_LENGTH} characters")
    title = document.get("title")
    if not isinstance(title, str):
        raise ValueError(f"{where}: 'title' must be text, got {title!r}")
    fields: dict[str, Any] = {}
    searchable = [title]
    for field in doc_type.fields:
        value = document.get(field.name)
        if value is None:
            continue
        value = _coerce(field, value, where)
        fields[field.name] = value
        if field.searchable and field.type in TEXT_TYPES:
            searchable.extend(value if isinstance(value, list) else [value])
    return PreparedDocument(doc_id=doc_id, title=title, title_norm=normalize(title),
                            body=searchable_text(searchable), fields=fields)


def prepare_documents(doc_type: SearchDocumentType, documents: Iterable[Mapping[str, Any]]) -> list[PreparedDocument]:
    """Check every document before anything is written; a later duplicate id wins."""
    prepared: dict[str, PreparedDocument] = {}
    for document in documents:
        doc = prepare_document(doc_type, document)
        prepared.pop(doc.doc_id, None)
        prepared[doc.doc_id] = doc
    return list(prepared.values())


# --- queries ------------------------------------------------------------------------------------


def _scalar(field: str, kind: str, value: Any) -> Any:
    """One filter value of a field's type (elements for ``string[]``)."""
    if kind in ("string", "string[]") and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    expected = "string" if kind == "string[]" else kind
    raise ValueError(f"filter {field!r}: expected {expected} values, got {value!r}")


def _condition(field: str, kind: str, value: Any) -> Condition:
    if isinstance(value, Mapping):
        if kind not in NUMBER_TYPES:
            raise ValueError(f"filter {field!r}: ranges ({{'min', 'max'}}) only work on int and float fields")
        unknown = set(value) - {"min", "max"}
        if unknown or not value:
            raise ValueError(f"filter {field!r}: a range takes 'min' and/or 'max', got {sorted(value)}")
        bounds = {k: _scalar(field, kind, v) for k, v in value.items() if v is not None}
        if not bounds:
            raise ValueError(f"filter {field!r}: a range needs 'min' or 'max'")
        return Condition(field, kind, minimum=bounds.get("min"), maximum=bounds.get("max"))
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    checked = tuple(dict.fromkeys(_scalar(field, kind, v) for v in values))
    if not checked:
        raise ValueError(f"filter {field!r}: give at least one value")
    return Condition(field, kind, values=checked)


def _facet_field(types: Iterable[SearchDocumentType], name: str, purpose: str) -> tuple[str, set[str]]:
    """The type of facet field ``name`` and the document types that declare it."""
    kinds: dict[str, str] = {}
    not_facet: list[str] = []
    for doc_type in types:
        for field in doc_type.fields:
            if field.name == name:
                if field.facet:
                    kinds[doc_type.name] = field.type
                else:
                    not_facet.append(doc_type.name)
    if not kinds:
        if not_facet:
            raise ValueError(f"cannot {purpose} by {name!r}: it is not a facet field of {', '.join(not_facet)}")
        names = ", ".join(t.name for t in types) or "no document type"
        raise ValueError(f"cannot {purpose} by {name!r}: no such facet field in {names}")
    if len(set(kinds.values())) > 1:
        detail = ", ".join(f"{t}: {k}" for t, k in sorted(kinds.items()))
        raise ValueError(f"cannot {purpose} by {name!r}: its type differs between document types ({detail}); "
                         "search them separately")
    return next(iter(kinds.values())), set(kinds)


def build_request(types: list[SearchDocumentType], query: str, *, filters: Mapping[str, Any] | None,
                  facets: Iterable[str], page: int, per_page: int) -> SearchRequest:
    """Validate a search against the document types it covers."""
    if not isinstance(query, str):
        raise ValueError(f"query must be text, got {query!r}")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be a whole number of at least 1, got {page!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page!r}")
    if filters is not None and not isinstance(filters, Mapping):
        raise ValueError(f"filters must be a mapping of field to value, got {filters!r}")
    facets = [facets] if isinstance(facets, str) else list(facets)
    remaining = list(types)
    conditions = []
    for name, value in (filters or {}).items():
        kind, declaring = _facet_field(types, name, "filter")
        conditions.append(_condition(name, kind, value))
        # A type without the field can never satisfy the filter.
        remaining = [t for t in remaining if t.name in declaring]
    facet_fields = []
    for name in dict.fromkeys(facets):
        kind, _ = _facet_field(types, name, "count facets")
        facet_fields.append(Facet(name, kind))
    query = query.strip()
    return SearchRequest(query=query, text=normalize_query(query), types=tuple(remaining),
                         conditions=tuple(conditions), facets=tuple(facet_fields), page=page,
                         per_page=per_page)


# --- results ------------------------------------------------------------------------------------


def facet_key(value: Any, kind: str) -> str:
    """A facet value as text, spelled the same whichever backend counted it."""
    if kind == "bool":
        if isinstance(value, str):
            return value
        return "true" if value else "false"
    if kind == "float":
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "int":
        return str(int(float(value))) if isinstance(value, str) else str(int(value))
    return str(value)


def sorted_facet(counts: Mapping[str, int]) -> dict[str, int]:
    """The most frequent values first (ties by value), at most :data:`FACET_LIMIT`."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return dict(ordered[:FACET_LIMIT])


def make_hit(doc_type: str, doc_id: str, title: str, score: float, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {**fields, "id": doc_id, "type": doc_type, "title": title, "score": score}


def result(request: SearchRequest, *, hits: list[dict[str, Any]], found: int,
           facets: Mapping[str, Mapping[str, int]], backend: str, degraded: bool) -> dict[str, Any]:
    return {
        "hits": hits,
        "found": found,
        "page": request.page,
        "per_page": request.per_page,
        "facets": {f.field: dict(facets.get(f.field, {})) for f in request.facets},
        "backend": backend,
        "degraded": degraded,
    }
