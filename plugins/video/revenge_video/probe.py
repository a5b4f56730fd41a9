"""What is inside a video file: container, duration, video, audio and subtitle streams, chapters.

:func:`probe` opens the file with PyAV (FFmpeg) and reads only headers and stream
information; it never decodes the whole file. It runs in a worker thread with a deadline, so
a broken file that makes FFmpeg spin costs at most ``timeout`` seconds, and every failure
surfaces as :class:`ProbeError` with a message a person can read.

Safety: the file is opened by Python and handed to FFmpeg as a file object, so FFmpeg never
interprets the path (``concat:``, ``http:``...), and only the demuxers of video containers
are allowed, so a playlist-like file (HLS, ffconcat) cannot make FFmpeg open other files or URLs.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Literal

import attrs

from ._ffmpeg import DeadlineExceeded, Unreadable, codec_name, open_media, run_with_deadline

__all__ = ["AudioStream", "Chapter", "MediaInfo", "ProbeError", "SubtitleStream", "VideoStream", "probe",
           "probe_async", "resolution_label"]

HdrFormat = Literal["HDR10", "HLG", "Dolby Vision"]



_TRC_SMPTE2084 = 16
_TRC_ARIB_STD_B67 = 18
_DOLBY_VISION_TAGS = frozenset({"dvh1", "dvhe", "dav1", "dva1", "dvav", "dvc1"})
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
              10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 11: "iec61966-2-4",
              13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428",
              18: "arib-std-b67"}


class ProbeError(Exception):
    """The file could not be probed; the message says why (no FFmpeg traceback)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"cannot probe {os.path.basename(path) or path!r}: {message}")
        self.path = path
        self.reason = message


def resolution_label(width: int | None, height: int | None) -> str | None:
    """``2160p``, ``1440p``, ``1080p``, ``720p``, ``576p``, ``480p`` or ``SD`` from a frame size.

    Scope (cropped) and anamorphic frames count by the larger of the two sides, as players
    label them: 1920x800 is 1080p, 1280x536 is 720p.
    """
    if not width or not height:
        return None
    for label, min_width, min_height in (("2160p", 3200, 1800), ("1440p", 2400, 1300), ("1080p", 1700, 1000),
                                         ("720p", 1200, 650), ("576p", 1000, 560), ("480p", 700, 440)):
        if width >= min_width or height >= min_height:
            return label
    return "SD"


@attrs.frozen
class VideoStream:
    """A video stream. ``hdr`` is ``None`` for SDR; ``frame_rate`` is frames per second."""

    index: int
    codec: str
    profile: str | None = None
    width: int = 0
    height: int = 0
    frame_rate: float | None = None
    bit_depth: int | None = None
    pix_fmt: str | None = None
    hdr: HdrFormat | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None
    bitrate: int | None = None
    language: str | None = None
    title: str | None = None
    default: bool = False

    @property
    def resolution(self) -> str | None:
        return resolution_label(self.width, self.height)


@attrs.frozen
class AudioStream:
    """An audio stream; ``language`` is ISO 639-2 as tagged in the file (``eng``), or ``None``."""

    index: int
    codec: str
    channels: int = 0
    channel_layout: str | None = None
    sample_rate: int | None = None
    bitrate: int | None = None
    language: str | None = None
    title: str | None = None
    default: bool = False
    forced: bool = False
    profile: str | None = None


@attrs.frozen
class SubtitleStream:
    """A subtitle track: embedded (``external=False``) or, when built by a caller from
    :mod:`revenge_video.sidecars`, a file beside the video (``external=True``, ``path`` set)."""

    index: int
    codec: str
    language: str | None = None
    title: str | None = None
    forced: bool = False
    default: bool = False
    hearing_impaired: bool = False
    external: bool = False
    path: str | None = None


@attrs.frozen
class Chapter:
    """A chapter: ``start`` and ``end`` in seconds."""

    start: float
    end: float
    title: str | None = None


