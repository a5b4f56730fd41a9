"""Who plays what: direct play, remux (HLS "direct stream") or transcode, for one file and one client.

:func:`decide` compares a probed file (:class:`~revenge_video.probe.MediaInfo`) with what a
client says it can play (:class:`ClientProfile`) and returns a :class:`Decision`, the way
Jellyfin and Plex do:

- ``direct_play``: the client gets the file as it is (HTTP range requests). Container, video
  codec, the chosen audio track's codec and channel count, frame size and bit rate all fit,
  and the chosen audio track is the file's default one: a player given a plain file plays its
  default track and offers no way to pick another.
- ``remux``: HLS in MPEG-TS with the video copied (no quality loss, almost no CPU). Only
  H.264 and HEVC can be copied into MPEG-TS segments; the audio is copied when it is AAC, MP3,
  AC-3 or E-AC-3 the client plays (with few enough channels), else transcoded to AAC stereo.
  A file without video whose audio can be copied is remuxed too.
- ``transcode``: HLS with H.264 + AAC stereo at the largest :data:`TRANSCODE_PROFILES` entry
  that fits the client's frame size and bit rate limits (never larger than the source).

Reason codes (``Decision.reasons``, stable machine strings; empty for direct play):

``container_not_supported``
    the client does not play the file's container.
``video_codec_not_supported`` / ``audio_codec_not_supported``
    the client does not play the video codec / the chosen audio track's codec.
``resolution_too_high``
    the frame is larger than the client's ``max_width`` / ``max_height``.
``bitrate_too_high``
    the file's bit rate is above the client's ``max_bitrate`` or the requested ``max_bitrate``.
``audio_channels_too_many``
    the chosen audio track has more channels than the client's ``max_audio_channels``.
``audio_track_selected``
    a track other than the file's default was chosen.
``video_codec_not_streamable`` / ``audio_codec_not_streamable``
    the client plays the codec, but it cannot be copied into MPEG-TS HLS segments (VP9, Opus...).
``profile_requested``
    a transcode profile was asked for explicitly.

The allowlists (:data:`CONTAINERS`, :data:`VIDEO_CODECS`, :data:`AUDIO_CODECS`,
:data:`SUBTITLE_FORMATS`) bound what a client may claim, so a profile sent by a browser is
checked strictly by :meth:`ClientProfile.from_json` before anything else uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import attrs

from .probe import AudioStream, MediaInfo, VideoStream

__all__ = ["AUDIO_CODECS", "CONTAINERS", "SUBTITLE_FORMATS", "TRANSCODE_PROFILES", "VIDEO_CODECS", "ClientProfile",
           "Decision", "Method", "ProfileError", "TranscodeProfile", "container_names", "decide"]

CONTAINERS = frozenset({"mp4", "mkv", "webm", "mpegts", "mov", "avi"})
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video"})
AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "vorbis", "ac3", "eac3", "flac", "dts", "truehd"})
SUBTITLE_FORMATS = frozenset({"vtt", "srt", "ass"})

HLS_VIDEO_COPY = frozenset({"h264", "hevc"})
"""Video codecs that can be copied into MPEG-TS HLS segments."""
HLS_AUDIO_COPY = frozenset({"aac", "mp3", "ac3", "eac3"})
"""Audio codecs that can be copied into MPEG-TS HLS segments."""

Method = Literal["direct_play", "remux", "transcode"]

_ALIASES = {"h265": "hevc", "hvc1": "hevc", "avc": "h264", "avc1": "h264", "x264": "h264", "ts": "mpegts",
            "m2ts": "mpegts", "matroska": "mkv", "m4v": "mp4", "webvtt": "vtt", "subrip": "srt", "ssa": "ass",
            "mpeg2": "mpeg2video", "ec3": "eac3", "e-ac3": "eac3", "ac-3": "ac3", "divx": "mpeg4", "xvid": "mpeg4"}
_WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
_WEBM_AUDIO = frozenset({"opus", "vorbis"})
_INT_RANGES = {"max_width": (16, 16384), "max_height": (16, 16384), "max_bitrate": (64_000, 1_000_000_000),
               "max_audio_channels": (1, 16)}
_SETS = {"containers": CONTAINERS, "video_codecs": VIDEO_CODECS, "audio_codecs": AUDIO_CODECS,
         "subtitle_formats": SUBTITLE_FORMATS}
_MAX_LIST = 64


class ProfileError(ValueError):
    """A client profile, a requested profile or a track choice is not acceptable.

    :param key: the offending key (``containers``, ``max_width``, ``profile``, ``audio_index``...).
    """

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.reason = message


@attrs.frozen
class ClientProfile:
    """What a client can play. Codec and container names are those of the allowlists, lower case.

    :param max_bitrate: bits per second for the whole stream (video + audio).
    :param hls: whether the client plays HLS at all (a player that cannot gets direct play or nothing).
    """

    containers: frozenset[str] = attrs.field(converter=frozenset)
    video_codecs: frozenset[str] = attrs.field(converter=frozenset)
    audio_codecs: frozenset[str] = attrs.field(converter=frozenset)
    max_width: int | None = None
    max_height: int | None = None
    max_bitrate: int | None = None
    max_audio_channels: int | None = None
    subtitle_formats: frozenset[str] = attrs.field(default=frozenset({"vtt"}), converter=frozenset)
    hls: bool = True

    @classmethod
    def from_json(cls, data: Any) -> ClientProfile:
        """Build a profile from untrusted JSON, strictly.

        Only known keys; names are checked against the allowlists (case-insensitive, common
        aliases such as ``h265`` and ``ts`` accepted); numbers must lie in sane ranges.

        :raises ProfileError: with ``.key`` naming the first offending key.
        """
        if not isinstance(data, dict):
            raise ProfileError("profile", "a client profile must be a JSON object")
        known = {f.name for f in attrs.fields(cls)}
        for key in data:
            if key not in known:
                raise ProfileError(str(key)[:64], f"unknown key; allowed keys: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for key, allowed in _SETS.items():
            if key not in data:
                if key == "subtitle_formats":
                    continue
                raise ProfileError(key, "missing")
            values[key] = _names(key, data[key], allowed)
        for key, (low, high) in _INT_RANGES.items():
            value = data.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ProfileError(key, "must be a whole number or null")
            if not low <= value <= high:
                raise ProfileError(key, f"must be between {low:,} and {high:,}")
            values[key] = value
        if "hls" in data:
            if not isinstance(data["hls"], bool):
                raise ProfileError("hls", "must be true or false")
            values["hls"] = data["hls"]
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_json` reads back."""
        return {"containers": sorted(self.containers), "video_codecs": sorted(self.video_codecs),
                "audio_codecs": sorted(self.audio_codecs), "max_width": self.max_width,
                "max_height": self.max_height, "max_bitrate": self.max_bitrate,
                "max_audio_channels": self.max_audio_channels, "subtitle_formats": sorted(self.subtitle_formats),
                "hls": self.hls}


