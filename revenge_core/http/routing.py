"""Routes: the core's, fixed at start, and the plugins', which come and go at runtime.

aiohttp freezes its router when the app starts, so plugin routes live in a router of their
own behind one catch-all under ``/api/v1``. It is rebuilt whenever the registry changes,
so a disabled plugin's routes answer 404 at once and come back when it is enabled.

Every route declares the permission it needs, or ``public``; the authorizer in
``app[AUTHORIZER]`` decides. Until an authentication provider is installed the default
authorizer denies every non-public route (deny by default).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError
from loguru import logger

from revenge_hookspecs.errors import ApiError
from revenge_hookspecs.types import PUBLIC, Route

from ..identity.rbac import PERMISSION
from ..plugins.host import API_PREFIX, PluginHost
from ..plugins.registry import Registry
from .keys import AUTHORIZER, ROUTE_INFO, ROUTE_LABEL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Authorizer = Callable[[web.Request, "RouteEntry"], Awaitable[None]]
#: The keyword arguments of :meth:`RouteTable.add` but ``app``: what a core route module lists in ``ROUTES``.
RouteDeclaration = dict[str, Any]


@attrs.frozen
class RouteEntry:
    """A route with its owner (``core`` or a plugin) and its full path."""

    owner: str
    route: Route
    full_path: str

    @property
    def permission(self) -> str:
        return self.route.permission


async def deny_unless_public(request: web.Request, entry: RouteEntry) -> None:
    """The default authorizer: nothing but public routes until authentication is set up."""
    if entry.permission != PUBLIC:
        raise ApiError(401, "unauthorized", "This endpoint needs credentials.",
                       {"permission": entry.permission})


async def authorize(request: web.Request, entry: RouteEntry) -> None:
    request[ROUTE_INFO] = entry
    authorizer: Authorizer = request.app.get(AUTHORIZER) or deny_unless_public
    await authorizer(request, entry)


class RouteTable:
    """The core's routes, registered with their permission and OpenAPI facts."""

    def __init__(self) -> None:
        self.entries: list[RouteEntry] = []
        self._by_route: dict[Any, RouteEntry] = {}

    def add(self, app: web.Application, method: str, path: str, handler: Handler, *, permission: str,
            summary: str = "", description: str = "", tags: tuple[str, ...] = (),
            request_schema: Mapping[str, Any] | None = None,
            response_schema: Mapping[str, Any] | None = None) -> None:
        if permission != PUBLIC and not PERMISSION.fullmatch(permission):
            raise ValueError(f"{method} {path}: {permission!r} is neither public nor a permission (area:action)")
        route = Route(method=method, path=path, handler=handler, permission=permission, summary=summary,
                      description=description, tags=tags, request_schema=request_schema,
                      response_schema=response_schema)
        aio_route = app.router.add_route(method, path, handler)
        entry = RouteEntry("core", route, path)
        self.entries.append(entry)
        self._by_route[aio_route] = entry

    def add_all(self, app: web.Application, declarations: Iterable[RouteDeclaration]) -> None:
        """Add every declaration (see :func:`declare`) in order."""
        for declaration in declarations:
            self.add(app, **declaration)

    def entry_for(self, aio_route: Any) -> RouteEntry | None:
        return self._by_route.get(aio_route)


def declare(prefix: str = "", tags: tuple[str, ...] = (), *,
            describe: bool = False) -> Callable[..., RouteDeclaration]:
    """A builder of a core route module's declarations, for :meth:`RouteTable.add_all`.

    ``route(method, path, handler, permission, summary="", **extra)`` declares ``prefix + path``
    with ``tags`` (unless ``extra`` names its own); ``extra`` takes the other keywords of
    :meth:`RouteTable.add`. With ``describe`` a route without a ``description`` is described by its
    handler's docstring (opt-in: other modules' docstrings are for developers, not the API document).
    """
    default_tags = tags

    def route(method: str, path: str, handler: Handler, permission: str, summary: str = "", *,
              tags: tuple[str, ...] | None = None, description: str | None = None,
              **extra: Any) -> RouteDeclaration:
        if description is None:
            description = (inspect.getdoc(handler) or "") if describe else ""
        return {"method": method, "path": prefix + path, "handler": handler, "permission": permission,
                "summary": summary, "description": description,
                "tags": default_tags if tags is None else tags, **extra}

    return route


@web.middleware
async def gate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authorize core routes; plugin routes are authorized by the plugin router."""
    from .keys import ROUTES

    entry = request.app[ROUTES].entry_for(request.match_info.route)
    if entry is not None:
        request[ROUTE_LABEL] = entry.full_path
        await authorize(request, entry)
    return await handler(request)


class PluginRouter:
    """Resolves requests against the routes of currently enabled plugins."""

    def __init__(self, registry: Registry, host: PluginHost):
        self.registry = registry
        self.host = host
        self._version = -1
        self._router = web.UrlDispatcher()
        self._entries: dict[Any, RouteEntry] = {}

    def entries(self) -> list[RouteEntry]:
        return [
            RouteEntry(plugin, route, API_PREFIX + route.path)
            for plugin, route in sorted(self.registry.items("routes"), key=lambda pr: pr[1].path)
        ]

    def _rebuild(self) -> None:
        version = self.registry.version
        router = web.UrlDispatcher()
        entries: dict[Any, RouteEntry] = {}
        for entry in self.entries():
            try:
                aio_route = router.add_route(entry.route.method, entry.full_path,
                                             self._guard(entry))
            except (ValueError, RuntimeError) as exc:
                logger.error("plugin {} route {} {} is invalid: {}", entry.owner, entry.route.method,
                             entry.full_path, exc)
                continue
            entries[aio_route] = entry
        self._router, self._entries, self._version = router, entries, version

    def _guard(self, entry: RouteEntry) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await entry.route.handler(request)
            except (ApiError, web.HTTPException):
                raise
            except Exception as exc:
                self.host.record_runtime_error(entry.owner, exc)
                raise

        return guarded

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if self._version != self.registry.version:
            self._rebuild()
        match_info = await self._router.resolve(request)
        if isinstance(match_info, MatchInfoError):
            raise match_info.http_exception
        entry = self._entries[match_info.route]
        request[ROUTE_LABEL] = entry.full_path
        await authorize(request, entry)
        match_info.add_app(request.app)
        match_info.freeze()
        # The plugin's handler reads its own placeholders from request.match_info, which
        # aiohttp caches on first access (the gate middleware already looked at it).
        request._match_info = match_info
        request._cache.pop("match_info", None)
        return await match_info.handler(request)
