"""Logging in and out, tokens, sessions, the second factor and API keys.

``/api/v1/auth/*`` is public (the credentials are in the request body or the refresh
cookie); ``/api/v1/me/sessions``, ``/api/v1/me/totp`` and ``/api/v1/me/api-keys`` act on
the caller's own account. Changing credentials (revoking sessions, TOTP, creating or
revoking keys) needs an interactive session: an API key cannot mint or remove credentials.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from revenge_hookspecs.errors import ApiError, BadRequest
from revenge_hookspecs.types import PUBLIC

from ...http.routing import RouteDeclaration, declare
from ..activity import client_ip
from ..authn import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, LoginResult, MfaChallenge
from ..authorizer import IDENTITY
from ..principal import PRINCIPAL, Principal

AUTH_PATH = "/api/v1/auth"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TAGS = ("auth",)


# --- helpers ------------------------------------------------------------------------------------


async def _body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    if not request.body_exists:
        if optional:
            return {}
        raise BadRequest("The request needs a JSON object body.")
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false.", {"key": key})
    return value


def _text(body: dict[str, Any], key: str, limit: int = 128) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"{key} must be text of at most {limit} characters.", {"key": key})
    return value


def _principal(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):  # the authorizer guarantees it; never trust silently
        raise ApiError(401, "unauthorized", "This endpoint needs credentials.")
    return principal


def _require_session(principal: Principal) -> str:
    if principal.session_id is None:
        raise ApiError(403, "session_required", "Credentials are managed from a logged-in session, "
                       "not with an API key.")
    return principal.session_id


def _set_cookies(request: web.Request, response: web.StreamResponse, result: LoginResult, csrf: str) -> None:
    auth = request.app[IDENTITY].config.auth
    common: dict[str, Any] = {"secure": auth.cookie_secure, "samesite": "Lax"}
    response.set_cookie(ACCESS_COOKIE, result.access_token, max_age=result.expires_in, path="/", httponly=True,
                        **common)
    response.set_cookie(REFRESH_COOKIE, result.refresh_token, max_age=int(auth.refresh_token_ttl),
                        path=AUTH_PATH, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=int(auth.refresh_token_ttl), path="/", httponly=False,
                        **common)


def _clear_cookies(request: web.Request, response: web.StreamResponse) -> None:
    auth = request.app[IDENTITY].config.auth
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, AUTH_PATH), (CSRF_COOKIE, "/")):
        if name in request.cookies:
            response.del_cookie(name, path=path, secure=auth.cookie_secure, samesite="Lax")


def _token_response(request: web.Request, result: LoginResult, *, cookie: bool) -> web.Response:
    body: dict[str, Any] = {"session_id": result.session_id, "expires_in": result.expires_in}
    if result.user:
        body["user"] = result.user
    if cookie:
        # The tokens stay in HttpOnly cookies, out of reach of page scripts. A CSRF value still
        # good for this session is kept, so other open tabs keep working.
        authn = request.app[IDENTITY].authn
        csrf = request.cookies.get(CSRF_COOKIE, "")
        if not authn.csrf_valid(csrf, result.session_id):
            csrf = authn.csrf_token(result.session_id)
        body.update(token_type="cookie", csrf_token=csrf)
        response = web.json_response(body, headers=NO_STORE)
        _set_cookies(request, response, result, csrf)
        return response
    body.update(access_token=result.access_token, token_type="Bearer", refresh_token=result.refresh_token)
    return web.json_response(body, headers=NO_STORE)


# --- /auth ---------------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    """Log in with a username (or email) and password."""
    body = await _body(request)
    login_name = body.get("username", body.get("email", body.get("login")))
    cookie = _flag(body, "cookie")
    device = _text(body, "device")
    authn = request.app[IDENTITY].authn
    result = await authn.login(request, login_name, body.get("password"), cookie=cookie, device=device)
    if isinstance(result, MfaChallenge):
        return web.json_response({"mfa_required": True, "mfa_token": result.mfa_token}, headers=NO_STORE)
    return _token_response(request, result, cookie=cookie)


async def login_mfa(request: web.Request) -> web.Response:
    """Complete a login with a TOTP code or a backup code."""
    body = await _body(request)
    cookie = _flag(body, "cookie") if "cookie" in body else None
    authn = request.app[IDENTITY].authn
    result = await authn.login_mfa(request, body.get("mfa_token"), code=body.get("code"),
                                   backup_code=body.get("backup_code"), cookie=cookie)
    return _token_response(request, result, cookie=result.cookie_mode)


async def refresh(request: web.Request) -> web.Response:
    """Exchange a refresh token for new tokens; the old refresh token stops working."""
    body = await _body(request, optional=True)
    identity = request.app[IDENTITY]
    raw, from_cookie = body.get("refresh_token"), False
    if raw is None:
        raw, from_cookie = request.cookies.get(REFRESH_COOKIE), True
    if raw is None:
        raise ApiError(401, "invalid_token", "Send refresh_token in the body, or the refresh cookie.")
    if from_cookie:
        session_id = await identity.tokens.session_of(raw)
        if session_id is not None:
            identity.authn.check_csrf(request, session_id)
    result = await identity.authn.refresh(request, raw)
    return _token_response(request, result, cookie=from_cookie)


async def logout(request: web.Request) -> web.Response:
    """End the current session: the caller's, or the one of the refresh token sent."""
    identity = request.app[IDENTITY]
    principal = request.get(PRINCIPAL)
    session_id = principal.session_id if isinstance(principal, Principal) else None
    if session_id is None:
        body = await _body(request, optional=True)
        raw, from_cookie = body.get("refresh_token"), False
        if raw is None:
            raw, from_cookie = request.cookies.get(REFRESH_COOKIE), True
        session_id = await identity.tokens.session_of(raw)
        if session_id is not None and from_cookie:
            identity.authn.check_csrf(request, session_id)
    await identity.authn.logout(request, session_id)
    response = web.Response(status=204)
    _clear_cookies(request, response)
    return response


