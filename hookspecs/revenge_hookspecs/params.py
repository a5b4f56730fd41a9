"""Checking a route's query string and JSON body: a ``400 bad_request`` that names what was wrong.

A route handler should never turn a malformed request into a 500, nor pass unchecked text to a
query. These helpers read a request against an allowlist and raise
:class:`~revenge_hookspecs.errors.BadRequest` with a sentence and structured ``details``:
``{"parameter": NAME}`` for the query string, ``{"field": NAME}`` for a body. The movies and TV
plugins use them, so every list endpoint answers the same way::

    from revenge_hookspecs import params

    LIST_PARAMS = frozenset({"library", "genre", "year", "year_from", "year_to", "sort", "order", "page",
                             "per_page"})

    async def list_items(request):
        query = request.query
        params.only(query, LIST_PARAMS)                     # an unknown parameter is a 400
        year_from, year_to = params.year_range(query)       # year, or year_from and/or year_to
        sort, descending = params.sort_order(query, SORTS)  # an allowlisted sort key; asc or desc
        page, per_page = params.paging(query)               # page 1.., per_page 1..100 (default 50)
        genres = params.names(query, "genre", see="/things/genres")
        libraries = params.libraries(query)                 # library ids, checked by pattern
        ...

    async def edit_item(request):
        body = await params.json_body(request)              # a JSON object, or 400
        params.edit_fields(body, EDITABLE)                  # editable fields only, at least one
        title = params.text_field("title", body.get("title"), limit=512, nullable=False)
        year = params.number_field("year", body.get("year"), *params.YEARS)

The query helpers take any multi-valued mapping with ``getall(name, default)`` and iteration over
the names (aiohttp's ``request.query``, ``multidict.MultiDict``); :func:`json_body` takes any
request with ``can_read_body`` and ``await json()``. The module imports no web framework.

A single-valued parameter (everything read through :func:`one`) may be given once; repeated, it
is a 400, and given empty (``?page=``) it counts as absent. Repeatable ones (``library``, names)
are lists, and an empty item in them is a 400. Rules of your own (a value from your own
allowlist, a field only your plugin has) stay in your plugin: raise ``BadRequest`` the same way.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol, cast

from .errors import BadRequest

LIBRARY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""A library id as the server makes them."""
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
"""An id of an item at a metadata provider (``603``, ``tt0133093``)."""
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
"""A language code: ``en``, ``pt-BR``."""
YEARS = (1800, 2200)
"""The years a release year may take, both included."""
ORDERS = ("asc", "desc")
MAX_PAGE = 100_000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
MAX_QUERY = 200
"""The most characters of a free-text parameter (``q``)."""
MAX_NAME = 255
"""The most characters of a name (genre, network, studio...)."""
MAX_NAMES = 50
"""The most names one list field of a body may hold."""
_WHOLE = re.compile(r"-?\d{1,9}")


class Query(Protocol):
    """What the query helpers read: aiohttp's ``request.query``, a ``multidict.MultiDict``..."""

    def __iter__(self) -> Any: ...

    def getall(self, name: str, default: Any = ...) -> Any: ...


class Request(Protocol):
    """What :func:`json_body` reads: an aiohttp ``web.Request``."""

    @property
    def can_read_body(self) -> bool: ...

    async def json(self) -> Any: ...


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


# --- the query string --------------------------------------------------------------------------------


def only(query: Query, allowed: Collection[str]) -> None:
    """Reject a parameter that is not in ``allowed`` (``{"parameter": ..., "allowed": [...]}``)."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise BadRequest(f"Unknown query parameter {unknown[0][:40]!r}; allowed: {_listed(sorted(allowed))}.",
                         {"parameter": unknown[0][:40], "allowed": sorted(allowed)})


def one(query: Query, name: str) -> str | None:
    """The value of a parameter given at most once, or ``None`` when it is absent."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"Give {name} once.", {"parameter": name})
    return values[0] if values else None


def whole(query: Query, name: str, *, low: int, high: int, default: int | None = None) -> int | None:
    """A whole number from ``low`` to ``high`` (both included); ``default`` when absent or empty."""
    raw = one(query, name)
    if raw is None or raw == "":
        return default
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}.",
                         {"parameter": name, "value": raw[:40]})
    return int(raw)


def text(query: Query, name: str = "q", *, max_length: int = MAX_QUERY) -> str:
    """Free text of at most ``max_length`` characters; ``""`` when absent."""
    value = one(query, name) or ""
    if len(value) > max_length:
        raise BadRequest(f"{name} may have at most {max_length} characters.", {"parameter": name})
    return value


