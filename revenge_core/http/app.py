"""The aiohttp application factory and the server's lifespan."""

from __future__ import annotations

import asyncio
import datetime
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any

from aiohttp import web
from loguru import logger

from revenge_hookspecs.types import PUBLIC

from .. import __version__
from ..config import Config
from ..db.migrate import core_set, upgrade
from ..identity.http import access, admin, auth
from ..plugins.host import API_PREFIX, PluginHost
from ..services import Services
from . import health, home, images, libraries, playback, search
from .errors import error_middleware
from .keys import AUTHORIZER, CONFIG, HOST, METRICS, REQUEST_ID, ROUTE_LABEL, ROUTES, SERVICES, STATE
from .metrics import Metrics, metrics_handler, metrics_middleware
from .openapi import docs_handler, openapi_handler
from .routing import PluginRouter, RouteDeclaration, RouteTable, declare, gate_middleware

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CLIENT_MAX_SIZE = 16 * 1024 * 1024


@web.middleware
async def request_context_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give every request an id (kept from X-Request-ID when well-formed) and log it."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        if request.app[CONFIG].logging.access_log:
            logger.bind(access=True, request_id=request_id).info(
                '{} "{} {}" {} {:.1f}ms',
                request.remote, request.method, request.rel_url.path, status,
                (time.perf_counter() - started) * 1000,
            )


async def system_info(request: web.Request) -> web.Response:
    """Server name and version, for clients deciding what they can use."""
    return web.json_response({"name": "Revenge", "version": __version__, "api": API_PREFIX})


async def plugin_catch_all(request: web.Request) -> web.StreamResponse:
    router: PluginRouter | None = request.app[STATE].get("plugin_router")
    if router is None:
        raise web.HTTPServiceUnavailable(text="The server is still starting.")
    return await router.dispatch(request)


_health = declare(tags=("health",))
_docs = declare(tags=("docs",))
_system = declare(API_PREFIX, ("system",))

#: The server's own routes: probes, metrics, the API document and the system info.
SERVER_ROUTES: list[RouteDeclaration] = [
    _health("GET", "/health/live", health.live, PUBLIC, "Liveness probe"),
    _health("GET", "/health/ready", health.ready, PUBLIC, "Readiness probe: database, cache, search and jobs"),
    _health("GET", "/health/startup", health.startup, PUBLIC, "Startup probe"),
    _health("GET", "/metrics", metrics_handler, PUBLIC, "Prometheus metrics"),
    _docs("GET", "/api/openapi.json", openapi_handler, PUBLIC, "OpenAPI 3.1 document"),
    _docs("GET", "/api/docs", docs_handler, PUBLIC, "API documentation page"),
    _system("GET", "/system/info", system_info, PUBLIC, "Server name and version"),
]

#: Every other core module declaring routes in ``ROUTES``; mounted after :data:`SERVER_ROUTES`, in this
#: order (which is the API document's).
ROUTE_MODULES: tuple[ModuleType, ...] = (search, auth, access, admin, libraries, home, images, playback)


def create_app(config: Config, *, plugins: Mapping[str, Any] | None = None,
               environ: Mapping[str, str] | None = None,
               sync_interval: float | None = None) -> web.Application:
    """Build the application.

    :param plugins: name -> plugin object to use instead of entry-point discovery (tests
        build an app with exactly the plugins they need).
    :param sync_interval: seconds between reads of the shared plugin state.
    """
    app = web.Application(
        middlewares=[request_context_middleware, metrics_middleware, error_middleware, gate_middleware],
        client_max_size=CLIENT_MAX_SIZE,
    )
    app[CONFIG] = config
    app[HOST] = PluginHost(config, plugins=plugins, environ=environ)
    app[METRICS] = Metrics()
    app[STATE] = {"started": False, "sync_interval": sync_interval}
    table = RouteTable()
    app[ROUTES] = table
    for declarations in (SERVER_ROUTES, *(module.ROUTES for module in ROUTE_MODULES)):
        table.add_all(app, declarations)
    from ..identity.authorizer import authorize

    app[AUTHORIZER] = authorize
    app[HOST].reserved_routes = {
        f"{entry.route.method} {entry.full_path.removeprefix(API_PREFIX)}"
        for entry in table.entries if entry.full_path.startswith(API_PREFIX + "/")
    }
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        app.router.add_route(method, API_PREFIX + "/{tail:.*}", plugin_catch_all)
    # Checked before the lifespan opens anything, so a refusal leaves nothing running.
    app.on_startup.insert(0, _check_every_route_declares_a_permission)
    app.cleanup_ctx.append(lifespan)
    return app


async def _check_every_route_declares_a_permission(app: web.Application) -> None:
    """Refuse to start with a route that bypassed the route table (and so its permission)."""
    table = app[ROUTES]
    undeclared = [f"{route.method} {route.resource.canonical}" for route in app.router.routes()
                  if route.handler is not plugin_catch_all and table.entry_for(route) is None]
    if undeclared:
        raise RuntimeError("routes without a declared permission (add them through the route table): "
                           + ", ".join(undeclared))


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    """Open services, migrate, start plugins and jobs; undo it all on the way out."""
    config = app[CONFIG]
    host = app[HOST]
    state = app[STATE]
    started = time.perf_counter()
    services = Services.build(config, context_for=host.context_for, is_enabled=host.is_enabled,
                              on_plugin_error=host.record_runtime_error)
    app[SERVICES] = services
    services.metadata.metrics = app[METRICS]
    from ..identity.authorizer import IDENTITY

    app[IDENTITY] = services.identity
    host.bind(services)
    try:
        applied = await services.db.run(upgrade, services.db.database, core_set(), config=config)
        if applied:
            logger.info("core migrations applied: {}", ", ".join(applied))
        await services.start()
        identity = app[IDENTITY]
        identity.activity.install_jobs()
        services.library.install_jobs()
        # Fail at start, not at the first login, when the signing secret cannot be read or made.
        _ = identity.tokens.secret
        host.discover()
        await host.start()
        state["plugin_router"] = PluginRouter(services.registry, host)
        services.jobs.loop = asyncio.get_running_loop()
        if config.jobs.embedded_consumer:
            services.jobs.start_consumer(config.jobs.workers)
        host.start_sync(state.get("sync_interval") or 1.0)
        await services.library.start(host)
        await services.playback.start()
        if services.db.driver == "postgres":
            await services.db.run(services.db.database.warm)
        state["db_upkeep"] = asyncio.get_running_loop().create_task(services.db.maintenance_loop())
    except BaseException:
        await _close_services(services)
        raise
    state["started"] = True
    state["started_at"] = datetime.datetime.now(datetime.UTC).isoformat()
    logger.info("Revenge {} ready in {:.2f}s on {} ({} cache, {} search, {} jobs)", __version__,
                time.perf_counter() - started, services.db.description, services.cache.backend,
                services.search.backend, services.jobs.backend)
    yield
    state["started"] = False
    state["db_upkeep"].cancel()
    await services.playback.stop()
    await services.library.stop()
    # Jobs finish (or are queued again) while their plugins are still there to run them.
    if config.jobs.embedded_consumer:
        cancelled = await asyncio.to_thread(services.jobs.stop_consumer, True, config.jobs.shutdown_timeout)
        if cancelled:
            logger.warning("jobs cancelled at shutdown and queued again: {}", ", ".join(cancelled))
    await host.stop()
    await _close_services(services)


async def _close_services(services: Services) -> None:
    try:
        await services.close()
    except Exception as exc:
        logger.opt(exception=exc).error("error while closing services")


__all__ = ["ROUTE_LABEL", "create_app", "lifespan"]
