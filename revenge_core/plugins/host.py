"""The plugin host: discovery, configuration, activation, isolation and runtime toggles.

Every plugin, built-in or not, comes from the ``revenge.plugins`` entry-point group and
goes through the same steps. Each step runs inside its own ``try``: whatever a plugin
does wrong marks that plugin alone (``load_error``, ``config_error``, ``failed``,
``failed_self_check``) and the server keeps going.

Whether an admin wants a plugin on is stored in ``shared.plugin_state``, and the config an
admin gives a plugin is stored, encrypted, with a revision (see :mod:`.state`). Every instance polls
both small tables each second and follows them, so a toggle or a config change made on one
instance reaches all of them within two seconds.
"""

from __future__ import annotations

import asyncio
import difflib
import enum
import importlib.metadata
import inspect
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import peewee
import pluggy
from loguru import logger

from revenge_hookspecs import ENTRY_POINT_GROUP, PROJECT, specs
from revenge_hookspecs.types import REGISTRATION_KINDS, Events, HostInfo, Migrations, flatten, is_core_route_path

from .. import __version__
from ..config import Config, ConfigError, load_plugin_config
from ..db.migrate import MigrationSet, upgrade
from ..db.models import PluginMigrationState, PluginState, utcnow
from ..identity.crypto import DecryptionError
from ..identity.settings import PLUGIN_PREFIX
from .context import HostPluginContext
from .registry import DuplicateRegistration
from .state import StoredState, bump_config_revision, is_sealed_config, read_stored_state, seal_config, unseal_config

if TYPE_CHECKING:
    from ..services import Services

API_PREFIX = "/api/v1"
HOOK_TIMEOUT = 30.0
SYNC_INTERVAL = 1.0
RESERVED_NAMES = frozenset({"core", "load", "disabled"})


