"""Role-based access control on casbin, with the policy stored in the database.

Permissions are ``area:action`` names (``users:read``, ``admin:roles``, ``webhooks:read``);
a role holds permissions or patterns of them (``admin:*``, ``*``) and may inherit other
roles. Users hold roles through ``g, user:<id>, <role>`` lines. Built-in roles (``admin``,
``moderator``, ``user``, ``guest``) are defined here and kept in the database exactly as
defined; custom roles are created and deleted by admins.

A permission check needs both: a role of the user that grants the permission, and a
credential scope (:func:`scope_for`) that covers it, so an API key limited to ``read`` never
writes, even an admin's.

Each instance keeps an immutable snapshot of the policy (a casbin enforcer) and asks the
database at most once per :attr:`Rbac.refresh_interval` whether the policy's revision moved;
every change bumps that revision in the same transaction, so a change made on one instance
is enforced by all of them within about a second. Changes are made on a private enforcer
inside a database transaction (casbin's management API writing through
:class:`PeeweeAdapter`), which then becomes the new snapshot; a published snapshot is never
modified, so checks on the event loop never see half a change.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import casbin
import peewee
from casbin.persist import Adapter

from revenge_hookspecs.db import Model
from revenge_hookspecs.errors import BadRequest, Conflict, NotFound

from ..db.models import utcnow
from .models import CasbinRule, User
from .principal import SCOPES, Principal

if TYPE_CHECKING:
    from ..db.database import Database
    from .service import Identity

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
_PART = r"[a-z][a-z0-9_.-]{0,62}"
PERMISSION = re.compile(rf"^{_PART}:{_PART}$")
"""A concrete permission, as routes declare it."""
PERMISSION_PATTERN = re.compile(rf"^(?:\*|{_PART}:(?:\*|{_PART}))$")
"""What a role may hold: a permission, ``area:*`` or ``*``."""

READ_ACTIONS = frozenset({"read", "view", "download"})
READ_PERMISSIONS = frozenset({"self:profile"})

KNOWN_PERMISSIONS: Mapping[str, str] = {
    "users:read": "See other users' public profiles.",
    "users:write": "Change other users' profiles.",
    "admin:users": "Manage user accounts and read their roles and groups.",
    "admin:roles": "Create, change and delete roles; assign roles to users.",
    "admin:grants": "Share libraries and items with users and groups; manage groups.",
    "admin:settings": "Read and change server settings.",
    "admin:activity": "Read the activity log.",
    "admin:plugins": "List, configure, enable and disable plugins.",
    "admin:libraries": "Create and delete libraries.",
    "self:profile": "Read one's own profile.",
    "self:sessions": "List and revoke one's own sessions.",
    "self:api_keys": "Create and revoke one's own API keys.",
    "self:security": "Change one's own password and second factor.",
    "self:preferences": "Read and change one's own preferences.",
    "self:item_state": "Mark items favourite or watched and keep one's own playback progress.",
    "library:view": "Browse the libraries and items one was granted.",
    "library:download": "Download from the libraries and items one was granted.",
    "library:manage": "Manage (scan, edit) the libraries one was granted manage on.",
    "library:all": "See every library without a grant.",
    "content:read": "Read content metadata, images and streams.",
    "search:read": "Search the catalogue.",
    "legacy:read": "Use the Jellyfin-compatible API.",
}

CONTENT_READ = ("content:read", "search:read", "movies:read", "tv:read", "music:read", "legacy:read")


class RoleSpec:
    __slots__ = ("description", "inherits", "permissions")

    def __init__(self, description: str, permissions: Iterable[str], inherits: Iterable[str] = ()):
        self.description = description
        self.permissions = tuple(permissions)
        self.inherits = tuple(inherits)


BUILTIN_ROLES: Mapping[str, RoleSpec] = {
    "admin": RoleSpec("Everything, including every admin area.", ["*"]),
    "moderator": RoleSpec("A user who also manages granted libraries and reads the activity log.",
                          ["library:manage", "admin:activity"], ["user"]),
    "user": RoleSpec("A regular account: its own settings, and the content it was granted.",
                     ["self:*", "library:view", "library:download", *CONTENT_READ], ["guest"]),
    "guest": RoleSpec("Read-only: its own profile and browsing what it was granted.",
                      ["self:profile", "library:view"]),
}

MODEL_TEXT = """
[request_definition]
r = sub, obj

