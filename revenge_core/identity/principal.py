"""Who is calling: the result of authentication, attached to each request."""

from __future__ import annotations

import attrs
from aiohttp import web

from revenge_hookspecs.errors import ApiError

SCOPES = frozenset({"read", "write", "admin", "legacy:read"})


@attrs.frozen
class Principal:
    """An authenticated caller.

    :param user_id: the user.
    :param username: for logs and activity.
    :param roles: casbin roles of the user (``admin``, ``moderator``, ``user``, ``guest``, custom).
    :param scopes: what the credential may do; interactive sessions carry every scope, an API
        key only the scopes it was created with.
    :param session_id: the session behind a token or cookie; ``None`` for API keys.
    :param via: ``bearer``, ``cookie``, ``api_key`` or ``signed_url``.
    """

    user_id: int
    username: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = SCOPES
    session_id: str | None = None
    via: str = "bearer"


PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal", object)
# On a public route, why the credential the request carried did not authenticate (absent when
# it carried none or it worked). Handlers that need a caller after all answer with it.
AUTH_ERROR: web.RequestKey[ApiError] = web.RequestKey("auth_error", ApiError)


def require_caller(request: web.Request, message: str, details: dict[str, str] | None = None) -> Principal:
    """The caller of a public route that needs one after all (setup once an admin exists).

    Without one: the error of the credential the request carried (``invalid_token``,
    ``invalid_api_key``...), so a client knows to refresh rather than to log in, or else
    401 ``unauthorized`` with ``message``.
    """
    principal = request.get(PRINCIPAL)
    if isinstance(principal, Principal):
        return principal
    raise request.get(AUTH_ERROR) or ApiError(401, "unauthorized", message, details or {})
