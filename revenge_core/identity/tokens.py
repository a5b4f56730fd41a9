"""Access tokens (JWT, HS256 only), short-lived MFA tokens, and rotating refresh tokens.

Access tokens are JWTs signed with HS256 and ``auth.jwt_secret``. No other algorithm is
ever accepted: verification names HS256 explicitly, and a token whose header says anything
else (``none``, HS512, RS256...) is refused before its signature is looked at.

When ``auth.jwt_secret`` is empty, a strong secret is generated once and kept in
``<data_dir>/secrets/jwt_secret`` (mode 0600), so every instance on the same data folder
signs with the same key and tokens survive restarts. Servers on several hosts do not share a
data folder: they must set ``auth.jwt_secret`` (``REVENGE_JWT_SECRET``) to one value.

Refresh tokens are opaque random strings. Only their SHA-256 digest is stored. Each one is
single use: refreshing marks it used and issues the next one. Presenting a used token
again means it was copied; the whole session is revoked. One exception keeps browser tabs
that refresh at the same moment from ending their own session: within
``auth.refresh_grace_seconds`` of a rotation, the token just rotated gets the very tokens
that rotation issued (kept encrypted in the shared cache, keyed by the old token's digest),
and nothing is revoked or rotated again.

MFA tokens are single use too: spending one inserts its ``jti`` into ``shared.used_tokens``,
which only one request on any instance can do.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import peewee
from jose import jwk, jwt
from loguru import logger

from revenge_hookspecs.db import is_sqlite
from revenge_hookspecs.errors import ApiError

from ..db.models import utcnow
from .crypto import MIN_SECRET_LENGTH, load_or_create_key_file
from .models import RefreshToken, Session, UsedToken, User
from .principal import SCOPES

if TYPE_CHECKING:
    from .service import Identity

ALGORITHM = "HS256"
SECRET_FILE = Path("secrets") / "jwt_secret"
MFA_TOKEN_TTL = 300
MAX_TOKEN_LENGTH = 4096
ACCESS_CLAIMS = ("sub", "sid", "iat", "exp", "jti", "scopes")
# Clocks of instances behind one load balancer may differ a little.
IAT_LEEWAY = 60
SUCCESSOR_PREFIX = "identity:refresh-successor:"
SUCCESSOR_PURPOSE = "refresh-successor"
# How long a concurrent refresh waits for the rotating one to publish its tokens.
SUCCESSOR_WAIT = 2.0
SUCCESSOR_POLL = 0.05


def digest(value: str) -> str:
    """SHA-256 hex digest: how refresh tokens, API keys and backup codes are stored."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def invalid_token(message: str = "The access token is invalid or has expired; log in or refresh again.") -> ApiError:
    return ApiError(401, "invalid_token", message)


def write_transaction(database: peewee.Database) -> Any:
    """A transaction that takes SQLite's write lock at once (no lock upgrade, no deadlock)."""
    return database.atomic("IMMEDIATE") if is_sqlite(database) else database.atomic()


def load_or_create_secret(data_dir: Path) -> str:
    """The generated signing secret under ``data_dir``, created (0600) when missing."""
    return load_or_create_key_file(data_dir, SECRET_FILE, setting="auth.jwt_secret", what="a JWT signing secret")


@attrs.frozen
class AccessClaims:
    user_id: int
    session_id: str
    issued_at: int
    expires_at: int
    jti: str
    scopes: frozenset[str]


@attrs.frozen
class Rotation:
    """The outcome of presenting a refresh token: the session's next tokens.

    ``concurrent`` marks the tokens of a rotation a moment earlier, handed out again to a
    request that presented the same refresh token within the grace window.
    """

    session_id: str
    user_id: int
    username: str
    cookie_mode: bool
    refresh_token: str
    access_token: str
    expires_in: int
    concurrent: bool = False


