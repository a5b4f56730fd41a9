"""Admin API for access: roles, users' roles, groups and grants.

Every input is checked against an allowlist (names, permission patterns, integer ids,
known fields) and refused with a 400 that says what is expected. Nobody hands out more
than they hold: creating, changing, deleting or assigning a role needs every permission
that role grants. Each change is written to the activity log with its before and after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from loguru import logger

from revenge_hookspecs.errors import ApiError, BadRequest
from revenge_hookspecs.types import PUBLIC

from ...http.keys import ROUTES as ROUTE_TABLE
from ...http.keys import STATE
from ...http.routing import RouteDeclaration, declare
from ..authorizer import IDENTITY, current_principal
from ..grants import LEVELS, RESOURCE_TYPES, SUBJECT_TYPES, positive_id
from ..models import User
from ..principal import Principal
from ..rbac import (
    KNOWN_PERMISSIONS,
    ROLE_NAME,
    check_permissions,
    check_role_list,
    check_role_name,
    is_permission,
    scope_for,
)
from ..service import Identity

PREFIX = "/api/v1/admin"
TAGS = ("access",)


# --- plumbing --------------------------------------------------------------------------------


def _identity(request: web.Request) -> Identity:
    return request.app[IDENTITY]


def _principal(request: web.Request) -> Principal:
    principal = current_principal(request)
    if not isinstance(principal, Principal):  # the authorizer guarantees one; never trust a gap
        raise ApiError(401, "unauthorized", "This endpoint needs credentials.")
    return principal


async def _body(request: web.Request, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
    if not request.can_read_body:
        raise BadRequest("Send a JSON object as the request body.")
    body = await request.json()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    allowed = set(allowed)
    unknown = sorted(str(k)[:40] for k in body if k not in allowed)
    if unknown:
        raise BadRequest(f"Unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}.",
                         {"key": unknown[0], "unknown": unknown})
    missing = [k for k in required if k not in body]
    if missing:
        raise BadRequest(f"The field {missing[0]!r} is required.", {"key": missing[0]})
    return body


def _query(request: web.Request, allowed: Iterable[str]) -> Mapping[str, str]:
    allowed = set(allowed)
    query = request.rel_url.query
    unknown = sorted({k[:40] for k in query if k not in allowed})
    if unknown:
        raise BadRequest(f"Unknown query parameter {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}.",
                         {"key": unknown[0], "unknown": unknown})
    if any(len(query.getall(k)) > 1 for k in query):
        raise BadRequest("Give each query parameter once.")
    return query


def _path_id(request: web.Request, key: str) -> int:
    return positive_id(request.match_info[key], key)


def _path_role(request: web.Request) -> str:
    return check_role_name(request.match_info["name"])


def _int_param(query: Mapping[str, str], key: str, default: int) -> int:
    text = query.get(key)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise BadRequest(f"{key} must be a whole number of 0 or more.", {"key": key})
    return int(text)


def _bool_param(query: Mapping[str, str], key: str) -> bool | None:
    text = query.get(key)
    if text is None or text == "" or text == "all":
        return None
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BadRequest(f"{key} must be true, false or all.", {"key": key})


async def _record(request: web.Request, action: str, **fields: Any) -> None:
    """Write an activity entry; the change is already made, so a failure here is logged, not raised."""
    try:
        await _identity(request).activity.record(action, request=request, **fields)
    except Exception as exc:
        logger.opt(exception=exc).error("could not record the activity {}", action)


async def _require_delegable(request: web.Request, patterns: Iterable[str]) -> None:
    """Refuse a role change that hands out, or takes away, more than the caller holds."""
    principal = _principal(request)
    missing = await _identity(request).rbac.missing_to_delegate(principal.user_id, patterns)
    if missing:
        raise ApiError(403, "forbidden", "You cannot give or take away permissions you do not hold yourself.",
                       {"missing": missing[:50]})


# --- permissions and roles -------------------------------------------------------------------


def _declared_permissions(app: web.Application) -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {}
    entries = list(app[ROUTE_TABLE].entries)
    router = app[STATE].get("plugin_router")
    if router is not None:
        entries += router.entries()
    for entry in entries:
        if entry.permission != PUBLIC:
            declared.setdefault(entry.permission, set()).add(entry.owner)
    return declared


async def list_permissions(request: web.Request) -> web.Response:
    """Permissions roles can hold: the server's catalogue and those routes declare."""
    _query(request, ())
    declared = _declared_permissions(request.app)
    names = sorted(set(KNOWN_PERMISSIONS) | {p for p in declared if is_permission(p)})
    items = [{"name": name, "description": KNOWN_PERMISSIONS.get(name, ""), "scope": scope_for(name),
              "declared_by": sorted(declared.get(name, ()))} for name in names]
    return web.json_response({"items": items, "patterns": ["area:*", "*"]})


