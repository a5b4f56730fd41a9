"""The authorizer every route passes: authenticate, then check the route's permission.

Deny by default: a route that is not ``public`` needs a caller (401 otherwise) whose roles
and credential scopes grant the route's permission (403 otherwise).

A public route works without credentials, and a credential that does not work (an expired
token sent to the login route...) is not used rather than refused; why it failed is kept
under ``AUTH_ERROR`` for handlers that need a caller after all
(:func:`~.principal.require_caller`).
A CSRF failure is never passed over: a cookie request on an unsafe method without the
right ``X-CSRF-Token`` answers 403 ``csrf_failed`` on every route.
"""

from __future__ import annotations

from aiohttp import web

from revenge_hookspecs.errors import ApiError
from revenge_hookspecs.types import PUBLIC

from ..http.routing import RouteEntry
from .authn import CSRF_FAILED
from .principal import AUTH_ERROR, PRINCIPAL
from .service import Identity

IDENTITY: web.AppKey[Identity] = web.AppKey("identity", Identity)


async def authorize(request: web.Request, entry: RouteEntry) -> None:
    identity = request.app[IDENTITY]
    if entry.permission == PUBLIC:
        # A stale token must not break a public route such as login; it just is not used.
        try:
            request[PRINCIPAL] = await identity.authn.authenticate(request)
        except ApiError as error:
            if error.code == CSRF_FAILED:
                raise
            request[PRINCIPAL] = None
            request[AUTH_ERROR] = error
        return
    principal = await identity.authn.authenticate(request)
    request[PRINCIPAL] = principal
    if principal is None:
        raise ApiError(401, "unauthorized", "This endpoint needs credentials: a bearer token, an API key "
                       "(X-API-Key) or a session cookie.", {"permission": entry.permission})
    if not await identity.rbac.allowed(principal, entry.permission):
        raise ApiError(403, "forbidden", "Your account or credential lacks the permission this endpoint needs.",
                       {"permission": entry.permission})


def current_principal(request: web.Request) -> object:
    """The authenticated caller of a non-public route (never ``None`` there)."""
    return request.get(PRINCIPAL)
