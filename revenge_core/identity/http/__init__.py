"""The identity API: /api/v1/auth, /api/v1/users, /api/v1/me, /api/v1/admin, /api/v1/setup.

Each of :mod:`.auth`, :mod:`.access` and :mod:`.admin` declares its routes in ``ROUTES``;
:data:`revenge_core.http.app.ROUTE_MODULES` mounts them with the other core routes.
"""
