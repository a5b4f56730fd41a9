"""Login sessions: one per device login, stored in the database, checked on every request.

Every access token names its session (``sid``). A request is accepted only while that
session exists, is not revoked and has not expired, so revoking a session ends its access
tokens at once rather than when they expire. The check is cached for a few seconds in the
shared cache; revoking deletes the cached entry (on every instance, through the cache's
invalidation), so revocation is immediate. Filling the cache re-reads the row after
storing it, so a fill that raced with a revoke cannot put the live state back.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from revenge_hookspecs.db import is_sqlite
from revenge_hookspecs.errors import NotFound

from ..db.models import utcnow
from .models import RefreshToken, Session, User
from .tokens import digest, record, write_transaction

if TYPE_CHECKING:
    from aiohttp import web

    from .service import Identity

CACHE_PREFIX = "identity:session:"
CACHE_TTL = 30.0
TOUCH_INTERVAL = 60.0
FILL_ATTEMPTS = 3


def iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=datetime.UTC).isoformat().replace("+00:00", "Z")


def _clip(value: Any, length: int) -> str:
    return str(value or "")[:length]


def session_as_dict(row: Session, current: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "device": row.device,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "cookie_mode": row.cookie_mode,
        "created_at": iso(row.created_at),
        "last_activity_at": iso(row.last_activity_at),
        "expires_at": iso(row.expires_at),
        "current": row.id == current,
    }


class Sessions:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db
        self.cache = identity.cache
        self.config = identity.config.auth

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    # --- lifecycle --------------------------------------------------------------------------

    async def create(self, user_id: int, *, device: str = "", ip: str = "", user_agent: str = "",
                     cookie_mode: bool = False) -> tuple[str, str]:
        """Open a session with its first refresh token; returns ``(session_id, refresh_token)``.

        When the user already has ``auth.max_sessions_per_user`` live sessions, the oldest
        are revoked to make room.
        """
        session_id = str(uuid.uuid4())
        refresh = self.identity.tokens.new_refresh_token()
        limit = self.config.max_sessions_per_user
        ttl = datetime.timedelta(seconds=self.config.refresh_token_ttl)
        database = self.db.database

        def create() -> list[str]:
            now = utcnow()
            with write_transaction(database):
                if not is_sqlite(database):
                    # Serialise logins of one user, so two at once cannot both skip eviction.
                    list(User.select(User.id).where(User.id == user_id).for_update())
                live = list(Session.select(Session.id).where(*_live(user_id, now))
                            .order_by(Session.created_at.desc(), Session.id.desc()))
                evicted = [row.id for row in live[max(limit - 1, 0):]]
                if evicted:
                    Session.update(revoked_at=now, revoked_reason="evicted").where(Session.id.in_(evicted)).execute()
                Session.create(id=session_id, user=user_id, device=_clip(device, 128), ip=_clip(ip, 64),
                               user_agent=_clip(user_agent, 512), cookie_mode=cookie_mode, created_at=now,
                               last_activity_at=now, expires_at=now + ttl)
                RefreshToken.create(token_hash=digest(refresh), session=session_id, created_at=now)
            return evicted

        evicted = await self._run(create)
        for old in evicted:
            await self.forget(old)
        return session_id, refresh

    async def check(self, session_id: str, user_id: int) -> bool:
        """Whether the session is live and belongs to ``user_id``; notes activity."""
        state = await self.cache.get(CACHE_PREFIX + session_id)
        if not isinstance(state, dict):
            state = await self._fill(session_id)
        now = time.time()
        if not state.get("live") or state.get("user_id") != user_id or state.get("expires", 0) <= now:
            return False
        if now - state.get("touched", 0) >= TOUCH_INTERVAL:
            touched = await self._run(lambda: Session.update(last_activity_at=utcnow())
                                      .where(Session.id == session_id, Session.revoked_at.is_null()).execute())
            # Dropped, not rewritten: writing the state here could undo a revoke made meanwhile.
            await self.forget(session_id)
            return bool(touched)
        return True

    async def _load_state(self, session_id: str) -> dict[str, Any]:
        """What the cache keeps of a session, read from the database."""
        def load() -> dict[str, Any]:
            row = Session.get_or_none(Session.id == session_id)
            if row is None:
                return {"live": False}
            return {"live": row.revoked_at is None, "user_id": row.user_id,
                    "expires": row.expires_at.replace(tzinfo=datetime.UTC).timestamp(),
                    "touched": row.last_activity_at.replace(tzinfo=datetime.UTC).timestamp()}

        return await self._run(load)

    async def _fill(self, session_id: str) -> dict[str, Any]:
        """Load a session's state into the cache without racing a revoke.

        A revoke commits to the database, then drops the cached entry. A fill that read the
        row before the revoke could store its copy after that drop and keep the revoked
        session alive for the cache's lifetime. So after storing, the fill reads the row
        again: a change committed before that read is seen here and stored; one committed
        after it is followed by its own drop, which comes after this store.
        """
        key = CACHE_PREFIX + session_id
        state = await self._load_state(session_id)
        for _ in range(FILL_ATTEMPTS):
            await self.cache.set(key, state, ttl=CACHE_TTL)
            fresh = await self._load_state(session_id)
            if fresh == state:
                return state
            state = fresh
        await self.forget(session_id)  # the row keeps changing: cache nothing
        return state

    async def forget(self, session_id: str) -> None:
        """Drop the cached state of a session (after any change to it)."""
        await self.cache.delete(CACHE_PREFIX + session_id)

    # --- queries ----------------------------------------------------------------------------

    async def active(self, user_id: int, current: str | None = None) -> list[dict[str, Any]]:
        """The user's live sessions, most recently active first."""
        def read() -> list[dict[str, Any]]:
            rows = (Session.select().where(*_live(user_id, utcnow()))
                    .order_by(Session.last_activity_at.desc(), Session.created_at.desc()))
            return [session_as_dict(row, current) for row in rows]

        return await self._run(read)

    # --- revocation -------------------------------------------------------------------------

    async def revoke(self, session_id: str, *, user_id: int | None = None, reason: str = "revoked",
                     request: web.BaseRequest | None = None) -> None:
        """Revoke one session (of ``user_id`` when given); 404 when there is no such live session."""
        def revoke() -> int:
            condition = [Session.id == session_id, Session.revoked_at.is_null()]
            if user_id is not None:
                condition.append(Session.user == user_id)
            return Session.update(revoked_at=utcnow(), revoked_reason=reason[:64]).where(*condition).execute()

        if not isinstance(session_id, str) or len(session_id) > 36 or not await self._run(revoke):
            raise NotFound("There is no such active session.")
        await self.forget(session_id)
        if reason != "logout":
            await record(self.identity, "session.revoke", request=request, target_type="session",
                         target_id=session_id, details={"reason": reason, "user_id": user_id})

    async def revoke_all(self, user_id: int, *, except_session: str | None = None, reason: str = "revoked_all",
                         request: web.BaseRequest | None = None) -> int:
        """Revoke every live session of the user but ``except_session``; returns how many."""
        def revoke() -> list[str]:
            with write_transaction(self.db.database):
                query = Session.select(Session.id).where(Session.user == user_id, Session.revoked_at.is_null())
                if except_session is not None:
                    query = query.where(Session.id != except_session)
                ids = [row.id for row in query]
                if ids:
                    Session.update(revoked_at=utcnow(), revoked_reason=reason[:64]).where(Session.id.in_(ids)).execute()
                return ids

        ids = await self._run(revoke)
        for session_id in ids:
            await self.forget(session_id)
        if ids:
            await record(self.identity, "session.revoke", request=request, target_type="user", target_id=user_id,
                         details={"reason": reason, "count": len(ids), "kept_current": except_session is not None})
        return len(ids)

    async def prune(self, older_than_days: float = 30.0) -> int:
        """Delete sessions that ended (expired or revoked) more than ``older_than_days`` ago."""
        cutoff = utcnow() - datetime.timedelta(days=older_than_days)
        return await self._run(lambda: Session.delete().where(
            (Session.expires_at < cutoff) | (Session.revoked_at < cutoff)).execute())


def _live(user_id: int, now: datetime.datetime) -> tuple[Any, ...]:
    return (Session.user == user_id, Session.revoked_at.is_null(), Session.expires_at > now)