[policy_definition]
p = sub, obj

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && keyMatch(r.obj, p.obj)
"""

RBAC_REVISION = "rbac"


class Role(Model):
    """A role's existence and description; its permissions are casbin lines."""

    name = peewee.CharField(primary_key=True, max_length=32)
    description = peewee.CharField(max_length=256, default="")
    builtin = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        schema = "shared"
        table_name = "roles"


class AccessRevision(Model):
    """Bumped in the transaction of every policy change; instances poll it."""

    name = peewee.CharField(primary_key=True, max_length=32)
    revision = peewee.BigIntegerField(default=0)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        schema = "shared"
        table_name = "access_revision"


MODELS: list[type[peewee.Model]] = [Role, AccessRevision, CasbinRule, User]


# --- permission names ------------------------------------------------------------------


def is_permission(value: object) -> bool:
    """Whether ``value`` is a concrete ``area:action`` permission."""
    return isinstance(value, str) and PERMISSION.fullmatch(value) is not None


def is_permission_pattern(value: object) -> bool:
    """Whether a role may hold ``value``: a permission, ``area:*`` or ``*``."""
    return isinstance(value, str) and PERMISSION_PATTERN.fullmatch(value) is not None


def scope_for(permission: str) -> str:
    """The credential scope a permission needs: ``admin``, ``legacy:read``, ``read`` or ``write``."""
    area, _, action = permission.partition(":")
    if area == "admin":
        return "admin"
    if area == "legacy":
        return "legacy:read"
    if action in READ_ACTIONS or permission in READ_PERMISSIONS:
        return "read"
    return "write"


def scopes_for_pattern(pattern: str) -> frozenset[str]:
    """Every scope some permission matching ``pattern`` may need."""
    if pattern == "*":
        return SCOPES
    area, _, action = pattern.partition(":")
    if action == "*":
        if area in ("admin", "legacy"):
            return frozenset({scope_for(f"{area}:x")})
        return frozenset({"read", "write"})
    return frozenset({scope_for(pattern)})


def covers(held: str, wanted: str) -> bool:
    """Whether holding the pattern ``held`` includes everything ``wanted`` grants."""
    if held == "*" or held == wanted:
        return True
    if wanted == "*":
        return False
    return held.endswith(":*") and wanted.startswith(held[:-1])


def subject(user_id: int) -> str:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise TypeError(f"a user id must be an integer, not {user_id!r}")
    return f"user:{user_id}"


def _user_of(subject_name: str) -> int | None:
    if subject_name.startswith("user:") and subject_name[5:].isdigit():
        return int(subject_name[5:])
    return None


def check_role_name(name: object) -> str:
    if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
        raise BadRequest("A role name has 2 to 32 characters: lowercase letters, digits, '_' and '-', "
                         "starting with a letter.", {"key": "name", "pattern": ROLE_NAME.pattern})
    return name


def check_permissions(permissions: object) -> list[str]:
    if isinstance(permissions, str | bytes | Mapping) or not isinstance(permissions, Iterable):
        raise BadRequest("Permissions are a list of names.", {"key": "permissions"})
    values = list(permissions)
    if len(values) > 200:
        raise BadRequest("A role holds at most 200 permissions.", {"key": "permissions"})
    bad = [p for p in values if not is_permission_pattern(p)]
    if bad:
        raise BadRequest("Permissions look like 'area:action', 'area:*' or '*'.",
                         {"key": "permissions", "invalid": [str(p)[:80] for p in bad[:10]]})
    return sorted(set(values))


# --- casbin adapter ------------------------------------------------------------------------