async def list_roles(request: web.Request) -> web.Response:
    _query(request, ())
    return web.json_response({"items": await _identity(request).rbac.list_roles()})


async def create_role(request: web.Request) -> web.Response:
    body = await _body(request, ("name", "permissions", "description", "inherits"), ("name", "permissions"))
    rbac = _identity(request).rbac
    check_role_name(body["name"])
    permissions = check_permissions(body["permissions"])
    inherits = check_role_list(body.get("inherits", []), "inherits")
    await _require_delegable(request, [*permissions, *await rbac.role_permissions(inherits)])
    role = await rbac.create_role(body["name"], permissions, description=body.get("description", ""),
                                  inherits=inherits)
    await _record(request, "role.create", target_type="role", target_id=role["name"], after=role)
    return web.json_response(role, status=201)


async def update_role(request: web.Request) -> web.Response:
    name = _path_role(request)
    body = await _body(request, ("permissions", "description", "inherits"))
    if not body:
        raise BadRequest("Send at least one of: permissions, description, inherits.")
    rbac = _identity(request).rbac
    current = await rbac.get_role(name)
    touched = list(current["effective_permissions"])
    if body.get("permissions") is not None:
        touched += check_permissions(body["permissions"])
    if body.get("inherits") is not None:
        touched += sorted(await rbac.role_permissions(check_role_list(body["inherits"], "inherits")))
    await _require_delegable(request, touched)
    before, after = await rbac.update_role(name, permissions=body.get("permissions"),
                                           description=body.get("description"), inherits=body.get("inherits"))
    await _record(request, "role.update", target_type="role", target_id=name, before=before, after=after)
    return web.json_response(after)


async def delete_role(request: web.Request) -> web.Response:
    name = _path_role(request)
    rbac = _identity(request).rbac
    current = await rbac.get_role(name)
    await _require_delegable(request, current["effective_permissions"])
    before = await rbac.delete_role(name)
    await _record(request, "role.delete", target_type="role", target_id=name, before=before)
    return web.Response(status=204)


async def _user_exists(identity: Identity, user_id: int) -> None:
    def read() -> bool:
        identity.db.bind([User])
        return User.select().where(User.id == user_id).exists()

    if not await identity.db.run(read):
        raise ApiError(404, "not_found", f"There is no user with id {user_id}.")


async def _user_roles_view(identity: Identity, user_id: int) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "roles": sorted(await identity.rbac.roles_of(user_id)),
        "effective_permissions": sorted(await identity.rbac.permissions_of(user_id)),
        "allowed_scopes": sorted(await identity.rbac.allowed_scopes(user_id)),
        "groups": await identity.grants.groups.groups_of(user_id),
    }


async def get_user_roles(request: web.Request) -> web.Response:
    user_id = _path_id(request, "user_id")
    identity = _identity(request)
    await _user_exists(identity, user_id)
    return web.json_response(await _user_roles_view(identity, user_id))


