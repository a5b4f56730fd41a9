"""The library API: /api/v1/libraries (libraries, scans, files) and /api/v1/items/{key}/state.

Marking a series or a season watched (or unwatched) marks every episode below it that the
caller may see, in one transaction (see :meth:`ItemRegistry.set_state`).

What a caller may not see answers 404, exactly like what does not exist: a library needs a
grant (``view`` to read it, ``manage`` to scan or change it; admins see all), an item needs a
grant on it or on its library. Folder paths, storage and settings are shown only to callers
who may manage the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from loguru import logger

from revenge_hookspecs.errors import BadRequest, NotFound
from revenge_hookspecs.media import parse_item_key

from ..identity.http.access import _body, _principal, _query
from ..library.service import library_dict
from ..library.validation import FIELDS, LANGUAGE, MODES
from .home import visibility_of
from .keys import SERVICES
from .routing import RouteDeclaration, declare

PREFIX = "/api/v1"
TAGS = ("libraries",)
PUBLIC_FIELDS = ("id", "name", "content_type", "enabled", "languages", "files", "items", "last_scan")
MANAGER_RUN_FIELDS = ("paths", "requested_by", "error")


def _services(request: web.Request) -> Any:
    return request.app[SERVICES]


def _int(query: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    text = query.get(key, "")
    if text == "":
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{key} is a whole number from {low} to {high}.", {"key": key})
    return int(text)


async def _library(request: web.Request, permission: str = "view") -> Any:
    """The library of the path, if the caller may ``permission`` it; else 404."""
    services = _services(request)
    library = await services.library.get(request.match_info["library_id"])
    if not await services.identity.grants.can(_principal(request), permission, "library", library.id):
        raise NotFound(f"There is no library {library.id}.")
    return library


async def _record(request: web.Request, action: str, library_id: str, **fields: Any) -> None:
    try:
        await _services(request).identity.activity.record(action, request=request, target_type="library",
                                                          target_id=library_id, **fields)
    except Exception as exc:  # the change is made; a missing log line must not undo it
        logger.opt(exception=exc).error("could not record the activity {}", action)


def _run_shown(run: Mapping[str, Any] | None, manager: bool) -> Mapping[str, Any] | None:
    if run is None or manager:
        return run
    return {key: value for key, value in run.items() if key not in MANAGER_RUN_FIELDS}


def _shown(library: Any, summary: Mapping[str, Any] | None, manager: bool) -> dict[str, Any]:
    """A library as the caller may see it: folders, storage and settings only for its managers."""
    body = library_dict(library, summary)
    if not manager:
        body = {key: value for key, value in body.items() if key in PUBLIC_FIELDS}
        body["last_scan"] = _run_shown(body.get("last_scan"), manager)
    return body


async def _manages(request: web.Request, library_id: str) -> bool:
    return await _services(request).identity.grants.can(_principal(request), "manage", "library", library_id)


# --- libraries -----------------------------------------------------------------------------------


async def list_libraries(request: web.Request) -> web.Response:
    _query(request, ())
    services = _services(request)
    principal = _principal(request)
    visible = await services.identity.grants.visible_library_ids(principal, "view")
    managed = await services.identity.grants.visible_library_ids(principal, "manage")
    libraries = [library for library in await services.library.list() if library.id in visible]
    summaries = await services.library.summaries(library.id for library in libraries)
    return web.json_response({"items": [_shown(library, summaries[library.id], library.id in managed)
                                        for library in libraries]})


async def create_library(request: web.Request) -> web.Response:
    body = await _body(request, FIELDS)
    library = await _services(request).library.create(body)
    shown = library_dict(library)
    await _record(request, "library.create", library.id, after=shown)
    return web.json_response(shown, status=201)


async def get_library(request: web.Request) -> web.Response:
    _query(request, ())
    library = await _library(request)
    summary = (await _services(request).library.summaries([library.id]))[library.id]
    return web.json_response(_shown(library, summary, await _manages(request, library.id)))


async def update_library(request: web.Request) -> web.Response:
    library = await _library(request, "manage")
    body = await _body(request, FIELDS)
    if not body:
        raise BadRequest(f"Send at least one of: {', '.join(FIELDS)}.")
    before, after = await _services(request).library.update(library.id, body)
    if before != after:
        await _record(request, "library.update", library.id, before=library_dict(before), after=library_dict(after))
    return web.json_response(library_dict(after))


async def delete_library(request: web.Request) -> web.Response:
    library = await _services(request).library.delete(request.match_info["library_id"])
    await _record(request, "library.delete", library.id, before=library_dict(library))
    return web.Response(status=204)


# --- scans and files -----------------------------------------------------------------------------


async def start_scan(request: web.Request) -> web.Response:
    library = await _library(request, "manage")
    body = await _body(request, ("mode", "paths")) if request.can_read_body else {}
    mode = body.get("mode", "incremental")
    if mode not in MODES:
        raise BadRequest(f"mode is one of: {', '.join(MODES)}.", {"key": "mode", "allowed": list(MODES)})
    paths = body.get("paths")
    if paths is not None and (not isinstance(paths, list) or not paths or len(paths) > 50):
        raise BadRequest("paths is a list of 1 to 50 folders inside the library.", {"key": "paths"})
    run, created = await _services(request).library.request_scan(
        library.id, mode, paths, requested_by=f"user:{_principal(request).username}")
    return web.json_response({**run, "created": created}, status=202)


async def list_scans(request: web.Request) -> web.Response:
    query = _query(request, ("limit",))
    library = await _library(request)
    runs = await _services(request).library.scan_runs(library.id, _int(query, "limit", 20, 1, 100))
    manager = await _manages(request, library.id)
    return web.json_response({"items": [_run_shown(run, manager) for run in runs]})


async def get_scan(request: web.Request) -> web.Response:
    _query(request, ())
    library = await _library(request)
    run = await _services(request).library.scan_run(request.match_info["run_id"], library.id)
    return web.json_response(_run_shown(run, await _manages(request, library.id)))


async def list_files(request: web.Request) -> web.Response:
    query = _query(request, ("state", "limit", "offset"))
    library = await _library(request, "manage")
    page = await _services(request).library.file_page(
        library.id, state=query.get("state") or "all", limit=_int(query, "limit", 100, 1, 500),
        offset=_int(query, "offset", 0, 0, 10**9))
    return web.json_response(page)


# --- users' state of items -------------------------------------------------------------------------


async def _visible_item(request: web.Request) -> str:
    key = request.match_info["key"]
    try:
        parse_item_key(key)
    except ValueError:
        raise BadRequest("An item key looks like 'movie:42': a type, ':' and an id.", {"key": "key"}) from None
    services = _services(request)
    item = await services.library.items.get(key)
    if item is None or not await services.identity.grants.can(_principal(request), "view", "item", key,
                                                               library_id=item.library_id):
        raise NotFound(f"There is no item {key}.")
    return key


async def get_item_state(request: web.Request) -> web.Response:
    _query(request, ())
    key = await _visible_item(request)
    return web.json_response(await _services(request).library.items.state(_principal(request).user_id, key))


async def put_item_state(request: web.Request) -> web.Response:
    key = await _visible_item(request)
    body = await _body(request, ("favourite", "watched", "position_seconds", "play_count"))
    # watched on a series or season reaches the episodes below it that the caller may see.
    state = await _services(request).library.items.set_state(_principal(request).user_id, key, body,
                                                              visibility=await visibility_of(request))
    return web.json_response(state)


# --- declarations ----------------------------------------------------------------------------------

_STRINGS = {"type": "array", "items": {"type": "string"}}
_LIBRARY_BODY = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "content_type": {"type": "string"},
        "paths": {**_STRINGS, "minItems": 1, "maxItems": 32},
        "storage": {"type": "string", "default": "localfs"},
        "enabled": {"type": "boolean", "default": True},
        "scan_on_startup": {"type": "boolean", "default": False},
        "realtime": {"type": "boolean", "default": False},
        "languages": {"type": "array", "items": {"type": "string", "pattern": LANGUAGE.pattern}, "maxItems": 10},
        "providers": {**_STRINGS, "maxItems": 20},
        "settings": {"type": "object"},
    },
}
_SCAN_BODY = {"type": "object", "additionalProperties": False,
              "properties": {"mode": {"enum": list(MODES), "default": "incremental"},
                             "paths": {**_STRINGS, "minItems": 1, "maxItems": 50}}}
_STATE_BODY = {"type": "object", "additionalProperties": False, "minProperties": 1,
               "properties": {"favourite": {"type": "boolean"}, "watched": {"type": "boolean"},
                              "position_seconds": {"type": "number", "minimum": 0},
                              "play_count": {"type": "integer", "minimum": 0}}}


_route = declare(PREFIX, TAGS)

ROUTES: list[RouteDeclaration] = [
    _route("GET", "/libraries", list_libraries, "library:view", "Libraries the caller may see"),
    _route("POST", "/libraries", create_library, "admin:libraries", "Create a library",
           request_schema={**_LIBRARY_BODY, "required": ["name", "content_type", "paths"]}),
    _route("GET", "/libraries/{library_id}", get_library, "library:view", "A library with its counts and last scan"),
    _route("PATCH", "/libraries/{library_id}", update_library, "library:manage", "Change a library",
           request_schema=_LIBRARY_BODY),
    _route("DELETE", "/libraries/{library_id}", delete_library, "admin:libraries",
           "Delete a library with its files, items and users' state on them"),
    _route("POST", "/libraries/{library_id}/scan", start_scan, "library:manage",
           "Queue a scan (or join the one queued or running); answers 202 with the run",
           request_schema=_SCAN_BODY),
    _route("GET", "/libraries/{library_id}/scans", list_scans, "library:view", "Recent scans, newest first"),
    _route("GET", "/libraries/{library_id}/scans/{run_id}", get_scan, "library:view", "One scan and its progress"),
    _route("GET", "/libraries/{library_id}/files", list_files, "library:manage",
           "Tracked files with their item, error and missing state"),
    _route("GET", "/items/{key}/state", get_item_state, "library:view",
           "The caller's favourite, watched and progress on an item"),
    _route("PUT", "/items/{key}/state", put_item_state, "self:item_state",
           "Change the caller's favourite, watched and progress on an item; watched on a series or season "
           "applies to every episode below it", request_schema=_STATE_BODY),
]

__all__ = ["ROUTES"]