class Status(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    EXCLUDED = "excluded"  # left out by load_plugins / disabled_plugins
    LOAD_ERROR = "load_error"
    CONFIG_ERROR = "config_error"
    FAILED = "failed"
    FAILED_SELF_CHECK = "failed_self_check"


class PluginError(Exception):
    """A plugin step failed; ``status`` says how the plugin is marked."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.define
class PluginRecord:
    name: str
    plugin: Any = None
    distribution: str = ""
    version: str = ""
    summary: str = ""
    status: Status = Status.DISABLED
    message: str = ""
    wanted: bool = True
    config_schema: type | None = None
    config: Any = None
    context: HostPluginContext | None = None
    runtime_errors: int = 0
    last_error: str = ""
    started: bool = False
    # The stored config revision applied here, and why the stored config is unusable (if it is).
    config_revision: int = 0
    config_problem: str = ""

    @property
    def loaded(self) -> bool:
        return self.plugin is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "message": self.message,
            "enabled": self.wanted,
            "distribution": self.distribution,
            "version": self.version,
            "summary": self.summary,
            "runtime_errors": self.runtime_errors,
            "last_error": self.last_error,
        }


def _distribution_facts(ep: importlib.metadata.EntryPoint) -> tuple[str, str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", "", ""
    return dist.metadata["Name"] or "", dist.version or "", dist.metadata["Summary"] or ""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PluginHost:
    """Owns the pluggy manager and the record of every plugin."""

    def __init__(self, config: Config, *, plugins: Mapping[str, Any] | None = None,
                 environ: Mapping[str, str] | None = None):
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        self.records: dict[str, PluginRecord] = {}
        self._explicit = dict(plugins) if plugins is not None else None
        self.services: Services | None = None
        self._lock = asyncio.Lock()
        self._sync_task: asyncio.Task | None = None
        self.listeners: list[Callable[[str, bool], Awaitable[None] | None]] = []
        # "METHOD /path" (below /api/v1) of core routes a plugin may not take over.
        self.reserved_routes: set[str] = set()
        self.host_info = HostInfo(
            version=__version__,
            api_prefix=API_PREFIX,
            data_dir=config.data_dir,
            database_driver=config.database.driver,
            legacy_enabled=config.legacy.enabled,
        )
        # Historic: every plugin registered from now on, at start or at runtime, gets it.
        self.pm.hook.revenge_configure.call_historic(kwargs={"host": self.host_info})

    # --- discovery -----------------------------------------------------------------------

    def _allowed(self, name: str) -> tuple[bool, str]:
        load = self.config.load_plugins
        if load and name not in load:
            return False, "not listed in load_plugins (REVENGE_LOAD_PLUGINS)"
        if name in self.config.disabled_plugins:
            return False, "listed in disabled_plugins (REVENGE_DISABLED_PLUGINS)"
        return True, ""

    def discover(self) -> list[PluginRecord]:
        """Find and import every plugin; a plugin that fails to import is marked alone."""
        if self._explicit is not None:
            candidates: Iterable[tuple[str, Any]] = self._explicit.items()
        else:
            candidates = ((ep.name, ep) for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        for name, source in candidates:
            if name in self.records:
                logger.warning("plugin {} is provided twice; keeping the first", name)
                continue
            record = PluginRecord(name=name)
            self.records[name] = record
            if isinstance(source, importlib.metadata.EntryPoint):
                record.distribution, record.version, record.summary = _distribution_facts(source)
            if name in RESERVED_NAMES or not name.replace("-", "_").replace("_", "a").isalnum():
                record.status, record.message = Status.LOAD_ERROR, f"invalid plugin name {name!r}"
                continue
            allowed, reason = self._allowed(name)
            if not allowed:
                record.status, record.message, record.wanted = Status.EXCLUDED, reason, False
                continue
            try:
                record.plugin = source.load() if isinstance(source, importlib.metadata.EntryPoint) else source
            except Exception as exc:
                record.status, record.message = Status.LOAD_ERROR, f"import failed: {_describe(exc)}"
                logger.opt(exception=exc).error("plugin {} failed to load", name)
                continue
            if not record.summary:
                doc = inspect.getdoc(record.plugin) or ""
                record.summary = doc.splitlines()[0] if doc else ""
        return list(self.records.values())

    # --- per-plugin hook calls -------------------------------------------------------------

    def _impl(self, name: str, hook: str) -> pluggy.HookImpl | None:
        caller = getattr(self.pm.hook, hook)
        return next((impl for impl in caller.get_hookimpls() if impl.plugin_name == name), None)

    def call(self, name: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook`` (``None`` when it has none)."""
        impl = self._impl(name, hook)
        if impl is None:
            return None
        return impl.function(*(kwargs[arg] for arg in impl.argnames))

    async def acall(self, name: str, hook: str, **kwargs: Any) -> Any:
        result = self.call(name, hook, **kwargs)
        if inspect.isawaitable(result):
            async with asyncio.timeout(HOOK_TIMEOUT):
                result = await result
        return result

    # --- activation --------------------------------------------------------------------------

    def _register(self, record: PluginRecord) -> None:
        if self.pm.is_blocked(record.name):
            self.pm.unblock(record.name)
        if self.pm.get_plugin(record.name) is not None:
            return
        try:
            self.pm.register(record.plugin, name=record.name)
        except pluggy.PluginValidationError as exc:
            self._unregister(record.name)
            raise PluginError(Status.LOAD_ERROR, str(exc)) from exc
        except Exception as exc:  # raised by the plugin's historic revenge_configure
            self._unregister(record.name)
            raise PluginError(Status.FAILED, f"revenge_configure raised {_describe(exc)}") from exc
        unknown = [c.name for c in self.pm.get_hookcallers(record.plugin) or [] if not c.has_spec()]
        if unknown:
            self._unregister(record.name)
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, self._hook_names(), n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise PluginError(Status.LOAD_ERROR, "unknown hook " + ", ".join(hints))

    def _hook_names(self) -> list[str]:
        return [n for n in dir(specs) if n.startswith("revenge_")]

    def _unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(name=name)
        self.pm.set_blocked(name)

    def _collect(self, record: PluginRecord, context: HostPluginContext) -> dict[str, list[Any]]:
        registrations: dict[str, list[Any]] = {}
        for kind, expected in REGISTRATION_KINDS.items():
            hook = f"revenge_{kind}"
            try:
                items = list(flatten(self.call(record.name, hook, context=context)))
            except Exception as exc:
                raise PluginError(Status.FAILED, f"{hook} raised {_describe(exc)}") from exc
            for item in items:
                if not isinstance(item, expected):
                    raise PluginError(
                        Status.FAILED,
                        f"{hook} returned {type(item).__name__}, expected {expected.__name__}",
                    )
            if items:
                registrations[kind] = items
        for route in registrations.get("routes", ()):
            if is_core_route_path(route.path) or f"{route.method} {route.path}" in self.reserved_routes:
                raise PluginError(Status.FAILED, f"route {route.method} {API_PREFIX}{route.path} belongs to the core")
        return registrations

    async def _migrate(self, record: PluginRecord, context: HostPluginContext) -> None:
        try:
            migrations = self.call(record.name, "revenge_migrations")
        except Exception as exc:
            raise PluginError(Status.FAILED, f"revenge_migrations raised {_describe(exc)}") from exc
        if migrations is None:
            return
        if not isinstance(migrations, Migrations):
            raise PluginError(Status.FAILED, "revenge_migrations must return Migrations(path)")
        migration_set = MigrationSet(record.name, migrations.path)
        db = self.services.db

        def apply() -> list[str]:
            applied = upgrade(db.database, migration_set)
            db.bind([PluginMigrationState])
            PluginMigrationState.insert(name=record.name, applied_at=utcnow()).on_conflict(
                conflict_target=[PluginMigrationState.name],
                update={PluginMigrationState.applied_at: utcnow()},
            ).execute()
            return applied

        try:
            applied = await db.run(apply)
        except Exception as exc:
            raise PluginError(Status.FAILED, f"migration failed: {_describe(exc)}") from exc
        if applied:
            logger.info("plugin {} migrations applied: {}", record.name, ", ".join(applied))

    async def _self_check(self, record: PluginRecord, context: HostPluginContext) -> None:
        try:
            verdict = await self.acall(record.name, "revenge_self_check", context=context)
        except Exception as exc:
            raise PluginError(Status.FAILED_SELF_CHECK, _describe(exc)) from exc
        if verdict is False or isinstance(verdict, str):
            reason = verdict if isinstance(verdict, str) and verdict else "self-check failed"
            raise PluginError(Status.FAILED_SELF_CHECK, reason)

    async def activate(self, record: PluginRecord, *, inspect_only: bool = False) -> bool:
        """Register, configure, migrate, collect, self-check and start one plugin.

        ``inspect_only`` stops short of migrations and startup: it tells what state the
        plugin would be in without changing anything (``revenge plugins list``).
        """
        assert self.services is not None, "bind services before activating plugins"
        registered = False
        try:
            self._register(record)
            try:
                record.config_schema = self.call(record.name, "revenge_config_schema")
            except Exception as exc:
                raise PluginError(Status.FAILED, f"revenge_config_schema raised {_describe(exc)}") from exc
            if record.config_problem:
                raise PluginError(Status.CONFIG_ERROR, record.config_problem)
            try:
                record.config = load_plugin_config(self.config, record.name, record.config_schema, self.environ,
                                                   other_plugins=self.records)
            except ConfigError as exc:
                raise PluginError(Status.CONFIG_ERROR, str(exc)) from exc
            context = HostPluginContext(record.name, record.config, self.services)
            record.context = context
            if not inspect_only:
                await self._migrate(record, context)
            registrations = self._collect(record, context)
            try:
                self.services.registry.replace(record.name, registrations)
            except DuplicateRegistration as exc:
                raise PluginError(Status.FAILED, str(exc)) from exc
            registered = True
            await self._self_check(record, context)
            # Enabled from here on: its routes are already live, and startup may enqueue its jobs.
            record.status, record.message = Status.ENABLED, ""
            if inspect_only:
                return True
            try:
                await self.acall(record.name, "revenge_startup", context=context)
            except Exception as exc:
                raise PluginError(Status.FAILED, f"revenge_startup raised {_describe(exc)}") from exc
        except PluginError as exc:
            if registered:
                self.services.registry.remove(record.name)
            self._unregister(record.name)
            record.status, record.message = exc.status, exc.message
            logger.error("plugin {} {}: {}", record.name, exc.status, exc.message)
            return False
        record.started = True
        await self._notify(record.name, True)
        return True

    async def deactivate(self, record: PluginRecord, status: Status = Status.DISABLED, message: str = "") -> None:
        """Stop one plugin and take back everything it registered."""
        was_enabled = record.status == Status.ENABLED
        if record.started and record.context is not None:
            record.started = False
            try:
                await self.acall(record.name, "revenge_shutdown", context=record.context)
            except Exception as exc:
                logger.opt(exception=exc).error("plugin {} failed to shut down cleanly", record.name)
        if self.services is not None:
            self.services.registry.remove(record.name)
        self._unregister(record.name)
        record.status, record.message = status, message
        if was_enabled:
            await self._notify(record.name, False)

    async def _notify(self, name: str, enabled: bool) -> None:
        for listener in self.listeners:
            result = listener(name, enabled)
            if inspect.isawaitable(result):
                await result
        if self.services is not None:
            event = Events.PLUGIN_ENABLED if enabled else Events.PLUGIN_DISABLED
            await self.services.events.emit(event, {"plugin": name})

    # --- lifecycle of the whole host ---------------------------------------------------------

    def bind(self, services: Services) -> None:
        self.services = services

    async def start(self, *, inspect_only: bool = False) -> None:
        """Activate every loaded plugin that admins have not disabled, with its stored config."""
        async with self._lock:
            state = await self._read_state()
            for record in self.records.values():
                if not record.loaded or record.status == Status.EXCLUDED:
                    continue
                await self._load_stored_config(record, state.config_revisions.get(record.name, 0))
                record.wanted = state.enabled.get(record.name, True)
                if record.wanted:
                    await self.activate(record, inspect_only=inspect_only)
                else:
                    record.status, record.message = Status.DISABLED, "disabled by an admin"
        counts: dict[str, int] = {}
        for record in self.records.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        logger.info("plugins: {}", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")

    async def stop(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
            self._sync_task = None
        async with self._lock:
            for record in self.records.values():
                if record.status == Status.ENABLED:
                    await self.deactivate(record, Status.DISABLED, "server stopped")

    # --- admin toggles and cross-instance sync ----------------------------------------------

    def get(self, name: str) -> PluginRecord:
        try:
            return self.records[name]
        except KeyError:
            raise KeyError(f"no plugin named {name!r}") from None

    def is_enabled(self, name: str) -> bool:
        record = self.records.get(name)
        return record is not None and record.status == Status.ENABLED

    def context_for(self, name: str) -> HostPluginContext:
        record = self.get(name)
        if record.context is None:
            raise KeyError(f"plugin {name!r} has no context: it is {record.status}")
        return record.context

    def record_runtime_error(self, name: str, exc: BaseException) -> None:
        record = self.records.get(name)
        if record is not None:
            record.runtime_errors += 1
            record.last_error = _describe(exc)

    async def _read_state(self) -> StoredState:
        return await self.services.db.run(read_stored_state, self.services.db)

    async def stored_config(self, name: str) -> Any:
        """The config section admins stored for a plugin, decrypted; ``None`` when there is none.

        :raises json.JSONDecodeError: the stored text is not JSON.
        :raises DecryptionError: it was encrypted with another key (the message names both
            key ids), belongs to another row, or is damaged.
        """
        key = PLUGIN_PREFIX + name
        stored = await self.services.identity.settings.read_raw(key)
        if not is_sealed_config(stored):  # none, or plain JSON from before 0011 (or by hand)
            return stored
        return json.loads(unseal_config(self.services.identity.secret_box, key, stored))

    async def _load_stored_config(self, record: PluginRecord, revision: int) -> None:
        """Make the admins' stored section (if any) the plugin's ``plugins.<name>``; no restart.

        The revision is read before the section, so a change stored meanwhile has a newer
        revision and is picked up at the next sync. A section that is not a JSON object, or
        that cannot be decrypted, is remembered as the plugin's config error; a database error
        leaves it for the next try.
        """
        problem = ""
        prefix = f"plugins.{record.name}: the stored configuration"
        try:
            section = await self.stored_config(record.name)
        except json.JSONDecodeError as exc:
            section, problem = None, f"{prefix} is not valid JSON ({exc})"
        except DecryptionError as exc:
            section, problem = None, f"{prefix} cannot be decrypted: {exc}"
        if section is not None and not isinstance(section, Mapping):
            problem = f"{prefix} is not a JSON object"
        elif section is not None:
            self.config.plugins[record.name] = dict(section)
        record.config_revision, record.config_problem = revision, problem

    async def set_config(self, name: str, section: Mapping[str, Any], actor: str = "",
                         user_id: int | None = None) -> PluginRecord:
        """Store an admin's config for a plugin (encrypted) and restart it with it here; other
        instances follow within seconds. ``section`` must already be validated."""
        record = self.get(name)
        key = PLUGIN_PREFIX + name
        sealed = seal_config(self.services.identity.secret_box, key, json.dumps(dict(section), sort_keys=True))
        await self.services.identity.settings.write_raw(key, sealed, updated_by=user_id)
        # Stored first, bumped second: whoever sees the new revision reads this section or a newer one.
        await self.services.db.run(bump_config_revision, self.services.db, name, actor)
        async with self._lock:
            await self._follow(record, await self._read_state())
        return record

    async def set_enabled(self, name: str, enabled: bool, actor: str = "") -> PluginRecord:
        """Store an admin's choice and apply it here; other instances follow within seconds."""
        record = self.get(name)
        await self.services.db.run(write_plugin_state, self.services.db, name, enabled, actor)
        async with self._lock:
            await self._apply(record, enabled)
        return record

    async def _apply(self, record: PluginRecord, enabled: bool) -> None:
        record.wanted = enabled
        if not record.loaded or record.status == Status.EXCLUDED:
            return
        if enabled and record.status != Status.ENABLED:
            logger.info("enabling plugin {}", record.name)
            await self.activate(record)
        elif not enabled and record.status != Status.DISABLED:
            logger.info("disabling plugin {}", record.name)
            await self.deactivate(record, Status.DISABLED, "disabled by an admin")

    async def _restart(self, record: PluginRecord) -> None:
        """Activate the plugin again with its current config, if it should run."""
        if not record.loaded or record.status == Status.EXCLUDED or not record.wanted:
            return
        logger.info("reconfiguring plugin {}", record.name)
        if record.status == Status.ENABLED:
            await self.deactivate(record, Status.DISABLED, "reconfiguring")
        await self.activate(record)

    async def _follow(self, record: PluginRecord, state: StoredState) -> bool:
        """Bring one plugin in line with the stored state (under the lock); True if it changed."""
        enabled = state.enabled.get(record.name)
        revision = state.config_revisions.get(record.name, 0)
        toggled = enabled is not None and enabled != record.wanted
        reconfigured = record.loaded and record.status != Status.EXCLUDED and revision != record.config_revision
        if reconfigured:
            await self._load_stored_config(record, revision)
        if toggled:
            await self._apply(record, enabled)
        elif reconfigured:
            await self._restart(record)
        return toggled or reconfigured

    async def sync(self) -> list[str]:
        """Follow the stored state; returns the names of plugins that changed here."""
        changed = []
        async with self._lock:
            # Read under the lock, so a change this instance applies meanwhile is never undone.
            state = await self._read_state()
            for record in list(self.records.values()):
                if await self._follow(record, state):
                    changed.append(record.name)
        return changed

    def start_sync(self, interval: float = SYNC_INTERVAL) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.sync()
                except Exception as exc:  # the database may be briefly away; try again next tick
                    logger.warning("plugin state sync failed: {}", _describe(exc))

        self._sync_task = asyncio.get_running_loop().create_task(loop(), name="revenge-plugin-sync")


def write_plugin_state(db: Any, name: str, enabled: bool, actor: str = "") -> None:
    """Store whether a plugin is wanted (blocking; run it on a database thread)."""
    db.bind([PluginState])
    with db.database.atomic():
        revision = (PluginState.select(peewee.fn.COALESCE(peewee.fn.MAX(PluginState.revision), 0)).scalar()) + 1
        PluginState.insert(name=name, enabled=enabled, revision=revision, updated_at=utcnow(),
                           updated_by=actor).on_conflict(
            conflict_target=[PluginState.name],
            update={PluginState.enabled: enabled, PluginState.revision: revision,
                    PluginState.updated_at: utcnow(), PluginState.updated_by: actor},
        ).execute()
