"""Grants: which libraries and items each user may see, download or manage.

A grant gives a user, or every member of a group, one of ``view``, ``download`` or
``manage`` on a library or an item, optionally until a date. ``manage`` includes
``download``, which includes ``view``. Expiry is part of every query (``expires_at`` is
compared with the current time where the grant is read), so an expired grant stops working
the moment it expires, without any job.

A grant only opens what the user's role allows: seeing a library needs ``library:view``
from a role (and a credential whose scope covers it) *and* a grant, or ``library:all``
(admins) which sees every library without one.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import peewee

from revenge_hookspecs.errors import BadRequest, Conflict, NotFound

from ..db.models import utcnow
from .models import Grant, Group, GroupMember, User
from .principal import Principal

if TYPE_CHECKING:
    from ..db.database import Database
    from .service import Identity

LEVELS: Final = {"view": 1, "download": 2, "manage": 3}
RESOURCE_TYPES: Final = ("library", "item")
SUBJECT_TYPES: Final = ("user", "group")
RESOURCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
MAX_PAGE = 500
MODELS: list[type[peewee.Model]] = [User, Group, GroupMember, Grant]


class _All:
    """Every resource: what an admin sees. ``x in ALL`` is always true."""

    _instance: _All | None = None

    def __new__(cls) -> _All:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __contains__(self, item: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL"

    def __reduce__(self) -> str:
        return "ALL"


ALL: Final = _All()


def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=datetime.UTC).isoformat()


def positive_id(value: object, field: str) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or not 0 < value < 2**63:
        raise BadRequest(f"{field} must be a positive integer.", {"key": field})
    return value


def _choice(value: object, allowed: Iterable[str], field: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise BadRequest(f"{field} must be one of: {', '.join(allowed)}.", {"key": field, "allowed": list(allowed)})
    return str(value)


def _resource_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not RESOURCE_ID.fullmatch(value):
        raise BadRequest("resource_id has 1 to 64 characters: letters, digits, '_', '.', ':' and '-'.",
                         {"key": "resource_id", "pattern": RESOURCE_ID.pattern})
    return value


def parse_expiry(value: object, now: datetime.datetime | None = None) -> datetime.datetime | None:
    """An expiry from a ``datetime`` or ISO-8601 text, as naive UTC; it must lie in the future.

    Text without a time zone is taken as UTC.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > 40:
            raise BadRequest("expires_at is an ISO-8601 date and time.", {"key": "expires_at"})
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise BadRequest("expires_at is an ISO-8601 date and time, e.g. 2030-01-31T18:00:00Z.",
                             {"key": "expires_at"}) from None
    if not isinstance(value, datetime.datetime):
        raise BadRequest("expires_at is an ISO-8601 date and time.", {"key": "expires_at"})
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    if value <= (now or utcnow()):
        raise BadRequest("expires_at must lie in the future.", {"key": "expires_at"})
    return value


def _grant_dict(grant: Grant, now: datetime.datetime) -> dict[str, Any]:
    return {
        "id": grant.id,
        "subject_type": grant.subject_type,
        "subject_id": grant.subject_id,
        "resource_type": grant.resource_type,
        "resource_id": grant.resource_id,
        "permission": grant.permission,
        "expires_at": _iso(grant.expires_at),
        "expired": grant.expires_at is not None and grant.expires_at <= now,
        "created_by": grant.created_by,
        "created_at": _iso(grant.created_at),
    }


def _active(now: datetime.datetime) -> peewee.Expression:
    return Grant.expires_at.is_null() | (Grant.expires_at > now)


def _subjects_of(user_id: int) -> peewee.Expression:
    groups = GroupMember.select(GroupMember.group).where(GroupMember.user == user_id)
    return (((Grant.subject_type == "user") & (Grant.subject_id == user_id))
            | ((Grant.subject_type == "group") & Grant.subject_id.in_(groups)))


def _at_least(permission: str) -> list[str]:
    return [name for name, level in LEVELS.items() if level >= LEVELS[permission]]


