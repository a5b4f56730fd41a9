"""Local folders as a Revenge storage backend, confined to the configured roots.

Every path a caller gives is checked before anything is read: it must be absolute, free of
NUL bytes and ``..`` components, and its real location (``os.path.realpath``, symlinks
resolved) must lie inside one of the roots. Anything else raises ``PermissionError``.
Containment is decided by path components, so the root ``/media/tv`` never admits
``/media/tv2``. Opening a file checks again on the open descriptor, so a symlink swapped in
between the check and the open cannot lead outside either.

Listing and walking skip hidden entries (names starting with ``.``: ``.DS_Store``,
``.Trash-1000``, ``.@__thumb``...), special files (sockets, FIFOs, devices) and symlinks
that lead outside the roots or nowhere. ``stat`` and ``open`` still accept a hidden path
given explicitly.

All filesystem calls run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import stat as stat_module
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from revenge_hookspecs import FileInfo

DEFAULT_CHUNK_SIZE = 256 * 1024
_FD_LINK = "/proc/self/fd/{}"


def _inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, comparing whole components."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


class LocalStorage:
    """The :class:`revenge_hookspecs.Storage` protocol over local folders.

    :param roots: absolute folders this backend may serve.
    :param follow_symlinks: follow symlinks whose target stays inside a root; when false,
        no symlink below a root is followed at all.
    """

    def __init__(self, roots: Iterable[str], *, follow_symlinks: bool = True):
        self._roots = []
        for root in roots:
            if not isinstance(root, str) or "\x00" in root or not os.path.isabs(root):
                raise ValueError(f"storage root {root!r} must be an absolute path")
            self._roots.append(os.path.normpath(root))
        self.follow_symlinks = follow_symlinks

    def roots(self) -> list[str]:
        """The folders this backend serves, as configured."""
        return list(self._roots)

    # --- confinement ---------------------------------------------------------------------

    def _real_roots(self) -> list[tuple[str, str]]:
        # Resolved on each call: a root may be a symlink or a mount point that changes.
        return [(root, os.path.realpath(root)) for root in self._roots]

    def _within_roots(self, real: str, roots: list[tuple[str, str]]) -> bool:
        return any(_inside(real, real_root) for _, real_root in roots)

    def _resolve(self, path: str | os.PathLike[str]) -> tuple[str, str]:
        """(the path as the caller names it, normalised; its real location) or ``PermissionError``."""
        path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError(f"paths are text, got {type(path).__name__}")
        if "\x00" in path:
            raise PermissionError(f"{path!r} contains a NUL byte")
        if not os.path.isabs(path):
            raise PermissionError(f"{path!r} is not an absolute path inside the storage roots")
        if ".." in path.split(os.sep):
            raise PermissionError(f"{path!r} contains '..'; give a normalised path")
        shown = os.path.normpath(path)
        real = os.path.realpath(shown)
        roots = self._real_roots()
        if not self._within_roots(real, roots):
            raise PermissionError(f"{path!r} is outside the storage roots")
        if not self.follow_symlinks and not self._free_of_symlinks(shown, real, roots):
            raise PermissionError(f"{path!r} goes through a symlink and follow_symlinks is off")
        return shown, real

    @staticmethod
    def _free_of_symlinks(shown: str, real: str, roots: list[tuple[str, str]]) -> bool:
        # No symlink below the root: the real path is the root's real path plus the same tail.
        for root, real_root in roots:
            for base in (root, real_root):
                if _inside(shown, base):
                    tail = os.path.relpath(shown, base)
                    if os.path.normpath(os.path.join(real_root, tail)) == real:
                        return True
        return False

    # --- facts ---------------------------------------------------------------------------

    @staticmethod
    def _info(shown: str, st: os.stat_result) -> FileInfo:
        is_dir = stat_module.S_ISDIR(st.st_mode)
        return FileInfo(path=shown, size=0 if is_dir else st.st_size, mtime=st.st_mtime, is_dir=is_dir,
                        inode=st.st_ino, device=st.st_dev)

    def _stat_sync(self, path: str) -> FileInfo:
        shown, real = self._resolve(path)
        return self._info(shown, os.stat(real))

    async def stat(self, path: str) -> FileInfo:
        """Size, mtime, inode and device of one file or folder; ``FileNotFoundError`` if absent."""
        return await asyncio.to_thread(self._stat_sync, path)

    def _entry(self, shown_dir: str, real_dir: str, entry: os.DirEntry[str],
               roots: list[tuple[str, str]]) -> tuple[str, str, os.stat_result] | None:
        """(shown path, real path, stat) of one directory entry, or ``None`` to skip it."""
        if _is_hidden(entry.name):
            return None
        shown = os.path.join(shown_dir, entry.name)
        try:
            if entry.is_symlink():
                if not self.follow_symlinks:
                    return None
                real = os.path.realpath(os.path.join(real_dir, entry.name))
                if not self._within_roots(real, roots):
                    return None
                st = os.stat(real)
            else:
                real = os.path.join(real_dir, entry.name)
                st = entry.stat(follow_symlinks=False)
        except OSError:  # a dangling or looping symlink, or an entry that vanished meanwhile
            return None
        if not (stat_module.S_ISDIR(st.st_mode) or stat_module.S_ISREG(st.st_mode)):
            return None
        return shown, real, st

    def _list_sync(self, path: str) -> list[FileInfo]:
        shown_dir, real_dir = self._resolve(path)
        roots = self._real_roots()
        with os.scandir(real_dir) as entries:
            found = [self._entry(shown_dir, real_dir, entry, roots) for entry in entries]
        return sorted((self._info(shown, st) for shown, _, st in filter(None, found)), key=lambda i: i.path)

    async def list(self, path: str) -> list[FileInfo]:
        """Files and folders directly inside a folder, by name; ``NotADirectoryError`` for a file."""
        return await asyncio.to_thread(self._list_sync, path)

    # --- walking -------------------------------------------------------------------------

    def _start_walk(self, path: str) -> tuple[str, str]:
        shown, real = self._resolve(path)
        if not stat_module.S_ISDIR(os.stat(real).st_mode):
            raise NotADirectoryError(f"{path!r} is not a folder")
        return shown, real

    def _scan(self, shown_dir: str, real_dir: str, seen: set[tuple[int, int]],
              on_error: Callable[[str, OSError], None] | None
              ) -> tuple[list[FileInfo], list[tuple[str, str]]]:
        """The files of one folder and the subfolders to visit next."""
        roots = self._real_roots()
        try:
            folder = os.stat(real_dir)
            if (folder.st_dev, folder.st_ino) in seen:  # reached twice: a symlink cycle or alias
                return [], []
            seen.add((folder.st_dev, folder.st_ino))
            with os.scandir(real_dir) as entries:
                found = sorted(filter(None, (self._entry(shown_dir, real_dir, e, roots) for e in entries)))
        except OSError as exc:
            if on_error is not None:
                on_error(shown_dir, exc)
            return [], []
        files = [self._info(shown, st) for shown, _, st in found if not stat_module.S_ISDIR(st.st_mode)]
        folders = [(shown, real) for shown, real, st in found if stat_module.S_ISDIR(st.st_mode)]
        return files, folders

    async def walk(self, path: str, *,
                   on_error: Callable[[str, OSError], None] | None = None) -> AsyncIterator[FileInfo]:
        """Every file below a folder, depth first, by name; folders are not yielded.

        A subfolder that cannot be read is skipped and reported to ``on_error(path, error)``,
        so a scanner can tell "unreadable" from "deleted". Symlinked folders are followed
        only inside the roots, and each folder is visited once, so cycles end.
        """
        shown, real = await asyncio.to_thread(self._start_walk, path)
        seen: set[tuple[int, int]] = set()
        stack = [(shown, real)]
        while stack:
            shown_dir, real_dir = stack.pop()
            files, folders = await asyncio.to_thread(self._scan, shown_dir, real_dir, seen, on_error)
            for info in files:
                yield info
            stack.extend(reversed(folders))

    # --- local paths and watching --------------------------------------------------------

    def local_path(self, path: str) -> str:
        """Where a path really is on this machine (symlinks resolved), for tools that open
        files themselves (PyAV, mutagen). Raises ``PermissionError`` like every other call."""
        return self._resolve(path)[1]

    def _shown_path(self, real: str, watched: list[tuple[str, str]]) -> str | None:
        """The path a caller names for a real path below a watched folder, unless hidden or outside."""
        for shown, real_folder in watched:
            if _inside(real, real_folder):
                tail = os.path.relpath(real, real_folder)
                if tail == ".":
                    return shown
                if any(_is_hidden(part) for part in tail.split(os.sep)):
                    return None
                return os.path.join(shown, tail)
        return None

    async def watch(self, paths: Iterable[str], *, debounce_ms: int = 200,
                    stop_event: Any = None) -> AsyncIterator[set[str]]:
        """Batches of paths that changed (created, modified, deleted, moved) below ``paths``.

        Every folder is checked like any other path first (``PermissionError`` outside the
        roots). Paths come back as the caller names them; hidden ones are left out. The
        operating system's notifications (inotify, FSEvents...) are read by ``watchfiles``
        in a thread; ``debounce_ms`` groups a burst of changes into one batch.
        """
        import watchfiles

        watched = []
        for path in paths:
            shown, real = await asyncio.to_thread(self._resolve, path)
            watched.append((shown, real))
        if not watched:
            raise ValueError("watch needs at least one folder")
        async for changes in watchfiles.awatch(*(real for _, real in watched), debounce=debounce_ms, step=50,
                                               stop_event=stop_event, recursive=True, watch_filter=None,
                                               yield_on_timeout=False):
            batch = {shown for shown in (self._shown_path(real, watched) for _change, real in changes) if shown}
            if batch:
                yield batch

    # --- reading -------------------------------------------------------------------------

    def _open_fd(self, path: str) -> tuple[int, int]:
        """An open descriptor on a regular file inside the roots, and the file's size."""
        shown, real = self._resolve(path)
        # O_NOFOLLOW: the resolved path has no symlink left, so one appearing now is an attack.
        # O_NONBLOCK: opening a FIFO must not hang the worker thread.
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(real, flags)
        try:
            st = os.fstat(fd)
            if stat_module.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{shown!r} is a folder")
            if not stat_module.S_ISREG(st.st_mode):
                raise PermissionError(f"{shown!r} is not a regular file")
            link = _FD_LINK.format(fd)
            if os.path.exists(link) and not self._within_roots(os.readlink(link), self._real_roots()):
                raise PermissionError(f"{shown!r} moved outside the storage roots while being opened")
        except BaseException:
            os.close(fd)
            raise
        return fd, st.st_size

    def open(self, path: str, start: int = 0, end: int | None = None,
             chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` inclusive (to the end of the file by default), in chunks.

        Arguments that can never be valid raise ``ValueError`` here; a range beyond the file
        raises ``ValueError`` on the first iteration, once the size is known. Close the
        iterator early with ``contextlib.aclosing`` to release the file at once.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be a non-negative integer, got {start!r}")
        if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < start):
            raise ValueError(f"end must be an integer >= start ({start}), got {end!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        return self._read(path, start, end, chunk_size)

    async def _read(self, path: str, start: int, end: int | None, chunk_size: int) -> AsyncIterator[bytes]:
        fd, size = await asyncio.to_thread(self._open_fd, path)
        try:
            if size == 0 and start == 0 and end is None:
                return
            last = size - 1 if end is None else end
            if not 0 <= start <= last < size:
                raise ValueError(f"range {start}-{'' if end is None else end} is outside {path!r} ({size} bytes)")
            offset = start
            while offset <= last:
                data = await asyncio.to_thread(os.pread, fd, min(chunk_size, last - offset + 1), offset)
                if not data:
                    raise EOFError(f"{path!r} shrank to {offset} bytes while being read")
                yield data
                offset += len(data)
        finally:
            os.close(fd)


def check_roots(roots: Iterable[str]) -> list[str]:
    """What is wrong with each root, in words an admin can act on (blocking)."""
    problems = []
    for root in roots:
        if not os.path.exists(root):
            problems.append(f"root {root} does not exist; create it or remove it from plugins.localfs.roots")
        elif not os.path.isdir(root):
            problems.append(f"root {root} is not a folder")
        else:
            try:
                with os.scandir(root) as entries:
                    next(entries, None)
            except OSError as exc:
                problems.append(f"root {root} cannot be read by the server (uid {os.geteuid()}): {exc.strerror}")
    return problems