async def set_user_roles(request: web.Request) -> web.Response:
    user_id = _path_id(request, "user_id")
    body = await _body(request, ("roles",), ("roles",))
    identity = _identity(request)
    rbac = identity.rbac
    await _user_exists(identity, user_id)
    wanted = check_role_list(body["roles"], "roles")
    current = await rbac.roles_of(user_id)
    changed = set(current) ^ set(wanted)
    await _require_delegable(request, sorted(await rbac.role_permissions(changed)))
    before, after = await rbac.replace_roles(user_id, wanted)
    if before != after:
        await _record(request, "role.change", target_type="user", target_id=str(user_id),
                      before={"roles": sorted(before)}, after={"roles": sorted(after)})
    return web.json_response(await _user_roles_view(identity, user_id))


# --- groups ----------------------------------------------------------------------------------


async def list_groups(request: web.Request) -> web.Response:
    _query(request, ())
    return web.json_response({"items": await _identity(request).grants.groups.list()})


async def create_group(request: web.Request) -> web.Response:
    body = await _body(request, ("name", "description"), ("name",))
    group = await _identity(request).grants.groups.create(body["name"], body.get("description", ""))
    await _record(request, "group.create", target_type="group", target_id=str(group["id"]), after=group)
    return web.json_response(group, status=201)


async def get_group(request: web.Request) -> web.Response:
    return web.json_response(await _identity(request).grants.groups.get(_path_id(request, "group_id")))


async def update_group(request: web.Request) -> web.Response:
    group_id = _path_id(request, "group_id")
    body = await _body(request, ("name", "description"))
    if not body:
        raise BadRequest("Send at least one of: name, description.")
    before, after = await _identity(request).grants.groups.update(group_id, name=body.get("name"),
                                                                  description=body.get("description"))
    await _record(request, "group.update", target_type="group", target_id=str(group_id), before=before, after=after)
    return web.json_response(after)


async def delete_group(request: web.Request) -> web.Response:
    group_id = _path_id(request, "group_id")
    before = await _identity(request).grants.groups.delete(group_id)
    await _record(request, "group.delete", target_type="group", target_id=str(group_id), before=before)
    return web.Response(status=204)


async def add_group_member(request: web.Request) -> web.Response:
    group_id, user_id = _path_id(request, "group_id"), _path_id(request, "user_id")
    groups = _identity(request).grants.groups
    if await groups.add_member(group_id, user_id):
        await _record(request, "group.member.add", target_type="group", target_id=str(group_id),
                      after={"user_id": user_id})
    return web.json_response(await groups.get(group_id))


async def remove_group_member(request: web.Request) -> web.Response:
    group_id, user_id = _path_id(request, "group_id"), _path_id(request, "user_id")
    if await _identity(request).grants.groups.remove_member(group_id, user_id):
        await _record(request, "group.member.remove", target_type="group", target_id=str(group_id),
                      before={"user_id": user_id})
    return web.Response(status=204)


# --- grants ----------------------------------------------------------------------------------

GRANT_FILTERS = ("subject_type", "subject_id", "resource_type", "resource_id", "permission")


async def list_grants(request: web.Request) -> web.Response:
    query = _query(request, (*GRANT_FILTERS, "active", "limit", "offset"))
    filters: dict[str, Any] = {key: query[key] for key in GRANT_FILTERS if query.get(key)}
    filters["active"] = _bool_param(query, "active")
    limit, offset = _int_param(query, "limit", 100), _int_param(query, "offset", 0)
    grants = _identity(request).grants
    items = await grants.list(**filters, limit=limit, offset=offset)
    total = await grants.count(**filters)
    return web.json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def create_grant(request: web.Request) -> web.Response:
    body = await _body(request, (*GRANT_FILTERS, "expires_at"), GRANT_FILTERS)
    principal = _principal(request)
    before, after = await _identity(request).grants.grant_with_change(
        body["subject_type"], body["subject_id"], body["resource_type"], body["resource_id"], body["permission"],
        expires_at=body.get("expires_at"), created_by=principal.user_id)
    await _record(request, "grant.create", target_type=after["resource_type"], target_id=after["resource_id"],
                  before=before, after=after)
    return web.json_response(after, status=201 if before is None else 200)


