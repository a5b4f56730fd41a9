"""Realtime monitoring: a watcher task per library with ``realtime`` on.

Each task reads batches of changed paths from its storage's ``watch(paths)``, waits until the
library's folders have been quiet for ``library.watch_debounce_ms``, then asks for a scan of
just the folders that changed (mode ``watch``). A watcher whose storage fails is restarted
with a growing pause. Watchers follow the libraries: created, changed, disabled and deleted
libraries, and storage plugins switched on or off, start and stop them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from loguru import logger

from revenge_hookspecs.errors import ApiError
from revenge_hookspecs.media import Library

from .validation import inside

if TYPE_CHECKING:
    from .service import LibraryService

MAX_FOLDERS = 50
"""More changed folders than this at once, and the whole library is scanned instead."""
FOLLOW_SECONDS = 30.0
"""How often the watchers look for libraries changed on another instance."""


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class Watchers:
    def __init__(self, service: LibraryService):
        self.service = service
        self._tasks: dict[str, tuple[Any, asyncio.Task]] = {}
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task | None = None
        self._following: asyncio.Task | None = None
        self.running = False

    def watching(self) -> list[str]:
        """Ids of the libraries watched right now."""
        return sorted(library_id for library_id, (_, task) in self._tasks.items() if not task.done())

    def refresh_soon(self) -> None:
        """Follow a change of libraries or plugins without making the caller wait."""
        if not self.running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refreshing = loop.create_task(self._refresh_logged())

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the next change of libraries or plugins tries again
            logger.warning("could not update the library watchers: {}", exc)

    async def start(self) -> None:
        """Start the watchers, and follow libraries changed elsewhere from now on."""
        await self.refresh()
        if self._following is None:
            self._following = asyncio.get_running_loop().create_task(self._follow_elsewhere())

    async def _follow_elsewhere(self) -> None:
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            await self._refresh_logged()

    async def refresh(self) -> None:
        """Start the watchers that should run and stop the others."""
        self.running = True
        async with self._lock:
            wanted: dict[str, tuple[Any, Library, Any]] = {}
            for library in await self.service.list():
                if not (library.enabled and library.realtime):
                    continue
                try:
                    storage = self.service.storage_for(library)
                except LookupError:
                    continue
                if hasattr(storage, "watch"):
                    wanted[library.id] = ((library.paths, id(storage)), library, storage)
            for library_id in list(self._tasks):
                signature, task = self._tasks[library_id]
                if library_id not in wanted or wanted[library_id][0] != signature or task.done():
                    await self._cancel(library_id)
            for library_id, (signature, library, storage) in wanted.items():
                if library_id not in self._tasks:
                    task = asyncio.get_running_loop().create_task(self._watch(library, storage),
                                                                  name=f"revenge-watch-{library_id}")
                    self._tasks[library_id] = (signature, task)
                    logger.info("watching library {} ({}) for changes", library.id, library.name)

    async def _cancel(self, library_id: str) -> None:
        _signature, task = self._tasks.pop(library_id)
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass

    async def stop_library(self, library_id: str) -> None:
        async with self._lock:
            if library_id in self._tasks:
                await self._cancel(library_id)

    async def stop(self) -> None:
        self.running = False
        for task in (self._refreshing, self._following):
            if task is not None:
                task.cancel()
        self._following = None
        async with self._lock:
            for library_id in list(self._tasks):
                await self._cancel(library_id)

    # --- one library ------------------------------------------------------------------------------

    async def _watch(self, library: Library, storage: Any) -> None:
        pause = 1.0
        while True:
            try:
                await self._follow(library, storage)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("watching library {} failed ({}: {}); trying again in {:.0f}s", library.id,
                               type(exc).__name__, exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 60.0)

    async def _follow(self, library: Library, storage: Any) -> None:
        queue: asyncio.Queue[set[str] | _Failed | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for batch in storage.watch(list(library.paths)):
                    queue.put_nowait(set(batch))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                queue.put_nowait(_Failed(exc))
                return
            queue.put_nowait(None)

        quiet = self.service.settings.watch_debounce_ms / 1000
        pumping = asyncio.get_running_loop().create_task(pump())
        changed: set[str] = set()
        try:
            while True:
                try:
                    batch = await asyncio.wait_for(queue.get(), timeout=quiet if changed else None)
                except TimeoutError:
                    await self._scan(library, changed)
                    changed = set()
                    continue
                if isinstance(batch, _Failed):
                    raise batch.error
                if batch is None:
                    return
                changed |= batch
        finally:
            pumping.cancel()

    async def _scan(self, library: Library, changed: set[str]) -> None:
        folders: set[str] = set()
        for path in changed:
            root = next((p for p in library.paths if inside(path, p)), None)
            if root is None:
                continue
            parent = path.rsplit("/", 1)[0] or "/"
            folders.add(parent if inside(parent, root) else root)
        if not folders:
            return
        from .service import collapse

        scope = collapse(folders)
        try:
            await self.service.request_scan(library.id, "watch", None if len(scope) > MAX_FOLDERS else scope,
                                            requested_by="watch")
        except ApiError as exc:  # deleted or disabled meanwhile; the refresh stops this watcher
            logger.debug("library {}: no watch scan: {}", library.id, exc.message)
