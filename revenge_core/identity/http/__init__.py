"""The identity API: /api/v1/auth, /api/v1/users, /api/v1/me, /api/v1/admin, /api/v1/setup."""

from __future__ import annotations

from aiohttp import web

from ...http.routing import RouteTable


def install_routes(app: web.Application, table: RouteTable) -> None:
    from . import access, admin, auth

    for module in (auth, access, admin):
        for declaration in module.ROUTES:
            table.add(app, **declaration)
