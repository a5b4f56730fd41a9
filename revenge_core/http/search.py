"""``GET /api/v1/search``: search every registered document type, kept to the caller's libraries.

:data:`DESCRIPTION` (also the route's OpenAPI description) spells out the query syntax.
Filter values arrive as text and are converted to the declared type of their field here;
everything else about a search is checked by the search rules the service applies
(:mod:`revenge_hookspecs.search`), whose ``ValueError`` becomes ``400 bad_request``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import attrs
from aiohttp import web
from multidict import MultiMapping

from revenge_hookspecs.errors import BadRequest
from revenge_hookspecs.search import MAX_PER_PAGE, NUMBER_TYPES, check_facet, facet_field
from revenge_hookspecs.types import SearchDocumentType

from ..identity.grants import ALL
from ..identity.principal import PRINCIPAL
from ..plugins.host import API_PREFIX
from .keys import SERVICES
from .routing import RouteDeclaration, declare

PATH = f"{API_PREFIX}/search"
PERMISSION = "search:read"
FILTER_PREFIX = "filter."
RANGE = ".."
DEFAULT_PER_PAGE = 20
SINGLE_PARAMETERS = ("q", "page", "per_page")
REPEATABLE_PARAMETERS = ("type", "facet", "library")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?$")
_BOOLEANS = {"true": True, "false": False}

DESCRIPTION = f"""Every parameter is optional; repeat a parameter to give several values.

| parameter | meaning |
|---|---|
| `q=TEXT` | free text; typos are tolerated (`matrx` finds The Matrix); empty or absent lists everything |
| `type=NAME` | a document type to search (`movie`, `series`, `person`...); all of them when absent |
| `filter.FIELD=VALUE` | only documents whose facet field `FIELD` has `VALUE`; repeat it for any of several \
values. Numbers also take one range `MIN..MAX`, `MIN..` or `..MAX` (inclusive); booleans are `true` or `false` |
| `facet=FIELD` | a facet field to count over every match, not just this page; `facet=type` counts the matches \
of each document type (`{{"movie": 12, "series": 3}}`) |
| `library=ID` | only documents of this library; documents of no library (people) are left out |
| `page=N` | the page, from 1 (default 1) |
| `per_page=N` | hits per page, 1 to {MAX_PER_PAGE} (default {DEFAULT_PER_PAGE}) |

Example: `/api/v1/search?q=matrx&type=movie&filter.year=1999..2003&filter.genres=Action&facet=genres&facet=year`.

`type` is a facet of every search but not a field: filter by document type with `type=NAME`, not
`filter.type`. Its counts cover the same matches as the other facets, so with `type=movie&type=series`
only those two types appear.

Results, `found` and facet counts cover only documents of the libraries you may view (every library for
an admin) and documents that belong to no library. A library you may not view finds nothing, as if it did
not exist. An unknown type or parameter, a field that is not a facet field, a value that is not of the
field's type, `page` below 1 or `per_page` above {MAX_PER_PAGE} answer `400 bad_request`, with
`details.key` naming the parameter.
"""


@attrs.frozen
class SearchQuery:
    """A search as the query string spells it; filter values are still text."""

    q: str = ""
    types: tuple[str, ...] | None = None
    filters: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    facets: tuple[str, ...] = ()
    libraries: tuple[str, ...] | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


def _whole_number(query: MultiMapping[str], key: str, default: int, maximum: int | None = None) -> int:
    text = query.get(key)
    if text is None:
        return default
    if text.isascii() and text.isdigit() and len(text) <= 9 and 1 <= int(text) <= (maximum or 10**9):
        return int(text)
    limit = f"between 1 and {maximum}" if maximum else "of at least 1"
    raise BadRequest(f"{key} must be a whole number {limit}, got {text[:40]!r}.", {"key": key})


def parse_query(query: MultiMapping[str]) -> SearchQuery:
    """Read the query string; :raises BadRequest: for an unknown, repeated or malformed parameter."""
    filters: dict[str, list[str]] = {}
    for key in dict.fromkeys(query):
        if key.startswith(FILTER_PREFIX):
            field = key[len(FILTER_PREFIX):]
            if not field:
                raise BadRequest("Name the field to filter by: filter.FIELD=VALUE.", {"key": key})
            filters[field] = query.getall(key)
        elif key in SINGLE_PARAMETERS:
            if len(query.getall(key)) > 1:
                raise BadRequest(f"Give {key} once.", {"key": key})
        elif key not in REPEATABLE_PARAMETERS:
            allowed = ", ".join([*SINGLE_PARAMETERS, *REPEATABLE_PARAMETERS, FILTER_PREFIX + "FIELD"])
            raise BadRequest(f"Unknown query parameter {key[:40]!r}; allowed: {allowed}.", {"key": key[:40]})
    for key in REPEATABLE_PARAMETERS:
        if any(not value for value in query.getall(key, [])):
            raise BadRequest(f"{key} needs a value.", {"key": key})
    for field, values in filters.items():
        if any(not value for value in values):
            raise BadRequest(f"filter.{field} needs a value.", {"key": FILTER_PREFIX + field})
    return SearchQuery(
        q=query.get("q", ""),
        types=tuple(query.getall("type")) if "type" in query else None,
        filters={field: tuple(values) for field, values in filters.items()},
        facets=tuple(query.getall("facet", [])),
        libraries=tuple(query.getall("library")) if "library" in query else None,
        page=_whole_number(query, "page", 1),
        per_page=_whole_number(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
    )


def _typed(field: str, kind: str, text: str) -> Any:
    """One filter value, from text to the field's type."""
    if kind == "int" and _INTEGER.match(text):
        return int(text)
    if kind == "float" and _NUMBER.match(text) and math.isfinite(float(text)):
        return float(text)
    if kind == "bool" and text in _BOOLEANS:
        return _BOOLEANS[text]
    if kind in ("string", "string[]"):
        return text
    expected = {"int": "a whole number", "float": "a number", "bool": "true or false"}[kind]
    raise BadRequest(f"filter.{field} must be {expected}, got {text[:40]!r}.", {"key": FILTER_PREFIX + field})


