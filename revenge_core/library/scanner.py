"""The scanner: walk a library, compare with what is tracked, and tell the content type.

One scan, in order:

1. claim the run (``queued`` -> ``running``; a partial unique index allows one running scan
   per library across every instance; a running scan without a heartbeat for
   ``library.scan_stale_seconds`` is marked failed first);
2. walk the library's folders (or only the given ones) through the storage backend, keeping
   the files its content type claims; unreadable folders are remembered so that what lies
   under them is left alone rather than taken for deleted;
3. compare with the tracked rows in one query, reading no file: same path and same size,
   mtime and inode is unchanged; a new path whose (device, inode), size and mtime match a row
   whose path is gone is a move (else the same name and size under another folder, when that
   is unambiguous); a tracked path not found is missing;
4. write rows in one transaction, then tell the content type: moves (``files_moved``), new,
   changed and pending files in batches (``ingest``), and files missing for longer than
   ``library.missing_grace_hours`` (``files_removed``, then the rows go).

A file is *pending* while the fingerprint last ingested successfully differs from its
current one, and a move is remembered (``moved_from``) until the content type heard of it,
so a scan that dies anywhere leaves rows the next scan simply finishes. Progress is saved
after every batch.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import peewee
from loguru import logger

from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.media import ITEM_KEY, FileMove, IngestResult, Library
from revenge_hookspecs.types import ContentType, Events, FileInfo

from ..db.models import utcnow
from .models import COUNTS, LibraryRow, MediaFileItem, MediaFileRow, ScanRun
from .validation import inside

if TYPE_CHECKING:
    from .service import LibraryService

PROGRESS_EVENT = "library.scan.progress"
MAX_PATH_BYTES = 2000
WALK_FLUSH_SECONDS = 1.0
CHUNK = 500
MAX_ERROR = 2000


class ScanStopped(Exception):
    """The scan cannot go on: ``status`` is how its run ends (``failed`` or ``cancelled``)."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class HandlerFailed(Exception):
    """A content type's handler raised or timed out; the message says how."""


def _signed(value: int | None) -> int | None:
    """A 64-bit unsigned inode or device number in a signed BIGINT column."""
    if value is None:
        return None
    return value - 2**64 if value >= 2**63 else value


def _same_file(row: Tracked, seen: Seen) -> bool:
    """A renamed or moved file keeps its size and mtime; an inode number reused by a new file
    (freed by a deletion a moment before) rarely has both."""
    return row.size == seen.info.size and row.mtime == seen.info.mtime


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@attrs.define(slots=True)
class Tracked:
    """A media_files row, as much of it as the scanner needs."""

    id: int
    library_id: int
    path: str
    root: str
    relative_path: str
    size: int
    mtime: float
    inode: int | None
    device: int | None
    item_key: str | None
    ingested_size: int | None
    ingested_mtime: float | None
    moved_from: str | None
    missing_since: datetime.datetime | None

    FIELDS = ("id", "library", "path", "root", "relative_path", "size", "mtime", "inode", "device", "item_key",
              "ingested_size", "ingested_mtime", "moved_from", "missing_since")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@attrs.define
class Seen:
    """A file the walk found: the storage's facts and the library folder it lies under."""

    info: FileInfo
    root: str

    @property
    def relative_path(self) -> str:
        return self.info.path[len(self.root.rstrip("/")) + 1:]


@attrs.define
class Plan:
    """What comparing the walk with the rows found, before anything is written."""

    new: list[Seen] = attrs.Factory(list)
    changed: list[tuple[Tracked, Seen, bool]] = attrs.Factory(list)  # (row, now, content changed?)
    moved: list[tuple[Tracked, Seen]] = attrs.Factory(list)
    restored: list[Tracked] = attrs.Factory(list)
    missing: list[Tracked] = attrs.Factory(list)
    expired: list[Tracked] = attrs.Factory(list)
    unchanged: int = 0
    kept_ids: list[int] = attrs.Factory(list)  # rows found where they were


