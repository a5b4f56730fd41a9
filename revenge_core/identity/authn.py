"""Who is calling: credentials on each request, and logging in to get them.

A request may carry, in this order of precedence:

1. ``Authorization: Bearer <access token>``;
2. ``X-API-Key: rv_...``;
3. the ``revenge_access`` cookie set by a browser login; with it, an unsafe method (anything
   but GET, HEAD, OPTIONS) must also send ``X-CSRF-Token`` equal to the ``revenge_csrf``
   cookie, a value bound to the session by an HMAC (signed double submit);
4. a signed URL (``?sig=``, see :mod:`.signed_urls`): read-only, for GET and HEAD below the
   path it was signed for.

No credentials at all gives no principal; credentials that do not work give 401, never a
500 and never a silent fall-through to weaker ones.

Logging in checks the lockout before the password, spends the same bcrypt work on unknown
users as on known ones, and answers a wrong password, an unknown user and a disabled
account alike. Accounts with TOTP get an MFA token instead of tokens; only the second step
opens a session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from revenge_hookspecs.errors import ApiError, BadRequest

from ..db.models import utcnow
from .activity import client_ip
from .models import User
from .passwords import MAX_LENGTH, verify_or_burn
from .principal import SCOPES, Principal
from .signed_urls import QUERY_PARAMETER, invalid_signature
from .tokens import invalid_token, record

if TYPE_CHECKING:
    from .service import Identity

ACCESS_COOKIE = "revenge_access"
REFRESH_COOKIE = "revenge_refresh"
CSRF_COOKIE = "revenge_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_LOGIN_LENGTH = 254
CSRF_FAILED = "csrf_failed"
MFA_TOKEN_USED = "This MFA token was already used; log in again."


def invalid_credentials() -> ApiError:
    return ApiError(401, "invalid_credentials", "The username or password is wrong.")


def login_key(login: str) -> str:
    """The folded form usernames and emails are stored under (``username_key``, ``email_key``)."""
    return login.strip().lower()


@attrs.frozen
class LoginResult:
    """A completed login: a new session and its first tokens."""

    user: dict[str, Any]
    session_id: str
    access_token: str
    expires_in: int
    refresh_token: str
    cookie_mode: bool


@attrs.frozen
class MfaChallenge:
    mfa_token: str


class Authenticator:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    # --- every request ----------------------------------------------------------------------

    async def authenticate(self, request: web.BaseRequest) -> Principal | None:
        """The caller, ``None`` without credentials; ApiError 401 (or 403 ``csrf_failed``)."""
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                return await self._session_principal(token.strip(), via="bearer")
            # Other schemes belong to someone else (a plugin's compatibility API); not ours.
        api_key = request.headers.get("X-API-Key")
        if api_key is not None:
            return await self.identity.api_keys.authenticate(api_key.strip())
        cookie = request.cookies.get(ACCESS_COOKIE)
        if cookie:
            principal = await self._session_principal(cookie, via="cookie")
            if request.method not in SAFE_METHODS:
                self.check_csrf(request, principal.session_id)
            return principal
        signature = request.query.get(QUERY_PARAMETER)
        if signature is not None:
            return await self._signed_principal(request, signature)
        return None

    async def _signed_principal(self, request: web.BaseRequest, token: str) -> Principal:
        claims = self.identity.signed_urls.claims(token, request.path, request.method)
        if claims.session_id is not None and not await self.identity.sessions.check(claims.session_id,
                                                                                    claims.user_id):
            raise invalid_signature("The login this URL was signed under has ended; ask for a new one.")
        user = await self._active_user(claims.user_id)
        if user is None:
            raise invalid_signature("The account of this URL is disabled or gone.")
        roles = frozenset(await self.identity.rbac.roles_of(claims.user_id))
        return Principal(user_id=claims.user_id, username=user, roles=roles, scopes=frozenset({"read"}),
                         session_id=claims.session_id, via="signed_url")

    async def _session_principal(self, token: str, *, via: str) -> Principal:
        claims = self.identity.tokens.verify_access(token)
        if not await self.identity.sessions.check(claims.session_id, claims.user_id):
            raise invalid_token("The session of this token has ended; log in again.")
        user = await self._active_user(claims.user_id)
        if user is None:
            raise invalid_token("The account of this token is disabled or gone.")
        roles = frozenset(await self.identity.rbac.roles_of(claims.user_id))
        return Principal(user_id=claims.user_id, username=user, roles=roles, scopes=claims.scopes & SCOPES,
                         session_id=claims.session_id, via=via)

    async def _active_user(self, user_id: int) -> str | None:
        # Not cached: disabling an account must stop it at once, on every instance.
        row = await self._run(lambda: User.select(User.username).where(
            User.id == user_id, User.enabled == True).first())  # noqa: E712
        return None if row is None else row.username

    # --- CSRF -------------------------------------------------------------------------------

    def csrf_token(self, session_id: str) -> str:
        """A CSRF value bound to the session, so a cookie planted from elsewhere does not pass."""
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._csrf_mac(session_id, nonce)}"

    def _csrf_mac(self, session_id: str, nonce: str) -> str:
        key = self.identity.tokens.derived_secret("csrf")
        return hmac.new(key, f"{session_id}.{nonce}".encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    def csrf_valid(self, value: str, session_id: str | None) -> bool:
        """Whether ``value`` is a CSRF value issued for ``session_id``."""
        nonce, _, mac = value.partition(".")
        if not nonce or not mac or session_id is None:
            return False
        return hmac.compare_digest(mac.encode("utf-8", "replace"), self._csrf_mac(session_id, nonce).encode())

    def check_csrf(self, request: web.BaseRequest, session_id: str | None) -> None:
        """The double submit: header equal to cookie (constant time), cookie bound to the session."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        header = request.headers.get(CSRF_HEADER, "")
        same = hmac.compare_digest(cookie.encode("utf-8", "replace"), header.encode("utf-8", "replace"))
        if not (cookie and same and self.csrf_valid(cookie, session_id)):
            raise ApiError(403, CSRF_FAILED, f"Requests authenticated by cookie must send the {CSRF_HEADER} "
                           f"header with the value of the {CSRF_COOKIE} cookie.")

    # --- logging in -------------------------------------------------------------------------

    async def login(self, request: web.BaseRequest, login: Any, password: Any, *, cookie: bool = False,
                    device: str = "") -> LoginResult | MfaChallenge:
        """Check a username (or email) and password.

        :raises ApiError: 400 for a malformed request, 429 ``too_many_attempts`` while locked
            (checked first), 401 ``invalid_credentials`` for anything else that is wrong.
        """
        if not isinstance(login, str) or not login.strip() or len(login) > MAX_LOGIN_LENGTH:
            raise BadRequest("Send a username (or email) and a password.", {"key": "username"})
        if not isinstance(password, str) or not password:
            raise BadRequest("Send a username (or email) and a password.", {"key": "password"})
        key, ip = login_key(login), client_ip(request)

        def find() -> User | None:
            rows = list(User.select().where((User.username_key == key) | (User.email_key == key)).limit(2))
            # A username match wins over someone else's email that happens to be the same text.
            return next((r for r in rows if r.username_key == key), rows[0] if rows else None)

        user = await self._run(find)
        account = user.username_key if user is not None else key
        lockout = self.identity.lockout
        await lockout.check(account, ip)
        stored = user.password_hash if user is not None else None
        # bcrypt takes a quarter of a second of CPU: never on the event loop. An over-long
        # password still costs one bcrypt run, like any other failure.
        if len(password) > MAX_LENGTH:
            ok = await asyncio.to_thread(verify_or_burn, "", None)
        else:
            ok = await asyncio.to_thread(verify_or_burn, password, stored)
        if not ok or user is None or not user.enabled:
            await lockout.failed(account, ip)
            await record(self.identity, "auth.login", request=request, actor_id=user.id if user else None,
                         actor=user.username if user else login.strip()[:128], target_type="user",
                         target_id=user.id if user else "", success=False,
                         details={"reason": "invalid_credentials"})
            raise invalid_credentials()
        if user.totp_enabled:
            await record(self.identity, "auth.login.mfa_required", request=request, actor_id=user.id,
                         actor=user.username, target_type="user", target_id=user.id)
            return MfaChallenge(self.identity.tokens.issue_mfa(user.id, cookie=cookie, device=device))
        return await self._complete(request, user, ip, cookie=cookie, device=device, method="password")

    async def login_mfa(self, request: web.BaseRequest, mfa_token: Any, *, code: Any = None,
                        backup_code: Any = None, cookie: bool | None = None) -> LoginResult:
        """The second step: an MFA token from :meth:`login` and a TOTP or backup code."""
        tokens = self.identity.tokens
        claims = tokens.verify_mfa(mfa_token)
        if await tokens.is_spent(claims["jti"]):
            raise invalid_token(MFA_TOKEN_USED)
        user = await self._run(lambda: User.get_or_none(User.id == claims["user_id"]))
        if user is None or not user.enabled or not user.totp_enabled:
            raise invalid_token("The MFA token is invalid or has expired; log in again.")
        ip = client_ip(request)
        lockout = self.identity.lockout
        await lockout.check(user.username_key, ip)
        if code is None and backup_code is None:
            raise BadRequest("Send the code from your authenticator app, or a backup code.", {"key": "code"})
        totp = self.identity.totp
        ok, method = False, "totp"
        if code is not None:
            ok = await totp.verify(user.id, code)
        if not ok and (backup_code is not None or (isinstance(code, str) and len(code.strip()) > 6)):
            candidate = backup_code if backup_code is not None else code
            ok, method = await totp.use_backup_code(user.id, candidate), "backup_code"
        if not ok:
            await lockout.failed(user.username_key, ip)
            await record(self.identity, "auth.login", request=request, actor_id=user.id, actor=user.username,
                         target_type="user", target_id=user.id, success=False,
                         details={"reason": "invalid_code", "step": "mfa"})
            raise ApiError(401, "invalid_code", "The code is wrong or was already used.")
        # The claim that counts (the check above only answers early): one request, on any
        # instance, spends the token.
        if not await tokens.spend(claims["jti"], "mfa", claims["exp"]):
            raise invalid_token(MFA_TOKEN_USED)
        use_cookie = bool(claims.get("cookie")) if cookie is None else bool(cookie)
        device = claims.get("device") if isinstance(claims.get("device"), str) else ""
        return await self._complete(request, user, ip, cookie=use_cookie, device=device, method=method)

    async def _complete(self, request: web.BaseRequest, user: User, ip: str, *, cookie: bool, device: str,
                        method: str) -> LoginResult:
        identity = self.identity
        await identity.lockout.succeeded(user.username_key, ip)
        session_id, refresh = await identity.sessions.create(
            user.id, device=device, ip=ip, user_agent=request.headers.get("User-Agent", ""), cookie_mode=cookie)
        access, expires_in = identity.tokens.issue_access(user.id, session_id, SCOPES)
        await identity.users.touch_login(user.id)
        user.last_login_at = utcnow()
        await record(identity, "auth.login", request=request, actor_id=user.id, actor=user.username,
                     target_type="session", target_id=session_id, success=True,
                     details={"method": method, "cookie": cookie})
        return LoginResult(await self.user_view(user), session_id, access, expires_in, refresh, cookie)

    async def user_view(self, user: User) -> dict[str, Any]:
        from .users import user_as_dict

        return {**user_as_dict(user), "roles": sorted(await self.identity.rbac.roles_of(user.id))}

    # --- refresh and logout -----------------------------------------------------------------

    async def refresh(self, request: web.BaseRequest, refresh_token: Any) -> LoginResult:
        identity = self.identity
        rotation = await identity.tokens.rotate(refresh_token)
        await record(identity, "token.refresh", request=request, actor_id=rotation.user_id, actor=rotation.username,
                     target_type="session", target_id=rotation.session_id,
                     details={"concurrent": True} if rotation.concurrent else None)
        return LoginResult({}, rotation.session_id, rotation.access_token, rotation.expires_in,
                           rotation.refresh_token, rotation.cookie_mode)

    async def logout(self, request: web.BaseRequest, session_id: str | None) -> bool:
        """End a session; False when there was none to end."""
        if session_id is None:
            return False
        try:
            await self.identity.sessions.revoke(session_id, reason="logout", request=request)
        except ApiError:
            return False
        await record(self.identity, "auth.logout", request=request, target_type="session", target_id=session_id)
        return True
