"""Subtitles for players: embedded text tracks and sidecar files as WebVTT.

Browsers and HLS players show WebVTT only. :func:`embedded_to_webvtt` reads one text subtitle
track out of a video (SubRip, ASS/SSA, MP4 timed text, WebVTT) and :func:`sidecar_to_webvtt`
converts a subtitle file beside it. Bitmap subtitles (Blu-ray PGS, DVD and DVB) are pictures,
not text: they would have to be burnt into the video, so they are refused here with a clear
message rather than turned into an empty document.

The video is opened as everything here opens it (:mod:`revenge_video._ffmpeg`): by Python,
handed to FFmpeg as a file object, with the demuxer allowlist, and only the chosen stream is read.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ._ffmpeg import DeadlineExceeded, Unreadable, codec_name, first_line, open_media, run_with_deadline
from .sidecars import subtitle_to_webvtt

__all__ = ["BITMAP_SUBTITLE_CODECS", "TEXT_SUBTITLE_CODECS", "SubtitleError", "embedded_to_webvtt",
           "sidecar_to_webvtt"]

TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
BITMAP_SUBTITLE_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub", "dvb_teletext"})
SIDECAR_FORMATS = frozenset({"srt", "ass", "ssa", "vtt"})

_OVERRIDE = re.compile(r"\{[^}]*\}")
_DEFAULT_CUE_SECONDS = 3.0


class SubtitleError(ValueError):
    """A subtitle track or file cannot be turned into WebVTT; the message says why."""


def embedded_to_webvtt(path: str, stream_index: int, *, timeout: float = 60) -> str:
    """The text subtitle stream ``stream_index`` of a video as a WebVTT document.

    Cue times are seconds from the start of the file; ASS styling and override tags are dropped.

    :raises SubtitleError: no such subtitle stream, a bitmap or unknown codec, an unreadable
        file, or more than ``timeout`` seconds spent.
    """
    try:
        return run_with_deadline(lambda cancel: _read(path, stream_index, cancel), timeout,
                                 name="revenge-video-subtitles")
    except SubtitleError:
        raise
    except DeadlineExceeded:
        raise SubtitleError(f"gave up reading subtitle stream {stream_index} after {timeout:g} s") from None
    except Unreadable as exc:
        raise SubtitleError(str(exc)) from None
    except Exception as exc:
        raise SubtitleError(f"cannot read subtitle stream {stream_index}: {first_line(exc)}") from None


def sidecar_to_webvtt(data: bytes, format: str) -> str:
    """A subtitle file's bytes (``srt``, ``ass``, ``ssa`` or ``vtt``) as WebVTT.

    :raises SubtitleError: another format, or bytes that are not that format.
    """
    fmt = (format or "").lower().lstrip(".")
    if fmt not in SIDECAR_FORMATS:
        raise SubtitleError(f"cannot convert {format!r} subtitles; supported: {', '.join(sorted(SIDECAR_FORMATS))}")
    try:
        return subtitle_to_webvtt(data, fmt)
    except ValueError as exc:
        raise SubtitleError(str(exc)) from None


def _read(path: str, stream_index: int, cancel: threading.Event) -> str:
    import av

    with open_media(path) as container:
        if isinstance(stream_index, bool) or not 0 <= stream_index < len(container.streams) \
                or container.streams[stream_index].type != "subtitle":
            raise SubtitleError(f"the file has no subtitle stream {stream_index}")
        stream = container.streams[stream_index]
        codec = codec_name(stream)
        if codec in BITMAP_SUBTITLE_CODECS:
            raise SubtitleError(f"subtitle stream {stream_index} is {codec}, pictures rather than text: "
                                "it cannot be converted to WebVTT")
        if codec not in TEXT_SUBTITLE_CODECS:
            raise SubtitleError(f"subtitle stream {stream_index} has the unsupported codec {codec}")
        for other in container.streams:
            if other is not stream:
                other.discard = av.stream.Discard.all
        origin = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        cues: list[tuple[float, float | None, str]] = []
        for packet in container.demux(stream):
            if cancel.is_set():
                raise SubtitleError("cancelled")
            if packet.size == 0 or packet.pts is None:
                continue
            start = float(packet.pts * packet.time_base) - origin
            end = start + float(packet.duration * packet.time_base) if packet.duration else None
            try:
                decoded = list(stream.codec_context.decode(packet))
            except av.FFmpegError:
                continue  # one damaged cue; keep the others
            text = "\n".join(t for t in (_cue_text(item) for item in decoded) if t)
            if text:
                cues.append((max(0.0, start), end, text))
    return _webvtt(cues)


def _cue_text(item: Any) -> str:
    """The plain text of one decoded subtitle (FFmpeg gives every text codec as an ASS event)."""
    pieces = []
    for rect in getattr(item, "rects", None) or [item]:
        dialogue = getattr(rect, "dialogue", None)
        if dialogue is None:
            continue
        text = dialogue.decode("utf-8", errors="replace") if isinstance(dialogue, bytes) else str(dialogue)
        text = _OVERRIDE.sub("", text).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
        lines = [line.strip() for line in text.replace("\r", "").split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            pieces.append(text)
    return "\n".join(pieces)


def _webvtt(cues: list[tuple[float, float | None, str]]) -> str:
    cues.sort(key=lambda cue: cue[0])
    blocks = ["WEBVTT"]
    for number, (start, end, text) in enumerate(cues):
        if end is None or end <= start:
            following = cues[number + 1][0] if number + 1 < len(cues) else None
            end = min(start + _DEFAULT_CUE_SECONDS, following) if following and following > start \
                else start + _DEFAULT_CUE_SECONDS
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")
        blocks.append(f"{_clock(start)} --> {_clock(end)}\n{escaped}")
    return "\n\n".join(blocks) + "\n"


def _clock(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
