"""The home screen and watch history API: /api/v1/home and /api/v1/me/history.

Both answer for the caller only and only with what they may see right now (libraries granted
to them and items granted one by one; admins see all): an item whose grant was revoked drops
out of home and history alike, though its history rows stay for when access comes back.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from revenge_hookspecs.errors import BadRequest, NotFound

from ..identity.grants import ALL
from ..identity.http.access import _principal, _query
from ..library.home import Home, Visibility
from .keys import SERVICES
from .routing import RouteDeclaration, declare

PREFIX = "/api/v1"
TAGS = ("home",)
HOME_LIMIT = (12, 1, 50)
HISTORY_LIMIT = (50, 1, 200)
MAX_OFFSET = 10**9


def _int(query: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    text = query.get(key, "")
    if text == "":
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 10 or not low <= int(text) <= high:
        raise BadRequest(f"{key} is a whole number from {low} to {high}.", {"key": key})
    return int(text)


async def visibility_of(request: web.Request) -> Visibility:
    """What the caller may view: their granted libraries and items, or everything for an admin."""
    grants = request.app[SERVICES].identity.grants
    principal = _principal(request)
    libraries = await grants.visible_library_ids(principal, "view")
    if libraries is ALL:
        return Visibility.of((), (), everything=True)
    items = await grants.visible_item_ids(principal, "view")
    return Visibility.of(libraries, () if items is ALL else items)


def _home(request: web.Request) -> Home:
    return Home(request.app[SERVICES].library)


async def get_home(request: web.Request) -> web.Response:
    query = _query(request, ("limit",))
    limit = _int(query, "limit", *HOME_LIMIT)
    screen = await _home(request).screen(_principal(request).user_id, await visibility_of(request), limit)
    return web.json_response(screen)


async def list_history(request: web.Request) -> web.Response:
    query = _query(request, ("limit", "offset"))
    limit = _int(query, "limit", *HISTORY_LIMIT)
    offset = _int(query, "offset", 0, 0, MAX_OFFSET)
    page = await _home(request).history(_principal(request).user_id, await visibility_of(request), limit, offset)
    return web.json_response(page)


async def delete_history(request: web.Request) -> web.Response:
    _query(request, ())
    text = request.match_info["history_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) == 0:
        raise NotFound(f"There is no history entry {text[:40]!r}.")
    await _home(request).forget(_principal(request).user_id, int(text))
    return web.Response(status=204)


_ITEM_STATE = {"type": "object", "properties": {
    "position_seconds": {"type": "number"}, "duration_seconds": {"type": ["number", "null"]},
    "progress": {"type": "number", "minimum": 0, "maximum": 1}, "watched": {"type": "boolean"},
    "favourite": {"type": "boolean"}, "play_count": {"type": "integer"},
    "last_played_at": {"type": ["string", "null"], "format": "date-time"}}}
_NULLABLE = {"type": ["string", "null"]}
_ITEM_CONTEXT = {
    "key": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"},
    "year": {"type": ["integer", "null"]}, "library_id": {"type": "string"},
    "parent_key": _NULLABLE, "parent_title": _NULLABLE, "grandparent_key": _NULLABLE, "grandparent_title": _NULLABLE,
    "sort_index": {"type": ["integer", "null"]}, "parent_sort_index": {"type": ["integer", "null"]},
    "added_at": {"type": "string", "format": "date-time"},
}
_HOME_ITEM = {"type": "object", "properties": {**_ITEM_CONTEXT, "state": _ITEM_STATE,
                                               "new_episodes": {"type": "integer"}}}
_HOME = {"type": "object", "properties": {
    "continue_watching": {"type": "array", "items": _HOME_ITEM},
    "next_up": {"type": "array", "items": _HOME_ITEM},
    "recently_added": {"type": "array", "items": {"type": "object", "properties": {
        "library": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                     "content_type": {"type": "string"}}},
        "items": {"type": "array", "items": _HOME_ITEM}}}},
}}

_route = declare(PREFIX, TAGS)

ROUTES: list[RouteDeclaration] = [
    _route("GET", "/home", get_home, "library:view",
           "Continue watching, next up and recently added per library, of what the caller may see "
           "(limit: 1 to 50 per list, default 12)", response_schema=_HOME),
    _route("GET", "/me/history", list_history, "library:view",
           "The caller's playbacks, newest first, of items they may still see (limit 1 to 200, offset)"),
    _route("DELETE", "/me/history/{history_id}", delete_history, "self:item_state",
           "Delete one of the caller's history entries"),
]

__all__ = ["ROUTES", "visibility_of"]
