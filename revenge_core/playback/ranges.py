"""HTTP Range for direct play (RFC 9110 §14): parsing, and sending a file's bytes from a storage backend.

A request may ask for one range: ``bytes=0-499``, ``bytes=500-`` (to the end) or
``bytes=-500`` (the last 500 bytes). A range starting at or past the end answers 416 with
``Content-Range: bytes */<size>``. Anything the server may ignore is ignored and answered with
the whole file (200): another unit, a malformed header, several ranges at once, or an
``If-Range`` that no longer matches the file.

Files on a backend that offers ``local_path`` are sent by aiohttp's ``FileResponse``
(``sendfile``: no copy through Python); other backends are streamed from ``storage.open``.
Both paths answer the same way.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import mimetypes
import re
from typing import Any

import attrs
from aiohttp import web

from revenge_hookspecs.errors import ApiError

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")
STREAM_CHUNK = 1024 * 1024
CONTENT_TYPES = {".mkv": "video/x-matroska", ".mk3d": "video/x-matroska", ".webm": "video/webm",
                 ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
                 ".ts": "video/mp2t", ".m2ts": "video/mp2t", ".wmv": "video/x-ms-wmv", ".flv": "video/x-flv",
                 ".ogv": "video/ogg", ".mpg": "video/mpeg", ".mpeg": "video/mpeg"}


@attrs.frozen
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def range_not_satisfiable(size: int) -> ApiError:
    return ApiError(416, "range_not_satisfiable", f"The requested range lies outside the file ({size} bytes).",
                    {"size": size}, headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range asked for, or ``None`` for the whole file. :raises ApiError: 416."""
    if not header:
        return None
    match = _SINGLE.match(header.strip().replace(" ", ""))
    if match is None:
        return None  # another unit, several ranges, or garbage: the whole file, as the RFC allows
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise range_not_satisfiable(size)
        return ByteRange(max(0, size - length), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise range_not_satisfiable(size)
    return ByteRange(start, min(int(last) if last else size - 1, size - 1))


def content_type_of(path: str) -> str:
    suffix = path[path.rfind("."):].lower() if "." in path else ""
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def file_etag(size: int, mtime: float, file_id: str) -> str:
    return hashlib.sha256(f"{file_id}:{size}:{mtime:.6f}".encode()).hexdigest()[:32]


def _if_range_holds(request: web.BaseRequest, etag: str, mtime: float) -> bool:
    value = request.headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', 'W/"')):
        return value == f'"{etag}"'  # strong comparison only
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return int(mtime) <= when.timestamp()


async def send_file(request: web.Request, storage: Any, path: str, *, size: int, mtime: float, file_id: str,
                    extra_headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Answer a GET or HEAD with the bytes of ``path`` on ``storage``, honouring Range."""
    etag = file_etag(size, mtime, file_id)
    headers = {"Accept-Ranges": "bytes", "Content-Type": content_type_of(path), "ETag": f'"{etag}"',
               "Last-Modified": email.utils.formatdate(mtime, usegmt=True), "Cache-Control": "private, no-transform",
               **(extra_headers or {})}
    byte_range = parse_range(request.headers.get("Range"), size) if _if_range_holds(request, etag, mtime) else None
    if byte_range is None:
        status, start, length = 200, 0, size
    else:
        status, start, length = 206, byte_range.start, byte_range.length
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    headers["Content-Length"] = str(length)
    response = web.StreamResponse(status=status, headers=headers)
    if request.method == "HEAD" or length == 0:
        await response.prepare(request)
        await response.write_eof()
        return response
    local = getattr(storage, "local_path", None)
    real = await _local(local, path) if callable(local) else None
    if real is not None:
        return await _sendfile(request, real, start, length, response)
    await response.prepare(request)
    async for chunk in storage.open(path, start, start + length - 1, chunk_size=STREAM_CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


async def _local(local_path: Any, path: str) -> str | None:
    return await asyncio.to_thread(local_path, path)


async def _sendfile(request: web.Request, real: str, start: int, length: int,
                    response: web.StreamResponse) -> web.StreamResponse:
    """Send ``length`` bytes from ``start`` with the kernel's sendfile (asyncio falls back to
    reading and writing where the transport cannot, e.g. behind TLS)."""
    handle = await asyncio.to_thread(open, real, "rb")
    try:
        await response.prepare(request)  # a StreamResponse sends its headers at once
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        await asyncio.get_running_loop().sendfile(transport, handle, start, length)
    finally:
        await asyncio.to_thread(handle.close)
    await response.write_eof()
    return response
