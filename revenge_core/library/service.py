"""The library service: libraries, their files, scan requests, and the jobs and watchers behind them.

Libraries are checked against what is registered right now: a content type with a handler,
a storage backend, folders inside that storage's roots and apart from other libraries.
Scans run as the core job ``library.scan``; a request either joins a scan already queued or
running, or queues a new one (see :meth:`LibraryService.request_scan`).
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import peewee
from loguru import logger

from revenge_hookspecs.errors import BadRequest, Conflict, NotFound
from revenge_hookspecs.media import Library, MediaFile
from revenge_hookspecs.types import ContentType, Job

from ..db.models import utcnow
from ..jobs import CORE_OWNER
from . import validation
from .items import ItemRegistry
from .models import COUNTS, MODELS, LibraryItem, LibraryRow, MediaFileRow, ScanRun, iso
from .progress import Progress

if TYPE_CHECKING:
    from ..plugins.host import PluginHost
    from ..services import Services
    from .context import HostLibrary

SCAN_JOB = "library.scan"
ACTIVE = ("queued", "running")
LIBRARY_ID_MAX = 2**63 - 1


def library_id_of(value: object) -> int:
    """A library id from its text form. :raises NotFound: anything that is not one (it cannot exist)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= LIBRARY_ID_MAX:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18 and int(value) > 0:
        return int(value)
    raise NotFound(f"There is no library {str(value)[:40]!r}.")


def library_of(row: LibraryRow) -> Library:
    return Library(id=str(row.id), name=row.name, content_type=row.content_type, paths=json.loads(row.paths),
                   storage=row.storage, enabled=row.enabled, scan_on_startup=row.scan_on_startup,
                   realtime=row.realtime, languages=json.loads(row.languages), providers=json.loads(row.providers),
                   settings=json.loads(row.settings))


def media_file_of(row: MediaFileRow | Any, local_path: str | None = None) -> MediaFile:
    return MediaFile(file_id=str(row.id), library_id=str(row.library_id), path=row.path, root=row.root,
                     relative_path=row.relative_path, size=row.size, mtime=row.mtime, local_path=local_path,
                     item_key=row.item_key, missing_since=row.missing_since)


def run_dict(run: ScanRun) -> dict[str, Any]:
    return {
        "id": str(run.id), "library_id": str(run.library_id), "mode": run.mode, "status": run.status,
        "paths": json.loads(run.paths) if run.paths else None, "requested_by": run.requested_by,
        "counts": {name: getattr(run, name) for name in COUNTS},
        "total": run.total, "done": run.done,
        "queued_at": iso(run.queued_at), "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
        "error": run.error,
    }


def collapse(folders: Iterable[str]) -> list[str]:
    """Folders without those inside another one of them, sorted."""
    kept: list[str] = []
    for folder in sorted(set(folders), key=lambda f: (f.count("/"), f)):
        if not any(validation.inside(folder, k) for k in kept):
            kept.append(folder)
    return sorted(kept)


