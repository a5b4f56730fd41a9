"""Range parsing, and direct play from a storage backend that has no local files (streamed
through the backend's ``open``) answering exactly like the sendfile path."""

from __future__ import annotations

import os

import pytest
from aiohttp import web

from revenge_core.http.errors import error_middleware
from revenge_core.playback.ranges import ByteRange, parse_range, send_file
from revenge_hookspecs.errors import ApiError
from revenge_video.testing import make_video


@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None),
    ("bytes=0-0", ByteRange(0, 0)), ("bytes=0-99", ByteRange(0, 99)), ("bytes=10-", ByteRange(10, 999)),
    ("bytes=-1", ByteRange(999, 999)), ("bytes=-5000", ByteRange(0, 999)), ("bytes=990-5000", ByteRange(990, 999)),
    ("bytes = 5 - 9", ByteRange(5, 9)),
    # Ignored (the whole file): several ranges, other units, nonsense, an end before the start.
    ("bytes=0-1,4-5", None), ("items=0-1", None), ("bytes=a-b", None), ("bytes=-", None), ("bytes=9-3", None),
])
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges_answer_416_with_the_size(header):
    with pytest.raises(ApiError) as caught:
        parse_range(header, 1000)
    assert caught.value.status == 416 and caught.value.headers["Content-Range"] == "bytes */1000"


class RemoteStorage:
    """A storage backend without local files (object storage, say): bytes only through ``open``."""

    def __init__(self, root: str):
        self.root = root
        self.opened: list[tuple[int, int | None]] = []

    async def open(self, path: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024):
        self.opened.append((start, end))
        with open(path, "rb") as handle:
            handle.seek(start)
            remaining = (end if end is not None else os.path.getsize(path) - 1) - start + 1
            while remaining > 0:
                chunk = handle.read(min(chunk_size, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


class LocalStorage(RemoteStorage):
    def local_path(self, path: str) -> str:
        return path


@pytest.fixture(params=["remote", "local"])
async def served(request, aiohttp_client, tmp_path):
    video = make_video(tmp_path / "clip.mkv", seconds=2.0, width=160, height=90)
    storage = (RemoteStorage if request.param == "remote" else LocalStorage)(str(tmp_path))
    stat = os.stat(video)

    async def handler(req: web.Request) -> web.StreamResponse:
        return await send_file(req, storage, str(video), size=stat.st_size, mtime=stat.st_mtime, file_id="1")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_route("GET", "/file", handler)
    app.router.add_route("HEAD", "/file", handler)
    return await aiohttp_client(app), video.read_bytes(), storage


async def test_both_paths_answer_the_same(served):
    client, original, storage = served
    size = len(original)
    whole = await client.get("/file")
    assert whole.status == 200 and await whole.read() == original
    part = await client.get("/file", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == original[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}" and part.headers["Content-Length"] == "100"
    tail = await client.get("/file", headers={"Range": "bytes=-10"})
    assert await tail.read() == original[-10:]
    beyond = await client.get("/file", headers={"Range": f"bytes={size + 1}-"})
    assert beyond.status == 416 and (await beyond.json())["code"] == "range_not_satisfiable"
    head = await client.head("/file", headers={"Range": "bytes=0-9"})
    assert head.status == 206 and head.headers["Content-Length"] == "10"
    if not hasattr(storage, "local_path"):
        # Only the bytes asked for were read from the backend; HEAD read nothing.
        assert storage.opened == [(0, size - 1), (100, 199), (size - 10, size - 1)]