@attrs.frozen
class MediaInfo:
    """What :func:`probe` found in a file.

    :param container: FFmpeg's format name (``matroska,webm``, ``mov,mp4,m4a,3gp,3g2,mj2``, ``avi``).
    :param duration_seconds: the playing time (0.0 when the file does not say).
    :param size: the file size in bytes.
    :param bitrate: the overall bit rate in bits per second, if known.
    """

    container: str
    duration_seconds: float
    size: int
    bitrate: int | None = None
    video: tuple[VideoStream, ...] = attrs.field(default=(), converter=tuple)
    audio: tuple[AudioStream, ...] = attrs.field(default=(), converter=tuple)
    subtitles: tuple[SubtitleStream, ...] = attrs.field(default=(), converter=tuple)
    chapters: tuple[Chapter, ...] = attrs.field(default=(), converter=tuple)
    title: str | None = None

    @property
    def main_video(self) -> VideoStream | None:
        """The default video stream, else the first one."""
        return next((v for v in self.video if v.default), self.video[0] if self.video else None)

    @property
    def resolution(self) -> str | None:
        """``2160p``/``1080p``/``720p``/``480p``/``SD`` of the main video stream (``None`` without video)."""
        main = self.main_video
        return main.resolution if main else None

    @property
    def hdr(self) -> HdrFormat | None:
        main = self.main_video
        return main.hdr if main else None

    @property
    def audio_languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.language for a in self.audio if a.language))

    @property
    def subtitle_languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.language for s in self.subtitles if s.language))


