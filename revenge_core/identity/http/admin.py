"""Accounts, profile, preferences, settings, activity, setup and plugins over HTTP.

=======  ===========================================  ==================  =================================
method   path                                         permission          what
=======  ===========================================  ==================  =================================
GET      /api/v1/admin/users                          admin:users         list accounts (q, enabled, role)
POST     /api/v1/admin/users                          admin:users         create an account (+ role)
GET      /api/v1/admin/users/{user_id}                admin:users         one account with its roles
PATCH    /api/v1/admin/users/{user_id}                admin:users         change profile, enabled, password
DELETE   /api/v1/admin/users/{user_id}                admin:users         delete an account
GET      /api/v1/me                                   self:profile        one's own account
PATCH    /api/v1/me                                   self:profile        change email, display name, avatar
POST     /api/v1/me/password                          self:security       change one's own password
GET      /api/v1/me/preferences                       self:preferences    one's preferences
PATCH    /api/v1/me/preferences                       self:preferences    change them (null resets)
GET      /api/v1/admin/activity                       admin:activity      the activity log, filtered, paged
GET      /api/v1/settings/public                      public              public server settings
GET      /api/v1/admin/settings                       admin:settings      every setting, secrets masked
PATCH    /api/v1/admin/settings                       admin:settings      change settings (null resets)
GET      /api/v1/setup                                public (*)          setup progress
POST     /api/v1/setup/complete                       public (*)          close setup
POST     /api/v1/setup/{step}                         public (*)          do one step
GET      /api/v1/admin/plugins                        admin:plugins       plugins, status, config schema
GET      /api/v1/admin/plugins/{name}                 admin:plugins       one plugin
POST     /api/v1/admin/plugins/{name}/enable          admin:plugins       enable at runtime
POST     /api/v1/admin/plugins/{name}/disable         admin:plugins       disable at runtime
GET      /api/v1/admin/plugins/{name}/config          admin:plugins       its config, secrets masked
PUT      /api/v1/admin/plugins/{name}/config          admin:plugins       replace its config (validated)
=======  ===========================================  ==================  =================================

(*) Setup routes are public only while no admin exists; after that the handlers ask for
``admin:settings`` themselves, and once setup is complete they answer 409 ``setup_closed``.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web
from loguru import logger

from revenge_hookspecs.config import ConfigError
from revenge_hookspecs.errors import ApiError, BadRequest, NotFound
from revenge_hookspecs.types import PUBLIC

from ...config import MASK, load_plugin_config, mask_url, plugin_section
from ...http.keys import HOST
from ...http.routing import RouteDeclaration, declare
from ...plugins.host import PluginHost, PluginRecord, Status
from ..activity import bool_param, client_ip, int_param, is_secret_key, parse_time
from ..authn import login_key
from ..authorizer import IDENTITY
from ..crypto import DecryptionError
from ..principal import PRINCIPAL, Principal
from ..service import Identity
from ..settings import PLUGIN_PREFIX
from ..users import UserError

DEFAULT_ROLE = "user"


def _identity(request: web.Request) -> Identity:
    return request.app[IDENTITY]


def _principal(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if principal is None:  # the authorizer lets no anonymous caller reach these handlers
        raise ApiError(401, "unauthorized", "This endpoint needs credentials.")
    return principal


async def _json(request: web.Request) -> Any:
    if not request.body_exists:
        return None
    return await request.json()


async def _object(request: web.Request) -> dict[str, Any]:
    body = await _json(request)
    if not isinstance(body, Mapping):
        raise BadRequest("Send a JSON object.")
    return dict(body)


def _user_id(request: web.Request) -> int:
    text = request.match_info["user_id"]
    if not text.isdigit() or len(text) > 18:
        raise NotFound("No user has this id.", {"user_id": text[:32]})
    return int(text)


# --- users ------------------------------------------------------------------------------------------


async def _with_roles(identity: Identity, user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "roles": await identity.users.roles_of(user["id"])}


async def _may_manage(identity: Identity, principal: Principal, target_id: int) -> None:
    """Only someone holding every permission of an account may change or delete it.

    Otherwise a holder of ``admin:users`` could reset an admin's password and become one.
    """
    held = await identity.rbac.permissions_of(target_id)
    missing = await identity.rbac.missing_to_delegate(principal.user_id, held)
    if missing:
        raise ApiError(403, "forbidden", "This account holds permissions you do not hold; only someone who "
                                         "holds all of them may change it.", {"missing": missing[:20]})


async def _may_hand_out(identity: Identity, principal: Principal, role: str) -> None:
    if role != DEFAULT_ROLE and not await identity.rbac.allowed(principal, "admin:roles"):
        raise ApiError(403, "forbidden", f"Giving a new account a role other than '{DEFAULT_ROLE}' needs "
                                         "admin:roles.", {"permission": "admin:roles"})
    missing = await identity.rbac.missing_to_delegate(principal.user_id, await identity.rbac.role_permissions([role]))
    if missing:
        raise ApiError(403, "forbidden", f"The role {role!r} grants permissions you do not hold.",
                       {"missing": missing[:20]})


async def list_users(request: web.Request) -> web.Response:
    """Accounts ordered by username; ``q`` searches username, email and display name."""
    identity = _identity(request)
    query = request.query
    result = await identity.users.list(
        q=query.get("q") or None, enabled=bool_param(query, "enabled"), role=query.get("role") or None,
        page=int_param(query, "page", 1), per_page=int_param(query, "per_page", 50))
    result["items"] = [await _with_roles(identity, user) for user in result["items"]]
    return web.json_response(result)


async def create_user(request: web.Request) -> web.Response:
    """Create an account: username, password, email, display_name, avatar_url, enabled, role."""
    identity = _identity(request)
    principal = _principal(request)
    body = await _object(request)
    role = body.pop("role", DEFAULT_ROLE)
    if not isinstance(role, str) or not role:
        raise UserError("role", "role must be a role name.", code="invalid_role")
    await _may_hand_out(identity, principal, role)
    username = body.pop("username", None)
    password = body.pop("password", None)
    user = await identity.users.create(username, password, **body)
    try:
        await identity.rbac.assign_role(user["id"], role)
    except Exception:
        await identity.users.delete(user["id"])
        raise
    user = await _with_roles(identity, user)
    await identity.activity.record("user.create", request=request, target_type="user", target_id=user["id"],
                                   after=user)
    return web.json_response(user, status=201)


async def get_user(request: web.Request) -> web.Response:
    identity = _identity(request)
    return web.json_response(await _with_roles(identity, await identity.users.get(_user_id(request))))


async def update_user(request: web.Request) -> web.Response:
    """Change username, email, display_name, avatar_url, enabled, or set a new password."""
    identity = _identity(request)
    principal = _principal(request)
    user_id = _user_id(request)
    body = await _object(request)
    password = body.pop("password", None)
    if user_id == principal.user_id and body.get("enabled") is False:
        raise UserError("enabled", "You cannot disable your own account.", code="cannot_disable_self", status=409)
    if not body and password is None:
        raise BadRequest("Send a JSON object with the fields to change.")
    await identity.users.get(user_id)  # 404 before 403 for an account that does not exist
    await _may_manage(identity, principal, user_id)
    if body:
        before, after = await identity.users.update(user_id, body)
    else:
        before = after = await identity.users.get(user_id)
    if password is not None:
        await identity.users.set_password(user_id, password)
        await identity.activity.record("user.password_reset", request=request, target_type="user",
                                       target_id=user_id)
    if before != after:
        await identity.activity.record("user.update", request=request, target_type="user", target_id=user_id,
                                       before=before, after=after)
    return web.json_response(await _with_roles(identity, after))


async def delete_user(request: web.Request) -> web.Response:
    identity = _identity(request)
    principal = _principal(request)
    user_id = _user_id(request)
    if user_id == principal.user_id:
        raise UserError("user_id", "You cannot delete your own account.", code="cannot_delete_self", status=409)
    await identity.users.get(user_id)
    await _may_manage(identity, principal, user_id)
    before = await identity.users.delete(user_id)
    await identity.activity.record("user.delete", request=request, target_type="user", target_id=user_id,
                                   before=before)
    return web.Response(status=204)


# --- oneself ------------------------------------------------------------------------------------------


async def get_me(request: web.Request) -> web.Response:
    identity = _identity(request)
    return web.json_response(await _with_roles(identity, await identity.users.get(_principal(request).user_id)))


async def update_me(request: web.Request) -> web.Response:
    """Change one's email, display name or avatar URL."""
    identity = _identity(request)
    principal = _principal(request)
    before, after = await identity.users.update(principal.user_id, await _object(request),
                                                allowed=("email", "display_name", "avatar_url"))
    if before != after:
        await identity.activity.record("user.update", request=request, target_type="user",
                                       target_id=principal.user_id, before=before, after=after)
    return web.json_response(await _with_roles(identity, after))