# --- /me/sessions --------------------------------------------------------------------------------


async def list_sessions(request: web.Request) -> web.Response:
    """The caller's active sessions; ``current`` marks the one making this request."""
    principal = _principal(request)
    items = await request.app[IDENTITY].sessions.active(principal.user_id, principal.session_id)
    return web.json_response({"items": items})


async def revoke_session(request: web.Request) -> web.Response:
    """End one of the caller's sessions (the current one included)."""
    principal = _principal(request)
    current = _require_session(principal)
    session_id = request.match_info["session_id"]
    await request.app[IDENTITY].sessions.revoke(session_id, user_id=principal.user_id, request=request)
    response = web.Response(status=204)
    if session_id == current:
        _clear_cookies(request, response)
    return response


async def revoke_other_sessions(request: web.Request) -> web.Response:
    """End every session of the caller but the current one."""
    principal = _principal(request)
    current = _require_session(principal)
    count = await request.app[IDENTITY].sessions.revoke_all(principal.user_id, except_session=current,
                                                             request=request)
    return web.json_response({"revoked": count})


# --- /me/totp ------------------------------------------------------------------------------------


async def totp_status(request: web.Request) -> web.Response:
    """Whether TOTP is on, and how many backup codes are left."""
    principal = _principal(request)
    return web.json_response(await request.app[IDENTITY].totp.status(principal.user_id))


async def totp_enroll(request: web.Request) -> web.Response:
    """Start enrolment: a new secret and its otpauth:// URI, shown this once."""
    principal = _principal(request)
    _require_session(principal)
    return web.json_response(await request.app[IDENTITY].totp.enroll(principal.user_id), headers=NO_STORE)


async def totp_confirm(request: web.Request) -> web.Response:
    """Turn TOTP on with a code from the app; returns ten backup codes, shown this once."""
    principal = _principal(request)
    _require_session(principal)
    body = await _body(request)
    codes = await request.app[IDENTITY].totp.confirm(principal.user_id, body.get("code"), request=request)
    return web.json_response({"enabled": True, "backup_codes": codes}, headers=NO_STORE)


async def totp_disable(request: web.Request) -> web.Response:
    """Turn TOTP off with a current code, a backup code or the account password."""
    principal = _principal(request)
    _require_session(principal)
    body = await _body(request)
    await request.app[IDENTITY].totp.disable(principal.user_id, code=body.get("code"),
                                             password=body.get("password"), request=request,
                                             ip=client_ip(request))
    return web.Response(status=204)


# --- /me/api-keys --------------------------------------------------------------------------------


async def list_api_keys(request: web.Request) -> web.Response:
    """The caller's API keys (never the keys themselves: name, prefix, scopes, dates)."""
    principal = _principal(request)
    return web.json_response({"items": await request.app[IDENTITY].api_keys.active(principal.user_id)})


async def create_api_key(request: web.Request) -> web.Response:
    """Create an API key; the response holds the key under ``key``, the only time it is shown."""
    principal = _principal(request)
    _require_session(principal)
    body = await _body(request)
    created = await request.app[IDENTITY].api_keys.create(
        principal.user_id, name=body.get("name"), scopes=body.get("scopes"), expires_at=body.get("expires_at"),
        request=request)
    return web.json_response(created, status=201, headers=NO_STORE)


async def revoke_api_key(request: web.Request) -> web.Response:
    """Revoke one of the caller's API keys; it stops working at once."""
    principal = _principal(request)
    _require_session(principal)
    await request.app[IDENTITY].api_keys.revoke(principal.user_id, request.match_info["key_id"], request=request)
    return web.Response(status=204)