@attrs.frozen
class TranscodeProfile:
    """An output quality: H.264 of at most ``max_width`` x ``max_height`` at ``video_bitrate``, AAC stereo."""

    name: str
    max_width: int
    max_height: int
    video_bitrate: int
    audio_bitrate: int = 160_000

    @property
    def bitrate(self) -> int:
        return self.video_bitrate + self.audio_bitrate


TRANSCODE_PROFILES: dict[str, TranscodeProfile] = {
    "1080p": TranscodeProfile("1080p", 1920, 1080, 8_000_000),
    "720p": TranscodeProfile("720p", 1280, 720, 4_000_000),
    "480p": TranscodeProfile("480p", 854, 480, 1_500_000),
}
"""Transcode qualities, largest first."""

_MIN_VIDEO_BITRATE = 200_000


@attrs.frozen
class Decision:
    """How one file is played by one client (see the module docs for ``method`` and ``reasons``).

    :param video: ``copy`` or ``transcode`` for HLS; ``copy`` for direct play; ``None`` without video.
    :param audio: the same for the chosen audio track; ``None`` without audio.
    :param video_index: the source video stream's index (``VideoStream.index``).
    :param audio_index: the chosen source audio stream's index (``AudioStream.index``).
    :param profile: the transcode profile when ``video == "transcode"``.
    :param width: output frame width (even, aspect kept); 0 without video.
    :param bitrate: estimated output bit rate (bits per second), for the HLS ``BANDWIDTH``.
    :param codecs: the output's RFC 6381 codecs string (``avc1.640028,mp4a.40.2``), best effort,
        for the HLS ``CODECS`` attribute.
    """

    method: Method
    reasons: tuple[str, ...] = attrs.field(converter=tuple)
    video: Literal["copy", "transcode"] | None
    audio: Literal["copy", "transcode"] | None
    video_index: int | None
    audio_index: int | None
    profile: TranscodeProfile | None
    width: int
    height: int
    bitrate: int | None
    codecs: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the profile by name) that :meth:`from_json` reads back."""
        return {"method": self.method, "reasons": list(self.reasons), "video": self.video, "audio": self.audio,
                "video_index": self.video_index, "audio_index": self.audio_index,
                "profile": self.profile.name if self.profile else None, "width": self.width, "height": self.height,
                "bitrate": self.bitrate, "codecs": self.codecs}

    @classmethod
    def from_json(cls, data: Any) -> Decision:
        """Read back :meth:`to_json`; raises :class:`ProfileError` on anything else."""
        if not isinstance(data, dict):
            raise ProfileError("decision", "must be a JSON object")
        try:
            method = data["method"]
            if method not in ("direct_play", "remux", "transcode"):
                raise ProfileError("method", f"unknown method {method!r}")
            for key in ("video", "audio"):
                if data[key] not in (None, "copy", "transcode"):
                    raise ProfileError(key, f"unknown value {data[key]!r}")
            profile_name = data["profile"]
            if profile_name is not None and profile_name not in TRANSCODE_PROFILES:
                raise ProfileError("profile", f"unknown profile {profile_name!r}")
            ints = {}
            for key in ("video_index", "audio_index", "width", "height", "bitrate"):
                value = data[key]
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                    raise ProfileError(key, "must be a non-negative whole number or null")
                ints[key] = value
            reasons = data["reasons"]
            if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
                raise ProfileError("reasons", "must be a list of strings")
            codecs = data.get("codecs")
            if codecs is not None and not isinstance(codecs, str):
                raise ProfileError("codecs", "must be a string or null")
        except KeyError as exc:
            raise ProfileError(str(exc.args[0]), "missing") from None
        return cls(method=method, reasons=tuple(reasons), video=data["video"], audio=data["audio"],
                   video_index=ints["video_index"], audio_index=ints["audio_index"],
                   profile=TRANSCODE_PROFILES[profile_name] if profile_name else None,
                   width=ints["width"] or 0, height=ints["height"] or 0, bitrate=ints["bitrate"], codecs=codecs)


def container_names(info: MediaInfo) -> frozenset[str]:
    """The allowlist names (:data:`CONTAINERS`) a client must support one of to play the file as it is.

    FFmpeg reports one name for Matroska and WebM (``matroska,webm``): a file whose streams are
    all VP8/VP9/AV1 and Opus/Vorbis is valid WebM, so a WebM-only browser plays it; any other
    Matroska file needs ``mkv``. MP4 and QuickTime share a demuxer too; both names qualify.
    """
    names = set(info.container.lower().split(","))
    if "matroska" in names:
        webm = (all(v.codec in _WEBM_VIDEO for v in info.video) and all(a.codec in _WEBM_AUDIO for a in info.audio))
        return frozenset({"mkv", "webm"}) if webm else frozenset({"mkv"})
    if names & {"mov", "mp4"}:
        return frozenset({"mp4", "mov"})
    if "avi" in names:
        return frozenset({"avi"})
    if "mpegts" in names:
        return frozenset({"mpegts"})
    return frozenset()


def decide(info: MediaInfo, client: ClientProfile, *, audio_index: int | None = None,
           max_bitrate: int | None = None, profile: str | None = None) -> Decision:
    """Choose how ``client`` plays the file described by ``info``.

    :param audio_index: the source audio stream to play (``AudioStream.index``); the default track if ``None``.
    :param max_bitrate: a bit rate cap asked for by the user (bits per second), on top of the client's.
    :param profile: a :data:`TRANSCODE_PROFILES` name: forces a transcode at (at most) that quality.
    :raises ProfileError: an unknown ``audio_index`` (key ``audio_index``) or ``profile`` (key
        ``profile``), or a client without HLS that cannot play the file directly (key ``profile``).
    """
    video = info.main_video
    audio = _chosen_audio(info, audio_index)
    if profile is not None and profile not in TRANSCODE_PROFILES:
        raise ProfileError("profile", f"unknown profile {profile!r}; choose one of {', '.join(TRANSCODE_PROFILES)}")
    if max_bitrate is not None and (isinstance(max_bitrate, bool) or max_bitrate <= 0):
        raise ProfileError("max_bitrate", "must be a positive number of bits per second")
    limit = min((b for b in (client.max_bitrate, max_bitrate) if b), default=None)
    source_bitrate = _source_bitrate(info)
    too_fast = bool(limit and source_bitrate and source_bitrate > limit)
    too_big = video is not None and _too_big(video.width, video.height, client)

    # Why the file cannot be played as it is.
    direct: list[str] = []
    if not container_names(info) & client.containers:
        direct.append("container_not_supported")
    if video is not None and video.codec not in client.video_codecs:
        direct.append("video_codec_not_supported")
    if too_big:
        direct.append("resolution_too_high")
    if too_fast:
        direct.append("bitrate_too_high")
    audio_copyable_reasons: list[str] = []
    if audio is not None:
        if audio.codec not in client.audio_codecs:
            audio_copyable_reasons.append("audio_codec_not_supported")
        if client.max_audio_channels and audio.channels > client.max_audio_channels:
            audio_copyable_reasons.append("audio_channels_too_many")
        direct += audio_copyable_reasons
        if audio is not _default_audio(info):
            direct.append("audio_track_selected")
    if profile is None and not direct:
        return Decision("direct_play", (), "copy" if video else None, "copy" if audio else None,
                        video.index if video else None, audio.index if audio else None, None,
                        video.width if video else 0, video.height if video else 0, source_bitrate,
                        _codecs(video, audio, "copy", "copy"))
    if not client.hls:
        raise ProfileError("profile", "this client can play this file neither directly nor over HLS")

    # Can the video (and audio) be copied into MPEG-TS segments?
    remux: list[str] = []
    if video is not None and video.codec in client.video_codecs and video.codec not in HLS_VIDEO_COPY:
        remux.append("video_codec_not_streamable")
    video_copy = (video is not None and profile is None and video.codec in client.video_codecs
                  and video.codec in HLS_VIDEO_COPY and not too_big and not too_fast)
    audio_copy = (audio is not None and not audio_copyable_reasons and audio.codec in HLS_AUDIO_COPY)
    if audio is not None and not audio_copyable_reasons and audio.codec not in HLS_AUDIO_COPY:
        remux.append("audio_codec_not_streamable")
    audio_mode: Literal["copy", "transcode"] | None = None if audio is None else "copy" if audio_copy else "transcode"

    if profile is None and (video_copy or (video is None and audio_copy)):
        bitrate = source_bitrate
        if bitrate and audio is not None and not audio_copy:
            bitrate = bitrate - (audio.bitrate or 0) + TRANSCODE_PROFILES["1080p"].audio_bitrate
        reasons = _unique(direct + [r for r in remux if r.startswith("audio")])
        return Decision("remux", reasons, "copy" if video else None, audio_mode, video.index if video else None,
                        audio.index if audio else None, None, video.width if video else 0,
                        video.height if video else 0, bitrate, _codecs(video, audio, "copy", audio_mode))

    reasons = ["profile_requested"] if profile is not None else _unique(direct + remux)
    if video is None:
        assert audio is not None  # probe refuses files with neither
        return Decision("transcode", reasons, None, "transcode", None, audio.index, None, 0, 0,
                        TRANSCODE_PROFILES["1080p"].audio_bitrate, _codecs(None, audio, None, "transcode"))
    chosen = _transcode_profile(video, client, limit, profile)
    width, height = _fit(video.width, video.height, min(chosen.max_width, client.max_width or chosen.max_width),
                         min(chosen.max_height, client.max_height or chosen.max_height))
    video_bitrate = chosen.video_bitrate
    audio_bitrate = chosen.audio_bitrate if audio is not None else 0
    if limit:
        video_bitrate = max(_MIN_VIDEO_BITRATE, min(video_bitrate, limit - audio_bitrate))
    return Decision("transcode", reasons, "transcode", "transcode" if audio else None, video.index,
                    audio.index if audio else None, chosen, width, height, video_bitrate + audio_bitrate,
                    _codecs(video, audio, "transcode", "transcode" if audio else None))


# --- helpers ---------------------------------------------------------------------------------------


def _names(key: str, value: Any, allowed: frozenset[str]) -> frozenset[str]:
    if not isinstance(value, list | tuple) or len(value) > _MAX_LIST:
        raise ProfileError(key, f"must be a list of at most {_MAX_LIST} names")
    names = set()
    for item in value:
        if not isinstance(item, str):
            raise ProfileError(key, "must be a list of names (strings)")
        name = item.strip().lower()
        name = _ALIASES.get(name, name)
        if name not in allowed:
            raise ProfileError(key, f"unknown name {item[:40]!r}; allowed: {', '.join(sorted(allowed))}")
        names.add(name)
    return frozenset(names)


def _default_audio(info: MediaInfo) -> AudioStream | None:
    return next((a for a in info.audio if a.default), info.audio[0] if info.audio else None)


def _chosen_audio(info: MediaInfo, audio_index: int | None) -> AudioStream | None:
    if audio_index is None:
        return _default_audio(info)
    for stream in info.audio:
        if stream.index == audio_index and not isinstance(audio_index, bool):
            return stream
    choices = ", ".join(str(a.index) for a in info.audio) or "none"
    raise ProfileError("audio_index", f"no audio stream {audio_index!r} in this file (audio streams: {choices})")


def _source_bitrate(info: MediaInfo) -> int | None:
    if info.bitrate:
        return info.bitrate
    if info.size and info.duration_seconds > 0:
        return round(info.size * 8 / info.duration_seconds)
    return None


def _too_big(width: int, height: int, client: ClientProfile) -> bool:
    return bool((client.max_width and width > client.max_width) or (client.max_height and height > client.max_height))


def _transcode_profile(video: VideoStream, client: ClientProfile, limit: int | None,
                       requested: str | None) -> TranscodeProfile:
    """The requested profile, else the smallest one holding the source frame among those that fit
    the client (no point in a 1080p budget for a 480p file), else the largest that fits."""
    if requested is not None:
        return TRANSCODE_PROFILES[requested]
    ordered = list(TRANSCODE_PROFILES.values())  # largest first
    fitting = [p for p in ordered
               if (not client.max_height or p.max_height <= client.max_height or p is ordered[-1])
               and (not client.max_width or p.max_width <= client.max_width or p is ordered[-1])
               and (not limit or p.bitrate <= limit or p is ordered[-1])]
    holding = [p for p in fitting if p.max_width >= video.width and p.max_height >= video.height]
    return holding[-1] if holding else fitting[0]


def _fit(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The source frame scaled down (never up) to fit the box, aspect kept, even sides."""
    if width <= 0 or height <= 0:
        return _even(box_width), _even(box_height)
    scale = min(1.0, box_width / width, box_height / height)
    return max(2, _even(width * scale)), max(2, _even(height * scale))