async def change_my_password(request: web.Request) -> web.Response:
    """Change one's password: ``current_password`` and ``new_password``; other sessions end.

    Only from a logged-in session (not with an API key), and wrong current passwords count
    toward the same lockout as failed logins, so a stolen token cannot guess without limit.
    """
    identity = _identity(request)
    principal = _principal(request)
    if principal.session_id is None:
        raise ApiError(403, "session_required", "Passwords are changed from a logged-in session, not with an API key.")
    body = await _object(request)
    account, ip = login_key(principal.username), client_ip(request)
    await identity.lockout.check(account, ip)
    try:
        await identity.users.change_password(principal.user_id, body.get("current_password"),
                                             body.get("new_password"), except_session=principal.session_id)
    except ApiError as exc:
        if exc.code == "wrong_password":
            await identity.lockout.failed(account, ip)
        await identity.activity.record("user.password_change", request=request, target_type="user",
                                       target_id=principal.user_id, success=False, details={"reason": exc.code})
        raise
    await identity.activity.record("user.password_change", request=request, target_type="user",
                                   target_id=principal.user_id)
    return web.Response(status=204)


async def get_preferences(request: web.Request) -> web.Response:
    identity = _identity(request)
    values = await identity.settings.preferences(_principal(request).user_id)
    return web.json_response({"preferences": values, "available": identity.settings.describe_preferences()})