class PeeweeAdapter(Adapter):
    """casbin policy storage in ``shared.casbin_rules``.

    Blocking: call it on a database thread (the enforcer calls it from inside
    :meth:`Rbac._write_sync`, within the transaction of the change).
    """

    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    def _row(ptype: str, rule: Iterable[str]) -> dict[str, str]:
        values = list(rule)
        if len(values) > 6:
            raise ValueError("a casbin rule has at most 6 values")
        row = {"ptype": ptype}
        for index, value in enumerate(values):
            row[f"v{index}"] = value
        return row

    def _match(self, ptype: str, rule: Iterable[str]) -> peewee.Expression:
        condition = CasbinRule.ptype == ptype
        values = list(rule)
        for index in range(6):
            value = values[index] if index < len(values) else ""
            condition &= getattr(CasbinRule, f"v{index}") == value
        return condition

    def load_policy(self, model: Any) -> None:
        self.db.bind([CasbinRule])
        for row in CasbinRule.select().order_by(CasbinRule.id):
            values = [row.v0, row.v1, row.v2, row.v3, row.v4, row.v5]
            while values and values[-1] == "":
                values.pop()
            sec = row.ptype[:1]
            if sec in model.model and row.ptype in model.model[sec]:
                model.model[sec][row.ptype].policy.append(values)

    def save_policy(self, model: Any) -> bool:
        self.db.bind([CasbinRule])
        with self.db.database.atomic():
            CasbinRule.delete().execute()
            rows = [self._row(ptype, rule)
                    for sec in ("p", "g") if sec in model.model
                    for ptype, assertion in model.model[sec].items()
                    for rule in assertion.policy]
            if rows:
                CasbinRule.insert_many(rows).execute()
        return True

    def add_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        self.db.bind([CasbinRule])
        CasbinRule.insert(**self._row(ptype, rule)).execute()
        return True

    def add_policies(self, sec: str, ptype: str, rules: Iterable[list[str]]) -> bool:
        self.db.bind([CasbinRule])
        rows = [self._row(ptype, rule) for rule in rules]
        if rows:
            CasbinRule.insert_many(rows).execute()
        return True

    def remove_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        self.db.bind([CasbinRule])
        return CasbinRule.delete().where(self._match(ptype, rule)).execute() > 0

    def remove_policies(self, sec: str, ptype: str, rules: Iterable[list[str]]) -> bool:
        removed = False
        for rule in rules:
            removed = self.remove_policy(sec, ptype, rule) or removed
        return removed

    def remove_filtered_policy(self, sec: str, ptype: str, field_index: int, *field_values: str) -> bool:
        if not 0 <= field_index <= 5 or not 1 <= field_index + len(field_values) <= 6:
            return False
        self.db.bind([CasbinRule])
        condition = CasbinRule.ptype == ptype
        for offset, value in enumerate(field_values):
            if value:  # casbin: an empty value matches anything
                condition &= getattr(CasbinRule, f"v{field_index + offset}") == value
        return CasbinRule.delete().where(condition).execute() > 0


# --- snapshots -----------------------------------------------------------------------------


class _RoleRow:
    __slots__ = ("builtin", "description", "name")

    def __init__(self, name: str, description: str, builtin: bool):
        self.name, self.description, self.builtin = name, description, builtin


class _Snapshot:
    """One revision of the policy; never modified once built."""

    MAX_DECISIONS = 8192

    def __init__(self, revision: int, enforcer: casbin.Enforcer, roles: dict[str, _RoleRow]):
        self.revision = revision
        self.enforcer = enforcer
        self.roles = roles
        self._decisions: dict[tuple[str, str], bool] = {}

    def enforce(self, sub: str, permission: str) -> bool:
        key = (sub, permission)
        decision = self._decisions.get(key)
        if decision is None:
            decision = bool(self.enforcer.enforce(sub, permission))
            if len(self._decisions) >= self.MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def direct_roles(self, sub: str) -> frozenset[str]:
        return frozenset(r for r in self.enforcer.get_roles_for_user(sub) if r in self.roles)

    def implicit_roles(self, sub: str) -> frozenset[str]:
        return frozenset(r for r in self.enforcer.get_implicit_roles_for_user(sub) if r in self.roles)

    def permissions_of_role(self, role: str) -> list[str]:
        return sorted({rule[1] for rule in self.enforcer.get_filtered_policy(0, role)})

    def parents_of(self, role: str) -> list[str]:
        return sorted({rule[1] for rule in self.enforcer.get_filtered_grouping_policy(0, role)
                       if rule[1] in self.roles})

    def effective_permissions(self, sub_or_role: str) -> frozenset[str]:
        return frozenset(rule[1] for rule in self.enforcer.get_implicit_permissions_for_user(sub_or_role))

    def members_of(self, role: str) -> list[int]:
        users = (_user_of(rule[0]) for rule in self.enforcer.get_filtered_grouping_policy(1, role))
        return sorted(u for u in users if u is not None)

    def role_dict(self, name: str) -> dict[str, Any]:
        row = self.roles[name]
        return {
            "name": name,
            "description": row.description,
            "builtin": row.builtin,
            "permissions": self.permissions_of_role(name),
            "inherits": self.parents_of(name),
            "effective_permissions": sorted(self.effective_permissions(name)),
            "users": len(self.members_of(name)),
        }


