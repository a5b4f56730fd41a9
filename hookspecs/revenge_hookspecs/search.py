"""The rules of the search index: what a document and a search may contain.

The server's search service and the test kit's ``MemorySearch`` both apply these rules, so
a document or a search that passes in a plugin's tests passes in the server, and one the
server refuses is refused in the tests with the same message. Nothing here touches an
index: documents are checked and coerced to their declared field types, filters and
facets are checked against an allowlist of declared facet fields (plus the built-in facet
``type``, see :func:`check_facet`), and searches become a validated :class:`SearchRequest`
that a backend only has to execute.

Every document may carry the reserved field ``library_id`` (text): the library the item
belongs to. Documents not tied to a library (people, for example) leave it out. Searches
can be restricted to a set of libraries (see :func:`build_request`).
"""

from __future__ import annotations

import inspect
import math
import re
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import attrs

from .types import SearchDocumentType, SearchField

__all__ = [
    "FACET_LIMIT",
    "LIBRARY_FIELD",
    "MAX_ID_LENGTH",
    "MAX_PER_PAGE",
    "MAX_QUERY_CHARS",
    "NUMBER_TYPES",
    "RESERVED_FIELDS",
    "TEXT_TYPES",
    "TYPE_FACET",
    "Condition",
    "Facet",
    "PreparedDocument",
    "SearchRequest",
    "build_request",
    "check_document_type",
    "check_facet",
    "document_ids",
    "facet_field",
    "facet_key",
    "library_scope",
    "load_all_documents",
    "make_hit",
    "normalize",
    "normalize_query",
    "prepare_document",
    "prepare_documents",
    "result",
    "searchable_text",
    "select_types",
    "sorted_facet",
]

MAX_PER_PAGE = 250
MAX_ID_LENGTH = 255
"""The longest document id and ``library_id``, in characters."""
FACET_LIMIT = 100
"""At most this many values per facet, the most frequent first."""
MAX_QUERY_CHARS = 200
"""Only this much of a normalised query is searched for."""

LIBRARY_FIELD = "library_id"
"""The reserved field naming the library a document belongs to."""
RESERVED_FIELDS = frozenset({"id", "title", "type", "score", "title_sort", LIBRARY_FIELD})
"""Names the search service uses itself; a document type cannot declare them as fields."""
TYPE_FACET = "type"
"""The built-in facet: how many matches each document type has. Every search can count it."""

TEXT_TYPES = frozenset({"string", "string[]"})
NUMBER_TYPES = frozenset({"int", "float"})

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


# --- text ---------------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Case-folded text without accents or punctuation, words separated by one space.

    Titles and queries are compared in this form, so ``Amélie`` matches ``amelie``.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", stripped.casefold()).strip()


def normalize_query(query: str) -> str:
    """A query as it is searched for: normalised, at most :data:`MAX_QUERY_CHARS` long."""
    return normalize(query[: MAX_QUERY_CHARS * 2])[:MAX_QUERY_CHARS].strip()


def searchable_text(parts: Iterable[str]) -> str:
    """One normalised string of every searchable value, the title first."""
    return " ".join(p for p in (normalize(part) for part in parts) if p)


# --- documents ----------------------------------------------------------------------------------


@attrs.frozen
class PreparedDocument:
    """A checked document, as every index stores it.

    :param doc_id: the document's id, as text.
    :param title: the title as given; ``title_norm`` is its normalised form.
    :param body: the normalised text of the title and every searchable field.
    :param fields: the declared fields that were given, coerced to their types.
    :param library_id: the library the document belongs to, or ``None``.
    """

    doc_id: str
    title: str
    title_norm: str
    body: str
    fields: Mapping[str, Any]
    library_id: str | None = None