@attrs.define
class Progress:
    run_id: int
    library_id: int
    mode: str
    counts: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(COUNTS, 0))
    total: int = 0
    done: int = 0
    notes: list[str] = attrs.Factory(list)
    flushed_at: float = 0.0

    def payload(self, status: str = "running") -> dict[str, Any]:
        return {"library_id": str(self.library_id), "run_id": str(self.run_id), "mode": self.mode, "status": status,
                "counts": dict(self.counts), "total": self.total, "done": self.done}


class Scanner:
    def __init__(self, service: LibraryService):
        self.service = service

    @property
    def settings(self) -> Any:
        return self.service.settings

    # --- a run from start to end ----------------------------------------------------------------

    async def run(self, run_id: int, *, from_job: bool = False) -> dict[str, Any]:
        """Claim and run a queued scan; returns the run as it ended (or as it is, when another
        instance has it or another scan of its library is running)."""
        claimed = await self.service.run(self._claim_sync, run_id)
        if claimed is None or claimed == "busy":
            if claimed == "busy" and from_job:
                # Kicked when the running scan ends; this is the fallback if its instance dies.
                self.service.enqueue_run(str(run_id), delay=self.settings.scan_stale_seconds)
            return await self._current(run_id)
        run, library = claimed
        progress = Progress(run.id, run.library_id, run.mode)
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(run.id))
        status, error = "done", None
        started = time.monotonic()
        try:
            await self._scan(run, library, progress)
        except asyncio.CancelledError:
            # Shutdown: the job goes back to the queue, and so does the run; what is done stays done.
            await asyncio.shield(self.service.run(self._requeue_sync, run.id, progress))
            logger.warning("library {} scan {} interrupted; it will resume", library.id, run.id)
            raise
        except ScanStopped as exc:
            status, error = exc.status, exc.message
        except Exception as exc:
            status, error = "failed", _describe(exc)
            logger.opt(exception=exc).error("library {} scan {} failed", library.id, run.id)
        finally:
            heartbeat.cancel()
        if status == "done" and progress.notes:
            error = "; ".join(progress.notes)[:MAX_ERROR]
        await self.service.run(self._finish_sync, run.id, status, error, progress)
        logger.info("library {} scan {} {} in {:.2f}s: {}", library.id, run.id, status, time.monotonic() - started,
                    ", ".join(f"{v} {k}" for k, v in progress.counts.items() if v) or "nothing to do")
        await self.service.services.events.emit(Events.LIBRARY_SCANNED, {**progress.payload(status), "error": error})
        await self._kick_next(run.library_id)
        return await self._current(run_id)

    async def _current(self, run_id: int) -> dict[str, Any]:
        try:
            return await self.service.scan_run(run_id)
        except NotFound:
            return {"id": str(run_id), "status": "cancelled", "error": "the library was deleted"}

    async def _kick_next(self, library_id: int) -> None:
        queued = await self.service.run(lambda: ScanRun.get_or_none(ScanRun.library == library_id,
                                                                    ScanRun.status == "queued"))
        if queued is not None:
            self.service.enqueue_run(str(queued.id))

    async def _heartbeat(self, run_id: int) -> None:
        interval = min(10.0, self.settings.scan_stale_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.service.run(lambda: ScanRun.update(heartbeat_at=utcnow())
                                       .where(ScanRun.id == run_id, ScanRun.status == "running").execute())
            except Exception as exc:  # the database is briefly away; the next beat tries again
                logger.warning("scan {}: heartbeat failed: {}", run_id, exc)

    def _claim_sync(self, run_id: int) -> tuple[ScanRun, Library] | str | None:
        from .service import library_of

        now = utcnow()
        with self.service.db.database.atomic():
            run = ScanRun.get_or_none(ScanRun.id == run_id)
            if run is None or run.status != "queued":
                return None
            stale_before = now - datetime.timedelta(seconds=self.settings.scan_stale_seconds)
            abandoned = (ScanRun.update(status="failed", finished_at=now,
                                        error="abandoned: the instance running it stopped answering")
                         .where(ScanRun.library == run.library_id, ScanRun.status == "running",
                                ScanRun.heartbeat_at.is_null() | (ScanRun.heartbeat_at < stale_before)).execute())
            if abandoned:
                logger.warning("library {}: a stale scan was marked failed", run.library_id)
            try:
                with self.service.db.database.atomic():
                    claimed = (ScanRun.update(status="running", started_at=now, heartbeat_at=now, error=None)
                               .where(ScanRun.id == run_id, ScanRun.status == "queued").execute())
            except peewee.IntegrityError:
                return "busy"
            if not claimed:
                return None
            return ScanRun.get_by_id(run_id), library_of(LibraryRow.get_by_id(run.library_id))

    def _requeue_sync(self, run_id: int, progress: Progress) -> None:
        try:
            with self.service.db.database.atomic():
                (ScanRun.update(status="queued", heartbeat_at=None, **self._progress_values(progress))
                 .where(ScanRun.id == run_id, ScanRun.status == "running").execute())
        except peewee.IntegrityError:  # a newer request is queued already: it takes over
            (ScanRun.update(status="cancelled", finished_at=utcnow(), error="interrupted; a queued scan continues")
             .where(ScanRun.id == run_id).execute())

    @staticmethod
    def _progress_values(progress: Progress) -> dict[str, Any]:
        return {**progress.counts, "total": progress.total, "done": progress.done}

    def _finish_sync(self, run_id: int, status: str, error: str | None, progress: Progress) -> None:
        (ScanRun.update(status=status, finished_at=utcnow(), error=error, **self._progress_values(progress))
         .where(ScanRun.id == run_id, ScanRun.status == "running").execute())

    async def _save_progress(self, progress: Progress) -> None:
        """Persist progress; stop when the run is no longer ours (library deleted, taken as stale)."""
        values = self._progress_values(progress)
        updated = await self.service.run(lambda: ScanRun.update(heartbeat_at=utcnow(), **values)
                                         .where(ScanRun.id == progress.run_id, ScanRun.status == "running").execute())
        progress.flushed_at = time.monotonic()
        if not updated:
            raise ScanStopped("cancelled", "the scan was stopped: its library was deleted or its run taken over")
        await self.service.services.events.emit(PROGRESS_EVENT, progress.payload())

    # --- the scan itself ------------------------------------------------------------------------

    async def _scan(self, run: ScanRun, library: Library, progress: Progress) -> None:
        if not library.enabled:
            raise ScanStopped("cancelled", f"library {library.name!r} is disabled")
        found = self.service.content_type(library.content_type)
        if found is None or found[1].handler is None:
            raise ScanStopped("failed", f"the content type {library.content_type!r} is not available; enable the "
                                        "plugin that provides it")
        owner, content_type = found
        try:
            storage = self.service.storage_for(library)
        except LookupError as exc:
            raise ScanStopped("failed", f"{exc}; enable the plugin that provides it") from None
        scope = json.loads(run.paths) if run.paths else None
        if scope is not None:  # the library's folders may have changed since the scan was asked for
            scope = [folder for folder in scope if any(inside(folder, p) for p in library.paths)]
            if not scope:
                return
        full = run.mode == "full"

        seen, unreachable = await self._walk(storage, library, scope, content_type, progress)
        rows = await self.service.run(self._rows_sync, run.library_id, scope)

        def protected(path: str) -> bool:
            return any(inside(path, folder) for folder in unreachable)

        plan = self._plan(rows, seen, protected)
        if scope is not None and plan.new:
            await self._moves_from_elsewhere(plan, storage, run.library_id, scope)
        now = self.service.clock()
        self._expire(plan, now)
        await self.service.run(self._apply_sync, run.library_id, plan, now)
        counts = progress.counts
        counts.update(new=len(plan.new), changed=sum(1 for _, _, c in plan.changed if c), moved=len(plan.moved),
                      missing=len(plan.missing), restored=len(plan.restored), unchanged=plan.unchanged)
        await self._save_progress(progress)

        handler = content_type.handler
        await self._tell_moves(owner, handler, library, run.library_id, scope, protected, progress)
        await self._ingest_pending(owner, handler, library, storage, run.library_id, scope, protected, full,
                                   progress)
        await self._remove_expired(owner, handler, library, plan.expired, progress)
        if plan.kept_ids:
            await self.service.run(self._touch_sync, plan.kept_ids, now)

    # --- 2. walking -----------------------------------------------------------------------------

    async def _walk(self, storage: Any, library: Library, scope: list[str] | None, content_type: ContentType,
                    progress: Progress) -> tuple[dict[str, Seen], list[str]]:
        seen: dict[str, Seen] = {}
        unreachable: list[str] = []
        try:
            reports_errors = "on_error" in inspect.signature(storage.walk).parameters
        except (TypeError, ValueError):
            reports_errors = False
        for folder in scope or list(library.paths):
            root = max((p for p in library.paths if inside(folder, p)), key=len)
            failed: list[str] = []
            kwargs = {"on_error": lambda path, _exc, failed=failed: failed.append(path)} if reports_errors else {}
            try:
                async for info in storage.walk(folder, **kwargs):
                    if info.is_dir or not inside(info.path, root) or not content_type.claims(info.path):
                        continue
                    if len(info.path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
                        progress.notes.append(f"skipped a path longer than {MAX_PATH_BYTES} bytes under {folder}")
                        continue
                    seen[info.path] = Seen(info, root)
                    progress.counts["seen"] += 1
                    if time.monotonic() - progress.flushed_at > WALK_FLUSH_SECONDS:
                        await self._save_progress(progress)
            except (FileNotFoundError, NotADirectoryError):
                if folder != root and await self._exists(storage, root):
                    continue  # the folder itself was deleted: everything under it is gone
                unreachable.append(folder)
                progress.notes.append(f"{folder} is not reachable; its files were left as they were")
            except OSError as exc:
                unreachable.append(folder)
                progress.notes.append(f"{folder} could not be read ({_describe(exc)}); its files were left as "
                                      "they were")
            for path in failed:
                unreachable.append(path)
                progress.notes.append(f"{path} could not be read; its files were left as they were")
        return seen, unreachable

    @staticmethod
    async def _exists(storage: Any, path: str) -> bool:
        try:
            await storage.stat(path)
        except OSError:
            return False
        return True

    # --- 3. comparing ---------------------------------------------------------------------------

    @staticmethod
    def _rows_sync(library_id: int, scope: list[str] | None) -> list[Tracked]:
        fields = [getattr(MediaFileRow, name) for name in Tracked.FIELDS]
        query = MediaFileRow.select(*fields).where(MediaFileRow.library == library_id)
        if scope is not None:
            condition = None
            for folder in scope:
                term = MediaFileRow.path.startswith(folder.rstrip("/") + "/")
                condition = term if condition is None else condition | term
            query = query.where(condition)
        rows = [Tracked(*values) for values in query.tuples().iterator()]
        if scope is not None:
            rows = [row for row in rows if any(inside(row.path, folder) for folder in scope)]
        return rows

    @staticmethod
    def _plan(rows: list[Tracked], seen: dict[str, Seen], protected: Callable[[str], bool]) -> Plan:
        plan = Plan()
        by_path = {row.path: row for row in rows}
        for path, now in seen.items():
            row = by_path.pop(path, None)
            if row is None:
                plan.new.append(now)
                continue
            if row.missing_since is not None:
                plan.restored.append(row)
            content_changed = (row.size, row.mtime, row.inode) != (now.info.size, now.info.mtime,
                                                                   _signed(now.info.inode))
            if content_changed or row.root != now.root:
                plan.changed.append((row, now, content_changed))
            elif row.missing_since is None:
                plan.unchanged += 1
            plan.kept_ids.append(row.id)
        gone = {row.id: row for row in by_path.values() if not protected(row.path)}
        # Moves: the same (device, inode) and size under a new path...
        by_inode = {(row.device, row.inode): row for row in gone.values() if row.inode is not None}
        unmatched: list[Seen] = []
        for now in plan.new:
            row = by_inode.get((_signed(now.info.device), _signed(now.info.inode)))
            if now.info.inode is not None and row is not None and row.id in gone and _same_file(row, now):
                plan.moved.append((row, now))
                del gone[row.id]
            else:
                unmatched.append(now)
        # ...else the same name and size, when exactly one file fits on each side.
        new_by: dict[tuple[str, int], list[Seen]] = defaultdict(list)
        for now in unmatched:
            new_by[(now.info.path.rsplit("/", 1)[-1], now.info.size)].append(now)
        gone_by: dict[tuple[str, int], list[Tracked]] = defaultdict(list)
        for row in gone.values():
            gone_by[(row.name, row.size)].append(row)
        for key, candidates in new_by.items():
            sources = gone_by.get(key, [])
            if len(candidates) == 1 and len(sources) == 1:
                plan.moved.append((sources[0], candidates[0]))
                del gone[sources[0].id]
                unmatched.remove(candidates[0])
        plan.new = unmatched
        plan.missing = list(gone.values())
        return plan

    async def _moves_from_elsewhere(self, plan: Plan, storage: Any, library_id: int, scope: list[str]) -> None:
        """A folder-limited scan: a new file may be a tracked file moved in from outside the scope."""
        by_inode = {(_signed(s.info.device), _signed(s.info.inode)): s for s in plan.new if s.info.inode is not None}
        if not by_inode:
            return
        inodes = sorted({inode for _, inode in by_inode})

        def read() -> list[Tracked]:
            fields = [getattr(MediaFileRow, name) for name in Tracked.FIELDS]
            found = []
            for chunk in _chunks(inodes, CHUNK):
                query = MediaFileRow.select(*fields).where(MediaFileRow.library == library_id,
                                                           MediaFileRow.inode.in_(list(chunk)))
                found += [Tracked(*values) for values in query.tuples()]
            return found

        for row in await self.service.run(read):
            now = by_inode.get((row.device, row.inode))
            if now is None or now not in plan.new or not _same_file(row, now):
                continue
            if any(inside(row.path, folder) for folder in scope) or await self._exists(storage, row.path):
                continue  # in scope it was judged already; still there, it is a second link or a copy
            plan.moved.append((row, now))
            plan.new.remove(now)

    def _expire(self, plan: Plan, now: datetime.datetime) -> None:
        """Missing rows past the grace period are to be removed; the others wait."""
        grace = datetime.timedelta(hours=self.settings.missing_grace_hours)
        waiting = []
        for row in plan.missing:
            if (row.missing_since or now) <= now - grace:
                plan.expired.append(row)
            elif row.missing_since is None:
                waiting.append(row)
        plan.missing = waiting

    # --- 4. writing ------------------------------------------------------------------------------

    def _apply_sync(self, library_id: int, plan: Plan, now: datetime.datetime) -> None:
        with self.service.db.database.atomic():
            rows = [{"library": library_id, "path": s.info.path, "root": s.root, "relative_path": s.relative_path,
                     "size": s.info.size, "mtime": s.info.mtime, "inode": _signed(s.info.inode),
                     "device": _signed(s.info.device), "first_seen": now, "last_seen": now} for s in plan.new]
            for chunk in _chunks(rows, 200):
                MediaFileRow.insert_many(chunk).execute()
            for row, seen, content_changed in plan.changed:
                values: dict[str, Any] = {"size": seen.info.size, "mtime": seen.info.mtime,
                                          "inode": _signed(seen.info.inode), "device": _signed(seen.info.device),
                                          "root": seen.root, "relative_path": seen.relative_path,
                                          "missing_since": None, "last_seen": now}
                if content_changed:  # replaced in place (same size and mtime, new inode) counts too
                    values.update(ingested_size=None, ingested_mtime=None)
                MediaFileRow.update(**values).where(MediaFileRow.id == row.id).execute()
            for row, seen in plan.moved:
                MediaFileRow.update(path=seen.info.path, root=seen.root, relative_path=seen.relative_path,
                                    size=seen.info.size, mtime=seen.info.mtime, inode=_signed(seen.info.inode),
                                    device=_signed(seen.info.device), missing_since=None, last_seen=now,
                                    moved_from=row.moved_from or row.path).where(MediaFileRow.id == row.id).execute()
            for ids, values in (([r.id for r in plan.restored], {"missing_since": None}),
                                ([r.id for r in plan.missing], {"missing_since": now})):
                for chunk in _chunks(ids, CHUNK):
                    MediaFileRow.update(**values).where(MediaFileRow.id.in_(list(chunk))).execute()

    @staticmethod
    def _touch_sync(ids: list[int], now: datetime.datetime) -> None:
        for chunk in _chunks(ids, CHUNK):
            (MediaFileRow.update(last_seen=now)
             .where(MediaFileRow.id.in_(list(chunk)), MediaFileRow.missing_since.is_null()).execute())

    # --- 4. telling the content type -------------------------------------------------------------

    async def call_handler(self, owner: str, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Await a content type's handler the way the host awaits plugin code: with a timeout,
        its failures logged and counted against its plugin. :raises HandlerFailed: it failed."""
        timeout = self.settings.handler_timeout
        try:
            async with asyncio.timeout(timeout):
                return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = f"timed out after {timeout:g}s" if isinstance(exc, TimeoutError) else _describe(exc)
            logger.opt(exception=exc).error("the content handler of plugin {} failed in {}: {}", owner, what, reason)
            if self.service.on_plugin_error is not None:
                self.service.on_plugin_error(owner, exc)
            raise HandlerFailed(reason) from exc

    def _scoped(self, rows: list[Tracked], scope: list[str] | None, protected: Callable[[str], bool]) -> list[Tracked]:
        return [row for row in rows if (scope is None or any(inside(row.path, f) for f in scope))
                and not protected(row.path)]

    async def _tell_moves(self, owner: str, handler: Any, library: Library, library_id: int,
                          scope: list[str] | None, protected: Callable[[str], bool], progress: Progress) -> None:
        def read() -> list[Tracked]:
            fields = [getattr(MediaFileRow, name) for name in Tracked.FIELDS]
            query = MediaFileRow.select(*fields).where(MediaFileRow.library == library_id,
                                                       MediaFileRow.moved_from.is_null(False),
                                                       MediaFileRow.missing_since.is_null())
            return [Tracked(*values) for values in query.order_by(MediaFileRow.path).tuples()]

        moved = self._scoped(await self.service.run(read), scope, protected)
        for batch in _chunks(moved, self.settings.scan_batch_size):
            moves = [FileMove(file_id=str(r.id), old_path=r.moved_from, new_path=r.path, relative_path=r.relative_path,
                              item_key=r.item_key) for r in batch]
            try:
                await self.call_handler(owner, "files_moved", lambda moves=moves: handler.files_moved(library, moves))
            except HandlerFailed as exc:
                progress.counts["errors"] += len(batch)
                progress.notes.append(f"files_moved failed ({exc}); retried next scan")
                continue
            ids = [r.id for r in batch]
            await self.service.run(lambda ids=ids: MediaFileRow.update(moved_from=None)
                                   .where(MediaFileRow.id.in_(ids)).execute())

    async def _ingest_pending(self, owner: str, handler: Any, library: Library, storage: Any, library_id: int,
                              scope: list[str] | None, protected: Callable[[str], bool], full: bool,
                              progress: Progress) -> None:
        def read() -> list[Tracked]:
            fields = [getattr(MediaFileRow, name) for name in Tracked.FIELDS]
            query = MediaFileRow.select(*fields).where(MediaFileRow.library == library_id,
                                                       MediaFileRow.missing_since.is_null())
            if not full:
                query = query.where(MediaFileRow.ingested_size.is_null()
                                    | (MediaFileRow.ingested_size != MediaFileRow.size)
                                    | (MediaFileRow.ingested_mtime != MediaFileRow.mtime))
            return [Tracked(*values) for values in query.order_by(MediaFileRow.path).tuples()]

        pending = self._scoped(await self.service.run(read), scope, protected)
        progress.total = len(pending)
        for batch in _chunks(pending, self.settings.scan_batch_size):
            files = await self.service.as_media_files(list(batch), storage=storage)
            try:
                answer = await self.call_handler(owner, "ingest", lambda files=files: handler.ingest(library, files))
                results = self._results(answer, batch)
            except HandlerFailed as exc:
                results = {row.id: f"the content type failed: {exc}" for row in batch}
            errors = await self.service.run(self._record_sync, list(batch), results)
            progress.counts["errors"] += errors
            progress.done += len(batch)
            await self._save_progress(progress)

    @staticmethod
    def _results(answer: Any, batch: Sequence[Tracked]) -> dict[int, IngestResult | str]:
        wanted = {str(row.id): row.id for row in batch}
        if isinstance(answer, IngestResult):
            answer = [answer]
        try:
            answer = list(answer)
        except TypeError:
            raise HandlerFailed(f"ingest returned {type(answer).__name__}, expected a list of IngestResult") from None
        results: dict[int, IngestResult | str] = {}
        for result in answer:
            if not isinstance(result, IngestResult):
                raise HandlerFailed(f"ingest returned a {type(result).__name__}, expected IngestResult")
            file_id = wanted.get(str(result.file_id))
            if file_id is None:
                continue
            keys = [key for key in (result.item_key, *result.also) if key is not None]
            bad = next((key for key in keys if not isinstance(key, str) or not ITEM_KEY.match(key)), None)
            if bad is not None:
                results[file_id] = f"the content type returned an invalid item key {str(bad)[:80]!r}"
            else:
                results[file_id] = result
        for file_id in wanted.values():
            results.setdefault(file_id, "the content type returned no result for this file")
        return results

    def _record_sync(self, batch: list[Tracked], results: dict[int, IngestResult | str]) -> int:
        """Store a batch's results in a few statements: one for the ingested files, one per error text.

        A file counts as ingested at the fingerprint it was handed over with; only this scan
        writes the library's rows, so that is the row's current ``size`` and ``mtime``.
        """
        done: dict[int, str | None] = {}
        also: list[dict[str, Any]] = []
        failed: dict[str, list[int]] = defaultdict(list)
        for row in batch:
            result = results[row.id]
            error = result if isinstance(result, str) else result.error
            if error:
                failed[str(error)[:MAX_ERROR]].append(row.id)
            else:
                done[row.id] = result.item_key
                also += [{"file": row.id, "item_key": key}
                         for key in dict.fromkeys(result.also) if result.item_key and key != result.item_key]
        with self.service.db.database.atomic():
            for chunk in _chunks(list(done.items()), CHUNK):
                keys = peewee.Case(MediaFileRow.id, chunk, None)
                (MediaFileRow.update(item_key=keys, error=None, ingested_size=MediaFileRow.size,
                                     ingested_mtime=MediaFileRow.mtime)
                 .where(MediaFileRow.id.in_([file_id for file_id, _ in chunk])).execute())
                MediaFileItem.delete().where(MediaFileItem.file.in_([file_id for file_id, _ in chunk])).execute()
            for chunk in _chunks(also, CHUNK):
                MediaFileItem.insert_many(chunk).execute()
            for error, ids in failed.items():
                MediaFileRow.update(error=error).where(MediaFileRow.id.in_(ids)).execute()
        return sum(len(ids) for ids in failed.values())

    async def _remove_expired(self, owner: str, handler: Any, library: Library, expired: list[Tracked],
                              progress: Progress) -> None:
        for batch in _chunks(expired, self.settings.scan_batch_size):
            files = await self.service.as_media_files(list(batch), storage=None)
            try:
                await self.call_handler(owner, "files_removed", lambda files=files: handler.files_removed(library,
                                                                                                         files))
            except HandlerFailed as exc:
                progress.counts["errors"] += len(batch)
                progress.notes.append(f"files_removed failed ({exc}); retried next scan")
                continue
            ids = [row.id for row in batch]
            await self.service.run(lambda ids=ids: MediaFileRow.delete().where(MediaFileRow.id.in_(ids)).execute())
            progress.counts["removed"] += len(batch)