class Tokens:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.config = identity.config.auth
        self._secret: str | None = None

    # --- keys -------------------------------------------------------------------------------

    @property
    def secret(self) -> str:
        if self._secret is None:
            configured = self.config.jwt_secret
            if configured:
                if len(configured) < MIN_SECRET_LENGTH:
                    raise RuntimeError(f"auth.jwt_secret must be at least {MIN_SECRET_LENGTH} characters")
                self._secret = configured
            else:
                self._secret = load_or_create_secret(self.identity.config.data_dir)
        return self._secret

    def _key(self, purpose: str = "") -> Any:
        # A jose Key object, so the secret is never parsed as a JWK set or PEM by accident.
        # Tokens of other purposes are signed with keys derived from the secret, so an MFA
        # token can never pass for an access token.
        material = self.secret if not purpose else hmac.new(
            self.secret.encode(), f"revenge:{purpose}".encode(), hashlib.sha256).hexdigest()
        return jwk.construct(material, ALGORITHM)

    def derived_secret(self, purpose: str) -> bytes:
        """A key for ``purpose`` (CSRF binding...) derived from the signing secret."""
        return hmac.new(self.secret.encode(), f"revenge:{purpose}".encode(), hashlib.sha256).digest()

    # --- access tokens ----------------------------------------------------------------------

    def issue_access(self, user_id: int, session_id: str, scopes: frozenset[str] = SCOPES) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        now = int(time.time())
        ttl = int(self.config.access_token_ttl)
        claims = {"sub": str(user_id), "sid": session_id, "iat": now, "exp": now + ttl,
                  "jti": uuid.uuid4().hex, "scopes": sorted(scopes)}
        return jwt.encode(claims, self._key(), algorithm=ALGORITHM), ttl

    def _decode(self, token: Any, purpose: str = "") -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise invalid_token()
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or header.get("typ", "JWT") != "JWT":
                raise invalid_token()
            claims = jwt.decode(token, self._key(purpose), algorithms=[ALGORITHM],
                                options={"require_exp": True, "require_iat": True, "require_sub": True,
                                         "require_jti": True, "verify_aud": False, "leeway": 0})
        except ApiError:
            raise
        except Exception:
            # jose's own errors, and anything odd a forged token makes it raise
            raise invalid_token() from None
        if not isinstance(claims, dict):
            raise invalid_token()
        if not isinstance(claims.get("iat"), int) or claims["iat"] > time.time() + IAT_LEEWAY:
            raise invalid_token()
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            raise invalid_token()
        return claims

    def verify_access(self, token: Any) -> AccessClaims:
        """The claims of a valid access token; ApiError 401 ``invalid_token`` otherwise."""
        claims = self._decode(token)
        if any(name not in claims for name in ACCESS_CLAIMS) or "purpose" in claims:
            raise invalid_token()
        sub, sid, jti, scopes = claims["sub"], claims["sid"], claims["jti"], claims["scopes"]
        if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 18):
            raise invalid_token()
        if not (isinstance(sid, str) and 0 < len(sid) <= 36) or not isinstance(jti, str):
            raise invalid_token()
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s in SCOPES for s in scopes):
            raise invalid_token()
        return AccessClaims(int(sub), sid, claims["iat"], claims["exp"], jti, frozenset(scopes))

    # --- MFA tokens -------------------------------------------------------------------------

    def issue_mfa(self, user_id: int, *, cookie: bool = False, device: str = "") -> str:
        """A short-lived token proving the password step of a login succeeded."""
        now = int(time.time())
        claims = {"sub": str(user_id), "purpose": "mfa", "iat": now, "exp": now + MFA_TOKEN_TTL,
                  "jti": uuid.uuid4().hex, "cookie": bool(cookie), "device": device}
        return jwt.encode(claims, self._key("mfa"), algorithm=ALGORITHM)

    def verify_mfa(self, token: Any) -> dict[str, Any]:
        claims = self._decode(token, "mfa")
        sub = claims.get("sub")
        if claims.get("purpose") != "mfa" or not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
            raise invalid_token("The MFA token is invalid or has expired; log in again.")
        if not isinstance(claims.get("jti"), str):
            raise invalid_token("The MFA token is invalid or has expired; log in again.")
        claims["user_id"] = int(sub)
        return claims

    # --- single-use tokens ------------------------------------------------------------------

    async def spend(self, jti: str, purpose: str, expires_at: int) -> bool:
        """Mark a single-use token as spent; False when it already was, here or on another instance.

        :param expires_at: the token's ``exp``; the marker is kept until then.
        """
        until = datetime.datetime.fromtimestamp(expires_at, datetime.UTC).replace(tzinfo=None)
        database = self.identity.db.database

        def claim() -> bool:
            try:
                with database.atomic():
                    UsedToken.insert(jti=jti, purpose=purpose, expires_at=until).execute()
            except peewee.IntegrityError:
                return False
            return True

        return await self.identity.run(claim)

    async def is_spent(self, jti: str) -> bool:
        """Whether :meth:`spend` already took this token."""
        return await self.identity.run(lambda: UsedToken.select().where(UsedToken.jti == jti).exists())

    async def prune_spent(self) -> int:
        """Forget spent tokens past their expiry (they are refused as expired by then anyway)."""
        return await self.identity.run(lambda: UsedToken.delete().where(UsedToken.expires_at < utcnow()).execute())

    # --- refresh tokens ---------------------------------------------------------------------

    @staticmethod
    def new_refresh_token() -> str:
        return secrets.token_urlsafe(32)

    @property
    def grace(self) -> float:
        """Seconds a rotated refresh token still gets the tokens of its rotation (0: never)."""
        return float(self.config.refresh_grace_seconds)

    def _within_grace(self, used_at: datetime.datetime, now: datetime.datetime) -> bool:
        return self.grace > 0 and now - used_at <= datetime.timedelta(seconds=self.grace)

    async def session_of(self, raw: Any) -> str | None:
        """The session a refresh token belongs to, without using it up.

        ``None`` for a token rotated longer ago than the grace window: it proves nothing about
        holding the session any more.
        """
        if not isinstance(raw, str) or not 20 <= len(raw) <= 128:
            return None
        token_hash = digest(raw)

        def read() -> str | None:
            row = RefreshToken.get_or_none(RefreshToken.token_hash == token_hash)
            if row is None or (row.used_at is not None and not self._within_grace(row.used_at, utcnow())):
                return None
            return row.session_id

        return await self.identity.run(read)

    async def rotate(self, raw: Any) -> Rotation:
        """Exchange a refresh token for the session's next tokens.

        Within the grace window after a rotation, the same token gets that rotation's tokens
        again (``Rotation.concurrent``).

        :raises ApiError: 401 ``invalid_token`` for an unknown, expired or revoked token, and
            for a token used before the grace window, in which case its whole session is
            revoked first.
        """
        if not isinstance(raw, str) or not 20 <= len(raw) <= 128:
            raise invalid_token("The refresh token is invalid; log in again.")
        token_hash = digest(raw)
        ttl = datetime.timedelta(seconds=self.config.refresh_token_ttl)
        database = self.identity.db.database

        def rotate() -> tuple[str, Any]:
            with write_transaction(database):
                row = (RefreshToken.select(RefreshToken, Session, User).join(Session).join(User)
                       .where(RefreshToken.token_hash == token_hash).first())
                if row is None:
                    return "invalid", None
                session, now = row.session, utcnow()
                live = session.revoked_at is None and session.expires_at > now and session.user.enabled
                if row.used_at is not None:
                    if not self._within_grace(row.used_at, now):
                        return "reuse", _revoke_reused(session, now)
                    return ("concurrent", None) if live else ("invalid", None)
                if not live:
                    return "invalid", None
                claimed = (RefreshToken.update(used_at=now)
                           .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_null())
                           .execute())
                if claimed != 1:
                    # PostgreSQL: another request rotated it after this one read the row.
                    return ("concurrent", None) if self.grace > 0 else ("reuse", _revoke_reused(session, now))
                fresh = self.new_refresh_token()
                RefreshToken.create(token_hash=digest(fresh), session=session.id, created_at=now)
                # Sliding expiry: a session in use stays alive; an idle one ends after the ttl.
                Session.update(expires_at=now + ttl, last_activity_at=now).where(Session.id == session.id).execute()
                # Used tokens are kept to recognise reuse, but not forever.
                RefreshToken.delete().where(RefreshToken.session == session.id,
                                            RefreshToken.used_at < now - ttl).execute()
                return "ok", (session.id, session.user.id, session.user.username, session.cookie_mode, fresh)

        outcome, value = await self.identity.run(rotate)
        if outcome == "reuse":
            session_id, user_id, username, newly_revoked = value
            await self.identity.sessions.forget(session_id)
            if newly_revoked:
                logger.warning("refresh token reuse: session {} of user {} revoked", session_id, user_id)
            await record(self.identity, "token.reuse", actor_id=user_id, actor=username, target_type="session",
                         target_id=session_id, success=False, details={"session_revoked": True})
            raise invalid_token("This refresh token was already used; the session has been ended. Log in again.")
        if outcome == "concurrent":
            return await self._successor_of(token_hash)
        if outcome != "ok":
            raise invalid_token("The refresh token is invalid or has expired; log in again.")
        session_id, user_id, username, cookie_mode, fresh = value
        access, expires_in = self.issue_access(user_id, session_id)
        rotation = Rotation(session_id, user_id, username, cookie_mode, fresh, access, expires_in)
        await self._publish_successor(token_hash, rotation)
        await self.identity.sessions.forget(session_id)
        return rotation

    # The tokens a rotation issued stay in the shared cache for the grace window, encrypted
    # and bound to the old token's digest, so a concurrent refresh on any instance gets them.

    async def _publish_successor(self, token_hash: str, rotation: Rotation) -> None:
        if self.grace <= 0:
            return
        payload = {**attrs.asdict(rotation), "expires_at": int(time.time()) + rotation.expires_in}
        sealed = self.identity.secret_box.encrypt(SUCCESSOR_PURPOSE, json.dumps(payload), context=token_hash)
        await self.identity.cache.set(SUCCESSOR_PREFIX + token_hash, sealed, ttl=self.grace)

    async def _successor_of(self, token_hash: str) -> Rotation:
        """The tokens of the rotation a moment ago, waiting briefly for it to publish them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(SUCCESSOR_WAIT, self.grace)
        while (sealed := await self.identity.cache.get(SUCCESSOR_PREFIX + token_hash)) is None:
            if loop.time() >= deadline:
                # The other request failed, or its instance shares no cache with this one. Not
                # proof of theft within the grace window, so nothing is revoked.
                raise invalid_token("This refresh token was used by another request a moment ago; use the "
                                    "tokens that request received, or log in again.")
            await asyncio.sleep(SUCCESSOR_POLL)
        payload = json.loads(self.identity.secret_box.decrypt(SUCCESSOR_PURPOSE, sealed, context=token_hash))
        expires_in = max(0, payload.pop("expires_at") - int(time.time()))
        return Rotation(**{**payload, "expires_in": expires_in, "concurrent": True})


def _revoke_reused(session: Session, now: datetime.datetime) -> tuple[str, int, str, bool]:
    revoked = (Session.update(revoked_at=now, revoked_reason="refresh_reuse")
               .where(Session.id == session.id, Session.revoked_at.is_null()).execute())
    return session.id, session.user.id, session.user.username, bool(revoked)


async def record(identity: Identity, action: str, **fields: Any) -> None:
    """Write an activity entry; a failing activity log never fails the request itself."""
    try:
        await identity.activity.record(action, **fields)
    except Exception as exc:
        logger.opt(exception=exc).error("could not record activity {}", action)