def check_document_type(doc_type: SearchDocumentType) -> None:
    """Reject a type whose field names clash with the ones the service uses itself."""
    for field in doc_type.fields:
        if field.name in RESERVED_FIELDS:
            raise ValueError(
                f"search document type {doc_type.name!r} declares the field {field.name!r}, "
                f"which is reserved ({', '.join(sorted(RESERVED_FIELDS))}); rename it"
            )


def select_types(registered: Mapping[str, SearchDocumentType], names: Iterable[str] | str | None, *,
                 on_skip: Callable[[ValueError], None] | None = None) -> list[SearchDocumentType]:
    """The document types a call names, checked; every registered one when ``names`` is ``None``.

    :param registered: name -> type, of every type that exists right now.
    :param on_skip: told about each broken type left out of "every type" (one plugin's
        broken type must not break every search); naming a broken type raises instead.
    :raises ValueError: for a type that is not registered or declares a reserved field.
    """
    if names is None:
        usable = []
        for name in sorted(registered):
            try:
                check_document_type(registered[name])
            except ValueError as exc:
                if on_skip is not None:
                    on_skip(exc)
                continue
            usable.append(registered[name])
        return usable
    if isinstance(names, str):
        names = [names]
    selected = []
    for name in dict.fromkeys(names):
        doc_type = registered.get(name) if isinstance(name, str) else None
        if doc_type is None:
            known = ", ".join(sorted(registered)) or "none"
            raise ValueError(f"unknown search document type {name!r}; registered types: {known}")
        check_document_type(doc_type)
        selected.append(doc_type)
    return selected


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


def _text_id(value: Any) -> str | None:
    """An id given as text or as an integer, as text; ``None`` for anything else or ``""``."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        return None
    return str(value)


def prepare_document(doc_type: SearchDocumentType, document: Mapping[str, Any]) -> PreparedDocument:
    """Check one document against its type. Keys that are not declared fields are dropped.

    ``id`` (text or an integer) and ``title`` (text) are required; ``library_id`` (text or
    an integer) is optional; ``None`` values are dropped. :raises ValueError: saying what
    is wrong.
    """
    if not isinstance(document, Mapping):
        raise ValueError(f"search document of type {doc_type.name!r} must be a mapping, got {document!r}")
    raw_id = document.get("id")
    doc_id = _text_id(raw_id)
    if doc_id is None:
        raise ValueError(f"search document of type {doc_type.name!r} needs an 'id' (text), got {raw_id!r}")
    where = f"search document {doc_type.name}/{doc_id}"
    if len(doc_id) > MAX_ID_LENGTH:
        raise ValueError(f"{where}: 'id' is longer than {MAX_ID_LENGTH} characters")
    title = document.get("title")
    if not isinstance(title, str):
        raise ValueError(f"{where}: 'title' must be text, got {title!r}")
    raw_library = document.get(LIBRARY_FIELD)
    library_id = _text_id(raw_library)
    if raw_library is not None and library_id is None:
        raise ValueError(f"{where}: {LIBRARY_FIELD!r} must be text, got {raw_library!r}")
    if library_id is not None and len(library_id) > MAX_ID_LENGTH:
        raise ValueError(f"{where}: {LIBRARY_FIELD!r} is longer than {MAX_ID_LENGTH} characters")
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
                            body=searchable_text(searchable), fields=fields, library_id=library_id)


def prepare_documents(doc_type: SearchDocumentType, documents: Iterable[Mapping[str, Any]]) -> list[PreparedDocument]:
    """Check every document before anything is written; a later duplicate id wins."""
    prepared: dict[str, PreparedDocument] = {}
    for document in documents:
        doc = prepare_document(doc_type, document)
        prepared.pop(doc.doc_id, None)
        prepared[doc.doc_id] = doc
    return list(prepared.values())


def document_ids(ids: Iterable[Any] | str) -> list[str]:
    """Ids to delete, as text, each once; one id may be given on its own."""
    if isinstance(ids, str):
        return [ids]
    return list(dict.fromkeys(str(i) for i in ids))


async def load_all_documents(doc_type: SearchDocumentType) -> AsyncIterator[Mapping[str, Any]]:
    """Whatever the type's ``load_all`` gives: an async iterator, an awaitable of one, or an iterable."""
    assert doc_type.load_all is not None
    source: Any = doc_type.load_all()
    if inspect.isawaitable(source):
        source = await source
    if hasattr(source, "__aiter__"):
        async for document in source:
            yield document
    else:
        for document in source:
            yield document


