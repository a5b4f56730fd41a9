"""What every reader of media files here shares: opening a file for FFmpeg safely, and
running FFmpeg work in a thread with a deadline.

Safety: the file is opened by Python and handed to FFmpeg as a file object, so FFmpeg never
interprets the path (``concat:``, ``http:``...), and only the demuxers in
:data:`~revenge_video.probe.ALLOWED_DEMUXERS` may open it, so a playlist-like file (HLS,
ffconcat) cannot make FFmpeg open other files or URLs.

A broken file can make FFmpeg spin; the work runs in a daemon thread and the caller gives up
after its deadline (the worker checks the ``cancel`` event it is handed and stops soon after).
Each module turns :class:`Unreadable` and :class:`DeadlineExceeded` into its own error.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

T = TypeVar("T")

ALLOWED_DEMUXERS = ("matroska", "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "avi", "mpegts", "mpeg", "mpegvideo", "flv",
                    "asf", "ogg", "webm", "rm", "h264", "hevc", "m4v", "dv", "nut", "wtv", "mxf", "ivf", "obu",
                    "srt", "ass", "webvtt", "aac", "mp3", "flac", "wav", "ac3", "eac3")
"""FFmpeg demuxers allowed to open a file; nothing that follows references to other files."""


class Unreadable(Exception):
    """The file cannot be read (``kind="unreadable"``) or is nothing FFmpeg may demux (``"not_media"``)."""

    def __init__(self, kind: Literal["unreadable", "not_media"], detail: str):
        super().__init__(f"cannot read the file ({detail})" if kind == "unreadable"
                         else f"not a media file FFmpeg can read ({detail})")
        self.kind = kind
        self.detail = detail


class DeadlineExceeded(Exception):
    """The work took longer than its deadline."""


def first_line(error: BaseException) -> str:
    """A short, readable account of an error (FFmpeg's messages run over several lines)."""
    text = str(getattr(error, "strerror", None) or error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def codec_name(stream: Any) -> str:
    """FFmpeg's codec name (``subrip``, ``mp3``, ``av1``), not the decoder's (``srt``, ``mp3float``, ``libdav1d``)."""
    try:
        return stream.codec.canonical_name
    except AttributeError:
        return stream.codec_context.name


@contextlib.contextmanager
def open_media(path: str, *, timeout: float | None = None) -> Iterator[Any]:
    """An open PyAV input container on ``path``, closed (with the file) on the way out."""
    import av

    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the container
    except OSError as exc:
        raise Unreadable("unreadable", str(exc.strerror or exc)) from None
    try:
        try:
            container = av.open(handle, "r", timeout=(timeout, timeout) if timeout else None,
                                options={"format_whitelist": ",".join(ALLOWED_DEMUXERS),
                                         "protocol_whitelist": "file"})
        except av.FFmpegError as exc:
            raise Unreadable("not_media", first_line(exc)) from None
        with container:
            yield container
    finally:
        handle.close()


def run_with_deadline(work: Callable[[threading.Event], T], timeout: float, *, name: str, grace: float = 0) -> T:
    """``work(cancel)`` in a daemon thread; its result, or what it raised.

    :param grace: seconds to wait for the worker to stop after ``cancel`` is set.
    :raises DeadlineExceeded: ``timeout`` seconds passed first.
    """
    outcome: dict[str, Any] = {}
    cancel = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = work(cancel)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        cancel.set()
        if grace:
            worker.join(grace)
        raise DeadlineExceeded(f"gave up after {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