# --- declarations --------------------------------------------------------------------------------

_USER = {"type": "object", "description": "The account (no secrets) with its roles."}
_TOKENS = {
    "type": "object",
    "properties": {
        "access_token": {"type": "string", "description": "JWT (HS256); send as Authorization: Bearer."},
        "token_type": {"type": "string", "enum": ["Bearer", "cookie"]},
        "expires_in": {"type": "integer", "description": "Seconds the access token lives."},
        "refresh_token": {"type": "string", "description": "Single use; rotated by /auth/refresh."},
        "session_id": {"type": "string"},
        "csrf_token": {"type": "string", "description": "Cookie mode: send as X-CSRF-Token."},
        "user": _USER,
        "mfa_required": {"type": "boolean"},
        "mfa_token": {"type": "string", "description": "For /auth/login/mfa; lives five minutes."},
    },
}
_SESSIONS = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}}
_KEY = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "prefix": {"type": "string"},
    "scopes": {"type": "array", "items": {"type": "string"}}, "expires_at": {"type": ["string", "null"]},
    "key": {"type": "string", "description": "Only in the response to creation."}}}

_route = declare("/api/v1", TAGS)

ROUTES: list[RouteDeclaration] = [
    _route("POST", "/auth/login", login, PUBLIC, "Log in with username or email and password",
           description="With `cookie: true` the tokens are set as HttpOnly cookies (browser mode) and a "
                       "`revenge_csrf` cookie is set for the X-CSRF-Token header. Accounts with TOTP get "
                       "`mfa_required` and an `mfa_token` instead of tokens. Repeated failures answer 429 "
                       "with Retry-After.",
           request_schema={"type": "object", "required": ["username", "password"], "properties": {
               "username": {"type": "string", "description": "Username or email, any case."},
               "password": {"type": "string"}, "cookie": {"type": "boolean"}, "device": {"type": "string"}}},
           response_schema=_TOKENS),
    _route("POST", "/auth/login/mfa", login_mfa, PUBLIC, "Complete a login with a TOTP code or a backup code",
           request_schema={"type": "object", "required": ["mfa_token"], "properties": {
               "mfa_token": {"type": "string"}, "code": {"type": "string"}, "backup_code": {"type": "string"},
               "cookie": {"type": "boolean"}}},
           response_schema=_TOKENS),
    _route("POST", "/auth/refresh", refresh, PUBLIC, "Rotate the refresh token and get a new access token",
           description="Send `refresh_token` in the body, or the refresh cookie with X-CSRF-Token. A refresh "
                       "token works once; presenting it again ends its session.",
           request_schema={"type": "object", "properties": {"refresh_token": {"type": "string"}}},
           response_schema=_TOKENS),
    _route("POST", "/auth/logout", logout, PUBLIC, "End the current session",
           description="The session of the access token, cookie or refresh token sent; clears the cookies.",
           request_schema={"type": "object", "properties": {"refresh_token": {"type": "string"}}}),
    _route("GET", "/me/sessions", list_sessions, "self:sessions", "List your active sessions",
           response_schema=_SESSIONS),
    _route("DELETE", "/me/sessions", revoke_other_sessions, "self:sessions", "End all your other sessions"),
    _route("DELETE", "/me/sessions/{session_id}", revoke_session, "self:sessions", "End one of your sessions"),
    _route("GET", "/me/totp", totp_status, "self:security", "Two-factor status"),
    _route("POST", "/me/totp", totp_enroll, "self:security", "Start TOTP enrolment (secret and otpauth URI)"),
    _route("POST", "/me/totp/confirm", totp_confirm, "self:security",
           "Turn TOTP on with a code; returns backup codes once",
           request_schema={"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}),
    _route("POST", "/me/totp/disable", totp_disable, "self:security", "Turn TOTP off with a code or your password",
           request_schema={"type": "object", "properties": {"code": {"type": "string"},
                                                            "password": {"type": "string"}}}),
    _route("GET", "/me/api-keys", list_api_keys, "self:api_keys", "List your API keys"),
    _route("POST", "/me/api-keys", create_api_key, "self:api_keys", "Create an API key (shown once)",
           request_schema={"type": "object", "required": ["name", "scopes"], "properties": {
               "name": {"type": "string"}, "scopes": {"type": "array", "items": {
                   "type": "string", "enum": ["read", "write", "admin", "legacy:read"]}},
               "expires_at": {"type": "string", "format": "date-time"}}},
           response_schema=_KEY),
    _route("DELETE", "/me/api-keys/{key_id}", revoke_api_key, "self:api_keys", "Revoke an API key"),
]
