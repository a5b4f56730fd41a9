"""Real, small media files for tests: video made with PyAV, subtitles, images and Kodi NFOs.

Every generator writes a genuine file that FFmpeg, players and :func:`revenge_video.probe.probe`
read like any other (never an empty file with a media extension), and is fast: a one-second
160x90 video takes a few tens of milliseconds.

>>> from revenge_video.testing import make_video, Track
>>> make_video(tmp_path / "Movie (2010).mkv", audio=("eng", Track("ger", title="Deutsch")),
...            subtitles=("eng", Track("fre", forced=True)), chapters=2)

Containers and what they hold (the container follows the file extension):

============ =============== ===================== =====================================
extension    video default   audio default         embedded subtitles
============ =============== ===================== =====================================
.mkv         h264            aac                   subrip (or ``subtitle_codec="ass"``)
.mp4 .m4v    h264            aac                   mov_text
.mov         h264            aac                   mov_text
.webm        vp9             opus                  webvtt
.avi         mpeg4           mp3                   none: write sidecars with :func:`make_srt`
.ts          h264            aac                   none
============ =============== ===================== =====================================
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Track", "make_ass", "make_image", "make_nfo_episode", "make_nfo_movie", "make_nfo_season",
           "make_nfo_tvshow", "make_srt", "make_video", "tone_level", "video_codecs"]

_VIDEO_ENCODERS = {
    "h264": ("libx264", {"preset": "ultrafast", "tune": "zerolatency"}),
    "hevc": ("libx265", {"preset": "ultrafast", "x265-params": "log-level=none"}),
    "h265": ("libx265", {"preset": "ultrafast", "x265-params": "log-level=none"}),
    "mpeg4": ("mpeg4", {}),
    "vp9": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}),
    "av1": ("libsvtav1", {"preset": "12"}),
}
_AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus", "ac3": "ac3", "eac3": "eac3", "mp3": "libmp3lame",
                   "flac": "flac", "vorbis": "libvorbis"}
_CONTAINERS: dict[str, tuple[str, str, str | None]] = {
    # extension: (default video codec, default audio codec, embedded subtitle codec)
    "mkv": ("h264", "aac", "subrip"),
    "mp4": ("h264", "aac", "mov_text"),
    "m4v": ("h264", "aac", "mov_text"),
    "mov": ("h264", "aac", "mov_text"),
    "webm": ("vp9", "opus", "webvtt"),
    "avi": ("mpeg4", "mp3", None),
    "ts": ("h264", "aac", None),
}
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
    "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    "MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


@attrs.frozen
class Track:
    """An audio or subtitle track for :func:`make_video`; a plain string means ``Track(language)``.

    :param language: ISO 639-2 code written as the track's ``language`` tag (``eng``, ``ger``).
    :param tone: audio only: a sine of this frequency in Hz instead of silence, so a test can tell
        which track it hears (see :func:`tone_level`).
    :param cues: subtitle only: ``(start_seconds, end_seconds, text)`` cues instead of the single
        default cue; for ASS tracks ``text`` is the event's text and may hold override tags (``{\\i1}``).
    """

    language: str | None
    title: str | None = None
    default: bool = False
    forced: bool = False
    hearing_impaired: bool = False
    tone: float | None = None
    cues: tuple[tuple[float, float, str], ...] = attrs.field(default=(), converter=tuple)


def video_codecs() -> frozenset[str]:
    """The ``codec`` values :func:`make_video` can encode with the installed PyAV."""
    import av

    available = set()
    for name, (encoder, _options) in _VIDEO_ENCODERS.items():
        try:
            av.codec.Codec(encoder, "w")
        except Exception:
            continue
        available.add(name)
    return frozenset(available)


def make_video(path: str | os.PathLike[str], *, seconds: float = 1.0, width: int = 160, height: int = 90,
               codec: str | None = None, fps: int = 24, audio: Sequence[str | Track] = ("eng",),
               audio_codec: str | None = None, channels: int = 2, sample_rate: int = 48000,
               subtitles: Sequence[str | Track] = (), subtitle_codec: str | None = None,
               chapters: int | Sequence[tuple[float, float, str | None]] = 0, hdr: bool | str = False,
               title: str | None = None, metadata: Mapping[str, str] | None = None,
               keyframe_interval: float | None = None) -> Path:
    """Write a real video file and return its path.

    :param path: where to write; the extension picks the container (see the module docs).
    :param seconds: playing time.
    :param codec: ``h264``, ``hevc``, ``mpeg4``, ``vp9`` or ``av1`` (see :func:`video_codecs`);
        defaults to the container's usual codec.
    :param audio: one track per entry, each tagged with its language; ``()`` for no audio.
    :param audio_codec: ``aac``, ``opus``, ``ac3``, ``eac3``, ``mp3``, ``flac``; defaults to the
        container's usual codec.
    :param channels: 1, 2, 6 (5.1) or 8 (7.1).
    :param subtitles: embedded subtitle tracks, one cue each (``Subtitle <language>``).
    :param subtitle_codec: ``ass`` for ASS tracks in mkv; defaults to the container's text codec.
    :param chapters: how many chapters of equal length, or ``(start, end, title)`` in seconds.
    :param hdr: ``True`` or ``"HDR10"`` tags the video as BT.2020 / SMPTE 2084 (PQ), ``"HLG"``
        as BT.2020 / ARIB STD-B67, ``"Dolby Vision"`` (hevc in mp4/m4v/mov) also writes the
        ``dvh1`` sample entry. Metadata only: the pictures stay 8-bit, with no Dolby Vision RPU.
    :param title: the container's ``title`` tag.
    :param keyframe_interval: seconds between keyframes (a fixed GOP of ``round(fps * interval)``
        frames, no extra keyframes on scene cuts); ``None`` keeps the encoder's default.
    :raises ValueError: an unknown extension or codec, or subtitles in a container that has none.
    """
    import av

    path = Path(path)
    extension = path.suffix.lower().lstrip(".")
    if extension not in _CONTAINERS:
        raise ValueError(f"unsupported container {extension!r}; use one of {', '.join(sorted(_CONTAINERS))}")
    default_video, default_audio, default_subtitle = _CONTAINERS[extension]
    codec = (codec or default_video).lower()
    if codec not in _VIDEO_ENCODERS:
        raise ValueError(f"unsupported video codec {codec!r}; use one of {', '.join(sorted(_VIDEO_ENCODERS))}")
    audio_codec = (audio_codec or default_audio).lower()
    if audio and audio_codec not in _AUDIO_ENCODERS:
        raise ValueError(f"unsupported audio codec {audio_codec!r}; use one of {', '.join(sorted(_AUDIO_ENCODERS))}")
    if channels not in _LAYOUTS:
        raise ValueError(f"unsupported channel count {channels}; use one of {sorted(_LAYOUTS)}")
    subtitle_codec = subtitle_codec or default_subtitle
    if subtitles and subtitle_codec is None:
        raise ValueError(f"{extension} files cannot hold subtitle tracks here; write sidecars with make_srt()")
    if subtitles and subtitle_codec == "ass" and extension != "mkv":
        raise ValueError("ASS subtitle tracks need an mkv file")
    if width % 2 or height % 2:
        raise ValueError("width and height must be even")
    if keyframe_interval is not None and keyframe_interval <= 0:
        raise ValueError("keyframe_interval must be a positive number of seconds")
    hdr_kind = _hdr_kind(hdr)
    if hdr_kind == "Dolby Vision" and (codec not in ("hevc", "h265") or extension not in ("mp4", "m4v", "mov")):
        raise ValueError("hdr='Dolby Vision' needs codec='hevc' in an mp4, m4v or mov file")
    path.parent.mkdir(parents=True, exist_ok=True)

    if codec == "av1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
    frames = max(1, round(seconds * fps))
    encoder, options = _VIDEO_ENCODERS[codec]
    options = dict(options)
    gop = max(1, round(fps * keyframe_interval)) if keyframe_interval is not None else None
    if gop is not None and encoder == "libx264":
        options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    elif gop is not None and encoder == "libx265":
        options["x265-params"] = f"{options.get('x265-params', '')}:keyint={gop}:min-keyint={gop}:scenecut=0"
    with av.open(str(path), "w") as container:
        for key, value in {**(metadata or {}), **({"title": title} if title else {})}.items():
            container.metadata[key] = value
        video = container.add_stream(encoder, rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if gop is not None:
            video.codec_context.gop_size = gop
        video.disposition = av.stream.Disposition.default
        if hdr_kind is not None:
            ctx = video.codec_context
            ctx.color_primaries, ctx.colorspace = 9, 9  # BT.2020
            ctx.color_trc = 18 if hdr_kind == "HLG" else 16  # ARIB STD-B67 (HLG) / SMPTE 2084 (PQ)
            if hdr_kind == "Dolby Vision":
                video.codec_tag = "dvh1"  # the sample entry of Dolby Vision HEVC
        audio_streams = []
        for number, track in enumerate(_tracks(audio)):
            stream = container.add_stream(_AUDIO_ENCODERS[audio_codec], rate=sample_rate)
            stream.layout = _LAYOUTS[channels]
            _tag_track(stream, track, first=number == 0)
            audio_streams.append((stream, track))
        subtitle_streams = []
        for track in _tracks(subtitles):
            if subtitle_codec == "ass":
                stream = container.add_stream("ass")
                stream.codec_context.extradata = _ASS_HEADER.encode()
            else:
                stream = container.add_mux_stream(subtitle_codec)
            stream.time_base = Fraction(1, 1000)
            _tag_track(stream, track, first=False)
            subtitle_streams.append((stream, track))
        if chapters:
            container.set_chapters(_chapter_list(chapters, seconds))

        packets: list[tuple[float, Any]] = []
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for number, plane in enumerate(frame.planes):
                shade = (index * 9 + number * 60) % 256 if number == 0 else 128 + (index * 3 + number * 20) % 64
                plane.update(bytes([shade]) * plane.buffer_size)
            frame.pts = index
            packets.extend((index / fps, p) for p in video.encode(frame))
        packets.extend((seconds, p) for p in video.encode())
        for stream, track in audio_streams:
            packets.extend(_encode_audio(av, stream, seconds, sample_rate, channels, track.tone))
        for stream, track in subtitle_streams:
            packets.extend(_subtitle_packets(av, stream, subtitle_codec, track, seconds))
        packets.sort(key=lambda item: item[0])
        for _time, packet in packets:
            container.mux(packet)
    return path


def make_srt(path: str | os.PathLike[str], cues: Iterable[tuple[float, float, str]] = ()) -> Path:
    """Write a SubRip file: ``cues`` are ``(start_seconds, end_seconds, text)``; a default cue if empty."""
    cues = list(cues) or [(0.1, 0.9, "Hello")]
    lines = []
    for number, (start, end, text) in enumerate(cues, 1):
        lines += [str(number), f"{_clock(start, ',')} --> {_clock(end, ',')}", text, ""]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def make_ass(path: str | os.PathLike[str], cues: Iterable[tuple[float, float, str]] = ()) -> Path:
    """Write an ASS (Advanced SubStation Alpha) file with one ``Default`` style; see :func:`make_srt`."""
    cues = list(cues) or [(0.1, 0.9, "Hello")]
    events = [f"Dialogue: 0,{_ass_clock(start)},{_ass_clock(end)},Default,,0,0,0,,{text}".replace("\n", "\\N")
              for start, end, text in cues]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_ASS_HEADER + "\n".join(events) + "\n", encoding="utf-8")
    return path


def make_image(path: str | os.PathLike[str], width: int = 300, height: int = 450,
               color: str | tuple[int, int, int] = (200, 30, 30)) -> Path:
    """Write a real PNG, JPEG or WebP image (by extension) of one colour with a lighter band,
    so it is not uniform. ``color`` is ``(r, g, b)`` or ``"#rrggbb"``. Needs pyvips
    (``pip install revenge-video[testing]``)."""
    try:
        import pyvips
    except ImportError as exc:  # pragma: no cover - the [testing] extra installs it
        raise RuntimeError("make_image needs pyvips: pip install 'revenge-video[testing]'") from exc
    rgb = _rgb(color)
    path = Path(path)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise ValueError(f"unsupported image type {path.suffix!r}; use .png, .jpg or .webp")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = (pyvips.Image.black(width, height, bands=3) + list(rgb)).cast("uchar")
    band = max(1, height // 8)
    lighter = [min(255, c + 40) for c in rgb]
    image = image.draw_rect(lighter, 0, height // 2, width, band, fill=True)
    image.write_to_file(str(path))
    return path


# --- Kodi NFO writers -------------------------------------------------------------------------------


def make_nfo_movie(path: str | os.PathLike[str], *, title: str, year: int | None = None,
                   ids: Mapping[str, str] | None = None, plot: str | None = None, tagline: str | None = None,
                   runtime: int | None = None, premiered: str | None = None, mpaa: str | None = None,
                   genres: Sequence[str] = (), studios: Sequence[str] = (), countries: Sequence[str] = (),
                   tags: Sequence[str] = (), set_name: str | None = None, directors: Sequence[str] = (),
                   writers: Sequence[str] = (), actors: Sequence[tuple[str, str | None]] = (),
                   rating: float | None = None, posters: Sequence[str] = (), fanart: Sequence[str] = (),
                   original_title: str | None = None, sort_title: str | None = None) -> Path:
    """Write a Kodi ``<movie>`` NFO. ``ids`` map id kinds to ids (``{"tmdb": "603", "imdb":
    "tt0133093"}``, the first is the default ``uniqueid``); ``actors`` are ``(name, role)``."""
    root = ET.Element("movie")
    _fields(root, title=title, originaltitle=original_title, sorttitle=sort_title, year=year, plot=plot,
            tagline=tagline, runtime=runtime, premiered=premiered, mpaa=mpaa)
    _common(root, ids, genres, studios, countries, tags, directors, writers, actors, rating, posters, fanart)
    if set_name:
        ET.SubElement(ET.SubElement(root, "set"), "name").text = set_name
    return _write_xml(path, root)


def make_nfo_tvshow(path: str | os.PathLike[str], *, title: str, year: int | None = None,
                    ids: Mapping[str, str] | None = None, plot: str | None = None, premiered: str | None = None,
                    status: str | None = None, mpaa: str | None = None, genres: Sequence[str] = (),
                    studios: Sequence[str] = (), actors: Sequence[tuple[str, str | None]] = (),
                    rating: float | None = None, posters: Sequence[str] = (), fanart: Sequence[str] = ()) -> Path:
    """Write a Kodi ``<tvshow>`` NFO (see :func:`make_nfo_movie`)."""
    root = ET.Element("tvshow")
    _fields(root, title=title, year=year, plot=plot, premiered=premiered, status=status, mpaa=mpaa)
    _common(root, ids, genres, studios, (), (), (), (), actors, rating, posters, fanart)
    return _write_xml(path, root)


def make_nfo_season(path: str | os.PathLike[str], *, season: int, title: str | None = None,
                    plot: str | None = None, premiered: str | None = None,
                    ids: Mapping[str, str] | None = None) -> Path:
    """Write a Kodi ``<season>`` NFO."""
    root = ET.Element("season")
    _fields(root, title=title, seasonnumber=season, plot=plot, premiered=premiered)
    _common(root, ids, (), (), (), (), (), (), (), None, (), ())
    return _write_xml(path, root)


def make_nfo_episode(path: str | os.PathLike[str], *, title: str, season: int, episode: int | Sequence[int],
                     aired: str | None = None, plot: str | None = None, runtime: int | None = None,
                     ids: Mapping[str, str] | None = None, show_title: str | None = None,
                     directors: Sequence[str] = (), writers: Sequence[str] = (),
                     actors: Sequence[tuple[str, str | None]] = (), rating: float | None = None,
                     thumb: str | None = None) -> Path:
    """Write a Kodi ``<episodedetails>`` NFO; several episode numbers write one ``<episodedetails>``
    root per episode into the same file, as Kodi does for multi-episode files."""
    numbers = [episode] if isinstance(episode, int) else list(episode)
    documents = []
    for number in numbers:
        root = ET.Element("episodedetails")
        _fields(root, title=title if len(numbers) == 1 else f"{title} ({number})", showtitle=show_title,
                season=season, episode=number, aired=aired, plot=plot, runtime=runtime)
        _common(root, ids, (), (), (), (), directors, writers, actors, rating, (), ())
        if thumb:
            ET.SubElement(root, "thumb").text = thumb
        ET.indent(root)
        documents.append(ET.tostring(root, encoding="unicode"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\n' + "\n".join(documents) + "\n",
                    encoding="utf-8")
    return path


# --- helpers ---------------------------------------------------------------------------------------


def _hdr_kind(hdr: bool | str) -> str | None:
    if hdr is False or hdr is None:
        return None
    if hdr is True or str(hdr).upper() in ("HDR10", "PQ"):
        return "HDR10"
    if str(hdr).upper() == "HLG":
        return "HLG"
    if str(hdr).lower() in ("dolby vision", "dv"):
        return "Dolby Vision"
    raise ValueError(f"unsupported hdr {hdr!r}; use True, 'HDR10', 'HLG' or 'Dolby Vision'")


def _tracks(entries: Sequence[str | Track]) -> list[Track]:
    if isinstance(entries, str):
        entries = (entries,)
    return [entry if isinstance(entry, Track) else Track(entry) for entry in entries]


def _tag_track(stream: Any, track: Track, *, first: bool) -> None:
    import av

    if track.language:
        stream.metadata["language"] = track.language
    if track.title:
        stream.metadata["title"] = track.title
    flags = av.stream.Disposition(0)
    if track.default or first:
        flags |= av.stream.Disposition.default
    if track.forced:
        flags |= av.stream.Disposition.forced
    if track.hearing_impaired:
        flags |= av.stream.Disposition.hearing_impaired
    stream.disposition = flags


def _encode_audio(av: Any, stream: Any, seconds: float, sample_rate: int, channels: int,
                  tone: float | None) -> list[tuple[float, Any]]:
    packets = []
    total = max(1, round(seconds * sample_rate))
    chunk = 1024
    encoder_format = stream.codec_context.codec.audio_formats[0].name if stream.codec_context.codec.audio_formats \
        else "fltp"
    done = 0
    while done < total:
        samples = min(chunk, total - done)
        frame = av.AudioFrame(format=encoder_format, layout=_LAYOUTS[channels], samples=samples)
        planar = frame.format.is_planar
        for plane in frame.planes:
            if tone is None:
                plane.update(bytes(plane.buffer_size))
            else:
                data = _sine(encoder_format, tone, sample_rate, done, samples, 1 if planar else channels)
                plane.update(data + bytes(plane.buffer_size - len(data)))
        frame.sample_rate = sample_rate
        frame.pts = done
        packets.extend((done / sample_rate, p) for p in stream.encode(frame))
        done += samples
    packets.extend((seconds, p) for p in stream.encode())
    return packets


def _sine(sample_format: str, frequency: float, sample_rate: int, first: int, samples: int, channels: int) -> bytes:
    """``samples`` samples of a half-scale sine, each repeated for ``channels`` interleaved channels."""
    import array
    import math

    values = [0.5 * math.sin(2 * math.pi * frequency * (first + n) / sample_rate) for n in range(samples)]
    base = sample_format.rstrip("p")
    if base == "flt":
        data = array.array("f", (v for v in values for _ in range(channels)))
    elif base == "dbl":
        data = array.array("d", (v for v in values for _ in range(channels)))
    elif base == "s16":
        data = array.array("h", (round(v * 32767) for v in values for _ in range(channels)))
    elif base == "s32":
        data = array.array("i", (round(v * 2_147_483_647) for v in values for _ in range(channels)))
    else:  # pragma: no cover - no encoder of make_video uses another sample format
        raise ValueError(f"cannot write a tone in sample format {sample_format}")
    return data.tobytes()


def tone_level(frames: Iterable[Any]) -> float:
    """The RMS level (0..1) of decoded PyAV audio frames (float or 16-bit samples), to tell a
    :attr:`Track.tone` track from a silent one."""
    import array
    import math

    total, count = 0.0, 0
    for frame in frames:
        base = frame.format.name.rstrip("p")
        for plane in frame.planes:
            raw = bytes(plane)
            if base == "flt":
                values = array.array("f", raw[: len(raw) // 4 * 4])
                scale = 1.0
            elif base == "s16":
                values = array.array("h", raw[: len(raw) // 2 * 2])
                scale = 32768.0
            else:
                raise ValueError(f"tone_level reads flt or s16 samples, not {frame.format.name}")
            useful = frame.samples * (1 if frame.format.is_planar else len(frame.layout.channels))
            for value in values[:useful]:
                total += (value / scale) ** 2
                count += 1
    return math.sqrt(total / count) if count else 0.0


def _subtitle_packets(av: Any, stream: Any, codec: str, track: Track, seconds: float) -> list[tuple[float, Any]]:
    if track.cues:
        cues = list(track.cues)
    else:
        start = min(0.1, seconds / 4)
        cues = [(start, seconds - start, f"Subtitle {track.language or 'und'}")]
    packets = []
    for number, (start, end, text) in enumerate(cues):
        if codec == "mov_text":
            raw = text.encode()
            data = len(raw).to_bytes(2, "big") + raw
        elif codec == "ass":
            data = f"{number},0,Default,,0,0,0,,{text}".encode()
        else:
            data = text.encode()
        packet = av.Packet(data)
        packet.stream = stream
        packet.time_base = Fraction(1, 1000)
        packet.pts = packet.dts = round(start * 1000)
        packet.duration = max(1, round((end - start) * 1000))
        packets.append((start, packet))
    return packets


def _chapter_list(chapters: int | Sequence[tuple[float, float, str | None]], seconds: float) -> list[dict[str, Any]]:
    if isinstance(chapters, int):
        step = seconds / chapters
        chapters = [(i * step, (i + 1) * step, f"Chapter {i + 1}") for i in range(chapters)]
    base = Fraction(1, 1000)
    return [{"id": i + 1, "start": round(start * 1000), "end": round(end * 1000), "time_base": base,
             "metadata": {"title": name} if name else {}} for i, (start, end, name) in enumerate(chapters)]


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _ass_clock(seconds: float) -> str:
    centis = round(seconds * 100)
    hours, centis = divmod(centis, 360_000)
    minutes, centis = divmod(centis, 6000)
    secs, centis = divmod(centis, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _rgb(color: str | tuple[int, int, int]) -> tuple[int, int, int]:
    if isinstance(color, str):
        value = color.lstrip("#")
        if len(value) != 6:
            raise ValueError(f"colour {color!r}: expected '#rrggbb'")
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    r, g, b = color
    return int(r), int(g), int(b)


def _fields(root: ET.Element, **values: Any) -> None:
    for name, value in values.items():
        if value is not None:
            ET.SubElement(root, name).text = str(value)


def _common(root: ET.Element, ids: Mapping[str, str] | None, genres: Sequence[str], studios: Sequence[str],
            countries: Sequence[str], tags: Sequence[str], directors: Sequence[str], writers: Sequence[str],
            actors: Sequence[tuple[str, str | None]], rating: float | None, posters: Sequence[str],
            fanart: Sequence[str]) -> None:
    for number, (kind, value) in enumerate((ids or {}).items()):
        attributes = {"type": kind, **({"default": "true"} if number == 0 else {})}
        ET.SubElement(root, "uniqueid", attributes).text = str(value)
    for tag, values in (("genre", genres), ("studio", studios), ("country", countries), ("tag", tags),
                        ("director", directors), ("credits", writers)):
        for value in values:
            ET.SubElement(root, tag).text = value
    if rating is not None:
        ratings = ET.SubElement(root, "ratings")
        entry = ET.SubElement(ratings, "rating", {"name": "themoviedb", "max": "10", "default": "true"})
        ET.SubElement(entry, "value").text = f"{rating:.1f}"
    for url in posters:
        ET.SubElement(root, "thumb", {"aspect": "poster"}).text = url
    if fanart:
        holder = ET.SubElement(root, "fanart")
        for url in fanart:
            ET.SubElement(holder, "thumb").text = url
    for order, (name, role) in enumerate(actors):
        actor = ET.SubElement(root, "actor")
        ET.SubElement(actor, "name").text = name
        if role:
            ET.SubElement(actor, "role").text = role
        ET.SubElement(actor, "order").text = str(order)


def _write_xml(path: str | os.PathLike[str], root: ET.Element) -> Path:
    ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\n'
                    + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")
    return path
