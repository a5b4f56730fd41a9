"""First run: the guided setup that creates the first admin and walks the seed's wizard.

Steps, in the seed's order: ``database`` (the driver in use), ``admin`` (the first admin
account), ``libraries`` (media folders), ``cache_search`` (what is configured), ``arr``
(Radarr, Sonarr... connections) and ``groups`` (user groups). The first three are required.
Each step is validated and stored in ``shared.setup_steps`` when done, so setup can be left
and resumed; an optional step done again replaces what it did before.

Access: while no admin exists, setup is open to anyone (that is how the first admin is
made); the steps after ``admin`` need it done first. Once an admin exists, every setup call
needs the ``admin:settings`` permission; once ``complete`` is called, setup is closed and
answers 409 ``setup_closed``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import peewee
from aiohttp import web

from revenge_hookspecs.errors import ApiError

from ..config import mask_url
from ..db.models import utcnow
from .models import Group, SetupStep, User
from .principal import require_caller
from .settings import ARR_SERVICES, api_key, http_url
from .users import ADMIN_ROLE, UserError, maybe_await

if TYPE_CHECKING:
    from .service import Identity

COMPLETE = "complete"
SETUP_PERMISSION = "admin:settings"
MAX_LIBRARIES = 100
MAX_GROUPS = 50


@attrs.frozen
class StepInfo:
    name: str
    title: str
    required: bool


STEPS: tuple[StepInfo, ...] = (
    StepInfo("database", "Database", True),
    StepInfo("admin", "Admin account", True),
    StepInfo("libraries", "Library paths", True),
    StepInfo("cache_search", "Cache and search", False),
    StepInfo("arr", "Arr integrations", False),
    StepInfo("groups", "User groups", False),
)
STEP_NAMES = tuple(step.name for step in STEPS)


class SetupError(ApiError):
    def __init__(self, step: str, key: str, message: str, code: str = "invalid_setup_step", status: int = 400):
        super().__init__(status, code, message, {"step": step, "key": key})


def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=datetime.UTC).isoformat().replace("+00:00", "Z")


def _body(step: str, body: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise SetupError(step, "", "Send a JSON object.", code="bad_request")
    for key in body:
        if key not in allowed:
            raise SetupError(step, str(key), f"Unknown field {key!r}; this step takes: "
                                             f"{', '.join(allowed) or 'nothing'}.")
    return body


@attrs.frozen
class SetupState:
    steps: dict[str, dict[str, Any]]  # step -> {"data": ..., "completed_at": ...}
    admin_exists: bool
    closed: bool

    @property
    def open(self) -> bool:
        return not self.closed

    def done(self, step: str) -> bool:
        return step in self.steps


class Setup:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db
        self.config = identity.config

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    # --- state ---

    async def state(self) -> SetupState:
        def read() -> dict[str, dict[str, Any]]:
            return {row.step: {"data": json.loads(row.data), "completed_at": row.completed_at}
                    for row in SetupStep.select()}

        rows = await self._run(read)
        closed = COMPLETE in rows
        admin_exists = "admin" in rows or await self.identity.users.admin_exists()
        return SetupState({k: v for k, v in rows.items() if k != COMPLETE}, admin_exists, closed)

    async def guard(self, request: web.Request) -> SetupState:
        """Refuse when setup is closed, or when an admin exists and the caller is not allowed."""
        state = await self.state()
        if state.closed:
            raise ApiError(409, "setup_closed", "Setup is complete; change settings through the admin API.")
        if state.admin_exists:
            principal = require_caller(request, "An admin exists: sign in as an admin to continue setup.",
                                       {"permission": SETUP_PERMISSION})
            if not await maybe_await(self.identity.rbac.allowed(principal, SETUP_PERMISSION)):
                raise ApiError(403, "forbidden", "Continuing setup needs the admin:settings permission.",
                               {"permission": SETUP_PERMISSION})
        return state

    def database_report(self, detailed: bool = True) -> dict[str, Any]:
        """The driver in use; where it lives only for admins (setup is anonymous before them)."""
        database = self.config.database
        report: dict[str, Any] = {"driver": database.driver}
        if not detailed:
            return report
        if database.driver == "postgres":
            report["url"] = mask_url(database.url)
        else:
            report["path"] = str(self.config.sqlite_file)
        return report

    def cache_search_report(self) -> dict[str, Any]:
        services = self.identity.services
        config = self.config
        return {
            "cache": {"backend": getattr(services.cache, "backend", "memory"),
                      "url": mask_url(config.cache.url) if config.cache.url else ""},
            "search": {"backend": getattr(services.search, "backend", ""), "url": config.search.url},
            "jobs": {"backend": getattr(services.jobs, "backend", "")},
        }

    async def overview(self) -> dict[str, Any]:
        state = await self.state()
        steps = []
        for info in STEPS:
            stored = state.steps.get(info.name)
            entry: dict[str, Any] = {"name": info.name, "title": info.title, "required": info.required,
                                     "done": stored is not None,
                                     "completed_at": _iso(stored["completed_at"]) if stored else None,
                                     "data": stored["data"] if stored else None}
            if info.name == "database":
                entry["current"] = self.database_report(detailed=state.admin_exists)
            elif info.name == "cache_search" and state.admin_exists:
                entry["current"] = self.cache_search_report()
            elif info.name == "admin":
                entry["done"] = entry["done"] or state.admin_exists
            steps.append(entry)
        missing = [s["name"] for s in steps if s["required"] and not s["done"]]
        return {
            "open": state.open,
            "admin_exists": state.admin_exists,
            "steps": steps,
            "next": next((s["name"] for s in steps if not s["done"]), None),
            "missing": missing,
            "can_complete": not missing,
            "password_min_length": self.config.auth.password_min_length,
            "arr_services": list(ARR_SERVICES),
        }

    # --- steps ---

    async def run_step(self, step: str, body: Any, request: web.Request) -> dict[str, Any]:
        """Do one step (the caller has passed :meth:`guard`); returns the step's stored data."""
        if step not in STEP_NAMES:
            raise ApiError(404, "unknown_setup_step", f"There is no setup step {step!r}; steps: "
                                                       f"{', '.join(STEP_NAMES)}.", {"step": step})
        state = await self.state()
        if step not in ("database", "admin") and not state.admin_exists:
            raise SetupError(step, "", "Create the admin account first (step 'admin').", code="admin_required",
                             status=409)
        handler = getattr(self, f"_step_{step}")
        data = await handler(body, request)
        if step != "admin":
            await self._store(step, data)
        await self.identity.activity.record("setup.step", request=request, target_type="setup", target_id=step,
                                            details=data)
        return data

    async def _store(self, step: str, data: Mapping[str, Any]) -> None:
        def write() -> None:
            text = json.dumps(data, sort_keys=True)
            now = utcnow()
            SetupStep.insert(step=step, data=text, completed_at=now).on_conflict(
                conflict_target=[SetupStep.step], update={SetupStep.data: text, SetupStep.completed_at: now},
            ).execute()

        await self._run(write)

    async def _step_database(self, body: Any, request: web.Request) -> dict[str, Any]:
        body = _body("database", body, ("driver",))
        driver = self.config.database.driver
        wanted = body.get("driver", driver)
        if wanted not in ("sqlite", "postgres"):
            raise SetupError("database", "driver", "driver must be 'sqlite' or 'postgres'.")
        if wanted != driver:
            raise SetupError("database", "driver",
                             f"This server runs on {driver}. To use {wanted}, set database.driver (and "
                             f"database.url for PostgreSQL) in the configuration, restart, then run setup.",
                             code="driver_mismatch", status=409)
        try:
            latency = await self.db.aping()
        except Exception as exc:
            raise SetupError("database", "", f"The database does not answer: {type(exc).__name__}.",
                             code="database_unavailable", status=503) from None
        return {"driver": driver, "latency_ms": round(latency * 1000, 2)}

    async def _step_admin(self, body: Any, request: web.Request) -> dict[str, Any]:
        body = _body("admin", body, ("username", "email", "password", "display_name"))
        for key in ("username", "email", "password"):
            if not body.get(key):
                raise SetupError("admin", key, f"{key} is required.", code=f"invalid_{key}")
        state = await self.state()
        if state.admin_exists:
            raise SetupError("admin", "", "The admin account already exists.", code="admin_exists", status=409)
        users = self.identity.users
        try:
            fields = await users.prepare(body["username"], body["password"], email=body["email"],
                                         display_name=body.get("display_name", ""))
        except UserError as exc:
            exc.details["step"] = "admin"
            raise

        def create() -> User:
            # The step row's primary key is what makes this race-safe: of two concurrent
            # requests, the second one's insert fails and its whole transaction rolls back.
            with self.db.database.atomic():
                try:
                    with self.db.database.atomic():
                        SetupStep.insert(step="admin", data="{}", completed_at=utcnow()).execute()
                except peewee.IntegrityError:
                    raise SetupError("admin", "", "The admin account already exists.", code="admin_exists",
                                     status=409) from None
                row = users.insert(fields)
                data = {"user_id": row.id, "username": row.username, "email": row.email}
                SetupStep.update(data=json.dumps(data, sort_keys=True)).where(SetupStep.step == "admin").execute()
                return row

        row = await self._run(create)
        try:
            await maybe_await(self.identity.rbac.assign_role(row.id, ADMIN_ROLE))
        except Exception:
            # Without its role the account is no admin: undo, so the step can be tried again.
            def undo() -> None:
                with self.db.database.atomic():
                    SetupStep.delete().where(SetupStep.step == "admin").execute()
                    User.delete().where(User.id == row.id).execute()

            await self._run(undo)
            raise
        await self.identity.activity.record("user.create", request=request, actor_id=row.id, actor=row.username,
                                            target_type="user", target_id=row.id,
                                            after={"username": row.username, "email": row.email,
                                                   "role": ADMIN_ROLE})
        return {"user_id": row.id, "username": row.username, "email": row.email}

    async def _step_libraries(self, body: Any, request: web.Request) -> dict[str, Any]:
        body = _body("libraries", body, ("paths",))
        paths = body.get("paths")
        if not isinstance(paths, list) or not paths:
            raise SetupError("libraries", "paths", "paths must be a non-empty list of absolute folder paths.")
        if len(paths) > MAX_LIBRARIES:
            raise SetupError("libraries", "paths", f"At most {MAX_LIBRARIES} library paths.")

        def check() -> list[str]:
            seen: list[str] = []
            for index, path in enumerate(paths):
                key = f"paths.{index}"
                if not isinstance(path, str) or not path or "\x00" in path:
                    raise SetupError("libraries", key, f"Entry {index} must be a folder path.")
                if not os.path.isabs(path):
                    raise SetupError("libraries", key, f"{path!r} is not an absolute path; start it with '/'.")
                normal = os.path.normpath(path)
                if not os.path.isdir(normal):
                    raise SetupError("libraries", key, f"{path!r} is not an existing folder on the server.")
                if not os.access(normal, os.R_OK | os.X_OK):
                    raise SetupError("libraries", key, f"The server cannot read {path!r}; check its permissions.")
                if normal not in seen:
                    seen.append(normal)
            return seen

        folders = await asyncio.to_thread(check)
        await self.identity.settings.update({"library.paths": folders}, request=request)
        return {"paths": folders}

    async def _step_cache_search(self, body: Any, request: web.Request) -> dict[str, Any]:
        _body("cache_search", body, ())
        return self.cache_search_report()

    async def _step_arr(self, body: Any, request: web.Request) -> dict[str, Any]:
        body = _body("arr", body, ("services",))
        entries = body.get("services", [])
        if not isinstance(entries, list):
            raise SetupError("arr", "services", "services must be a list of {service, url, api_key}.")
        changes: dict[str, Any] = {}
        shown = []
        for index, entry in enumerate(entries):
            key = f"services.{index}"
            if not isinstance(entry, Mapping) or set(entry) - {"service", "url", "api_key"}:
                raise SetupError("arr", key, "Each entry must be an object with service, url and api_key.")
            service = entry.get("service")
            if service not in ARR_SERVICES:
                raise SetupError("arr", f"{key}.service", f"service must be one of {', '.join(ARR_SERVICES)}.")
            if f"arr.{service}.url" in changes:
                raise SetupError("arr", f"{key}.service", f"{service} is listed twice.")
            url = entry.get("url")
            try:
                if not isinstance(url, str) or not url:
                    raise ValueError("is required")
                http_url(url)
            except ValueError as exc:
                raise SetupError("arr", f"{key}.url", f"url {exc}; use an http:// or https:// address.") from None
            secret = entry.get("api_key")
            try:
                if not isinstance(secret, str) or not secret:
                    raise ValueError("is required")
                api_key(secret)
            except ValueError as exc:
                raise SetupError("arr", f"{key}.api_key", f"api_key {exc}.") from None
            changes[f"arr.{service}.url"] = url.rstrip("/")
            changes[f"arr.{service}.api_key"] = secret
            shown.append({"service": service, "url": url.rstrip("/"), "api_key_set": True})
        # Redoing the step replaces it: services left out are forgotten.
        for service in ARR_SERVICES:
            changes.setdefault(f"arr.{service}.url", None)
            changes.setdefault(f"arr.{service}.api_key", None)
        await self.identity.settings.update(changes, request=request)
        return {"services": shown}

    async def _step_groups(self, body: Any, request: web.Request) -> dict[str, Any]:
        body = _body("groups", body, ("groups",))
        entries = body.get("groups", [])
        if not isinstance(entries, list) or len(entries) > MAX_GROUPS:
            raise SetupError("groups", "groups", f"groups must be a list of at most {MAX_GROUPS} names.")
        wanted: list[dict[str, str]] = []
        for index, entry in enumerate(entries):
            key = f"groups.{index}"
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, Mapping) or set(entry) - {"name", "description"}:
                raise SetupError("groups", key, "Each group is a name or an object with name and description.")
            name = entry.get("name")
            description = entry.get("description", "")
            if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64 or any(ord(c) < 32 for c in name):
                raise SetupError("groups", f"{key}.name", "A group name must be 1 to 64 characters.")
            if not isinstance(description, str) or len(description) > 256:
                raise SetupError("groups", f"{key}.description", "A description must be at most 256 characters.")
            name = name.strip()
            if name.lower() in (g["name"].lower() for g in wanted):
                raise SetupError("groups", f"{key}.name", f"The group {name!r} is listed twice.")
            wanted.append({"name": name, "description": description.strip()})
        previous = await self.state()
        before = {g["name"] for g in (previous.steps.get("groups", {}).get("data") or {}).get("groups", [])}

        def write() -> list[dict[str, Any]]:
            with self.db.database.atomic():
                names = {g["name"] for g in wanted}
                # Replace what this step made before; groups made elsewhere are left alone.
                stale = before - names
                if stale:
                    Group.delete().where(Group.name.in_(list(stale))).execute()
                made = []
                for group in wanted:
                    row = Group.get_or_none(Group.name == group["name"])
                    if row is None:
                        row = Group.create(name=group["name"], description=group["description"])
                    elif row.description != group["description"]:
                        row.description = group["description"]
                        row.save()
                    made.append({"id": row.id, "name": row.name, "description": row.description})
                return made

        return {"groups": await self._run(write)}

    async def complete(self, request: web.Request) -> dict[str, Any]:
        overview = await self.overview()
        if overview["missing"]:
            raise ApiError(409, "setup_incomplete", "Finish the required steps first: "
                                                    + ", ".join(overview["missing"]) + ".",
                           {"missing": overview["missing"]})

        def write() -> bool:
            try:
                with self.db.database.atomic():
                    SetupStep.insert(step=COMPLETE, data="{}", completed_at=utcnow()).execute()
            except peewee.IntegrityError:
                return False
            return True

        if not await self._run(write):
            raise ApiError(409, "setup_closed", "Setup is complete; change settings through the admin API.")
        await self.identity.activity.record("setup.complete", request=request, target_type="setup",
                                            target_id=COMPLETE)
        return {"open": False, "completed": True}