class LibraryService:
    """Everything the server knows about libraries. One per server instance (``services.library``).

    :param on_plugin_error: ``on_plugin_error(plugin, exc)``, to count a content type's failure
        against its plugin the way the host counts other runtime errors.
    """

    def __init__(self, services: Services, *,
                 on_plugin_error: Callable[[str, BaseException], None] | None = None):
        from .scanner import Scanner
        from .watcher import Watchers

        self.services = services
        self.db = services.db
        self.settings = services.config.library
        self.on_plugin_error = on_plugin_error
        self.clock: Callable[[], datetime.datetime] = utcnow
        """Naive UTC now, for files' first/last seen and missing times; tests move it forward."""
        self.items = ItemRegistry(self)
        self.progress = Progress(self)
        self.scanner = Scanner(self)
        self.watchers = Watchers(self)
        self._host: PluginHost | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on a database thread with the library models bound."""
        def call() -> Any:
            self.db.bind(MODELS)
            return fn(*args)

        return await self.db.run(call)

    def for_plugin(self, plugin: str) -> HostLibrary:
        from .context import HostLibrary

        return HostLibrary(self, plugin)

    # --- what plugins registered ----------------------------------------------------------------

    def content_type(self, name: str) -> tuple[str, ContentType] | None:
        """(owning plugin, content type) of an enabled plugin, or ``None``."""
        return self.services.registry.get("content_types", name)

    def storage_for(self, library: Library) -> Any:
        """The storage object of a library's backend. :raises LookupError: no enabled plugin offers it."""
        found = self.services.registry.get("storage_backends", library.storage)
        if found is None:
            raise LookupError(f"no enabled plugin offers the storage backend {library.storage!r}")
        return found[1].storage

    # --- libraries ------------------------------------------------------------------------------

    async def list(self, content_type: str | None = None) -> list[Library]:
        def read() -> list[Library]:
            query = LibraryRow.select().order_by(LibraryRow.name)
            if content_type is not None:
                query = query.where(LibraryRow.content_type == content_type)
            return [library_of(row) for row in query]

        return await self.run(read)

    async def get(self, library_id: object) -> Library:
        """:raises NotFound: no such library."""
        wanted = library_id_of(library_id)

        def read() -> Library:
            row = LibraryRow.get_or_none(LibraryRow.id == wanted)
            if row is None:
                raise NotFound(f"There is no library {wanted}.")
            return library_of(row)

        return await self.run(read)

    async def _check(self, fields: dict[str, Any], current: Library | None) -> None:
        """What needs the registrations and the storage: content type, storage, folders, overlaps."""
        content_type = fields.get("content_type", current.content_type if current else None)
        storage_name = fields.get("storage", current.storage if current else "localfs")
        if current is None or "content_type" in fields:
            found = self.content_type(content_type)
            if found is None or found[1].handler is None:
                usable = sorted(ct.name for _, ct in self.services.registry.items("content_types")
                                if ct.handler is not None)
                raise BadRequest(f"There is no content type {content_type!r} that can own a library; available: "
                                 f"{', '.join(usable) or 'none (enable a content-type plugin)'}.",
                                 {"key": "content_type", "available": usable})
        backend = self.services.registry.get("storage_backends", storage_name)
        if backend is None:
            available = sorted(b.name for _, b in self.services.registry.items("storage_backends"))
            raise BadRequest(f"There is no storage backend {storage_name!r}; available: "
                             f"{', '.join(available) or 'none'}.", {"key": "storage", "available": available})
        storage = backend[1].storage
        realtime = fields.get("realtime", current.realtime if current else False)
        if realtime and not hasattr(storage, "watch"):
            raise BadRequest(f"The storage backend {storage_name!r} cannot watch folders for changes; "
                             "turn realtime off.", {"key": "realtime"})
        if "paths" in fields or "storage" in fields:
            paths = fields.get("paths", list(current.paths) if current else [])
            for path in paths:
                await self._check_folder(storage, storage_name, path)
            others = [lib for lib in await self.list() if lib.storage == storage_name
                      and (current is None or lib.id != current.id)]
            for other in others:
                clash = validation.overlap(paths, other.paths)
                if clash:
                    raise Conflict(f"The folder {clash[0]!r} overlaps {clash[1]!r} of library {other.name!r}; a file "
                                   "belongs to one library only.", {"key": "paths", "library_id": other.id})

    @staticmethod
    async def _check_folder(storage: Any, storage_name: str, path: str) -> None:
        roots = [validation.folder(r, "roots") for r in storage.roots()] if hasattr(storage, "roots") else []
        if roots and not any(validation.inside(path, root) for root in roots):
            raise BadRequest(f"paths: {path!r} is outside the folders the storage backend {storage_name!r} serves "
                             f"({', '.join(roots)}).", {"key": "paths", "roots": roots})
        try:
            info = await storage.stat(path)
        except PermissionError:
            raise BadRequest(f"paths: the storage backend {storage_name!r} refuses {path!r}: it lies outside its "
                             "roots.", {"key": "paths"}) from None
        except FileNotFoundError:
            raise BadRequest(f"paths: {path!r} does not exist.", {"key": "paths"}) from None
        except OSError as exc:
            raise BadRequest(f"paths: {path!r} cannot be read: {exc.strerror or exc}.", {"key": "paths"}) from None
        if not info.is_dir:
            raise BadRequest(f"paths: {path!r} is not a folder.", {"key": "paths"})

    async def create(self, body: Mapping[str, Any]) -> Library:
        """Add a library. :raises BadRequest: a field is invalid. :raises Conflict: the name or a folder is taken."""
        if not isinstance(body, Mapping):
            raise BadRequest("The request body must be a JSON object.")
        fields = validation.library_fields(body, creating=True)
        await self._check(fields, None)
        now = utcnow()
        row = {**fields, "paths": json.dumps(fields["paths"]), "created_at": now, "updated_at": now}
        for key in ("languages", "providers", "settings"):
            if key in fields:
                row[key] = json.dumps(fields[key])

        def write() -> int:
            with self.db.database.atomic():
                self._name_free(fields["name"])
                return LibraryRow.insert(**row).execute()

        library_id = await self._unique(write, fields["name"])
        library = await self.get(library_id)
        logger.info("library {} ({}) created: {} on {}", library.name, library.id, library.content_type,
                    ", ".join(library.paths))
        self.watchers.refresh_soon()
        return library

    @staticmethod
    def _name_free(name: str, other_than: int | None = None) -> None:
        query = LibraryRow.select().where(peewee.fn.LOWER(LibraryRow.name) == name.lower())
        if other_than is not None:
            query = query.where(LibraryRow.id != other_than)
        if query.exists():
            raise Conflict(f"A library named {name!r} already exists.", {"key": "name"})

    async def _unique(self, write: Callable[[], Any], name: str | None) -> Any:
        try:
            return await self.run(write)
        except peewee.IntegrityError:
            raise Conflict(f"A library named {name!r} already exists.", {"key": "name"}) from None

    async def update(self, library_id: object, body: Mapping[str, Any]) -> tuple[Library, Library]:
        """Change a library; returns it before and after.

        The content type and storage of a library that has files cannot change (its items
        belong to them); create another library instead.
        """
        if not isinstance(body, Mapping):
            raise BadRequest("The request body must be a JSON object.")
        current = await self.get(library_id)
        fields = validation.library_fields(body, creating=False)
        fields = {k: v for k, v in fields.items() if v != _current_value(current, k)}
        if {"content_type", "storage"} & set(fields) and await self.file_count(current.id):
            key = "content_type" if "content_type" in fields else "storage"
            raise Conflict(f"{key} cannot change while the library has files; create a new library instead.",
                           {"key": key})
        if not fields:
            return current, current
        await self._check(fields, current)
        row: dict[str, Any] = dict(fields)
        for key in ("paths", "languages", "providers", "settings"):
            if key in row:
                row[key] = json.dumps(row[key])
        row["updated_at"] = utcnow()
        wanted = int(current.id)

        def write() -> None:
            with self.db.database.atomic():
                if "name" in fields:
                    self._name_free(fields["name"], other_than=wanted)
                LibraryRow.update(**row).where(LibraryRow.id == wanted).execute()

        await self._unique(write, fields.get("name"))
        after = await self.get(wanted)
        self.watchers.refresh_soon()
        return current, after

    async def delete(self, library_id: object) -> Library:
        """Delete a library: its content type first forgets the files (and their items), then
        every row of the library goes (files, items, users' state on them, scans)."""
        library = await self.get(library_id)
        await self.watchers.stop_library(library.id)
        found = self.content_type(library.content_type)
        if found is not None and found[1].handler is not None:
            files = await self.files(library_id=library.id, include_missing=True)
            size = self.settings.scan_batch_size
            for start in range(0, len(files), size):
                batch = files[start:start + size]
                try:
                    await self.scanner.call_handler(found[0], "files_removed",
                                                    lambda b=batch: found[1].handler.files_removed(library, b))
                except Exception as exc:  # the plugin's own rows may stay; the library goes anyway
                    logger.warning("library {}: content type {} could not forget {} file(s): {}", library.id,
                                   library.content_type, len(batch), exc)
        keys = await self.run(lambda: [k for (k,) in LibraryItem.select(LibraryItem.key)
                                       .where(LibraryItem.library == int(library.id)).tuples()])
        await self.items.remove(keys)
        await self.run(lambda: LibraryRow.delete().where(LibraryRow.id == int(library.id)).execute())
        logger.info("library {} ({}) deleted", library.name, library.id)
        return library

    async def file_count(self, library_id: str) -> int:
        return await self.run(lambda: MediaFileRow.select().where(MediaFileRow.library == int(library_id)).count())

    async def summaries(self, library_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """File and item counts and the latest scan of each library, in three queries."""
        ids = [int(i) for i in library_ids]

        def read() -> dict[str, dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {str(i): {"files": 0, "missing": 0, "items": 0, "last_scan": None}
                                              for i in ids}
            if not ids:
                return out
            files = (MediaFileRow.select(MediaFileRow.library, peewee.fn.COUNT(MediaFileRow.id),
                                         peewee.fn.COUNT(MediaFileRow.missing_since))
                     .where(MediaFileRow.library.in_(ids)).group_by(MediaFileRow.library).tuples())
            for library_id, count, missing in files:
                out[str(library_id)].update(files=count - missing, missing=missing)
            items = (LibraryItem.select(LibraryItem.library, peewee.fn.COUNT(LibraryItem.key))
                     .where(LibraryItem.library.in_(ids)).group_by(LibraryItem.library).tuples())
            for library_id, count in items:
                out[str(library_id)]["items"] = count
            latest = (ScanRun.select(ScanRun.library, peewee.fn.MAX(ScanRun.id))
                      .where(ScanRun.library.in_(ids)).group_by(ScanRun.library))
            run_ids = [run_id for _, run_id in latest.tuples()]
            for run in ScanRun.select().where(ScanRun.id.in_(run_ids)) if run_ids else ():
                out[str(run.library_id)]["last_scan"] = run_dict(run)
            return out

        return await self.run(read)

    # --- files ----------------------------------------------------------------------------------

    async def files(self, *, library_id: str | None = None, item_key: str | None = None,
                    file_ids: Iterable[str] | None = None, include_missing: bool = False) -> list[MediaFile]:
        """Tracked files matching every given criterion (see ``PluginLibrary.files``)."""
        where: list[Any] = []
        if library_id is not None:
            try:
                where.append(MediaFileRow.library == library_id_of(library_id))
            except NotFound:
                return []
        if item_key is not None:
            where.append(MediaFileRow.item_key == str(item_key))
        if file_ids is not None:
            ids = [int(f) for f in (str(f) for f in file_ids) if f.isascii() and f.isdigit() and len(f) <= 18]
            if not ids:
                return []
            where.append(MediaFileRow.id.in_(ids))
        if not include_missing:
            where.append(MediaFileRow.missing_since.is_null())

        def read() -> list[Any]:
            query = MediaFileRow.select().order_by(MediaFileRow.id)
            return list(query.where(*where) if where else query)

        rows = await self.run(read)
        return await self.as_media_files(rows)

    async def as_media_files(self, rows: list[Any], storage: Any = ...) -> list[MediaFile]:
        """MediaFiles of rows, with local paths asked of the storage off the event loop
        (``storage=None``: none; by default each library's own storage)."""
        storages: dict[int, Any] = {}
        for library_id in {row.library_id for row in rows}:
            if storage is not ...:
                storages[library_id] = storage
                continue
            try:
                storages[library_id] = self.storage_for(await self.get(library_id))
            except (LookupError, NotFound):
                storages[library_id] = None

        def local_paths() -> list[str | None]:
            out = []
            for row in rows:
                local = getattr(storages.get(row.library_id), "local_path", None)
                try:
                    out.append(local(row.path) if local is not None else None)
                except OSError:
                    out.append(None)
            return out

        paths = await asyncio.to_thread(local_paths) if rows else []
        return [media_file_of(row, local) for row, local in zip(rows, paths, strict=True)]

    async def file_page(self, library_id: str, *, state: str = "all", limit: int = 100,
                        offset: int = 0) -> dict[str, Any]:
        """A page of a library's files for admins: ``state`` is all, missing, errors or pending."""
        wanted = library_id_of(library_id)
        pending = (MediaFileRow.ingested_size.is_null() | (MediaFileRow.ingested_size != MediaFileRow.size)
                   | (MediaFileRow.ingested_mtime != MediaFileRow.mtime))
        conditions = {
            "all": None,
            "missing": MediaFileRow.missing_since.is_null(False),
            "errors": MediaFileRow.error.is_null(False),
            "pending": pending & MediaFileRow.missing_since.is_null(),
        }
        if state not in conditions:
            raise BadRequest(f"state is one of: {', '.join(conditions)}.", {"key": "state"})

        def read() -> dict[str, Any]:
            query = MediaFileRow.select().where(MediaFileRow.library == wanted)
            if conditions[state] is not None:
                query = query.where(conditions[state])
            total = query.count()
            rows = query.order_by(MediaFileRow.path).limit(limit).offset(offset)
            return {"items": [_file_dict(row) for row in rows], "total": total, "limit": limit, "offset": offset}

        return await self.run(read)

    # --- scans ----------------------------------------------------------------------------------

    async def request_scan(self, library_id: object, mode: str = "incremental", paths: Iterable[str] | None = None,
                           *, requested_by: str = "", enqueue: bool = True) -> tuple[dict[str, Any], bool]:
        """Ask for a scan; returns the run that will do it and whether it is a new one.

        A request joins the library's queued scan if there is one (widening it), or the scan
        running now when that one covers it (a whole-library scan, full if a full one was
        asked for); otherwise a new run is queued and its job enqueued. Watch scans never
        join a running scan: it may have walked past the changed folders already.
        """
        library = await self.get(library_id)
        if not library.enabled:
            raise Conflict(f"Library {library.name!r} is disabled; enable it to scan it.", {"key": "enabled"})
        if mode not in ("incremental", "full", "watch"):
            raise BadRequest("mode is one of: incremental, full.", {"key": "mode"})
        scope = None if paths is None else collapse(validation.folder(p) for p in paths)
        if scope is not None:
            outside = [p for p in scope if not any(validation.inside(p, root) for root in library.paths)]
            if outside:
                raise BadRequest(f"paths: {outside[0]!r} is not inside the library's folders.", {"key": "paths"})
        stale = datetime.timedelta(seconds=self.settings.scan_stale_seconds)
        wanted = int(library.id)

        def write() -> tuple[dict[str, Any], bool]:
            with self.db.database.atomic():
                queued = ScanRun.get_or_none(ScanRun.library == wanted, ScanRun.status == "queued")
                if queued is not None:
                    merged_paths = None if scope is None or queued.paths is None else collapse(
                        [*json.loads(queued.paths), *scope])
                    modes = {queued.mode, mode}
                    merged_mode = "full" if "full" in modes else "incremental" if "incremental" in modes else "watch"
                    if merged_paths is None and merged_mode == "watch":
                        merged_mode = "incremental"
                    ScanRun.update(mode=merged_mode, paths=None if merged_paths is None else json.dumps(merged_paths)
                                   ).where(ScanRun.id == queued.id).execute()
                    return run_dict(ScanRun.get_by_id(queued.id)), False
                running = ScanRun.get_or_none(ScanRun.library == wanted, ScanRun.status == "running")
                if (running is not None and mode != "watch" and scope is None and running.paths is None
                        and (running.mode == "full" or mode != "full")
                        and running.heartbeat_at is not None and running.heartbeat_at > utcnow() - stale):
                    return run_dict(running), False
                run_id = ScanRun.insert(library=wanted, mode=mode, status="queued", requested_by=requested_by[:128],
                                        paths=None if scope is None else json.dumps(scope),
                                        queued_at=utcnow()).execute()
                return run_dict(ScanRun.get_by_id(run_id)), True

        for _attempt in range(3):
            try:
                run, created = await self.run(write)
                break
            except peewee.IntegrityError:  # another request queued one at the same moment: join it
                continue
        else:
            raise Conflict("The library is busy with scan requests; try again.")
        if enqueue and run["status"] == "queued":
            self.enqueue_run(run["id"])  # a second job for one run is harmless: only one can claim it
        logger.info("library {} scan {} {} ({}{})", library.id, run["id"], "queued" if created else "joined",
                    run["mode"], f", {len(scope)} folder(s)" if scope else "")
        return run, created

    def enqueue_run(self, run_id: str, delay: float = 0) -> None:
        try:
            self.services.jobs.enqueue(SCAN_JOB, {"run_id": str(run_id)}, delay=delay)
        except ValueError as exc:  # the job is not installed (a tool without the job queue)
            logger.warning("could not queue scan {}: {}", run_id, exc)

    async def scan_runs(self, library_id: object, limit: int = 20) -> list[dict[str, Any]]:
        wanted = library_id_of(library_id)
        return await self.run(lambda: [run_dict(r) for r in ScanRun.select().where(ScanRun.library == wanted)
                                       .order_by(ScanRun.id.desc()).limit(limit)])

    async def scan_run(self, run_id: object, library_id: object | None = None) -> dict[str, Any]:
        """One run. :raises NotFound: unknown, or not a run of ``library_id``."""
        try:
            wanted = library_id_of(run_id)
        except NotFound:
            raise NotFound(f"There is no scan {str(run_id)[:40]!r}.") from None
        run = await self.run(lambda: ScanRun.get_or_none(ScanRun.id == wanted))
        if run is None or (library_id is not None and run.library_id != library_id_of(library_id)):
            raise NotFound(f"There is no scan {wanted} of this library.")
        return run_dict(run)

    async def scan_now(self, library_id: object, mode: str = "incremental", paths: Iterable[str] | None = None, *,
                       requested_by: str = "") -> dict[str, Any]:
        """Request a scan and run it in this process (CLI, tests); returns the finished run."""
        run, _created = await self.request_scan(library_id, mode, paths, requested_by=requested_by, enqueue=False)
        return await self.follow(run["id"])

    async def follow(self, run_id: str) -> dict[str, Any]:
        """Run a queued scan here, or wait for it where it runs; returns it once it ended.

        When another scan of its library runs elsewhere, this waits for that one, then runs.
        """
        while True:
            result = await self.scanner.run(int(run_id))
            if result["status"] not in ACTIVE:
                return result
            await asyncio.sleep(0.5)

    # --- jobs, startup and shutdown -------------------------------------------------------------

    def install_jobs(self) -> None:
        """Register the ``library.scan`` job, owned by ``core``. Idempotent."""
        async def scan(context: Any = None, run_id: str = "") -> None:
            await self.scanner.run(library_id_of(run_id), from_job=True)

        registry = self.services.registry
        current = registry.owned_by(CORE_OWNER)
        job = Job(SCAN_JOB, scan, retries=0, queue="library")
        current["jobs"] = [j for j in current.get("jobs", []) if j.name != SCAN_JOB] + [job]
        registry.replace(CORE_OWNER, current)

    async def start(self, host: PluginHost | None = None) -> None:
        """Queue what waits (queued runs, scan-on-startup libraries) and start the watchers.

        The scan job must be installed first (:meth:`install_jobs`, before the job consumer starts).
        """
        queued = await self.run(lambda: [str(r.id) for r in ScanRun.select(ScanRun.id)
                                         .where(ScanRun.status == "queued")])
        for run_id in queued:
            self.enqueue_run(run_id)
        for library in await self.list():
            if library.enabled and library.scan_on_startup:
                try:
                    await self.request_scan(library.id, requested_by="startup")
                except Exception as exc:
                    logger.warning("library {}: the startup scan could not be queued: {}", library.id, exc)
        if host is not None and self._host is None:
            self._host = host
            host.listeners.append(lambda _name, _enabled: self.watchers.refresh_soon())
        await self.watchers.start()

    async def stop(self) -> None:
        await self.watchers.stop()


def _current_value(library: Library, key: str) -> Any:
    value = getattr(library, key)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _file_dict(row: MediaFileRow) -> dict[str, Any]:
    pending = row.ingested_size is None or row.ingested_size != row.size or row.ingested_mtime != row.mtime
    return {
        "id": str(row.id), "path": row.path, "relative_path": row.relative_path, "size": row.size,
        "mtime": row.mtime, "item_key": row.item_key, "error": row.error, "pending": pending,
        "missing_since": iso(row.missing_since), "first_seen": iso(row.first_seen), "last_seen": iso(row.last_seen),
    }


def library_dict(library: Library, summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body = attrs.asdict(library, recurse=False)
    body.update(paths=list(library.paths), languages=list(library.languages), providers=list(library.providers),
                settings=dict(library.settings))
    if summary is not None:
        body.update(summary)
    return body
