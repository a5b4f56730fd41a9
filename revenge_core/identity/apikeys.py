"""API keys: ``rv_`` plus a random secret, shown once, stored as a SHA-256 digest.

A key carries scopes (``read``, ``write``, ``admin``, ``legacy:read``) chosen at creation,
never more than the owner's roles allow, and is checked again on each use against what the
owner may do now. The first eight characters after ``rv_`` are kept as a prefix, so a user
can tell their keys apart without the database ever holding a usable key.
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from revenge_hookspecs.db import is_sqlite
from revenge_hookspecs.errors import ApiError, BadRequest, NotFound

from ..db.models import utcnow
from .models import ApiKey, User
from .principal import SCOPES, Principal
from .sessions import iso
from .tokens import digest, record, write_transaction

if TYPE_CHECKING:
    from aiohttp import web

    from .service import Identity

KEY_PREFIX = "rv_"
PREFIX_LENGTH = 8
_KEY = re.compile(r"^rv_[A-Za-z0-9_-]{43}$")
LAST_USED_INTERVAL = datetime.timedelta(seconds=60)


def invalid_key() -> ApiError:
    return ApiError(401, "invalid_api_key", "The API key is invalid, expired or revoked.")


def key_as_dict(row: ApiKey) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": sorted(s for s in row.scopes.split(",") if s),
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "last_used_at": iso(row.last_used_at),
        "expired": row.expires_at is not None and row.expires_at <= now,
    }


def parse_expiry(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("expires_at must be an ISO 8601 datetime, e.g. 2030-01-31T12:00:00Z.",
                         {"key": "expires_at"})
    try:
        when = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("expires_at must be an ISO 8601 datetime, e.g. 2030-01-31T12:00:00Z.",
                         {"key": "expires_at"}) from None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    if when <= utcnow():
        raise BadRequest("expires_at must be in the future.", {"key": "expires_at"})
    return when


class ApiKeys:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db
        self.config = identity.config.auth

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    async def create(self, user_id: int, *, name: Any, scopes: Any, expires_at: Any = None,
                     request: web.BaseRequest | None = None) -> dict[str, Any]:
        """Create a key; the result holds the key itself under ``key``, the only time it is shown.

        :raises ApiError: 400 for a bad name, scope or expiry; 403 ``scope_not_allowed`` for a
            scope the user's roles do not grant; 409 ``too_many_api_keys`` at the per-user limit.
        """
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
            raise BadRequest("name must be 1 to 128 characters.", {"key": "name"})
        if (not isinstance(scopes, list) or not scopes
                or not all(isinstance(s, str) and s in SCOPES for s in scopes)):
            raise BadRequest(f"scopes must be a non-empty list of: {', '.join(sorted(SCOPES))}.",
                             {"key": "scopes", "allowed": sorted(SCOPES)})
        wanted = frozenset(scopes)
        allowed = frozenset(await self.identity.rbac.allowed_scopes(user_id))
        if not wanted <= allowed:
            raise ApiError(403, "scope_not_allowed", "Your roles do not allow a key with these scopes.",
                           {"not_allowed": sorted(wanted - allowed), "allowed": sorted(allowed)})
        expiry = parse_expiry(expires_at)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        limit = self.config.max_api_keys_per_user
        database = self.db.database
        clean_name = name.strip()

        def create() -> ApiKey | None:
            with write_transaction(database):
                if not is_sqlite(database):
                    list(User.select(User.id).where(User.id == user_id).for_update())
                now = utcnow()
                live = ApiKey.select().where(
                    ApiKey.user == user_id, ApiKey.revoked_at.is_null(),
                    ApiKey.expires_at.is_null() | (ApiKey.expires_at > now)).count()
                if live >= limit:
                    return None
                return ApiKey.create(user=user_id, name=clean_name, prefix=key[3:3 + PREFIX_LENGTH],
                                     key_hash=digest(key), scopes=",".join(sorted(wanted)),
                                     created_at=now, expires_at=expiry)

        row = await self._run(create)
        if row is None:
            raise ApiError(409, "too_many_api_keys",
                           f"You already have {limit} active API keys; revoke one first.", {"limit": limit})
        await record(self.identity, "apikey.create", request=request, actor_id=user_id, target_type="api_key",
                     target_id=row.id, after={"name": row.name, "prefix": row.prefix, "scopes": sorted(wanted),
                                              "expires_at": iso(expiry)})
        return {**key_as_dict(row), "key": key}

    async def active(self, user_id: int) -> list[dict[str, Any]]:
        """The user's keys that are not revoked (expired ones included, marked), newest first."""
        def read() -> list[dict[str, Any]]:
            rows = (ApiKey.select().where(ApiKey.user == user_id, ApiKey.revoked_at.is_null())
                    .order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))
            return [key_as_dict(row) for row in rows]

        return await self._run(read)

    async def revoke(self, user_id: int, key_id: Any, *, request: web.BaseRequest | None = None) -> None:
        try:
            key_id = int(key_id)
        except (TypeError, ValueError):
            raise NotFound("There is no such API key.") from None

        def revoke() -> ApiKey | None:
            row = ApiKey.get_or_none(ApiKey.id == key_id, ApiKey.user == user_id, ApiKey.revoked_at.is_null())
            if row is None:
                return None
            ApiKey.update(revoked_at=utcnow()).where(ApiKey.id == key_id).execute()
            return row

        row = await self._run(revoke)
        if row is None:
            raise NotFound("There is no such API key.")
        await record(self.identity, "apikey.revoke", request=request, target_type="api_key", target_id=key_id,
                     before={"name": row.name, "prefix": row.prefix})

    async def authenticate(self, raw: Any) -> Principal:
        """The principal behind a key; 401 ``invalid_api_key`` when it does not work."""
        if not isinstance(raw, str) or not _KEY.match(raw):
            raise invalid_key()
        key_hash = digest(raw)

        def lookup() -> tuple[int, str, frozenset[str]] | None:
            row = (ApiKey.select(ApiKey, User).join(User).where(ApiKey.key_hash == key_hash).first())
            now = utcnow()
            if (row is None or row.revoked_at is not None or not row.user.enabled
                    or (row.expires_at is not None and row.expires_at <= now)):
                return None
            if row.last_used_at is None or now - row.last_used_at >= LAST_USED_INTERVAL:
                ApiKey.update(last_used_at=now).where(ApiKey.id == row.id).execute()
            return row.user.id, row.user.username, frozenset(s for s in row.scopes.split(",") if s)

        found = await self._run(lookup)
        if found is None:
            raise invalid_key()
        user_id, username, scopes = found
        roles = frozenset(await self.identity.rbac.roles_of(user_id))
        # Roles may have shrunk since the key was made; it never does more than its owner may now.
        scopes = scopes & frozenset(await self.identity.rbac.allowed_scopes(user_id))
        return Principal(user_id=user_id, username=username, roles=roles, scopes=scopes, session_id=None,
                         via="api_key")
