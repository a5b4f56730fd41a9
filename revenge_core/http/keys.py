"""Typed keys for what the application object and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from ..config import Config
    from ..plugins.host import PluginHost
    from ..services import Services
    from .metrics import Metrics
    from .routing import RouteTable

CONFIG: web.AppKey[Config] = web.AppKey("config")
HOST: web.AppKey[PluginHost] = web.AppKey("host")
SERVICES: web.AppKey[Services] = web.AppKey("services")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
ROUTES: web.AppKey[RouteTable] = web.AppKey("routes")
STATE: web.AppKey[dict[str, Any]] = web.AppKey("state")
AUTHORIZER: web.AppKey[Any] = web.AppKey("authorizer")

# Request-scoped values (request[...]).
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
ROUTE_LABEL: web.RequestKey[str] = web.RequestKey("route_label", str)
ROUTE_INFO: web.RequestKey[Any] = web.RequestKey("route_info", object)