def probe(path: str | os.PathLike[str], *, timeout: float = 30) -> MediaInfo:
    """Probe a local file.

    :param path: a regular file on this machine (the caller has checked it lies in a library).
    :param timeout: seconds before giving up on a file FFmpeg cannot get through.
    :raises ProbeError: not a regular file, unreadable, not a media file, or too slow.
    """
    path = os.fspath(path)
    if not path or "\x00" in path:
        raise ProbeError(str(path), "invalid path")
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ProbeError(path, f"file not found or unreadable ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ProbeError(path, "not a regular file")
    if info.st_size == 0:
        raise ProbeError(path, "the file is empty")

    try:
        return run_with_deadline(lambda _cancel: _probe_file(path, info.st_size, timeout), timeout,
                                 name="revenge-video-probe")
    except DeadlineExceeded:
        raise ProbeError(path, f"gave up after {timeout:g} s (the file may be damaged)") from None
    except ProbeError:
        raise
    except Unreadable as exc:
        if exc.kind == "not_media":
            raise ProbeError(path, f"not a media file in a supported container, or damaged ({exc.detail})") from None
        raise ProbeError(path, str(exc)) from None
    except Exception as exc:
        raise ProbeError(path, _describe(exc)) from None


async def probe_async(path: str | os.PathLike[str], *, timeout: float = 30) -> MediaInfo:
    """:func:`probe` in a worker thread, for coroutines."""
    return await asyncio.to_thread(probe, path, timeout=timeout)


# --- reading --------------------------------------------------------------------------------------


def _probe_file(path: str, size: int, timeout: float) -> MediaInfo:
    import av

    with open_media(path, timeout=timeout) as container:
        streams = list(container.streams)
        if not any(s.type in ("video", "audio") for s in streams):
            raise ProbeError(path, "no video or audio stream")
        video, audio, subtitles = [], [], []
        for stream in streams:
            if stream.type == "video":
                if stream.disposition & av.stream.Disposition.attached_pic:
                    continue  # cover art in mkv/mp4, not a video track
                video.append(_video(stream))
            elif stream.type == "audio":
                audio.append(_audio(stream))
            elif stream.type == "subtitle":
                subtitles.append(_subtitle(stream))
        duration = container.duration / 1_000_000 if container.duration else _longest_stream(streams)
        return MediaInfo(
            container=container.format.name,
            duration_seconds=round(max(duration, 0.0), 3),
            size=size,
            bitrate=container.bit_rate or None,
            video=video,
            audio=audio,
            subtitles=subtitles,
            chapters=_chapters(container),
            title=_tag(container.metadata, "title"),
        )


def _video(stream: Any) -> VideoStream:
    import av

    ctx = stream.codec_context
    fmt = ctx.format
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    trc, primaries = int(ctx.color_trc or 2), int(ctx.color_primaries or 2)
    return VideoStream(
        index=stream.index,
        codec=codec_name(stream),
        profile=stream.profile,
        width=int(ctx.width or 0),
        height=int(ctx.height or 0),
        frame_rate=round(float(rate), 3) if isinstance(rate, Fraction) and rate > 0 else None,
        bit_depth=_bit_depth(fmt),
        pix_fmt=fmt.name if fmt is not None else None,
        hdr=_hdr(stream, trc),
        color_primaries=_PRIMARIES.get(primaries),
        color_transfer=_TRANSFERS.get(trc),
        bitrate=ctx.bit_rate or _tag_int(stream.metadata, "BPS"),
        language=_language(stream),
        title=_tag(stream.metadata, "title"),
        default=bool(stream.disposition & av.stream.Disposition.default),
    )


def _audio(stream: Any) -> AudioStream:
    import av

    ctx = stream.codec_context
    layout = getattr(ctx, "layout", None)
    return AudioStream(
        index=stream.index,
        codec=codec_name(stream),
        channels=int(getattr(ctx, "channels", 0) or (layout.nb_channels if layout is not None else 0)),
        channel_layout=layout.name if layout is not None else None,
        sample_rate=int(ctx.sample_rate) if ctx.sample_rate else None,
        bitrate=ctx.bit_rate or _tag_int(stream.metadata, "BPS"),
        language=_language(stream),
        title=_tag(stream.metadata, "title"),
        default=bool(stream.disposition & av.stream.Disposition.default),
        forced=bool(stream.disposition & av.stream.Disposition.forced),
        profile=stream.profile,
    )


def _subtitle(stream: Any) -> SubtitleStream:
    import av

    return SubtitleStream(
        index=stream.index,
        codec=codec_name(stream),
        language=_language(stream),
        title=_tag(stream.metadata, "title"),
        forced=bool(stream.disposition & av.stream.Disposition.forced),
        default=bool(stream.disposition & av.stream.Disposition.default),
        hearing_impaired=bool(stream.disposition & av.stream.Disposition.hearing_impaired),
    )


def _chapters(container: Any) -> tuple[Chapter, ...]:
    chapters = []
    for chapter in container.chapters():
        base = chapter.get("time_base") or Fraction(1, 1_000_000_000)
        chapters.append(Chapter(start=round(float(chapter["start"] * base), 3),
                                end=round(float(chapter["end"] * base), 3),
                                title=_tag(chapter.get("metadata") or {}, "title")))
    return tuple(chapters)


def _hdr(stream: Any, trc: int) -> HdrFormat | None:
    if (stream.codec_tag or "").strip().lower() in _DOLBY_VISION_TAGS:
        return "Dolby Vision"
    if "dolby vision" in (stream.profile or "").lower():
        return "Dolby Vision"
    if trc == _TRC_SMPTE2084:
        return "HDR10"
    if trc == _TRC_ARIB_STD_B67:
        return "HLG"
    return None


def _bit_depth(fmt: Any) -> int | None:
    if fmt is None:
        return None
    try:
        return max(c.bits for c in fmt.components) or None
    except (AttributeError, ValueError):
        return None


def _language(stream: Any) -> str | None:
    language = (stream.language or _tag(stream.metadata, "language") or "").strip().lower()
    return language if language and language not in ("und", "unk", "mis", "zxx") else None


def _tag(metadata: Mapping[str, str], key: str) -> str | None:
    for name, value in metadata.items():
        if name.lower() == key.lower() and str(value).strip():
            return str(value).strip()
    return None


def _tag_int(metadata: Mapping[str, str], key: str) -> int | None:
    value = _tag(metadata, key) or _tag(metadata, f"{key}-eng")
    return int(value) if value and value.isdigit() else None


def _longest_stream(streams: list[Any]) -> float:
    best = 0.0
    for stream in streams:
        if stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    return best


def _describe(error: BaseException) -> str:
    import av

    if isinstance(error, av.FFmpegError):
        text = (getattr(error, "strerror", None) or str(error)).strip()
        return text.split(":")[0].strip() or type(error).__name__
    return f"{type(error).__name__}: {error}"