async def update_preferences(request: web.Request) -> web.Response:
    identity = _identity(request)
    values = await identity.settings.update_preferences(_principal(request).user_id, await _json(request))
    return web.json_response({"preferences": values})


# --- activity -----------------------------------------------------------------------------------------


async def list_activity(request: web.Request) -> web.Response:
    """Newest first. Filters: actor_id, action (``auth.*`` for a prefix), target (``type`` or
    ``type:id``), success, since, until (ISO 8601); paging: page, per_page (1-200)."""
    query = request.query
    result = await _identity(request).activity.query(
        actor_id=int_param(query, "actor_id"), action=query.get("action") or None,
        target=query.get("target") or None, success=bool_param(query, "success"),
        since=parse_time(query["since"], "since") if query.get("since") else None,
        until=parse_time(query["until"], "until") if query.get("until") else None,
        page=int_param(query, "page", 1), per_page=int_param(query, "per_page", 50))
    return web.json_response(result)


# --- settings -----------------------------------------------------------------------------------------


async def public_settings(request: web.Request) -> web.Response:
    """Settings any client may read before signing in (server name, language...)."""
    return web.json_response({"settings": await _identity(request).settings.public()})


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response({"items": await _identity(request).settings.describe()})


async def update_settings(request: web.Request) -> web.Response:
    """A JSON object of keys and values; ``null`` resets a key; all or nothing is stored."""
    identity = _identity(request)
    changed = await identity.settings.update(await _json(request), request=request)
    return web.json_response({"items": changed})


# --- setup --------------------------------------------------------------------------------------------


async def setup_overview(request: web.Request) -> web.Response:
    identity = _identity(request)
    await identity.setup.guard(request)
    return web.json_response(await identity.setup.overview())


async def setup_step(request: web.Request) -> web.Response:
    identity = _identity(request)
    await identity.setup.guard(request)
    step = request.match_info["step"]
    data = await identity.setup.run_step(step, await _json(request), request)
    return web.json_response({"step": step, "done": True, "data": data, "setup": await identity.setup.overview()})


async def setup_complete(request: web.Request) -> web.Response:
    identity = _identity(request)
    await identity.setup.guard(request)
    return web.json_response(await identity.setup.complete(request))


# --- plugins ------------------------------------------------------------------------------------------

_JSON_TYPES: dict[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "string"}
_PARAM = re.compile(r"^:param\s+(\w+):\s*(.+?)(?=^:|\Z)", re.MULTILINE | re.DOTALL)


