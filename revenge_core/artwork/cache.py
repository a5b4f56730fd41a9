"""Resized images on disk, bounded in size, least recently used first out.

A variant is made once even when many requests want it at the same moment: they all wait
for the one resize. Every file is written whole (a temporary name, then a rename), so a
reader never sees half of one. The bound is kept loosely: the running total is counted
once from disk, then kept up as files are added; past the limit the oldest files (by
modification time, refreshed on use) go until the cache is at 80 % of it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path

from loguru import logger

TOUCH_AFTER = 3600.0
"""A variant used again is marked recent when its mark is older than this (seconds)."""
LOW_WATER = 0.8


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class VariantCache:
    """Variants under ``root`` as ``<sha[:2]>/<sha>-<size>.<format>``, at most ``max_bytes`` (0: none kept)."""

    def __init__(self, root: Path, max_bytes: int, executor: Executor):
        self.root = root
        self.max_bytes = max_bytes
        self._executor = executor
        self._lock = threading.Lock()  # the in-flight table only: taken on the event loop
        self._disk_lock = threading.Lock()  # the running total and eviction: taken on threads
        self._inflight: dict[Path, Future[bytes]] = {}
        self._total: int | None = None

    def path(self, sha256: str, size: str, output: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}-{size}.{output}"

    async def get(self, sha256: str, size: str, output: str, make: Callable[[], bytes]) -> bytes:
        """The variant's bytes, made with ``make()`` on the executor when it is not on disk."""
        path = self.path(sha256, size, output)
        with self._lock:
            future = self._inflight.get(path)
            started = future is None
            if started:
                future = self._executor.submit(self._load_or_make, path, make)
                self._inflight[path] = future
        if started:  # outside the lock: a future already done runs the callback right here
            future.add_done_callback(lambda done: self._forget(path, done))
        # Shielded: a client that hangs up does not cancel the resize the others wait for.
        return await asyncio.shield(asyncio.wrap_future(future))

    def _forget(self, path: Path, future: Future[bytes]) -> None:
        with self._lock:
            if self._inflight.get(path) is future:
                del self._inflight[path]

    def _load_or_make(self, path: Path, make: Callable[[], bytes]) -> bytes:
        if self.max_bytes > 0:
            try:
                data = path.read_bytes()
                if time.time() - path.stat().st_mtime > TOUCH_AFTER:
                    os.utime(path)
                return data
            except FileNotFoundError:
                pass
        data = make()
        if self.max_bytes > 0:
            try:
                write_atomically(path, data)
                self._added(len(data))
            except OSError as exc:  # a full or read-only disk costs the cache, not the answer
                logger.warning("could not cache a resized image at {}: {}", path, exc)
        return data

    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        for path in self.root.glob("*/*"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found.append((stat.st_mtime, stat.st_size, path))
        return found

    def _added(self, size: int) -> None:
        with self._disk_lock:
            if self._total is None:
                self._total = sum(size for _, size, _ in self._files())
            else:
                self._total += size
            if self._total <= self.max_bytes:
                return
            files = sorted(self._files())
            total = sum(size for _, size, _ in files)
            for _, size, path in files:
                if total <= self.max_bytes * LOW_WATER:
                    break
                path.unlink(missing_ok=True)
                total -= size
            self._total = total

    def drop(self, sha256: str) -> None:
        """Delete every variant of one original (blocking)."""
        with self._disk_lock:
            for path in self.root.glob(f"{sha256[:2]}/{sha256}-*"):
                path.unlink(missing_ok=True)
            self._total = None