# --- the service ---------------------------------------------------------------------------


class Rbac:
    """Roles, permissions and the permission check every route goes through.

    :param identity: the identity container (database, cache, sibling services).
    """

    refresh_interval = 1.0
    """Seconds between checks of the shared policy revision."""

    def __init__(self, identity: Identity):
        self.identity = identity
        self.db: Database = identity.db
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._lock: asyncio.Lock | None = None
        self._seeded = False

    # --- checks ------------------------------------------------------------------------

    async def allowed(self, principal: Principal | None, permission: str) -> bool:
        """Whether ``principal`` may use ``permission``: a role grants it and a scope covers it.

        Anything malformed (no principal, a permission that is not ``area:action``) is denied.
        """
        if not isinstance(principal, Principal) or not is_permission(permission):
            return False
        if scope_for(permission) not in principal.scopes:
            return False
        try:
            sub = subject(principal.user_id)
        except TypeError:
            return False
        return (await self._current()).enforce(sub, permission)

    async def role_allows(self, user_id: int, permission: str) -> bool:
        """Whether the roles of ``user_id`` grant ``permission``, whatever the credential."""
        if not is_permission(permission):
            return False
        return (await self._current()).enforce(subject(user_id), permission)

    async def roles_of(self, user_id: int) -> frozenset[str]:
        """The roles assigned to a user directly."""
        return (await self._current()).direct_roles(subject(user_id))

    async def permissions_of(self, user_id: int) -> frozenset[str]:
        """Every permission pattern a user holds through their roles, inherited ones included."""
        return (await self._current()).effective_permissions(subject(user_id))

    async def allowed_scopes(self, user_id: int) -> frozenset[str]:
        """The scopes a user may put on an API key: those some permission of theirs needs."""
        scopes: set[str] = set()
        for pattern in await self.permissions_of(user_id):
            scopes |= scopes_for_pattern(pattern)
        return frozenset(scopes & SCOPES)

    async def users_with_role(self, role: str) -> frozenset[int]:
        """Users who hold ``role`` directly."""
        return frozenset((await self._current()).members_of(role))

    async def missing_to_delegate(self, user_id: int, patterns: Iterable[str]) -> list[str]:
        """Of ``patterns``, those the user's own roles do not cover.

        Nobody hands out (or takes away) more than they hold: role management checks this
        before changing a role or a user's roles.
        """
        held = await self.permissions_of(user_id)
        return sorted({p for p in patterns if not any(covers(h, p) for h in held)})

    async def role_permissions(self, roles: Iterable[str]) -> frozenset[str]:
        """Every pattern the given roles grant, inherited ones included."""
        snapshot = await self._current()
        found: set[str] = set()
        for role in roles:
            if role in snapshot.roles:
                found |= snapshot.effective_permissions(role)
        return frozenset(found)

    # --- roles -------------------------------------------------------------------------

    async def list_roles(self) -> list[dict[str, Any]]:
        """Every role with its permissions, parents and number of users."""
        snapshot = await self._current()
        builtin = [name for name in BUILTIN_ROLES if name in snapshot.roles]
        custom = sorted(name for name in snapshot.roles if name not in BUILTIN_ROLES)
        return [snapshot.role_dict(name) for name in builtin + custom]

    async def get_role(self, name: str) -> dict[str, Any]:
        snapshot = await self._current()
        if name not in snapshot.roles:
            raise NotFound(f"There is no role named {name!r}.")
        return snapshot.role_dict(name)

    async def create_role(self, name: str, permissions: Iterable[str], *, description: str = "",
                          inherits: Iterable[str] = ()) -> dict[str, Any]:
        """Create a custom role.

        :raises BadRequest: a name, permission or parent role is invalid.
        :raises Conflict: a role of that name exists (built-in names are taken).
        """
        name = check_role_name(name)
        wanted = check_permissions(permissions)
        description = _check_description(description)
        parents = check_role_list(inherits, "inherits")

        def change(enforcer: casbin.Enforcer, roles: dict[str, _RoleRow]) -> None:
            if name in roles or name in BUILTIN_ROLES:
                raise Conflict(f"A role named {name!r} already exists.", {"key": "name"})
            _require_roles(parents, roles, "inherits")
            Role.insert(name=name, description=description, builtin=False).execute()
            roles[name] = _RoleRow(name, description, False)
            if wanted:
                enforcer.add_policies([[name, p] for p in wanted])
            if parents:
                enforcer.add_grouping_policies([[name, parent] for parent in parents])

        snapshot = await self._write(change)
        return snapshot.role_dict(name)

    async def update_role(self, name: str, *, permissions: Iterable[str] | None = None,
                          description: str | None = None, inherits: Iterable[str] | None = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change a custom role; returns its state before and after.

        :raises Conflict: the role is built in (built-in roles are defined by the server).
        """
        name = check_role_name(name)
        wanted = None if permissions is None else check_permissions(permissions)
        description = None if description is None else _check_description(description)
        parents = None if inherits is None else check_role_list(inherits, "inherits")
        before: dict[str, Any] = {}

        def change(enforcer: casbin.Enforcer, roles: dict[str, _RoleRow]) -> None:
            row = roles.get(name)
            if row is None:
                raise NotFound(f"There is no role named {name!r}.")
            if row.builtin:
                raise Conflict(f"{name!r} is a built-in role and cannot be changed; create a custom role instead.")
            before.update(_Snapshot(0, enforcer, roles).role_dict(name))
            if description is not None:
                Role.update(description=description, updated_at=utcnow()).where(Role.name == name).execute()
                row.description = description
            if wanted is not None:
                _replace(enforcer.get_filtered_policy(0, name), [[name, p] for p in wanted],
                         enforcer.remove_policies, enforcer.add_policies)
            if parents is not None:
                _require_roles(parents, roles, "inherits")
                for parent in parents:
                    if parent == name or name in enforcer.get_implicit_roles_for_user(parent):
                        raise BadRequest(f"Role {name!r} cannot inherit {parent!r}: that would make a cycle.",
                                         {"key": "inherits"})
                _replace(enforcer.get_filtered_grouping_policy(0, name), [[name, p] for p in parents],
                         enforcer.remove_grouping_policies, enforcer.add_grouping_policies)

        snapshot = await self._write(change)
        return before, snapshot.role_dict(name)

    async def delete_role(self, name: str) -> dict[str, Any]:
        """Delete a custom role, taking it from every user and role that had it; returns what it was.

        :raises Conflict: the role is built in.
        :raises NotFound: there is no such role.
        """
        name = check_role_name(name)
        before: dict[str, Any] = {}

        def change(enforcer: casbin.Enforcer, roles: dict[str, _RoleRow]) -> None:
            row = roles.get(name)
            if row is None:
                raise NotFound(f"There is no role named {name!r}.")
            if row.builtin:
                raise Conflict(f"{name!r} is a built-in role and cannot be deleted.")
            snapshot = _Snapshot(0, enforcer, roles)
            before.update(snapshot.role_dict(name), user_ids=snapshot.members_of(name))
            enforcer.remove_filtered_policy(0, name)
            enforcer.remove_filtered_grouping_policy(0, name)
            enforcer.remove_filtered_grouping_policy(1, name)
            Role.delete().where(Role.name == name).execute()
            del roles[name]

        await self._write(change)
        return before

    # --- users' roles ------------------------------------------------------------------

    async def assign_role(self, user_id: int, role: str) -> None:
        """Give a user a role (no change when they have it)."""
        await self.replace_roles(user_id, add=[role])

    async def revoke_role(self, user_id: int, role: str) -> None:
        """Take a role from a user (no change when they do not have it)."""
        await self.replace_roles(user_id, remove=[role])

    async def set_roles(self, user_id: int, roles: Iterable[str]) -> frozenset[str]:
        """Make ``roles`` exactly the user's roles; returns them."""
        _before, after = await self.replace_roles(user_id, roles=roles)
        return after

    async def replace_roles(self, user_id: int, roles: Iterable[str] | None = None, *,
                            add: Iterable[str] = (), remove: Iterable[str] = ()
                            ) -> tuple[frozenset[str], frozenset[str]]:
        """Change a user's roles: set them to ``roles``, or add and remove some.

        Returns the roles before and after. The last enabled admin keeps the admin role.

        :raises NotFound: the user does not exist.
        :raises BadRequest: a role does not exist.
        :raises Conflict: the change would leave no enabled admin.
        """
        sub = subject(user_id)
        target = None if roles is None else check_role_list(roles, "roles")
        adding = check_role_list(add, "roles")
        removing = check_role_list(remove, "roles")
        result: dict[str, frozenset[str]] = {}

        def change(enforcer: casbin.Enforcer, role_rows: dict[str, _RoleRow]) -> None:
            if not User.select().where(User.id == user_id).exists():
                raise NotFound(f"There is no user with id {user_id}.")
            _require_roles([*(target or ()), *adding], role_rows, "roles")
            current = frozenset(enforcer.get_roles_for_user(sub))
            wanted = set(target) if target is not None else set(current)
            wanted |= set(adding)
            wanted -= set(removing)
            if "admin" in current and "admin" not in wanted:
                _keep_an_admin(enforcer, user_id)
            for role in sorted(current - wanted):
                enforcer.delete_role_for_user(sub, role)
            for role in sorted(wanted - current):
                enforcer.add_role_for_user(sub, role)
            result["before"] = frozenset(r for r in current if r in role_rows)
            result["after"] = frozenset(r for r in wanted if r in role_rows)

        await self._write(change)
        return result["before"], result["after"]

    async def forget_user(self, user_id: int) -> None:
        """Drop every role line of a deleted user, so a later account reusing the id starts clean."""
        sub = subject(user_id)

        def change(enforcer: casbin.Enforcer, roles: dict[str, _RoleRow]) -> None:
            enforcer.remove_filtered_grouping_policy(0, sub)

        await self._write(change)

    # --- the snapshot ------------------------------------------------------------------

    def _bind(self) -> None:
        self.db.bind(MODELS)

    def _new_enforcer(self) -> casbin.Enforcer:
        return casbin.Enforcer(casbin.Enforcer.new_model(text=MODEL_TEXT), PeeweeAdapter(self.db))

    def _roles_sync(self) -> dict[str, _RoleRow]:
        return {row.name: _RoleRow(row.name, row.description, row.builtin) for row in Role.select()}

    def _revision_sync(self) -> int:
        value = (AccessRevision.select(AccessRevision.revision)
                 .where(AccessRevision.name == RBAC_REVISION).scalar())
        return int(value or 0)

    def _load_sync(self, known: int | None) -> _Snapshot | None:
        self._bind()
        with self.db.database.atomic():
            # The revision first: policies read after it are at least as new, never older.
            revision = self._revision_sync()
            if known is not None and revision == known:
                return None
            return _Snapshot(revision, self._new_enforcer(), self._roles_sync())

    def _write_sync(self, change: Callable[[casbin.Enforcer, dict[str, _RoleRow]], None]) -> _Snapshot:
        self._bind()
        with self.db.database.atomic():
            # Bumping the revision first takes the row's write lock, so changes made on
            # several instances at once apply one after the other, each on fresh state.
            bumped = (AccessRevision.update(revision=AccessRevision.revision + 1, updated_at=utcnow())
                      .where(AccessRevision.name == RBAC_REVISION).execute())
            if not bumped:
                AccessRevision.insert(name=RBAC_REVISION, revision=1).execute()
            revision = self._revision_sync()
            enforcer = self._new_enforcer()
            roles = self._roles_sync()
            change(enforcer, roles)
            enforcer.build_role_links()
        return _Snapshot(revision, enforcer, roles)

    def _seed_sync(self) -> _Snapshot | None:
        """Make the built-in roles in the database exactly what this server defines."""
        self._bind()
        AccessRevision.insert(name=RBAC_REVISION, revision=0).on_conflict_ignore().execute()
        if self._builtins_current_sync():
            return None
        return self._write_sync(_apply_builtins)

    def _builtins_current_sync(self) -> bool:
        rows = {row.name: row for row in Role.select().where(Role.name.in_(list(BUILTIN_ROLES)))}
        p_lines: dict[str, set[str]] = {name: set() for name in BUILTIN_ROLES}
        g_lines: dict[str, set[str]] = {name: set() for name in BUILTIN_ROLES}
        for rule in CasbinRule.select().where(CasbinRule.v0.in_(list(BUILTIN_ROLES))):
            target = p_lines if rule.ptype == "p" else g_lines if rule.ptype == "g" else None
            if target is not None:
                target[rule.v0].add(rule.v1)
        for name, spec in BUILTIN_ROLES.items():
            row = rows.get(name)
            if row is None or not row.builtin or row.description != spec.description:
                return False
            if p_lines[name] != set(spec.permissions) or g_lines[name] != set(spec.inherits):
                return False
        return True

    def _publish(self, snapshot: _Snapshot | None) -> None:
        if snapshot is not None and (self._snapshot is None or snapshot.revision >= self._snapshot.revision):
            self._snapshot = snapshot
        self._checked_at = time.monotonic()

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked_at < self.refresh_interval:
            return snapshot
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and time.monotonic() - self._checked_at < self.refresh_interval:
                return snapshot
            if not self._seeded:
                self._publish(await self.db.run(self._seed_sync))
                self._seeded = True
            known = None if self._snapshot is None else self._snapshot.revision
            self._publish(await self.db.run(self._load_sync, known))
            assert self._snapshot is not None
            return self._snapshot

    async def refresh(self) -> None:
        """Read the shared policy now instead of at the next interval."""
        self._checked_at = float("-inf")
        await self._current()

    async def _write(self, change: Callable[[casbin.Enforcer, dict[str, _RoleRow]], None]) -> _Snapshot:
        await self._current()  # seeds the built-in roles on first use
        snapshot = await self.db.run(self._write_sync, change)
        self._publish(snapshot)
        return snapshot


# --- helpers -------------------------------------------------------------------------------


def _apply_builtins(enforcer: casbin.Enforcer, roles: dict[str, _RoleRow]) -> None:
    for name, spec in BUILTIN_ROLES.items():
        Role.insert(name=name, description=spec.description, builtin=True).on_conflict(
            conflict_target=[Role.name],
            update={Role.description: spec.description, Role.builtin: True, Role.updated_at: utcnow()},
        ).execute()
        roles[name] = _RoleRow(name, spec.description, True)
    for name, spec in BUILTIN_ROLES.items():
        _replace(enforcer.get_filtered_policy(0, name), [[name, p] for p in spec.permissions],
                 enforcer.remove_policies, enforcer.add_policies)
        _replace(enforcer.get_filtered_grouping_policy(0, name), [[name, p] for p in spec.inherits],
                 enforcer.remove_grouping_policies, enforcer.add_grouping_policies)


def _replace(current: list[list[str]], wanted: list[list[str]], remove: Callable[[list[list[str]]], Any],
             add: Callable[[list[list[str]]], Any]) -> None:
    have = {tuple(rule) for rule in current}
    want = {tuple(rule) for rule in wanted}
    if have - want:
        remove([list(rule) for rule in sorted(have - want)])
    if want - have:
        add([list(rule) for rule in sorted(want - have)])


def _keep_an_admin(enforcer: casbin.Enforcer, leaving: int) -> None:
    others = [u for u in (_user_of(rule[0]) for rule in enforcer.get_filtered_grouping_policy(1, "admin"))
              if u is not None and u != leaving]
    if not others or not User.select().where(User.id.in_(others), User.enabled == True).exists():  # noqa: E712
        raise Conflict("This is the last enabled admin; make another user an admin first.",
                       {"role": "admin"})


def _check_description(value: object) -> str:
    if not isinstance(value, str) or len(value) > 256 or any(ord(c) < 32 for c in value):
        raise BadRequest("A description is text of at most 256 characters, without control characters.",
                         {"key": "description"})
    return value


def check_role_list(values: object, field: str) -> list[str]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise BadRequest("Roles are a list of role names.", {"key": field})
    names = list(values)
    if len(names) > 50:
        raise BadRequest("At most 50 roles at once.", {"key": field})
    bad = [n for n in names if not isinstance(n, str) or not ROLE_NAME.fullmatch(n)]
    if bad:
        raise BadRequest("A role name has 2 to 32 characters: lowercase letters, digits, '_' and '-'.",
                         {"key": field, "invalid": [str(n)[:40] for n in bad[:10]]})
    return sorted(set(names))


def _require_roles(names: Iterable[str], roles: Mapping[str, _RoleRow], field: str) -> None:
    unknown = sorted(set(names) - set(roles))
    if unknown:
        raise BadRequest("These roles do not exist: " + ", ".join(unknown) + ".",
                         {"key": field, "unknown": unknown})


__all__ = [
    "BUILTIN_ROLES", "KNOWN_PERMISSIONS", "PERMISSION", "PERMISSION_PATTERN", "ROLE_NAME",
    "PeeweeAdapter", "Rbac", "check_permissions", "check_role_list", "check_role_name", "covers", "is_permission",
    "is_permission_pattern", "scope_for", "scopes_for_pattern",
]