def _is_secret(field: attrs.Attribute) -> bool:
    return bool(field.metadata.get("secret")) or is_secret_key(field.name)


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _type_schema(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in _JSON_TYPES:
        schema = {"type": _JSON_TYPES[annotation]}
        if annotation is Path:
            schema["format"] = "path"
        return schema
    if attrs.has(annotation):
        return describe_schema(annotation) or {"type": "object"}
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return {"type": "string", "enum": [_plain(m.value) for m in annotation]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        schema = _type_schema(rest[0]) if len(rest) == 1 else {"anyOf": [_type_schema(a) for a in rest]}
        return {**schema, "nullable": True} if len(rest) < len(args) else schema
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset):
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin in (dict, Mapping) or annotation is dict:
        return {"type": "object"}
    return {"type": "string", "x-python-type": getattr(annotation, "__name__", str(annotation))}


def _default_of(field: attrs.Attribute) -> Any:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return None
        default = default.factory()
    return default


def describe_schema(schema: type | None) -> dict[str, Any] | None:
    """A JSON-schema-like description of a plugin's attrs config class: names, types, defaults."""
    if schema is None or not attrs.has(schema):
        return None
    try:
        hints = typing.get_type_hints(schema)
    except Exception:
        hints = {}
    doc = inspect.getdoc(schema) or ""
    params = {name: " ".join(text.split()) for name, text in _PARAM.findall(doc)}
    properties: dict[str, Any] = {}
    required = []
    for field in attrs.fields(schema):
        prop = _type_schema(hints.get(field.name, field.type))
        description = field.metadata.get("description") or params.get(field.name)
        if description:
            prop["description"] = description
        default = _default_of(field)
        if default is attrs.NOTHING:
            required.append(field.name)
        elif _is_secret(field):
            prop["default"] = MASK if default not in ("", None) else default
        else:
            prop["default"] = _plain(default)
        if _is_secret(field):
            prop["secret"] = True
        properties[field.name] = prop
    described: dict[str, Any] = {"type": "object", "title": schema.__name__, "properties": properties}
    summary = doc.split("\n\n", 1)[0].strip()
    if summary and not summary.startswith(":param"):
        described["description"] = " ".join(summary.split())
    if required:
        described["required"] = required
    return described


def mask_config(schema: type | None, values: Any) -> Any:
    """Config values with secrets masked: declared ones, secret-looking keys, URL passwords."""
    if not isinstance(values, Mapping):
        return values
    fields = {f.name: f for f in attrs.fields(schema)} if schema is not None and attrs.has(schema) else {}
    hints: dict[str, Any] = {}
    if fields:
        try:
            hints = typing.get_type_hints(schema)
        except Exception:
            hints = {}
    masked = {}
    for key, value in values.items():
        field = fields.get(key)
        secret = _is_secret(field) if field is not None else is_secret_key(key)
        if secret:
            masked[key] = MASK if value not in ("", None) else value
        elif isinstance(value, Mapping):
            nested = hints.get(key)
            masked[key] = mask_config(nested if nested is not None and attrs.has(nested) else None, value)
        elif isinstance(value, str) and "://" in value:
            masked[key] = mask_url(value)
        elif isinstance(value, list):
            masked[key] = [mask_url(v) if isinstance(v, str) and "://" in v else v for v in value]
        else:
            masked[key] = value
    return masked


def _unmask_url(value: Any, previous: Any) -> Any:
    """A URL sent back with its password masked gets the previous URL it was shown for."""
    if not isinstance(value, str) or MASK not in value:
        return value
    candidates = previous if isinstance(previous, list) else [previous]
    return next((p for p in candidates if isinstance(p, str) and mask_url(p) == value), value)


def _unmask(submitted: Any, previous: Any) -> Any:
    """Secrets sent back as ``********`` (as they were read) keep their previous value; one
    with no previous value is left out, so the placeholder itself is never stored."""
    if not isinstance(submitted, Mapping):
        return submitted
    previous = previous if isinstance(previous, Mapping) else {}
    kept = {}
    for key, value in submitted.items():
        before = previous.get(key)
        if value == MASK:
            if key in previous:
                kept[key] = before
        elif isinstance(value, Mapping):
            kept[key] = _unmask(value, before)
        elif isinstance(value, list):
            kept[key] = [_unmask_url(item, before) for item in value]
        else:
            kept[key] = _unmask_url(value, before)
    return kept


def _host(request: web.Request) -> PluginHost:
    return request.app[HOST]


def _record(request: web.Request) -> PluginRecord:
    name = request.match_info["name"]
    try:
        return _host(request).get(name)
    except KeyError:
        raise NotFound(f"There is no plugin named {name!r}.", {"plugin": name[:64]}) from None


def schema_of(host: PluginHost, record: PluginRecord) -> type | None:
    """The plugin's config class, asked of the plugin itself when it is not active."""
    if record.config_schema is not None or record.status == Status.ENABLED:
        return record.config_schema
    declare = getattr(record.plugin, "revenge_config_schema", None)
    if not callable(declare):
        return None
    try:
        schema = declare()
    except Exception:
        return None
    return schema if isinstance(schema, type) else None


def plugin_view(host: PluginHost, record: PluginRecord) -> dict[str, Any]:
    view = record.as_dict()
    view["config_schema"] = describe_schema(schema_of(host, record))
    return view


async def list_plugins(request: web.Request) -> web.Response:
    host = _host(request)
    items = [plugin_view(host, record) for record in sorted(host.records.values(), key=lambda r: r.name)]
    return web.json_response({"items": items})


async def get_plugin(request: web.Request) -> web.Response:
    return web.json_response(plugin_view(_host(request), _record(request)))


async def _toggle(request: web.Request, enabled: bool) -> web.Response:
    identity = _identity(request)
    host = _host(request)
    record = _record(request)
    before = {"status": str(record.status), "enabled": record.wanted}
    await host.set_enabled(record.name, enabled, actor=_principal(request).username)
    after = {"status": str(record.status), "enabled": record.wanted}
    worked = record.status == (Status.ENABLED if enabled else Status.DISABLED)
    await identity.activity.record("plugin.toggle", request=request, target_type="plugin", target_id=record.name,
                                   success=worked, before=before, after=after,
                                   details={"message": record.message} if record.message else None)
    return web.json_response(plugin_view(host, record))


async def enable_plugin(request: web.Request) -> web.Response:
    """Enable a plugin on every instance; the answer shows the status it reached here."""
    return await _toggle(request, True)


async def disable_plugin(request: web.Request) -> web.Response:
    return await _toggle(request, False)


def _section_sources(host: PluginHost, name: str) -> list[str]:
    """Keys of ``plugins.<name>`` that environment variables set (they win over stored values)."""
    bare = attrs.evolve(host.config, plugins={**host.config.plugins, name: {}})
    return sorted(plugin_section(bare, name, host.environ, other_plugins=host.records))


async def _stored_section(host: PluginHost, record: PluginRecord) -> Any:
    """What admins stored for the plugin, decrypted; ``None`` when it is missing or unreadable
    (the plugin's status and message say why)."""
    try:
        return await host.stored_config(record.name)
    except (ValueError, DecryptionError) as exc:  # not JSON, or another key
        logger.warning("plugin {}: the stored configuration cannot be read: {}", record.name, exc)
        return None


async def get_plugin_config(request: web.Request) -> web.Response:
    """The plugin's configuration as it applies now (secrets masked) and what admins stored."""
    host = _host(request)
    record = _record(request)
    schema = schema_of(host, record)
    key = PLUGIN_PREFIX + record.name
    # A stored section the host cannot use (not JSON, another key...) is the error to fix.
    error = {"key": key, "reason": record.config_problem.removeprefix(f"{key}: ")} if record.config_problem else None
    # A plugin that is not running may hold the config of an earlier start; work it out afresh.
    values = record.config if record.status == Status.ENABLED else None
    if values is None and schema is not None and error is None:
        try:
            values = load_plugin_config(host.config, record.name, schema, host.environ, other_plugins=host.records)
        except ConfigError as exc:
            error = {"key": exc.key, "reason": exc.reason}
    stored = await _stored_section(host, record)
    return web.json_response({
        "plugin": record.name,
        "status": str(record.status),
        "values": mask_config(schema, _plain(values)) if values is not None else None,
        "stored": mask_config(schema, stored) if stored is not None else None,
        "from_environment": _section_sources(host, record.name),
        "error": error,
        "schema": describe_schema(schema),
    })


async def put_plugin_config(request: web.Request) -> web.Response:
    """Replace the plugin's configuration section; it is validated, stored for every instance,
    and the plugin restarts with it. Secrets sent back as ``********`` keep their value."""
    identity = _identity(request)
    host = _host(request)
    record = _record(request)
    if not record.loaded:
        raise ApiError(409, "plugin_not_loaded", f"Plugin {record.name!r} is not loaded ({record.status}); "
                                                 "it cannot be configured until it loads.")
    schema = schema_of(host, record)
    previous = await _stored_section(host, record)
    if previous is None:
        previous = host.config.plugins.get(record.name) or {}
    section = _unmask(await _object(request), previous)
    trial = attrs.evolve(host.config, plugins={**host.config.plugins, record.name: section})
    try:
        load_plugin_config(trial, record.name, schema, host.environ, other_plugins=host.records)
    except ConfigError as exc:
        raise ApiError(400, "invalid_plugin_config", str(exc), {"key": exc.key, "reason": exc.reason}) from None
    before_status = str(record.status)
    principal = _principal(request)
    await host.set_config(record.name, section, actor=principal.username, user_id=principal.user_id)
    await identity.activity.record("plugin.config", request=request, target_type="plugin", target_id=record.name,
                                   success=record.status in (Status.ENABLED, Status.DISABLED, Status.EXCLUDED),
                                   before=mask_config(schema, previous), after=mask_config(schema, section),
                                   details={"status_before": before_status, "status": str(record.status),
                                            "message": record.message})
    return await get_plugin_config(request)


# --- the table ------------------------------------------------------------------------------------------

API = "/api/v1"
_users = declare(API, ("users",), describe=True)
_me = declare(API, ("me",), describe=True)
_activity = declare(API, ("activity",), describe=True)
_settings = declare(API, ("settings",), describe=True)
_setup = declare(API, ("setup",), describe=True)
_plugins = declare(API, ("plugins",), describe=True)

ROUTES: list[RouteDeclaration] = [
    _users("GET", "/admin/users", list_users, "admin:users", "List user accounts"),
    _users("POST", "/admin/users", create_user, "admin:users", "Create a user account"),
    _users("GET", "/admin/users/{user_id}", get_user, "admin:users", "Get a user account"),
    _users("PATCH", "/admin/users/{user_id}", update_user, "admin:users", "Change a user account"),
    _users("DELETE", "/admin/users/{user_id}", delete_user, "admin:users", "Delete a user account"),
    _me("GET", "/me", get_me, "self:profile", "Your account"),
    _me("PATCH", "/me", update_me, "self:security", "Change your profile"),
    _me("POST", "/me/password", change_my_password, "self:security", "Change your password"),
    _me("GET", "/me/preferences", get_preferences, "self:preferences", "Your preferences"),
    _me("PATCH", "/me/preferences", update_preferences, "self:preferences", "Change your preferences"),
    _activity("GET", "/admin/activity", list_activity, "admin:activity", "Query the activity log"),
    _settings("GET", "/settings/public", public_settings, PUBLIC, "Public server settings"),
    _settings("GET", "/admin/settings", get_settings, "admin:settings", "Server settings"),
    _settings("PATCH", "/admin/settings", update_settings, "admin:settings", "Change server settings"),
    _setup("GET", "/setup", setup_overview, PUBLIC, "First-run setup progress"),
    _setup("POST", "/setup/complete", setup_complete, PUBLIC, "Finish first-run setup"),
    _setup("POST", "/setup/{step}", setup_step, PUBLIC, "Do one first-run setup step"),
    _plugins("GET", "/admin/plugins", list_plugins, "admin:plugins", "List plugins"),
    _plugins("GET", "/admin/plugins/{name}", get_plugin, "admin:plugins", "Get a plugin"),
    _plugins("POST", "/admin/plugins/{name}/enable", enable_plugin, "admin:plugins", "Enable a plugin"),
    _plugins("POST", "/admin/plugins/{name}/disable", disable_plugin, "admin:plugins", "Disable a plugin"),
    _plugins("GET", "/admin/plugins/{name}/config", get_plugin_config, "admin:plugins",
             "Read a plugin's configuration"),
    _plugins("PUT", "/admin/plugins/{name}/config", put_plugin_config, "admin:plugins",
             "Replace a plugin's configuration"),
]
