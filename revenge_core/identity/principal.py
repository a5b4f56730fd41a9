"""Who is calling: the result of authentication, attached to each request."""

from __future__ import annotations

import attrs
from aiohttp import web

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
    :param via: ``bearer``, ``cookie`` or ``api_key``.
    """

    user_id: int
    username: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = SCOPES
    session_id: str | None = None
    via: str = "bearer"


PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal", object)