# --- searches -----------------------------------------------------------------------------------


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

    def matches(self, fields: Mapping[str, Any]) -> bool:
        """Whether a prepared document's ``fields`` satisfy this condition."""
        value = fields.get(self.field)
        if value is None:
            return False
        if self.is_range:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            return ((self.minimum is None or value >= self.minimum)
                    and (self.maximum is None or value <= self.maximum))
        # Stored values and filter values were both checked against the field's one type.
        have = value if isinstance(value, list) else [value]
        return any(v in self.values for v in have)


@attrs.frozen
class Facet:
    """A validated facet: a facet field and its type, or the built-in :data:`TYPE_FACET`."""

    field: str
    type: str

    @property
    def by_type(self) -> bool:
        """Whether this counts document types rather than a field ("type" is reserved)."""
        return self.field == TYPE_FACET

    def values(self, doc_type: str, fields: Mapping[str, Any]) -> list[Any]:
        """What a document of type ``doc_type`` with ``fields`` adds to this facet's counts."""
        if self.by_type:
            return [doc_type]
        value = fields.get(self.field)
        return [v for v in (value if isinstance(value, list) else [value]) if v is not None]


@attrs.frozen
class SearchRequest:
    """A validated search. ``text`` is the normalised query; empty means "list everything".

    ``library_ids`` are the libraries whose documents may match (``None``: every library);
    ``include_unscoped`` says whether documents without a ``library_id`` may match too.
    """

    query: str
    text: str
    types: tuple[SearchDocumentType, ...]
    conditions: tuple[Condition, ...] = ()
    facets: tuple[Facet, ...] = ()
    page: int = 1
    per_page: int = 20
    library_ids: frozenset[str] | None = None
    include_unscoped: bool = True

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
    def scoped(self) -> bool:
        """Whether the libraries restrict what matches at all."""
        return self.library_ids is not None or not self.include_unscoped

    @property
    def cannot_match(self) -> bool:
        """True when nothing can match: no type or library is left, or the query has no words."""
        no_library = self.library_ids is not None and not self.library_ids and not self.include_unscoped
        return not self.types or no_library or (bool(self.query) and not self.text)

    def in_scope(self, library_id: str | None) -> bool:
        """Whether a document of library ``library_id`` (``None``: of none) may match."""
        if library_id is None:
            return self.include_unscoped
        return self.library_ids is None or library_id in self.library_ids


def _scalar(field: str, kind: str, value: Any) -> Any:
    """One filter value of a field's type (elements for ``string[]``)."""
    if kind in TEXT_TYPES and isinstance(value, str):
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


def facet_field(types: Iterable[SearchDocumentType], name: str, purpose: str) -> tuple[str, set[str]]:
    """The type of facet field ``name`` and the names of the document types that declare it.

    :param purpose: what the field is for, in the message: ``filter`` or ``count facets``.
    :raises ValueError: when no type declares it as a facet field, or types disagree on its type.
    """
    types = list(types)
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


def check_facet(types: Iterable[SearchDocumentType], name: str) -> Facet:
    """The facet ``name`` counts: :data:`TYPE_FACET`, or a facet field (see :func:`facet_field`).

    :raises ValueError: for a name that is neither.
    """
    if name == TYPE_FACET:
        return Facet(TYPE_FACET, "string")
    kind, _ = facet_field(types, name, "count facets")
    return Facet(name, kind)


