"""The ``revenge`` command: serve, worker, migrate, plugins, config, db, search."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from loguru import logger

from . import __version__
from .config import Config, ConfigError, effective, load_config
from .db.database import Database
from .db.migrate import CORE, MigrationSet, core_set, downgrade, status, upgrade
from .logs import setup_logging
from .plugins.host import PluginHost, Status, write_plugin_state
from .services import Services

EXIT_CONFIG = 2


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 1."""


# --- shared plumbing --------------------------------------------------------------------------


def _load(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Config:
    config = load_config(Path(args.config) if args.config else None, overrides=overrides)
    setup_logging(config.logging)
    return config


@asynccontextmanager
async def running_host(config: Config, *, inspect_only: bool = False):
    """Services and plugins without the HTTP server, for commands that need them."""
    host = PluginHost(config)
    services = Services.build(config, context_for=host.context_for, is_enabled=host.is_enabled,
                              on_plugin_error=host.record_runtime_error)
    host.bind(services)
    try:
        await services.db.run(upgrade, services.db.database, core_set(), config=config)
        await services.start()
        services.identity.activity.install_jobs()
        services.library.install_jobs()
        host.discover()
        await host.start(inspect_only=inspect_only)
        yield host, services
    finally:
        await host.stop()
        await services.close()


def _plugin_migration_set(host: PluginHost, name: str) -> MigrationSet:
    record = host.get(name)
    if not record.loaded:
        raise CliError(f"plugin {name} is not loaded: {record.message}")
    from revenge_hookspecs.types import Migrations

    host._register(record)
    migrations = host.call(name, "revenge_migrations")
    if not isinstance(migrations, Migrations):
        raise CliError(f"plugin {name} ships no migrations")
    return MigrationSet(name, migrations.path)


# --- serve ------------------------------------------------------------------------------------


async def _serve(config: Config) -> None:
    from .http.app import create_app
    from .http.keys import SERVICES

    app = create_app(config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=config.server.shutdown_timeout)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            logger.info("{} received: finishing running jobs (up to {:.0f}s); send again to stop now",
                        signal.Signals(signum).name, config.jobs.shutdown_timeout)
            stop.set()
        else:
            logger.warning("second signal: cancelling running jobs")
            services = app.get(SERVICES)
            if services is not None:
                threading.Thread(target=services.jobs.stop_consumer, args=(False,), daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise CliError(f"cannot listen on {config.server.host}:{config.server.port}: {exc.strerror}") from None
    logger.info("listening on http://{}:{}", config.server.host, config.server.port)
    await stop.wait()
    await runner.cleanup()
    logger.info("stopped")


def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host:
        overrides.setdefault("server", {})["host"] = args.host
    if args.port:
        overrides.setdefault("server", {})["port"] = args.port
    config = _load(args, overrides)
    asyncio.run(_serve(config))
    return 0


# --- worker -----------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    config = _load(args)
    ready = threading.Event()
    holder: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    finished = threading.Event()

    async def keep_plugins() -> None:
        # Plugins stay active (and follow admin toggles) while the main thread runs jobs.
        async with running_host(config) as (host, services):
            services.jobs.loop = asyncio.get_running_loop()
            host.start_sync()
            holder["services"] = services
            ready.set()
            while not finished.is_set():
                await asyncio.sleep(0.2)

    def run_loop() -> None:
        try:
            loop.run_until_complete(keep_plugins())
        except Exception as exc:
            holder["error"] = exc
            ready.set()

    thread = threading.Thread(target=run_loop, name="revenge-worker-host", daemon=True)
    thread.start()
    ready.wait()
    if "error" in holder:
        raise holder["error"]
    try:
        return holder["services"].jobs.run_worker(args.workers or config.jobs.workers)
    finally:
        finished.set()
        thread.join(timeout=15)


# --- migrate ----------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    config = _load(args)
    db = Database(config)
    try:
        if args.plugin:
            host = PluginHost(config)
            host.discover()
            migration_set = _plugin_migration_set(host, args.plugin)
        else:
            migration_set = core_set()
        label = migration_set.name if migration_set.name != CORE else "core"
        if args.action == "up":
            applied = upgrade(db.database, migration_set, args.target, config=config)
            print(f"{label}: applied {len(applied)}" + (": " + ", ".join(applied) if applied else ""))
        elif args.action == "down":
            reverted = downgrade(db.database, migration_set, args.target, config=config)
            print(f"{label}: reverted {len(reverted)}" + (": " + ", ".join(reverted) if reverted else ""))
        else:
            for migration in status(db.database, migration_set):
                state = migration.applied.isoformat(sep=" ", timespec="seconds") if migration.applied else "pending"
                missing = "" if migration.path else "  (file missing)"
                print(f"{label:12} {migration.name:40} {state}{missing}")
    finally:
        db.close()
    return 0


# --- plugins ----------------------------------------------------------------------------------


def _plugin_rows(config: Config) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        async with running_host(config, inspect_only=True) as (host, _services):
            return [record.as_dict() for record in sorted(host.records.values(), key=lambda r: r.name)]

    return asyncio.run(collect())


def cmd_plugins(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.action in ("enable", "disable"):
        host = PluginHost(config)
        host.discover()
        record = host.records.get(args.name)
        if record is None:
            raise CliError(f"no plugin named {args.name!r}; see `revenge plugins list`")
        if record.status == Status.EXCLUDED:
            raise CliError(f"plugin {args.name} is excluded by configuration ({record.message})")
        enabled = args.action == "enable"
        db = Database(config)
        try:
            upgrade(db.database, core_set(), config=config)
            db.call(write_plugin_state, db, args.name, enabled, "cli")
        finally:
            db.close()
        print(f"{args.name}: {'enabled' if enabled else 'disabled'}; running servers follow within 2 seconds")
        return 0
    rows = _plugin_rows(config)
    if args.action == "info":
        row = next((r for r in rows if r["name"] == args.name), None)
        if row is None:
            raise CliError(f"no plugin named {args.name!r}; see `revenge plugins list`")
        print(json.dumps(row, indent=2) if args.json else yaml.safe_dump(row, sort_keys=False).rstrip())
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no plugins installed")
        return 0
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        line = f"{row['name']:{width}}  {row['status']:18} {row['version'] or '-':8}"
        print(line + (f"  {row['message']}" if row["message"] else ""))
    return 0


# --- config -----------------------------------------------------------------------------------


def cmd_config(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config) if args.config else None)
    if args.action == "check":
        print(f"configuration is valid ({config.source_file or 'defaults and environment'})")
        return 0
    tree = effective(config)
    if args.json:
        print(json.dumps(tree, indent=2))
    else:
        print(f"# from {config.source_file or 'defaults'} and REVENGE_* variables; secrets masked")
        print(yaml.safe_dump(tree, sort_keys=False).rstrip())
    return 0


# --- db ---------------------------------------------------------------------------------------


def cmd_db(args: argparse.Namespace) -> int:
    from .db.copy import CopyError, copy_database, discover_migration_sets

    config = _load(args)
    if config.database.driver != "sqlite":
        raise CliError("db copy moves an embedded (SQLite) install; this server already uses PostgreSQL")
    if not config.sqlite_file.is_file():
        raise CliError(f"no embedded install at {config.sqlite_file}; set REVENGE_DATA_DIR or database.sqlite_path")
    db = Database(config)
    try:
        sets = discover_migration_sets(db.database, _plugin_dirs(config))

        def progress(table: str, done: int, total: int) -> None:
            print(f"\r  {table:40} {done:>9}/{total:<9}", end="", file=sys.stderr, flush=True)

        report = copy_database(db.database, args.to, sets, progress=progress)
    except CopyError as exc:
        raise CliError(f"copy failed, the target was left unchanged: {exc}") from None
    finally:
        db.close()
    print(file=sys.stderr)
    for table in report.tables:
        mark = "ok" if table.source_rows == table.target_rows and table.checksum_match else "MISMATCH"
        print(f"{table.schema}.{table.table:36} {table.source_rows:>9} -> {table.target_rows:<9} {mark}")
    if not report.ok:
        raise CliError("the copy does not match the source; the target was left unchanged")
    print(f"copied {report.rows} rows in {report.seconds:.1f}s. Switch with REVENGE_DATABASE_DRIVER=postgres "
          f"REVENGE_DATABASE_URL=<the url you gave>")
    if report.skipped:
        print("then run `revenge search reindex` to rebuild the search index (" + ", ".join(report.skipped) + ")")
    return 0


def _plugin_dirs(config: Config) -> dict[str, Path]:
    host = PluginHost(config)
    host.discover()
    dirs = {}
    for name, record in host.records.items():
        if record.loaded:
            try:
                dirs[name] = _plugin_migration_set(host, name).directory
            except CliError:
                continue
    return dirs


# --- search -----------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    config = _load(args)

    async def reindex() -> dict[str, int]:
        async with running_host(config) as (_host, services):
            return await services.search.reindex(args.type or None)

    counts = asyncio.run(reindex())
    if not counts:
        print("no document types registered by enabled plugins")
    for doc_type, count in sorted(counts.items()):
        print(f"{doc_type}: {count} documents")
    return 0


# --- entry point ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revenge", description="Revenge media server")
    parser.add_argument("--version", action="version", version=f"revenge {__version__}")
    parser.add_argument("-c", "--config", help="config file (default: $REVENGE_CONFIG, "
                        "~/.config/revenge/config.yaml, /etc/revenge/config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background jobs (with cache.url set)")
    worker.add_argument("--workers", type=int)
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply, revert or list schema migrations")
    migrate.add_argument("action", choices=["up", "down", "status"])
    migrate.add_argument("--plugin", help="a plugin's migrations instead of the core's")
    migrate.add_argument("--target", help="stop at (up) or revert back through (down) this migration")
    migrate.set_defaults(func=cmd_migrate)

    plugins = sub.add_parser("plugins", help="list, inspect, enable or disable plugins")
    plugins_sub = plugins.add_subparsers(dest="action", required=True)
    for action in ("list", "info", "enable", "disable"):
        p = plugins_sub.add_parser(action)
        if action != "list":
            p.add_argument("name")
        if action in ("list", "info"):
            p.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)

    config = sub.add_parser("config", help="show or check the effective configuration")
    config.add_argument("action", choices=["show", "check"])
    config.add_argument("--json", action="store_true")
    config.set_defaults(func=cmd_config)

    db = sub.add_parser("db", help="database tools")
    db_sub = db.add_subparsers(dest="action", required=True)
    copy = db_sub.add_parser("copy", help="copy this embedded install into a PostgreSQL database")
    copy.add_argument("--to", required=True, metavar="POSTGRES_URL")
    db.set_defaults(func=cmd_db)

    search = sub.add_parser("search", help="search index tools")
    search_sub = search.add_subparsers(dest="action", required=True)
    reindex = search_sub.add_parser("reindex", help="rebuild the search index from the database")
    reindex.add_argument("--type", action="append", help="only this document type (repeatable)")
    search.set_defaults(func=cmd_search)

    from .library.cli import add_parser as add_library_parser

    add_library_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"revenge: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CliError as exc:
        print(f"revenge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
