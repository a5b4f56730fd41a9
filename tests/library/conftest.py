"""A server with localfs and a tiny content type whose handler records what the scanner tells it.

Media files are real: small videos written by ``revenge_video.testing`` (PyAV), and the
handler opens each one it ingests, as a real content type would.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import av
import pytest

import revenge_localfs.plugin as localfs_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST, SERVICES
from revenge_hookspecs import ContentType, EventHandler, hookimpl
from revenge_hookspecs.media import IngestResult, ItemRef, item_key
from revenge_video.testing import make_video


def make_clip(path: Path, seconds: float = 1.0, *, shade: int = 0) -> Path:
    """Write a real, tiny video (64x48 at 10 fps, no audio) at ``path``; ``shade`` varies its content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_video(path, seconds=seconds, width=64, height=48, fps=10, audio=(), title=f"{path.stem} {shade}")


def clip_duration(path: str) -> float:
    with av.open(path) as container:
        return float(container.duration or 0) / av.time_base


class ClipHandler:
    """Makes one ``clip`` item per file (keyed by the file's id) and records every call."""

    def __init__(self, context):
        self.context = context
        self.ingested: list[list[str]] = []
        self.moved: list[list[tuple[str, str]]] = []
        self.removed: list[list[str]] = []
        self.fail_names: set[str] = set()
        self.also: dict[str, tuple[str, ...]] = {}  # file name -> further item keys it plays
        self.raise_on_batch: int | None = None
        self.hold_after_batch: int | None = None
        self.held = asyncio.Event()

    def ingested_names(self) -> list[str]:
        return [name for batch in self.ingested for name in batch]

    async def ingest(self, library, files):
        self.ingested.append([f.relative_path for f in files])
        if self.raise_on_batch is not None and len(self.ingested) == self.raise_on_batch:
            raise RuntimeError("the clip decoder crashed")
        results, items = [], []
        for media in files:
            if media.name in self.fail_names:
                results.append(IngestResult(media.file_id, error="cannot decode this clip"))
                continue
            duration = await asyncio.to_thread(clip_duration, media.local_path)
            key = item_key("clip", media.file_id)
            items.append(ItemRef(key, library.id, title=media.name.rsplit(".", 1)[0], year=int(duration) or None))
            results.append(IngestResult(media.file_id, item_key=key, also=self.also.get(media.name, ())))
        await self.context.library.upsert_items(items)
        if self.hold_after_batch is not None and len(self.ingested) == self.hold_after_batch:
            self.held.set()
            await asyncio.Event().wait()  # hangs until the scan is cancelled
        return results

    async def files_moved(self, library, moves):
        self.moved.append([(m.old_path, m.new_path) for m in moves])

    async def files_removed(self, library, files):
        self.removed.append([f.relative_path for f in files])
        await self.context.library.remove_items([f.item_key for f in files if f.item_key])

    async def refresh(self, library, item_key, *, replace=False):
        return None


class Clips:
    """The content-type plugin: ``clip`` files (.mp4, .mkv) become ``clip`` items."""

    def __init__(self):
        self.handler: ClipHandler | None = None
        self.events: list = []

    @hookimpl
    def revenge_content_types(self, context):
        self.handler = ClipHandler(context)
        return ContentType("clip", "Clips", extensions={"mp4", "mkv"}, handler=self.handler, item_types={"clip"})

    @hookimpl
    def revenge_event_handlers(self, context):
        async def record(event):
            self.events.append(event)

        return EventHandler("*", record, name="clips.record")

    def named(self, name: str) -> list:
        return [event for event in self.events if event.name == name]


@pytest.fixture(autouse=True)
def _cheap_hashes(cheap_password_hashes: None) -> None:
    """Every test here creates accounts: hash them cheaply."""


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """The storage root, with two clips in a folder and one at the top."""
    root = tmp_path / "media"
    make_clip(root / "clips" / "alpha.mp4", 1.0, shade=10)
    make_clip(root / "clips" / "beta.mkv", 2.0, shade=60)
    make_clip(root / "gamma.mp4", 1.0, shade=120)
    (root / "clips" / "notes.txt").write_text("not a clip")
    (root / "clips" / ".hidden.mp4").write_bytes((root / "gamma.mp4").read_bytes())
    return root


@pytest.fixture
def clips() -> Clips:
    return Clips()


@pytest.fixture
async def client(aiohttp_client, config, media, clips):
    config.plugins["localfs"] = {"roots": [str(media)]}
    config.library.scan_batch_size = 2
    config.library.watch_debounce_ms = 200
    return await aiohttp_client(create_app(config, plugins={"localfs": localfs_plugin, "clips": clips}))


@pytest.fixture
def services(client):
    return client.app[SERVICES]


@pytest.fixture
def host(client):
    return client.app[HOST]


@pytest.fixture
async def library(services, media):
    return await services.library.create({"name": "Clips", "content_type": "clip", "paths": [str(media)]})


def touch_later(path: Path, seconds: float = 10.0) -> None:
    """Move a file's mtime forward, as a later write would."""
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + seconds))
