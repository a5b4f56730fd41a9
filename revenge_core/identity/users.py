"""User accounts: validation, creation, lookups, profile changes, passwords.

Usernames and emails are unique without regard to case (``username_key`` and ``email_key``
hold the folded forms, with unique indexes, so two racing requests cannot both win).
Nothing this module returns carries a password hash or a TOTP secret.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import peewee

from revenge_hookspecs.db import is_sqlite
from revenge_hookspecs.errors import ApiError, NotFound

from ..db.models import utcnow
from . import passwords
from .models import CasbinRule, Grant, Session, User
from .tokens import write_transaction

if TYPE_CHECKING:
    from .service import Identity

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MAX_PER_PAGE = 200
PROFILE_FIELDS = ("username", "email", "display_name", "avatar_url", "enabled")
ADMIN_ROLE = "admin"


class UserError(ApiError):
    """A refused field value; ``details.key`` names the field."""

    def __init__(self, key: str, message: str, code: str | None = None, status: int = 400):
        super().__init__(status, code or f"invalid_{key}", message, {"key": key})


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=datetime.UTC).isoformat().replace("+00:00", "Z")


def user_as_dict(row: User) -> dict[str, Any]:
    """What the API shows of an account."""
    return {
        "id": row.id,
        "username": row.username,
        "email": row.email,
        "display_name": row.display_name,
        "avatar_url": row.avatar_url,
        "enabled": row.enabled,
        "totp_enabled": row.totp_enabled,
        "created_at": iso(row.created_at),
        "last_login_at": iso(row.last_login_at),
        "password_changed_at": iso(row.password_changed_at),
    }


# --- field rules -----------------------------------------------------------------------------------


def check_username(value: Any) -> str:
    if not isinstance(value, str) or not USERNAME.fullmatch(value):
        raise UserError("username", "The username must be 3 to 64 characters: letters, digits, '.', '_' or '-', "
                                    "starting with a letter or digit.")
    return value


def check_email(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 254 or not EMAIL.fullmatch(value.strip()):
        raise UserError("email", "The email address is not valid; use the form name@example.com.")
    return value.strip()


def check_display_name(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UserError("display_name", "The display name must be text.")
    value = value.strip()
    if len(value) > 128 or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UserError("display_name", "The display name must be at most 128 characters, without control "
                                        "characters.")
    return value


def check_avatar_url(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 1024:
        raise UserError("avatar_url", "The avatar URL must be text of at most 1024 characters.")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in value.strip()):
        raise UserError("avatar_url", "The avatar URL must be an http:// or https:// address.")
    return value.strip()


def check_enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UserError("enabled", "enabled must be true or false.")
    return value


CHECKS: dict[str, Callable[[Any], Any]] = {
    "username": check_username,
    "email": check_email,
    "display_name": check_display_name,
    "avatar_url": check_avatar_url,
    "enabled": check_enabled,
}


def _keys(fields: Mapping[str, Any]) -> dict[str, Any]:
    keyed = dict(fields)
    if "username" in keyed:
        keyed["username_key"] = keyed["username"].lower()
    if "email" in keyed:
        keyed["email_key"] = keyed["email"].lower() if keyed["email"] else None
    return keyed


# --- the service ------------------------------------------------------------------------------------


class Users:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    @property
    def min_password_length(self) -> int:
        return self.identity.config.auth.password_min_length

    def check_password(self, password: Any) -> str:
        try:
            passwords.check_policy(password, self.min_password_length)
        except passwords.PasswordPolicyError as exc:
            raise UserError("password", str(exc), code="weak_password") from None
        return password

    async def hash_password(self, password: str) -> str:
        # Looked up at call time so tests can lower the cost.
        return await asyncio.to_thread(passwords.hash_password, password, passwords.BCRYPT_ROUNDS)

    # --- creation ---

    async def prepare(self, username: Any, password: Any, *, email: Any = None, display_name: Any = "",
                      avatar_url: Any = "", enabled: Any = True) -> dict[str, Any]:
        """Validated columns of a new account, password hashed; see :meth:`insert`."""
        fields = {
            "username": check_username(username),
            "email": check_email(email),
            "display_name": check_display_name(display_name),
            "avatar_url": check_avatar_url(avatar_url),
            "enabled": check_enabled(enabled),
        }
        self.check_password(password)
        fields["password_hash"] = await self.hash_password(password)
        now = utcnow()
        fields["created_at"] = fields["password_changed_at"] = now
        return _keys(fields)

    def insert(self, fields: Mapping[str, Any]) -> User:
        """Insert prepared columns (blocking, on a database thread, models bound).

        :raises ApiError: 409 ``username_taken`` or ``email_taken``.
        """
        self._refuse_taken(fields)
        try:
            with self.db.database.atomic():
                return User.create(**fields)
        except peewee.IntegrityError:
            # Lost a race with another request: say which value it took.
            self._refuse_taken(fields)
            raise

    def _refuse_taken(self, fields: Mapping[str, Any], exclude: int | None = None) -> None:
        def taken(column: peewee.Field, value: Any) -> bool:
            query = User.select(User.id).where(column == value)
            if exclude is not None:
                query = query.where(User.id != exclude)
            return query.exists()

        if "username_key" in fields and taken(User.username_key, fields["username_key"]):
            raise UserError("username", "That username is taken.", code="username_taken", status=409)
        if fields.get("email_key") and taken(User.email_key, fields["email_key"]):
            raise UserError("email", "That email address belongs to another account.", code="email_taken",
                            status=409)

    async def create(self, username: Any, password: Any, **profile: Any) -> dict[str, Any]:
        """Create an account; returns it as the API shows it."""
        unknown = set(profile) - {"email", "display_name", "avatar_url", "enabled"}
        if unknown:
            key = sorted(unknown)[0]
            raise UserError(key, f"Unknown field {key!r}.", code="unknown_field")
        fields = await self.prepare(username, password, **profile)
        row = await self._run(self.insert, fields)
        return user_as_dict(row)

    # --- reading ---

    def _row(self, user_id: Any) -> User:
        try:
            return User.get_by_id(int(user_id))
        except (User.DoesNotExist, ValueError, TypeError):
            raise NotFound("No user has this id.", {"user_id": str(user_id)}) from None

    async def get(self, user_id: Any) -> dict[str, Any]:
        return user_as_dict(await self._run(self._row, user_id))

    async def get_by_login(self, login: str) -> dict[str, Any] | None:
        """The account whose username or email is ``login`` (any case), or ``None``."""
        key = login.strip().lower()

        def read() -> User | None:
            return User.get_or_none((User.username_key == key) | (User.email_key == key))

        row = await self._run(read)
        return None if row is None else user_as_dict(row)

    async def list(self, *, q: str | None = None, enabled: bool | None = None, role: str | None = None,
                   page: int = 1, per_page: int = 50) -> dict[str, Any]:
        """Accounts ordered by username, with ``total`` for paging.

        :param q: part of the username, email or display name (any case).
        :param role: only users holding this role directly.
        """
        if page < 1:
            raise UserError("page", "page must be 1 or more.", code="bad_request")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise UserError("per_page", f"per_page must be between 1 and {MAX_PER_PAGE}.", code="bad_request")

        def read() -> dict[str, Any]:
            query = User.select()
            if q:
                needle = q.strip().lower()
                query = query.where(User.username_key.contains(needle) | User.email_key.contains(needle)
                                    | User.display_name.contains(q.strip()))
            if enabled is not None:
                query = query.where(User.enabled == enabled)
            if role:
                query = query.where(User.id.in_(self._ids_with_role(role)))
            total = query.count()
            rows = query.order_by(User.username_key).paginate(page, per_page)
            return {"items": [user_as_dict(row) for row in rows], "total": total, "page": page,
                    "per_page": per_page}

        return await self._run(read)

    def _ids_with_role(self, role: str) -> list[int]:
        rows = CasbinRule.select(CasbinRule.v0).where((CasbinRule.ptype == "g") & (CasbinRule.v1 == role))
        return [int(row.v0[5:]) for row in rows if row.v0.startswith("user:") and row.v0[5:].isdigit()]

    async def roles_of(self, user_id: int) -> list[str]:
        return sorted(await maybe_await(self.identity.rbac.roles_of(user_id)))

    async def is_admin(self, user_id: int) -> bool:
        return ADMIN_ROLE in await self.roles_of(user_id)

    async def enabled_admin_ids(self) -> set[int]:
        """Enabled accounts holding the admin role."""
        def read() -> set[int]:
            ids = self._ids_with_role(ADMIN_ROLE)
            if not ids:
                return set()
            return {row.id for row in User.select(User.id).where(User.id.in_(ids) & (User.enabled == True))}  # noqa: E712

        return await self._run(read)

    async def admin_exists(self) -> bool:
        return bool(await self.enabled_admin_ids())

    # --- changes ---

    def clean_changes(self, changes: Mapping[str, Any], allowed: tuple[str, ...] = PROFILE_FIELDS) -> dict[str, Any]:
        if not isinstance(changes, Mapping) or not changes:
            raise ApiError(400, "bad_request", "Send a JSON object with the fields to change.")
        cleaned = {}
        for key, value in changes.items():
            if key not in allowed:
                raise UserError(str(key), f"The field {key!r} cannot be changed here; allowed: "
                                          f"{', '.join(allowed)}.", code="unknown_field")
            cleaned[key] = CHECKS[key](value)
        return cleaned

    def _admin_guard(self, user_id: int, leaving: bool) -> None:
        """Refuse a change that leaves no enabled admin (on a database thread, in a transaction).

        The admins' rows are locked first (PostgreSQL; SQLite's write transaction is already
        exclusive), so two admins disabling each other at once cannot both succeed.
        """
        if not leaving:
            return
        ids = self._ids_with_role(ADMIN_ROLE)
        if user_id not in ids:
            return
        query = User.select(User.id, User.enabled).where(User.id.in_(ids)).order_by(User.id)
        if not is_sqlite(self.db.database):
            query = query.for_update()
        others = [row.id for row in query if row.enabled and row.id != user_id]
        if not others:
            raise UserError("user_id", "This is the last enabled admin; make another user an admin first.",
                            code="last_admin", status=409)

    async def update(self, user_id: Any, changes: Mapping[str, Any], *,
                     allowed: tuple[str, ...] = PROFILE_FIELDS) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply validated profile changes; returns the account before and after.

        Disabling an account ends its sessions; the last enabled admin cannot be disabled.
        """
        cleaned = _keys(self.clean_changes(changes, allowed))

        def write() -> tuple[dict[str, Any], dict[str, Any]]:
            with write_transaction(self.db.database):
                row = self._row(user_id)
                before = user_as_dict(row)
                self._admin_guard(row.id, leaving=cleaned.get("enabled") is False and row.enabled)
                self._refuse_taken(cleaned, exclude=row.id)
                try:
                    with self.db.database.atomic():
                        User.update(**cleaned).where(User.id == row.id).execute()
                except peewee.IntegrityError:
                    self._refuse_taken(cleaned, exclude=row.id)
                    raise
                return before, user_as_dict(self._row(row.id))

        before, after = await self._run(write)
        if before["enabled"] and not after["enabled"]:
            await maybe_await(self.identity.sessions.revoke_all(after["id"], reason="user_disabled"))
        return before, after

    async def set_password(self, user_id: Any, new_password: Any, *, except_session: str | None = None) -> None:
        """Replace a password (policy checked) and end every other session of the user."""
        self.check_password(new_password)
        hashed = await self.hash_password(new_password)
        row = await self._run(self._row, user_id)

        def write() -> None:
            User.update(password_hash=hashed, password_changed_at=utcnow()).where(User.id == row.id).execute()

        await self._run(write)
        await maybe_await(self.identity.sessions.revoke_all(row.id, except_session=except_session))

    async def change_password(self, user_id: Any, current_password: Any, new_password: Any, *,
                              except_session: str | None = None) -> None:
        """A user's own change: the current password must be right; other sessions end."""
        row = await self._run(self._row, user_id)
        if not isinstance(current_password, str) or not await asyncio.to_thread(
                passwords.verify_password, current_password, row.password_hash):
            raise UserError("current_password", "The current password is wrong.", code="wrong_password")
        if new_password == current_password:
            raise UserError("new_password", "The new password must differ from the current one.",
                            code="weak_password")
        try:
            await self.set_password(row.id, new_password, except_session=except_session)
        except UserError as exc:
            exc.details["key"] = "new_password"
            raise

    async def touch_login(self, user_id: int) -> None:
        """Remember a successful login."""
        await self._run(lambda: User.update(last_login_at=utcnow()).where(User.id == user_id).execute())

    async def delete(self, user_id: Any) -> dict[str, Any]:
        """Delete an account with its sessions, keys, memberships, role links and grants.

        The last enabled admin cannot be deleted.
        """
        row = await self._run(self._row, user_id)

        def write() -> list[str]:
            with write_transaction(self.db.database):
                self._admin_guard(row.id, leaving=True)
                session_ids = [s.id for s in Session.select(Session.id).where(Session.user == row.id)]
                # SQLite may hand a deleted id to the next account: nothing may outlive the user.
                CasbinRule.delete().where((CasbinRule.ptype == "g") & (CasbinRule.v0 == f"user:{row.id}")).execute()
                Grant.delete().where((Grant.subject_type == "user") & (Grant.subject_id == row.id)).execute()
                User.delete().where(User.id == row.id).execute()
                return session_ids

        for session_id in await self._run(write):
            # The rows went with the user; cached session checks must go too.
            await maybe_await(self.identity.sessions.forget(session_id))
        # Publishes a policy without the user's role lines on every instance.
        await maybe_await(self.identity.rbac.forget_user(row.id))
        return user_as_dict(row)