def library_scope(library_ids: Iterable[Any] | str | None) -> frozenset[str] | None:
    """The libraries a search may see, as text ids; ``None`` (every library) stays ``None``.

    One id may be given on its own; ids are text or integers.
    """
    if library_ids is None:
        return None
    if isinstance(library_ids, (str, int)) and not isinstance(library_ids, bool):
        library_ids = [library_ids]
    if isinstance(library_ids, Mapping) or not isinstance(library_ids, Iterable):
        raise ValueError(f"library_ids must be a collection of library ids, got {library_ids!r}")
    scope = []
    for value in library_ids:
        library_id = _text_id(value)
        if library_id is None:
            raise ValueError(f"library_ids must hold library ids (text), got {value!r}")
        scope.append(library_id)
    return frozenset(scope)


def build_request(types: Iterable[SearchDocumentType], query: str, *, filters: Mapping[str, Any] | None,
                  facets: Iterable[str] | str, page: int, per_page: int,
                  library_ids: Iterable[Any] | str | None = None,
                  include_unscoped: bool = True) -> SearchRequest:
    """Validate a search against the document types it covers.

    :param filters: ``{field: value}``, ``{field: [values]}`` (any of them) or, for numbers,
        ``{field: {"min": .., "max": ..}}``; only facet fields qualify.
    :param facets: facet fields to count, and :data:`TYPE_FACET` for the matches per
        document type.
    :param library_ids: restrict matches to documents of these libraries (``None``: every
        library).
    :param include_unscoped: whether documents without a ``library_id`` match as well.
    :raises ValueError: saying what is wrong.
    """
    types = list(types)
    if not isinstance(query, str):
        raise ValueError(f"query must be text, got {query!r}")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be a whole number of at least 1, got {page!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page!r}")
    if filters is not None and not isinstance(filters, Mapping):
        raise ValueError(f"filters must be a mapping of field to value, got {filters!r}")
    if not isinstance(include_unscoped, bool):
        raise ValueError(f"include_unscoped must be true or false, got {include_unscoped!r}")
    scope = library_scope(library_ids)
    facets = [facets] if isinstance(facets, str) else list(facets)
    remaining = list(types)
    conditions = []
    for name, value in (filters or {}).items():
        kind, declaring = facet_field(types, name, "filter")
        conditions.append(_condition(name, kind, value))
        # A type without the field can never satisfy the filter.
        remaining = [t for t in remaining if t.name in declaring]
    facet_fields = [check_facet(types, name) for name in dict.fromkeys(facets)]
    query = query.strip()
    return SearchRequest(query=query, text=normalize_query(query), types=tuple(remaining),
                         conditions=tuple(conditions), facets=tuple(facet_fields), page=page,
                         per_page=per_page, library_ids=scope, include_unscoped=include_unscoped)


# --- results ------------------------------------------------------------------------------------


def facet_key(value: Any, kind: str) -> str:
    """A facet value as text, spelled the same whichever index counted it."""
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


def make_hit(doc_type: str, doc_id: str, title: str, score: float, fields: Mapping[str, Any],
             library_id: str | None = None) -> dict[str, Any]:
    """One hit: the document's fields, its ``library_id`` when it has one, ``id``, ``type``, ``title``, ``score``."""
    library = {LIBRARY_FIELD: library_id} if library_id is not None else {}
    return {**fields, **library, "id": doc_id, "type": doc_type, "title": title, "score": score}


def result(request: SearchRequest, *, hits: list[dict[str, Any]], found: int,
           facets: Mapping[str, Mapping[str, int]], backend: str, degraded: bool) -> dict[str, Any]:
    """The answer to a search, in the one shape every backend returns."""
    return {
        "hits": hits,
        "found": found,
        "page": request.page,
        "per_page": request.per_page,
        "facets": {f.field: dict(facets.get(f.field, {})) for f in request.facets},
        "backend": backend,
        "degraded": degraded,
    }