def libraries(query: Query, name: str = "library") -> tuple[str, ...]:
    """The library ids given (repeatable); each must look like one (:data:`LIBRARY_ID`)."""
    values = tuple(query.getall(name, []))
    for value in values:
        if not LIBRARY_ID.match(value):
            raise BadRequest(f"{name} must be a library id.", {"parameter": name, "value": value[:80]})
    return values


def names(query: Query, name: str, *, max_length: int = MAX_NAME, see: str | None = None) -> tuple[str, ...]:
    """Names given (repeatable: ``genre=Drama&genre=Crime``), none blank or longer than ``max_length``.

    :param see: a path listing the names, named in the error (``/movies/genres``).
    """
    values = tuple(query.getall(name, []))
    if any(not value.strip() or len(value) > max_length for value in values):
        where = f" (see {see})" if see else ""
        raise BadRequest(f"{name} must be a name of at most {max_length} characters{where}.", {"parameter": name})
    return values


def year_range(query: Query, *, years: tuple[int, int] = YEARS) -> tuple[int | None, int | None]:
    """``(year_from, year_to)`` from ``year`` (one year) or ``year_from``/``year_to`` (either may be open)."""
    low, high = years
    year = whole(query, "year", low=low, high=high)
    year_from = whole(query, "year_from", low=low, high=high)
    year_to = whole(query, "year_to", low=low, high=high)
    if year is None:
        return year_from, year_to
    if year_from is not None or year_to is not None:
        raise BadRequest("Give either year or year_from/year_to.", {"parameter": "year"})
    return year, year


def sort_order(query: Query, sorts: Collection[str], *, default: str = "title") -> tuple[str, bool]:
    """``(sort, descending)``: ``sort`` one of ``sorts`` (``default`` when absent), ``order`` asc or desc."""
    sort = one(query, "sort") or default
    if sort not in sorts:
        raise BadRequest(f"Unknown sort {sort[:40]!r}; sort by one of {_listed(sorts)}.",
                         {"parameter": "sort", "allowed": list(sorts)})
    order = one(query, "order") or ORDERS[0]
    if order not in ORDERS:
        raise BadRequest("order must be asc or desc.", {"parameter": "order"})
    return sort, order == "desc"


def paging(query: Query, *, max_per_page: int = MAX_PER_PAGE,
           default_per_page: int = DEFAULT_PER_PAGE) -> tuple[int, int]:
    """``(page, per_page)``: ``page`` from 1 (default 1), ``per_page`` from 1 to ``max_per_page``."""
    page = whole(query, "page", low=1, high=MAX_PAGE, default=1)
    per_page = whole(query, "per_page", low=1, high=max_per_page, default=default_per_page)
    return cast(int, page), cast(int, per_page)


def identify_query(query: Query, *, title: str, year: int | None,
                   years: tuple[int, int] = YEARS) -> tuple[str, int | None]:
    """``(text, year)`` to search the metadata providers with when a user identifies an item by hand.

    ``q`` (1 to :data:`MAX_QUERY` characters) and ``year`` are all the parameters taken. Without
    ``q`` (or with an empty one) the search is for the item's ``title`` and ``year``; with ``q``,
    for that text and only the ``year`` given.
    """
    only(query, ("q", "year"))
    asked = one(query, "q")
    text = (asked or title).strip()
    if not text or len(text) > MAX_QUERY:
        raise BadRequest(f"q must be 1 to {MAX_QUERY} characters.", {"parameter": "q"})
    given = whole(query, "year", low=years[0], high=years[1])
    return text, given if given is not None or asked else year