def filter_value(field: str, kind: str, texts: Iterable[str]) -> Any:
    """The value the search service takes for a filter given as text: values, or a range.

    :param kind: the field's declared type.
    """
    texts = list(texts)
    ranges = [text for text in texts if kind in NUMBER_TYPES and RANGE in text]
    if not ranges:
        return [_typed(field, kind, text) for text in texts]
    if len(texts) > 1:
        raise BadRequest(f"filter.{field} takes either values or one range, not both.",
                         {"key": FILTER_PREFIX + field})
    low, _, high = ranges[0].partition(RANGE)
    if not low and not high:
        raise BadRequest(f"filter.{field}: a range needs a minimum, a maximum or both (MIN..MAX).",
                         {"key": FILTER_PREFIX + field})
    return {"min": _typed(field, kind, low) if low else None, "max": _typed(field, kind, high) if high else None}


def _checked(key: str, check: Any, *args: Any) -> Any:
    """``check(*args)``, with the search rules' ``ValueError`` turned into a 400 naming ``key``."""
    try:
        return check(*args)
    except ValueError as exc:
        raise BadRequest(f"{exc}.", {"key": key}) from None


def caller_libraries(visible: frozenset[str] | None,
                  requested: tuple[str, ...] | None) -> tuple[frozenset[str] | None, bool]:
    """``library_ids`` and ``include_unscoped`` for the search service.

    :param visible: the libraries the caller may view, ``None`` for every one.
    :param requested: the libraries the query asks for, ``None`` when it names none. Asking
        for libraries leaves out documents of no library; asking for one the caller may not
        view finds nothing there, as if it did not exist.
    """
    if requested is None:
        return visible, True
    wanted = frozenset(requested)
    return (wanted if visible is None else wanted & visible), False


async def visible_library_ids(request: web.Request) -> frozenset[str] | None:
    """The libraries the caller may view; ``None`` means every library."""
    grants = request.app[SERVICES].identity.grants
    visible = await grants.visible_library_ids(request.get(PRINCIPAL), "view")
    return None if visible is ALL else frozenset(visible)


async def search(request: web.Request) -> web.Response:
    """Search every registered document type; :data:`DESCRIPTION` has the query syntax."""
    parsed = parse_query(request.rel_url.query)
    service = request.app[SERVICES].search
    doc_types: list[SearchDocumentType] = _checked("type", service.document_types, parsed.types)
    filters = {}
    for field, texts in parsed.filters.items():
        kind, _ = _checked(FILTER_PREFIX + field, facet_field, doc_types, field, "filter")
        filters[field] = filter_value(field, kind, texts)
    for field in parsed.facets:
        _checked("facet", check_facet, doc_types, field)
    library_ids, include_unscoped = caller_libraries(await visible_library_ids(request), parsed.libraries)
    try:
        answer = await service.search(parsed.q, doc_types=parsed.types, filters=filters, facets=parsed.facets,
                                      page=parsed.page, per_page=parsed.per_page, library_ids=library_ids,
                                      include_unscoped=include_unscoped)
    except ValueError as exc:
        raise BadRequest(f"{exc}.") from None
    return web.json_response(answer)


_FACETS = {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
           "description": "{field: {value as text: count}} over every match, most frequent first; "
                          "the facet type counts matches per document type."}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["hits", "found", "page", "per_page", "facets", "backend", "degraded"],
    "properties": {
        "hits": {"type": "array", "items": {
            "type": "object", "required": ["id", "type", "title", "score"],
            "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"},
                           "score": {"type": "number"},
                           "library_id": {"type": "string", "description": "absent for documents of no library"}},
            "additionalProperties": True,
            "description": "The document's own fields come along.",
        }},
        "found": {"type": "integer", "description": "How many documents match in all."},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "facets": _FACETS,
        "backend": {"type": "string", "description": "typesense, sqlite or postgres: which index answered."},
        "degraded": {"type": "boolean", "description": "True when Typesense is primary but could not answer."},
    },
}


_route = declare(tags=("search",))

ROUTES: list[RouteDeclaration] = [
    _route("GET", PATH, search, PERMISSION, "Search movies, series, people... in the libraries you may view",
           description=DESCRIPTION, response_schema=RESPONSE_SCHEMA),
]


__all__ = [
    "DESCRIPTION",
    "PATH",
    "PERMISSION",
    "ROUTES",
    "caller_libraries",
    "filter_value",
    "parse_query",
    "search",
]