async def revoke_grant(request: web.Request) -> web.Response:
    grant_id = _path_id(request, "grant_id")
    before = await _identity(request).grants.revoke(grant_id)
    await _record(request, "grant.revoke", target_type=before["resource_type"], target_id=before["resource_id"],
                  before=before)
    return web.Response(status=204)


# --- declarations ------------------------------------------------------------------------------

_ROLE_BODY = {
    "type": "object", "additionalProperties": False, "required": ["name", "permissions"],
    "properties": {
        "name": {"type": "string", "pattern": ROLE_NAME.pattern},
        "permissions": {"type": "array", "items": {"type": "string"}, "maxItems": 200},
        "description": {"type": "string", "maxLength": 256},
        "inherits": {"type": "array", "items": {"type": "string", "pattern": ROLE_NAME.pattern}},
    },
}
_ROLE_CHANGE = {**_ROLE_BODY, "required": [],
                "properties": {k: v for k, v in _ROLE_BODY["properties"].items() if k != "name"}}
_ROLES_BODY = {"type": "object", "additionalProperties": False, "required": ["roles"],
               "properties": {"roles": {"type": "array", "items": {"type": "string", "pattern": ROLE_NAME.pattern}}}}
_GROUP_BODY = {"type": "object", "additionalProperties": False,
               "properties": {"name": {"type": "string", "maxLength": 64},
                              "description": {"type": "string", "maxLength": 256}}}
_GRANT_BODY = {
    "type": "object", "additionalProperties": False, "required": list(GRANT_FILTERS),
    "properties": {
        "subject_type": {"enum": list(SUBJECT_TYPES)},
        "subject_id": {"type": "integer", "minimum": 1},
        "resource_type": {"enum": list(RESOURCE_TYPES)},
        "resource_id": {"type": "string", "maxLength": 64},
        "permission": {"enum": list(LEVELS)},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


_route = declare(PREFIX, TAGS)

ROUTES: list[RouteDeclaration] = [
    _route("GET", "/permissions", list_permissions, "admin:roles", "Permissions roles can hold"),
    _route("GET", "/roles", list_roles, "admin:roles", "Roles with their permissions"),
    _route("POST", "/roles", create_role, "admin:roles", "Create a custom role", request_schema=_ROLE_BODY),
    _route("PUT", "/roles/{name}", update_role, "admin:roles", "Change a custom role",
           request_schema=_ROLE_CHANGE),
    _route("DELETE", "/roles/{name}", delete_role, "admin:roles", "Delete a custom role"),
    _route("GET", "/users/{user_id}/roles", get_user_roles, "admin:users", "A user's roles and permissions"),
    _route("PUT", "/users/{user_id}/roles", set_user_roles, "admin:roles", "Set a user's roles",
           request_schema=_ROLES_BODY),
    _route("GET", "/groups", list_groups, "admin:users", "User groups"),
    _route("POST", "/groups", create_group, "admin:grants", "Create a group",
           request_schema={**_GROUP_BODY, "required": ["name"]}),
    _route("GET", "/groups/{group_id}", get_group, "admin:users", "A group with its members"),
    _route("PATCH", "/groups/{group_id}", update_group, "admin:grants", "Rename or describe a group",
           request_schema=_GROUP_BODY),
    _route("DELETE", "/groups/{group_id}", delete_group, "admin:grants", "Delete a group and its grants"),
    _route("PUT", "/groups/{group_id}/members/{user_id}", add_group_member, "admin:grants",
           "Add a user to a group"),
    _route("DELETE", "/groups/{group_id}/members/{user_id}", remove_group_member, "admin:grants",
           "Remove a user from a group"),
    _route("GET", "/grants", list_grants, "admin:grants", "Grants, filtered and paged"),
    _route("POST", "/grants", create_grant, "admin:grants", "Share a library or an item",
           request_schema=_GRANT_BODY),
    _route("DELETE", "/grants/{grant_id}", revoke_grant, "admin:grants", "Revoke a grant"),
]

__all__ = ["ROUTES"]