class Grants:
    """Sharing libraries and items, and the access check built on it.

    :param identity: the identity container.
    """

    def __init__(self, identity: Identity):
        self.identity = identity
        self.db: Database = identity.db
        self.groups = Groups(identity)

    def _bind(self) -> None:
        self.db.bind(MODELS)

    # --- the access check ----------------------------------------------------------------

    async def _role_gate(self, principal: Principal | None, permission: str) -> bool:
        if not isinstance(principal, Principal) or permission not in LEVELS:
            return False
        return await self.identity.rbac.allowed(principal, f"library:{permission}")

    async def _sees_all(self, principal: Principal) -> bool:
        return await self.identity.rbac.role_allows(principal.user_id, "library:all")

    async def can(self, principal: Principal | None, permission: str, resource_type: str, resource_id: str, *,
                  library_id: str | None = None) -> bool:
        """Whether ``principal`` may ``permission`` (view, download, manage) the resource.

        :param library_id: for an item, the library it belongs to; a grant on that library
            counts for the item too.
        """
        if resource_type not in RESOURCE_TYPES or not await self._role_gate(principal, permission):
            return False
        assert principal is not None
        if await self._sees_all(principal):
            return True
        try:
            resource_id = _resource_id(resource_id)
            library_id = None if library_id is None else _resource_id(library_id)
        except BadRequest:
            return False
        user_id = principal.user_id
        levels = _at_least(permission)

        def query() -> bool:
            self._bind()
            on = (Grant.resource_type == resource_type) & (Grant.resource_id == resource_id)
            if resource_type == "item" and library_id is not None:
                on |= (Grant.resource_type == "library") & (Grant.resource_id == library_id)
            return (Grant.select(Grant.id)
                    .where(on, Grant.permission.in_(levels), _active(utcnow()), _subjects_of(user_id))
                    .exists())

        return await self.db.run(query)

    async def visible_library_ids(self, principal: Principal | None, permission: str = "view") -> set[str] | _All:
        """The libraries ``principal`` may ``permission``: a set of ids, or :data:`ALL`."""
        return await self._visible(principal, permission, "library")

    async def visible_item_ids(self, principal: Principal | None, permission: str = "view") -> set[str] | _All:
        """The items shared with ``principal`` one by one (library grants not included), or :data:`ALL`."""
        return await self._visible(principal, permission, "item")

    async def _visible(self, principal: Principal | None, permission: str, resource_type: str) -> set[str] | _All:
        if not await self._role_gate(principal, permission):
            return set()
        assert principal is not None
        if await self._sees_all(principal):
            return ALL
        user_id = principal.user_id
        levels = _at_least(permission)

        def query() -> set[str]:
            self._bind()
            rows = (Grant.select(Grant.resource_id).distinct()
                    .where(Grant.resource_type == resource_type, Grant.permission.in_(levels),
                           _active(utcnow()), _subjects_of(user_id)))
            return {row.resource_id for row in rows}

        return await self.db.run(query)

    # --- managing grants -------------------------------------------------------------------

    async def grant(self, subject_type: str, subject_id: int, resource_type: str, resource_id: str,
                    permission: str, *, expires_at: datetime.datetime | str | None = None,
                    created_by: int | None = None) -> dict[str, Any]:
        """Share a resource; returns the grant. Granting the same thing again updates its expiry."""
        _before, after = await self.grant_with_change(subject_type, subject_id, resource_type, resource_id,
                                                      permission, expires_at=expires_at, created_by=created_by)
        return after

    async def grant_with_change(self, subject_type: str, subject_id: int, resource_type: str, resource_id: str,
                                permission: str, *, expires_at: datetime.datetime | str | None = None,
                                created_by: int | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Like :meth:`grant`, also returning the grant it replaced (``None`` if new)."""
        subject_type = _choice(subject_type, SUBJECT_TYPES, "subject_type")
        subject_id = positive_id(subject_id, "subject_id")
        resource_type = _choice(resource_type, RESOURCE_TYPES, "resource_type")
        resource_id = _resource_id(resource_id)
        permission = _choice(permission, LEVELS, "permission")
        expiry = parse_expiry(expires_at)

        def write() -> tuple[dict[str, Any] | None, dict[str, Any]]:
            self._bind()
            with self.db.database.atomic():
                holder = User if subject_type == "user" else Group
                if not holder.select().where(holder.id == subject_id).exists():
                    raise BadRequest(f"There is no {subject_type} with id {subject_id}.", {"key": "subject_id"})
                now = utcnow()
                existing = (Grant.select()
                            .where(Grant.subject_type == subject_type, Grant.subject_id == subject_id,
                                   Grant.resource_type == resource_type, Grant.resource_id == resource_id,
                                   Grant.permission == permission, _active(now))
                            .order_by(Grant.id).first())
                if existing is not None:
                    before = _grant_dict(existing, now)
                    existing.expires_at = expiry
                    existing.save()
                    return before, _grant_dict(existing, now)
                grant = Grant.create(subject_type=subject_type, subject_id=subject_id, resource_type=resource_type,
                                     resource_id=resource_id, permission=permission, expires_at=expiry,
                                     created_by=created_by, created_at=now)
                return None, _grant_dict(grant, now)

        return await self.db.run(write)

    async def revoke(self, grant_id: int) -> dict[str, Any]:
        """Delete a grant; returns it as it was.

        :raises NotFound: there is no such grant.
        """
        grant_id = positive_id(grant_id, "grant_id")

        def write() -> dict[str, Any]:
            self._bind()
            with self.db.database.atomic():
                grant = Grant.get_or_none(Grant.id == grant_id)
                if grant is None:
                    raise NotFound(f"There is no grant with id {grant_id}.")
                before = _grant_dict(grant, utcnow())
                grant.delete_instance()
                return before

        return await self.db.run(write)

    def _filters(self, subject_type: str | None, subject_id: int | None, resource_type: str | None,
                 resource_id: str | None, permission: str | None, active: bool | None) -> list[peewee.Expression]:
        where: list[peewee.Expression] = []
        if subject_type is not None:
            where.append(Grant.subject_type == _choice(subject_type, SUBJECT_TYPES, "subject_type"))
        if subject_id is not None:
            where.append(Grant.subject_id == positive_id(subject_id, "subject_id"))
        if resource_type is not None:
            where.append(Grant.resource_type == _choice(resource_type, RESOURCE_TYPES, "resource_type"))
        if resource_id is not None:
            where.append(Grant.resource_id == _resource_id(resource_id))
        if permission is not None:
            where.append(Grant.permission == _choice(permission, LEVELS, "permission"))
        if active is True:
            where.append(_active(utcnow()))
        elif active is False:
            where.append(Grant.expires_at.is_null(False) & (Grant.expires_at <= utcnow()))
        return where

    async def list(self, *, subject_type: str | None = None, subject_id: int | None = None,
                   resource_type: str | None = None, resource_id: str | None = None,
                   permission: str | None = None, active: bool | None = None, limit: int = 100,
                   offset: int = 0) -> list[dict[str, Any]]:
        """Grants matching every given filter, newest first.

        :param active: ``True`` for grants in force, ``False`` for expired ones, ``None`` for both.
        """
        where = self._filters(subject_type, subject_id, resource_type, resource_id, permission, active)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit is between 1 and {MAX_PAGE}.", {"key": "limit"})
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise BadRequest("offset is 0 or more.", {"key": "offset"})

        def read() -> list[dict[str, Any]]:
            self._bind()
            query = Grant.select().order_by(Grant.id.desc()).limit(limit).offset(offset)
            if where:
                query = query.where(*where)
            now = utcnow()
            return [_grant_dict(grant, now) for grant in query]

        return await self.db.run(read)

    async def count(self, *, subject_type: str | None = None, subject_id: int | None = None,
                    resource_type: str | None = None, resource_id: str | None = None,
                    permission: str | None = None, active: bool | None = None) -> int:
        """How many grants :meth:`list` would page through."""
        where = self._filters(subject_type, subject_id, resource_type, resource_id, permission, active)

        def read() -> int:
            self._bind()
            query = Grant.select()
            if where:
                query = query.where(*where)
            return query.count()

        return await self.db.run(read)

    async def forget_subject(self, subject_type: str, subject_id: int) -> int:
        """Delete every grant of a deleted user or group; returns how many."""
        subject_type = _choice(subject_type, SUBJECT_TYPES, "subject_type")
        subject_id = positive_id(subject_id, "subject_id")

        def write() -> int:
            self._bind()
            return (Grant.delete()
                    .where(Grant.subject_type == subject_type, Grant.subject_id == subject_id).execute())

        return await self.db.run(write)


class Groups:
    """User groups: grants given to a group reach every member.

    :param identity: the identity container.
    """

    def __init__(self, identity: Identity):
        self.identity = identity
        self.db: Database = identity.db

    def _bind(self) -> None:
        self.db.bind(MODELS)

    @staticmethod
    def _name(value: object) -> str:
        if not isinstance(value, str) or not GROUP_NAME.fullmatch(value) or value != value.strip():
            raise BadRequest("A group name has 1 to 64 characters: letters, digits, spaces, '_', '.' and '-', "
                             "starting with a letter or digit.", {"key": "name"})
        return value

    @staticmethod
    def _description(value: object) -> str:
        if not isinstance(value, str) or len(value) > 256 or any(ord(c) < 32 for c in value):
            raise BadRequest("A description is text of at most 256 characters, without control characters.",
                             {"key": "description"})
        return value

    def _dict_sync(self, group: Group, members: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"id": group.id, "name": group.name, "description": group.description,
                                "created_at": _iso(group.created_at)}
        rows = (User.select(User.id, User.username).join(GroupMember, on=(GroupMember.user == User.id))
                .where(GroupMember.group == group.id).order_by(User.id))
        if members:
            body["members"] = [{"id": u.id, "username": u.username} for u in rows]
        else:
            body["member_count"] = rows.count()
        return body

    def _get_sync(self, group_id: int) -> Group:
        group = Group.get_or_none(Group.id == group_id)
        if group is None:
            raise NotFound(f"There is no group with id {group_id}.")
        return group

    def _name_taken_sync(self, name: str, other_than: int | None = None) -> None:
        query = Group.select().where(peewee.fn.LOWER(Group.name) == name.lower())
        if other_than is not None:
            query = query.where(Group.id != other_than)
        if query.exists():
            raise Conflict(f"A group named {name!r} already exists.", {"key": "name"})

    async def list(self) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            self._bind()
            return [self._dict_sync(group, members=False) for group in Group.select().order_by(Group.name)]

        return await self.db.run(read)

    async def get(self, group_id: int) -> dict[str, Any]:
        group_id = positive_id(group_id, "group_id")

        def read() -> dict[str, Any]:
            self._bind()
            return self._dict_sync(self._get_sync(group_id))

        return await self.db.run(read)

    async def create(self, name: str, description: str = "") -> dict[str, Any]:
        name, description = self._name(name), self._description(description)

        def write() -> dict[str, Any]:
            self._bind()
            with self.db.database.atomic():
                self._name_taken_sync(name)
                return self._dict_sync(Group.create(name=name, description=description))

        return await self._unique(write, name)

    async def _unique(self, write: Any, name: str | None) -> Any:
        try:
            return await self.db.run(write)
        except peewee.IntegrityError:  # another request took the name between check and write
            raise Conflict(f"A group named {name!r} already exists.", {"key": "name"}) from None

    async def update(self, group_id: int, *, name: str | None = None,
                     description: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Rename or describe a group; returns it before and after."""
        group_id = positive_id(group_id, "group_id")
        name = None if name is None else self._name(name)
        description = None if description is None else self._description(description)

        def write() -> tuple[dict[str, Any], dict[str, Any]]:
            self._bind()
            with self.db.database.atomic():
                group = self._get_sync(group_id)
                before = self._dict_sync(group)
                if name is not None:
                    self._name_taken_sync(name, other_than=group_id)
                    group.name = name
                if description is not None:
                    group.description = description
                group.save()
                return before, self._dict_sync(group)

        return await self._unique(write, name)

    async def delete(self, group_id: int) -> dict[str, Any]:
        """Delete a group, its memberships and its grants; returns what it was."""
        group_id = positive_id(group_id, "group_id")

        def write() -> dict[str, Any]:
            self._bind()
            with self.db.database.atomic():
                group = self._get_sync(group_id)
                before = self._dict_sync(group)
                before["grants"] = (Grant.delete()
                                    .where(Grant.subject_type == "group", Grant.subject_id == group_id).execute())
                GroupMember.delete().where(GroupMember.group == group_id).execute()
                group.delete_instance()
                return before

        return await self.db.run(write)

    async def add_member(self, group_id: int, user_id: int) -> bool:
        """Put a user in a group; ``False`` when they already were."""
        group_id = positive_id(group_id, "group_id")
        user_id = positive_id(user_id, "user_id")

        def write() -> bool:
            self._bind()
            with self.db.database.atomic():
                self._get_sync(group_id)
                if not User.select().where(User.id == user_id).exists():
                    raise NotFound(f"There is no user with id {user_id}.")
                if GroupMember.select().where(GroupMember.group == group_id, GroupMember.user == user_id).exists():
                    return False
                GroupMember.insert(group=group_id, user=user_id).on_conflict_ignore().execute()
                return True

        return await self.db.run(write)

    async def remove_member(self, group_id: int, user_id: int) -> bool:
        """Take a user out of a group; ``False`` when they were not in it."""
        group_id = positive_id(group_id, "group_id")
        user_id = positive_id(user_id, "user_id")

        def write() -> bool:
            self._bind()
            with self.db.database.atomic():
                self._get_sync(group_id)
                return GroupMember.delete().where(GroupMember.group == group_id,
                                                  GroupMember.user == user_id).execute() > 0

        return await self.db.run(write)

    async def groups_of(self, user_id: int) -> list[dict[str, Any]]:
        """The groups a user is in."""
        user_id = positive_id(user_id, "user_id")

        def read() -> list[dict[str, Any]]:
            self._bind()
            rows = (Group.select().join(GroupMember, on=(GroupMember.group == Group.id))
                    .where(GroupMember.user == user_id).order_by(Group.name))
            return [{"id": g.id, "name": g.name} for g in rows]

        return await self.db.run(read)


__all__ = ["ALL", "LEVELS", "RESOURCE_TYPES", "SUBJECT_TYPES", "Grants", "Groups", "parse_expiry", "positive_id"]
