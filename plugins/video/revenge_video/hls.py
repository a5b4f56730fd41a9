"""HLS on demand: segment plans, playlists and MPEG-TS segments made one at a time.

The server does not run one long FFmpeg process per viewer. It plans the segments of a file
once (:func:`plan_segments`), serves the playlists (:func:`master_playlist`,
:func:`media_playlist`, :func:`subtitle_playlist`) and makes each segment when a player asks
for it (:func:`write_segment`). Every segment is independent: making segment 40 seeks straight
to it and does not need segments 0 to 39, so seeking far ahead is as fast as starting.

- Video copied (remux): segments are cut on keyframes, so each one starts with a keyframe and
  holds whole groups of pictures; the keyframes come from the container's index (Matroska
  cues, the MP4 sample table) or, for other containers, from reading the video packets (no
  decoding).
- Video transcoded, or no video: fixed ``target``-second segments; each starts with a keyframe
  because the encoder starts afresh.

Timestamps stay on the source timeline (seconds from the start of the file), shifted by the
constant :data:`TIMESTAMP_OFFSET` as FFmpeg's own HLS output is, so that B-frames never get a
negative decoding time: segment n+1 continues where segment n ended and a player seeking needs
no extra work.

Safety as in :mod:`revenge_video.probe`: Python opens the file and FFmpeg only gets the file
object, with the demuxer allowlist :data:`~revenge_video._ffmpeg.ALLOWED_DEMUXERS`.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any

import attrs

from ._ffmpeg import DeadlineExceeded, Unreadable, first_line, open_media, run_with_deadline
from .playback import Decision

__all__ = ["SEGMENT_SECONDS", "TIMESTAMP_OFFSET", "Segment", "SegmentError", "SubtitleRendition", "master_playlist",
           "media_playlist", "plan_segments", "subtitle_playlist", "write_segment"]

SEGMENT_SECONDS = 6.0
TIMESTAMP_OFFSET = 1.4
"""Seconds added to every output timestamp (FFmpeg's MPEG-TS ``max_delay`` of 0.7 s, twice)."""

_AUDIO_RATE = 48_000
_AAC_FRAME = 1024
_EPSILON = 0.001
_MIN_TAIL = 0.5  # a fixed-length plan folds a shorter last piece into the previous segment


class SegmentError(Exception):
    """A segment plan or a segment could not be made; the message says why."""


@attrs.frozen
class Segment:
    """One HLS segment: ``[start, end)`` in seconds on the source timeline."""

    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@attrs.frozen
class SubtitleRendition:
    """A WebVTT subtitle track of the master playlist; ``uri`` points to its subtitle playlist."""

    name: str
    language: str | None
    uri: str
    default: bool = False
    forced: bool = False


# --- plans and playlists ------------------------------------------------------------------------------


def plan_segments(path: str, decision: Decision, *, duration: float, target: float = SEGMENT_SECONDS,
                  timeout: float = 120) -> tuple[Segment, ...]:
    """Cut ``[0, duration]`` into segments of about ``target`` seconds, without gaps.

    With the video copied, a cut falls on the first keyframe at or after ``target`` seconds past
    the previous cut; otherwise every segment is ``target`` long (the last one may be longer,
    up to ``target + 0.5``, rather than a sliver).

    :raises SegmentError: a duration or target that is not positive, or an unreadable file.
    """
    if not duration or duration <= 0 or not math.isfinite(duration):
        raise SegmentError("cannot plan segments: the duration is unknown")
    if target <= 0:
        raise SegmentError("the segment length must be positive")
    cuts = [0.0]
    if decision.video == "copy" and decision.video_index is not None:
        for keyframe in _run(lambda cancel: _keyframes(path, decision.video_index, cancel), timeout, "plan segments"):
            if keyframe >= cuts[-1] + target - _EPSILON and keyframe < duration - _EPSILON:
                cuts.append(keyframe)
    else:
        count = max(1, math.floor(duration / target + _EPSILON))
        if duration - count * target >= _MIN_TAIL:
            count += 1
        cuts = [n * target for n in range(count)]
    bounds = [*cuts, duration]
    return tuple(Segment(n, round(bounds[n], 6), round(bounds[n + 1], 6)) for n in range(len(cuts)))


def media_playlist(segments: Sequence[Segment], uri: Callable[[int], str]) -> str:
    """The VOD media playlist of ``segments``; ``uri(index)`` gives each segment's address."""
    if not segments:
        raise SegmentError("a media playlist needs at least one segment")
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{math.ceil(max(s.duration for s in segments))}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for segment in segments:
        lines += [f"#EXTINF:{segment.duration:.3f},", uri(segment.index)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def subtitle_playlist(duration: float, vtt_uri: str) -> str:
    """A subtitle media playlist holding one WebVTT file that covers the whole ``duration``."""
    return "\n".join(["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration))}",
                      "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{duration:.3f},", vtt_uri,
                      "#EXT-X-ENDLIST"]) + "\n"


def master_playlist(media_uri: str, decision: Decision, subtitles: Sequence[SubtitleRendition] = ()) -> str:
    """The master playlist: one variant (``media_uri``) and its subtitle renditions."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for rendition in subtitles:
        attributes = ['TYPE=SUBTITLES', 'GROUP-ID="subs"', f'NAME={_quoted(rendition.name)}']
        if rendition.language:
            attributes.append(f"LANGUAGE={_quoted(rendition.language)}")
        attributes += [f"DEFAULT={'YES' if rendition.default else 'NO'}",
                       f"AUTOSELECT={'YES' if rendition.default or rendition.forced else 'NO'}",
                       f"FORCED={'YES' if rendition.forced else 'NO'}", f"URI={_quoted(rendition.uri)}"]
        lines.append("#EXT-X-MEDIA:" + ",".join(attributes))
    bandwidth = decision.bitrate or 0
    attributes = [f"BANDWIDTH={max(64_000, round(bandwidth * 1.1))}"]  # MPEG-TS overhead
    if decision.codecs:
        attributes.append(f"CODECS={_quoted(decision.codecs)}")
    if decision.video is not None and decision.width and decision.height:
        attributes.append(f"RESOLUTION={decision.width}x{decision.height}")
    if subtitles:
        attributes.append('SUBTITLES="subs"')
    lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), media_uri]
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    """A quoted-string attribute: HLS allows no double quote or line break inside."""
    return '"' + "".join(c for c in value if c not in '"\r\n') + '"'


# --- segments --------------------------------------------------------------------------------------


def write_segment(path: str, decision: Decision, segment: Segment, out_path: str, *, timeout: float = 120,
                  last: bool | None = None) -> None:
    """Make one MPEG-TS segment of ``path`` as ``decision`` says. Blocking: run it in a thread.

    The segment is written to ``out_path + ".part"`` and renamed, so a reader never sees half a
    segment.

    :param last: whether this is the plan's last segment (read to the end of the file); by
        default a segment is last when nothing of the file lies past its ``end``.
    :raises SegmentError: the file cannot be read or encoded, or it took longer than ``timeout``.
    """
    if decision.method == "direct_play":
        raise SegmentError("a direct-play decision has no HLS segments")
    if segment.end <= segment.start:
        raise SegmentError(f"segment {segment.index} is empty")
    part = out_path + ".part"
    try:
        _run(lambda cancel: _write(path, decision, segment, part, cancel, last), timeout,
             f"make segment {segment.index}")
        os.replace(part, out_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(part)
        raise


def _run(work: Callable[[threading.Event], Any], timeout: float, what: str) -> Any:
    """``work(cancel)`` with a deadline, every failure as a :class:`SegmentError` saying what failed."""
    try:
        return run_with_deadline(work, timeout, name="revenge-video-hls", grace=5)
    except SegmentError:
        raise
    except DeadlineExceeded as exc:
        raise SegmentError(f"cannot {what}: {exc}") from None
    except Unreadable as exc:
        raise SegmentError(str(exc)) from None
    except Exception as exc:
        raise SegmentError(f"cannot {what}: {first_line(exc)}") from None


def _stream(container: Any, index: int | None, kind: str) -> Any:
    if index is None:
        return None
    if not 0 <= index < len(container.streams) or container.streams[index].type != kind:
        raise SegmentError(f"the file has no {kind} stream {index}")
    return container.streams[index]


def _origin(container: Any) -> float:
    """The file's start time in seconds: segment times count from it."""
    return container.start_time / 1_000_000 if container.start_time is not None else 0.0


def _indexed(container: Any) -> bool:
    """Containers whose index is complete enough to find keyframes and seek exactly."""
    names = set(container.format.name.split(","))
    return bool(names & {"matroska", "mov", "mp4"})


def _keyframes(path: str, video_index: int | None, cancel: threading.Event) -> list[float]:
    """Keyframe times of a video stream, in seconds from the file's start, sorted."""
    import av

    with open_media(path) as container:
        video = _stream(container, video_index, "video")
        origin = _origin(container)
        base = video.time_base
        times: list[float] = []
        if _indexed(container):
            with contextlib.suppress(Exception):
                container.seek(2**62, stream=video, backward=True)  # loads the Matroska cues
            times = [float(e.timestamp * base) - origin for e in video.index_entries if e.is_keyframe]
            with contextlib.suppress(Exception):
                container.seek(0, stream=video, backward=True)
        if len(times) < 2:
            times = []
            for stream in container.streams:
                if stream is not video:
                    stream.discard = av.stream.Discard.all
            for packet in container.demux(video):
                if cancel.is_set():
                    raise SegmentError("cancelled")
                if packet.is_keyframe and packet.pts is not None:
                    times.append(float(packet.pts * base) - origin)
        return sorted(set(round(t, 6) for t in times))


def _write(path: str, decision: Decision, segment: Segment, part: str, cancel: threading.Event,
           last: bool | None) -> None:
    import av

    with open_media(path) as source:
        video = _stream(source, decision.video_index, "video") if decision.video else None
        audio = _stream(source, decision.audio_index, "audio") if decision.audio else None
        if video is None and audio is None:
            raise SegmentError("the decision names neither a video nor an audio stream")
        for stream in source.streams:
            if stream is not video and stream is not audio:
                stream.discard = av.stream.Discard.all
        origin = _origin(source)
        start, end = segment.start + origin, segment.end + origin
        if last is None:
            last = source.duration is None or segment.end * 1_000_000 >= source.duration - 1000
        if last:
            end = math.inf
        with open(part, "wb") as handle, av.open(handle, "w", format="mpegts", options={
                "max_delay": "700000", "avoid_negative_ts": "disabled"}) as output:
            writer = _SegmentWriter(av, source, output, decision, video, audio, start, end, cancel)
            writer.run()


class _SegmentWriter:
    """The state of one segment being made: streams, encoders and how far each stream got."""

    def __init__(self, av: Any, source: Any, output: Any, decision: Decision, video: Any, audio: Any, start: float,
                 end: float, cancel: threading.Event):
        self.av, self.source, self.output, self.decision = av, source, output, decision
        self.video, self.audio, self.start, self.end, self.cancel = video, audio, start, end, cancel
        self.video_out = self.audio_out = None
        self.video_started = False
        self.video_done = video is None
        self.audio_done = audio is None
        self.last_video_pts = -1
        self.audio_position: int | None = None  # next output sample (1/48000 s) of a transcoded track
        self.audio_first = 0
        self.audio_drop = 0
        self.pending: list[Any] = []
        self.fifo: Any = None
        self.resampler: Any = None
        if video is not None:
            if decision.video == "copy":
                self.video_out = output.add_stream_from_template(video)
            else:
                self.video_out = self._video_encoder()
        if audio is not None:
            if decision.audio == "copy":
                self.audio_out = output.add_stream_from_template(audio)
            else:
                self.audio_out = output.add_stream("aac", rate=_AUDIO_RATE)
                self.audio_out.layout = "stereo"
                self.audio_out.format = "fltp"
                self.audio_out.bit_rate = decision.profile.audio_bitrate if decision.profile else 160_000
                self.audio_out.codec_context.time_base = Fraction(1, _AUDIO_RATE)
                self.fifo = self.av.AudioFifo()
                self.resampler = self.av.AudioResampler(format="fltp", layout="stereo", rate=_AUDIO_RATE)

    def _video_encoder(self) -> Any:
        decision, video = self.decision, self.video
        audio_bitrate = decision.profile.audio_bitrate if decision.profile else 0
        bitrate = max(200_000, (decision.bitrate or 2_000_000) - (audio_bitrate if decision.audio else 0))
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        stream = self.output.add_stream("libx264", rate=rate, options={
            "preset": "veryfast", "profile": "high", "maxrate": str(round(bitrate * 1.5)),
            "bufsize": str(bitrate * 2), "x264-params": "scenecut=0:open-gop=0"})
        stream.width = decision.width or video.codec_context.width
        stream.height = decision.height or video.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bitrate
        stream.codec_context.time_base = Fraction(1, 90_000)
        stream.codec_context.gop_size = max(1, round(float(rate) * 2))
        video.codec_context.thread_type = "AUTO"
        return stream

    # --- reading

    def run(self) -> None:
        anchor = self.video if self.video is not None else self.audio
        seekable = _indexed(self.source)
        # Where to seek: exactly at the start where the index is trustworthy, else a little before;
        # should the seek land past the start anyway, try further back, then the very beginning.
        attempts: list[float | None] = [] if self.start - _origin(self.source) <= _EPSILON else [
            self.start + (_EPSILON if seekable else -1.0), self.start - 10.0]
        attempts.append(None)
        for target in attempts:
            if target is not None:
                try:
                    self.source.seek(max(0, int(target / anchor.time_base)), stream=anchor, backward=True)
                except self.av.FFmpegError:
                    continue
            elif attempts[0] is not None:
                self.source.seek(0, stream=anchor, backward=True)
            if self._first_packet_fits(anchor):
                break
        self._pump()
        self._finish()

    def _first_packet_fits(self, anchor: Any) -> bool:
        """Peek at the first packet of the anchor stream after a seek: does it lie at or before the start?

        The packets read while peeking are kept and processed by :meth:`_pump`."""
        self.pending = []
        for packet in self.source.demux(self.video, self.audio) if self.video is not None and self.audio is not None \
                else self.source.demux(anchor):
            self.pending.append(packet)
            if packet.stream is anchor and packet.pts is not None:
                time = float(packet.pts * packet.time_base)
                return time <= self.start + _EPSILON or self.start - _origin(self.source) <= _EPSILON
            if len(self.pending) > 10_000:
                break
        return True

    def _packets(self) -> Iterator[Any]:
        yield from self.pending
        self.pending = []
        streams = [s for s in (self.video, self.audio) if s is not None]
        yield from self.source.demux(*streams)

    def _pump(self) -> None:
        for packet in self._packets():
            if self.cancel.is_set():
                raise SegmentError("cancelled")
            if packet.stream is self.video and not self.video_done:
                if packet.size == 0:
                    continue
                if self.decision.video == "copy":
                    self._copy_video(packet)
                else:
                    for frame in self._decode(self.video, packet):
                        self._encode_video(frame)
            elif packet.stream is self.audio and not self.audio_done:
                if packet.size == 0:
                    continue
                if self.decision.audio == "copy":
                    self._copy_audio(packet)
                else:
                    for frame in self._decode(self.audio, packet):
                        self._encode_audio(frame)
            if self.video_done and self.audio_done:
                break
        if self.video is not None and self.decision.video != "copy" and not self.video_done:
            for frame in self._decode(self.video, None):
                self._encode_video(frame)
        if self.audio is not None and self.decision.audio != "copy" and not self.audio_done:
            for frame in self._decode(self.audio, None):
                self._encode_audio(frame)

    def _decode(self, stream: Any, packet: Any) -> list[Any]:
        try:
            return list(stream.codec_context.decode(packet))
        except self.av.FFmpegError:
            return []  # a damaged packet: skip it, as players do

    # --- copying

    def _copy_video(self, packet: Any) -> None:
        time = float(packet.pts * packet.time_base) if packet.pts is not None else None
        if not self.video_started:
            if not packet.is_keyframe or time is None or time < self.start - _EPSILON:
                return
            self.video_started = True
        elif packet.is_keyframe and time is not None and time >= self.end - _EPSILON:
            self.video_done = True
            return
        self._mux(packet, self.video_out)

    def _copy_audio(self, packet: Any) -> None:
        if packet.pts is None:
            return
        time = float(packet.pts * packet.time_base)
        if time < self.start - _EPSILON:
            return
        if time >= self.end - _EPSILON:
            self.audio_done = True
            return
        self._mux(packet, self.audio_out)

    def _mux(self, packet: Any, stream: Any) -> None:
        packet.stream = stream
        self.output.mux(packet)

    # --- transcoding

    def _encode_video(self, frame: Any) -> None:
        if frame is not None:
            if frame.pts is None:
                return
            time = float(frame.pts * (frame.time_base or self.video.time_base))
            if time < self.start - _EPSILON:
                return
            if time >= self.end - _EPSILON:
                self.video_done = True
                return
            pts = round(time * 90_000)
            if pts <= self.last_video_pts:
                return
            self.last_video_pts = pts
            out = frame.reformat(width=self.video_out.width, height=self.video_out.height, format="yuv420p")
            out.pts, out.time_base = pts, Fraction(1, 90_000)
            if not self.video_started:
                out.pict_type = self.av.video.frame.PictureType.I
                self.video_started = True
        else:
            out = None
        for packet in self.video_out.encode(out):
            self.output.mux(packet)

    def _encode_audio(self, frame: Any) -> None:
        time = float(frame.pts * (frame.time_base or self.audio.time_base)) if frame.pts is not None else None
        if time is None:
            return
        if time >= self.end - _EPSILON:
            self.audio_done = True
            return
        if time + frame.samples / frame.sample_rate <= self.start:
            return
        if self.audio_position is None:
            begin = max(time, self.start)
            self.audio_position = round(begin * _AUDIO_RATE)
            self.audio_first = self.audio_position
            self.audio_drop = round((begin - time) * _AUDIO_RATE)
        for resampled in self.resampler.resample(frame):
            self._push(resampled)

    def _push(self, frame: Any) -> None:
        frame.pts = None
        self.fifo.write(frame)
        if self.audio_drop:
            dropped = self.fifo.read(min(self.audio_drop, self.fifo.samples))
            self.audio_drop -= dropped.samples if dropped is not None else 0
        self._drain(partial=False)

    def _drain(self, *, partial: bool) -> None:
        end_sample = round(self.end * _AUDIO_RATE) if math.isfinite(self.end) else None
        while self.fifo.samples >= (1 if partial else _AAC_FRAME):
            wanted = _AAC_FRAME
            if end_sample is not None:
                wanted = min(wanted, end_sample - self.audio_position)
                if wanted <= 0:
                    self.audio_done = True
                    self.fifo.read(0)
                    return
            chunk = self.fifo.read(min(wanted, self.fifo.samples))
            chunk.pts, chunk.time_base, chunk.sample_rate = self.audio_position, Fraction(1, _AUDIO_RATE), _AUDIO_RATE
            self.audio_position += chunk.samples
            self._encode_aac(chunk)

    def _encode_aac(self, frame: Any) -> None:
        for packet in self.audio_out.encode(frame):
            # The encoder's first packet is priming (decoded as silence before the first sample);
            # dropping it keeps the joins between independently made segments free of gaps.
            if frame is not None and packet.pts is not None and packet.pts < self.audio_first:
                continue
            self.output.mux(packet)

    def _finish(self) -> None:
        if self.audio is not None and self.decision.audio != "copy" and self.audio_position is not None:
            for resampled in self.resampler.resample(None):
                if resampled is not None:
                    self._push(resampled)
            self._drain(partial=True)
            for packet in self.audio_out.encode(None):
                if packet.pts is not None and packet.pts < self.audio_first:
                    continue
                self.output.mux(packet)
        if self.video is not None and self.decision.video != "copy":
            self._encode_video(None)
        if self.video is not None and not self.video_started:
            raise SegmentError(f"no video found between {self.start:.3f} s and {self.end:.3f} s")