# --- a JSON body -------------------------------------------------------------------------------------


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` without a body. Invalid JSON is the server's 400 ``invalid_json``."""
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object.")
    return body


def edit_fields(body: Mapping[str, Any], editable: Collection[str]) -> None:
    """An edit (``PATCH``) holds at least one field, each of them ``editable``."""
    unknown = sorted(set(body) - set(editable))
    if unknown:
        raise BadRequest(f"{unknown[0][:40]!r} cannot be edited; editable: {_listed(sorted(editable))}.",
                         {"field": unknown[0][:40], "allowed": sorted(editable)})
    if not body:
        raise BadRequest("Send at least one field to edit.")


def flag(body: Mapping[str, Any], name: str, *, default: bool = False) -> bool:
    """A body that holds nothing but an optional boolean ``name`` (``{"replace": true}``)."""
    value = body.get(name, default)
    if set(body) - {name} or not isinstance(value, bool):
        raise BadRequest(f"The body may only hold {name} (true or false).", {"field": name})
    return value


def flag_schema(name: str) -> dict[str, Any]:
    """The ``request_schema`` (for OpenAPI) of a route whose body :func:`flag` reads."""
    return {"type": "object", "properties": {name: {"type": "boolean"}}}


def provider_pick(body: Mapping[str, Any], providers: Collection[str], *, kind: str,
                  item: str) -> tuple[str, str]:
    """``(provider, external_id)`` of a body naming a provider's item (identifying an item by hand).

    :param providers: the enabled providers of the content type, in the order to list them.
    :param kind: the content type as the error names it (``movie``: "the enabled movie providers").
    :param item: what the id is of, as the error names it (``movie``: "the provider's id of the movie").
    """
    if set(body) - {"provider", "external_id"}:
        raise BadRequest("The body holds provider and external_id only.")
    provider, external_id = body.get("provider"), body.get("external_id")
    if not isinstance(provider, str) or provider not in providers:
        raise BadRequest(f"provider must be one of the enabled {kind} providers: {_listed(providers)}.",
                         {"field": "provider", "allowed": list(providers)})
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not EXTERNAL_ID.match(external_id):
        raise BadRequest(f"external_id must be the provider's id of the {item}.", {"field": "external_id"})
    return provider, external_id


def provider_pick_schema() -> dict[str, Any]:
    """The ``request_schema`` (for OpenAPI) of a route whose body :func:`provider_pick` reads."""
    return {"type": "object", "required": ["provider", "external_id"],
            "properties": {"provider": {"type": "string"}, "external_id": {"type": "string"}}}


def text_field(field: str, value: Any, *, limit: int, nullable: bool = True) -> str | None:
    """Text of at most ``limit`` characters, stripped; blank is ``None``. Not ``nullable``: non-empty text."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or (not nullable and not value.strip()):
        raise BadRequest(f"{field} must be {'text or null' if nullable else 'non-empty text'}.", {"field": field})
    if len(value) > limit:
        raise BadRequest(f"{field} may have at most {limit} characters.", {"field": field})
    return value.strip() or None


def number_field(field: str, value: Any, low: float, high: float, *, whole: bool = True) -> Any:
    """``None``, or a number from ``low`` to ``high``; a whole one unless ``whole=False`` (never a boolean)."""
    if value is None:
        return None
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise BadRequest(f"{field} must be {kind} from {_number(low)} to {_number(high)}, or null.", {"field": field})
    return value


def date_field(field: str, value: Any) -> datetime.date | None:
    """``None``, or a date written ``YYYY-MM-DD``."""
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field} must be a date (YYYY-MM-DD) or null.", {"field": field}) from None


def language_field(field: str, value: Any) -> str | None:
    """``None``, or a language code (:data:`LANGUAGE`: ``en``, ``pt-BR``)."""
    if value is not None and (not isinstance(value, str) or not LANGUAGE.match(value)):
        raise BadRequest(f"{field} must be a language code (en, pt-BR) or null.", {"field": field})
    return value


def names_field(field: str, value: Any, *, max_names: int = MAX_NAMES, max_length: int = MAX_NAME) -> list[str]:
    """A list of at most ``max_names`` names, none blank or longer than ``max_length``; stripped."""
    if (not isinstance(value, list) or len(value) > max_names
            or any(not isinstance(v, str) or not v.strip() or len(v) > max_length for v in value)):
        raise BadRequest(f"{field} must be a list of at most {max_names} names.", {"field": field})
    return [v.strip() for v in value]


__all__ = [
    "DEFAULT_PER_PAGE",
    "EXTERNAL_ID",
    "LANGUAGE",
    "LIBRARY_ID",
    "MAX_NAME",
    "MAX_NAMES",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "MAX_QUERY",
    "ORDERS",
    "YEARS",
    "Query",
    "Request",
    "date_field",
    "edit_fields",
    "flag",
    "flag_schema",
    "identify_query",
    "json_body",
    "language_field",
    "libraries",
    "names",
    "names_field",
    "number_field",
    "one",
    "only",
    "paging",
    "provider_pick",
    "provider_pick_schema",
    "sort_order",
    "text",
    "text_field",
    "whole",
    "year_range",
]