def _even(value: float) -> int:
    return int(round(value / 2) * 2)


def _unique(reasons: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(reasons))


_H264_PROFILES = {"constrained baseline": "42E0", "baseline": "4200", "main": "4D40", "extended": "5800",
                  "high": "6400", "high 10": "6E00", "high 4:2:2": "7A00", "high 4:4:4 predictive": "F400"}
_AUDIO_TAGS = {"aac": "mp4a.40.2", "mp3": "mp4a.40.34", "ac3": "ac-3", "eac3": "ec-3"}


def _codecs(video: VideoStream | None, audio: AudioStream | None, video_mode: str | None,
            audio_mode: str | None) -> str | None:
    """RFC 6381 codec tags of the output, best effort (the level of a copied stream is not probed: 4.0 assumed)."""
    tags = []
    if video is not None:
        if video_mode == "transcode" or video.codec == "h264":
            profile = "6400" if video_mode == "transcode" else _H264_PROFILES.get((video.profile or "").lower(),
                                                                                    "6400")
            tags.append(f"avc1.{profile}28")
        elif video.codec == "hevc":
            tags.append("hvc1.2.4.L120.90" if "10" in (video.profile or "") else "hvc1.1.6.L120.90")
        elif video.codec == "vp9":
            tags.append("vp09.00.40.08")
        elif video.codec == "vp8":
            tags.append("vp8")
        elif video.codec == "av1":
            tags.append("av01.0.08M.08")
    if audio is not None:
        if audio_mode == "transcode":
            tags.append("mp4a.40.2")
        elif audio.codec == "aac" and "he" in (audio.profile or "").lower():
            tags.append("mp4a.40.5")
        elif audio.codec in _AUDIO_TAGS:
            tags.append(_AUDIO_TAGS[audio.codec])
        elif audio.codec in ("opus", "vorbis", "flac"):
            tags.append(audio.codec)
    return ",".join(tags) or None

