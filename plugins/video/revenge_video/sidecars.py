"""Files that travel with a video: external subtitles, local artwork and NFO files.

:func:`find_sidecars` looks only at file *names* the caller already listed (the file's folder
and its parent folder), so it does no I/O and cannot be led outside the library. The naming
rules are those of Kodi, Jellyfin and Plex:

- subtitles: ``Movie.srt``, ``Movie.en.srt``, ``Movie.eng.forced.srt``, ``Movie.de.sdh.ass``,
  ``Movie.pt-BR.vtt``, ``Movie.sub`` + ``Movie.idx`` (VobSub);
- movie artwork: ``poster.jpg``/``folder.jpg``/``cover.jpg``, ``fanart.jpg``/``backdrop.jpg``,
  ``logo.png``, ``clearart.png``, ``banner.jpg``, ``disc.png``, ``landscape.jpg`` in the movie's
  own folder, and ``<name>-poster.jpg``, ``<name>-fanart.jpg``... anywhere;
- series artwork in the show folder (``poster.jpg``, ``fanart.jpg``, ``banner.jpg``,
  ``season01-poster.jpg``, ``season-specials-poster.jpg``), season artwork in the season folder
  (``Season 01/folder.jpg``), episode stills as ``<episode name>-thumb.jpg``;
- NFO: ``<name>.nfo``, ``movie.nfo``, ``tvshow.nfo``, ``season.nfo``.

:func:`subtitle_to_webvtt` converts SubRip and ASS/SSA text to WebVTT for browsers.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Literal

import attrs

from revenge_hookspecs.media import ARTWORK_KINDS

from .names import parse_name, season_from_folder

__all__ = ["ArtworkFile", "Sidecars", "SubtitleFile", "find_artwork", "find_nfo", "find_sidecars",
           "find_subtitles", "normalize_language", "subtitle_to_webvtt"]

Level = Literal["movie", "series", "season", "episode"]

SUBTITLE_FORMATS = {"srt": "subrip", "ass": "ass", "ssa": "ssa", "vtt": "webvtt", "sub": "microdvd", "sup": "pgs",
                    "smi": "sami"}
"""Subtitle file extensions and the format each stands for (``.sub`` beside an ``.idx`` is ``vobsub``)."""
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "tbn")
VIDEO_EXTENSIONS = frozenset({"mkv", "mp4", "m4v", "avi", "mov", "wmv", "mpg", "mpeg", "ts", "m2ts", "webm", "flv",
                              "ogv", "3gp", "vob", "divx", "iso", "strm"})

_ART_WORDS = {
    "poster": "poster", "folder": "poster", "cover": "poster", "default": "poster", "movie": "poster",
    "show": "poster", "keyart": "poster", "jacket": "poster",
    "fanart": "backdrop", "backdrop": "backdrop", "background": "backdrop", "art": "backdrop",
    "logo": "logo", "clearlogo": "logo",
    "banner": "banner",
    "thumb": "thumb", "landscape": "thumb",
    "clearart": "clearart",
    "disc": "disc", "discart": "disc", "cdart": "disc",
}
_NUMBERED_ART = re.compile(r"^(?P<word>[a-z]+?)-?(?P<number>\d{1,2})?$")
_SEASON_ART = re.compile(
    r"^season(?:[\s_-]?(?P<number>\d{1,4})|-(?P<special>specials)|-(?P<all>all))-(?P<word>[a-z]+)$")
_FORCED = {"forced", "foreign"}
_SDH = {"sdh", "cc", "hi", "hoh"}
_DEFAULT = {"default"}
_NOT_LANGUAGES = frozenset({"forced", "foreign", "sdh", "cc", "hi", "hoh", "default", "full", "signs", "songs",
                            "commentary", "sub", "subs", "track"})


@attrs.frozen
class SubtitleFile:
    """An external subtitle file.

    :param path: its path relative to the library root (``/`` separators).
    :param language: ISO 639-2/B (``eng``, ``ger``, ``fre``, ``por``), ``None`` when the name says none.
    :param language_tag: the BCP 47 tag (``en``, ``de``, ``pt-BR``, ``zh-Hant``).
    :param format: ``subrip``, ``ass``, ``ssa``, ``webvtt``, ``vobsub``, ``microdvd``, ``pgs``, ``sami``.
    :param sdh: for the deaf and hard of hearing (``sdh``, ``cc``, ``hi`` in the name).
    :param title: name parts that are neither language nor flags (``Commentary``), if any.
    :param index_path: the ``.idx`` of a VobSub pair.
    """

    path: str
    format: str
    language: str | None = None
    language_tag: str | None = None
    forced: bool = False
    sdh: bool = False
    default: bool = False
    title: str | None = None
    index_path: str | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def text_based(self) -> bool:
        """Convertible to WebVTT by :func:`subtitle_to_webvtt`."""
        return self.format in ("subrip", "ass", "ssa", "webvtt")


@attrs.frozen
class ArtworkFile:
    """A local image.

    :param path: relative to the library root.
    :param kind: one of :data:`~revenge_hookspecs.media.ARTWORK_KINDS`.
    :param level: whom it shows: the ``movie``, the ``series``, a ``season`` or an ``episode``.
    :param season: the season number for ``level="season"`` (0 for specials).
    """

    path: str
    kind: str = attrs.field(validator=attrs.validators.in_(ARTWORK_KINDS))
    level: Level
    season: int | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


@attrs.frozen
class Sidecars:
    """What :func:`find_sidecars` found for one video; paths are relative to the library root."""

    subtitles: tuple[SubtitleFile, ...] = attrs.field(default=(), converter=tuple)
    artwork: tuple[ArtworkFile, ...] = attrs.field(default=(), converter=tuple)
    nfo: str | None = None
    series_nfo: str | None = None
    season_nfo: str | None = None

    def artwork_for(self, level: Level, kind: str | None = None) -> tuple[ArtworkFile, ...]:
        return tuple(a for a in self.artwork if a.level == level and (kind is None or a.kind == kind))


def find_sidecars(relative_path: str, folder_files: Iterable[str], parent_files: Iterable[str] = (), *,
                  kind: Literal["movie", "episode"] | None = None) -> Sidecars:
    """Subtitles, artwork and NFO files of one video.

    :param relative_path: the video's path relative to the library root.
    :param folder_files: names of the files in the video's folder (the video itself may be among them).
    :param parent_files: names of the files in the folder above (the show folder of an episode
        in a ``Season NN`` folder).
    :param kind: ``"movie"`` or ``"episode"``; parsed from the path when ``None``.
    """
    folder_files = _names(folder_files)
    parent_files = _names(parent_files)
    if kind is None:
        kind = "episode" if parse_name(relative_path).kind == "episode" else "movie"
    return Sidecars(
        subtitles=find_subtitles(relative_path, folder_files),
        artwork=find_artwork(relative_path, folder_files, parent_files, kind=kind),
        **find_nfo(relative_path, folder_files, parent_files, kind=kind),
    )


def find_subtitles(relative_path: str, folder_files: Iterable[str]) -> tuple[SubtitleFile, ...]:
    """External subtitles of a video among the names in its folder.

    A subtitle belongs to the video when its name starts with the video's name followed by
    ``.`` (``Movie.en.forced.srt``); in a folder holding one video, language-only names
    (``eng.srt``, ``English.forced.srt``) belong to it too.
    """
    folder, stem = _folder_and_stem(relative_path)
    names = _names(folder_files)
    own_folder = _single_video(names, stem)
    lower_names = {n.lower(): n for n in names}
    found: list[SubtitleFile] = []
    for name in names:
        base, dot, extension = name.rpartition(".")
        extension = extension.lower()
        if not dot or extension not in SUBTITLE_FORMATS:
            continue
        if base.lower() == stem.lower():
            tags: list[str] = []
        elif base.lower().startswith(stem.lower() + "."):
            tags = base[len(stem) + 1:].split(".")
        elif own_folder and _all_subtitle_tags(base.split(".")):
            tags = base.split(".")
        else:
            continue
        index_name = lower_names.get(f"{base}.idx".lower()) if extension == "sub" else None
        found.append(_subtitle(_join(folder, name), extension, tags, _join(folder, index_name) if index_name else None))
    return tuple(sorted(found, key=lambda s: (s.language or "~", s.forced, s.sdh, s.path)))


def find_artwork(relative_path: str, folder_files: Iterable[str], parent_files: Iterable[str] = (), *,
                 kind: Literal["movie", "episode"] = "movie") -> tuple[ArtworkFile, ...]:
    """Local images of a movie, or of an episode with its season and series (see the module docs)."""
    folder, stem = _folder_and_stem(relative_path)
    names = _names(folder_files)
    found: list[ArtworkFile] = []
    if kind == "movie":
        found += _named_art(folder, names, stem, "movie", plain_kind="poster")
        if _single_video(names, stem):
            found += _generic_art(folder, names, "movie")
        return _unique(found)

    found += _named_art(folder, names, stem, "episode", plain_kind="thumb")
    folder_name = posixpath.basename(folder)
    season = season_from_folder(folder_name) if folder else None
    if season is not None:
        found += _generic_art(folder, names, "season", season=season)
        show_folder = posixpath.dirname(folder)
        show_names = _names(parent_files)
    else:
        show_folder, show_names = folder, names
    found += _generic_art(show_folder, show_names, "series")
    found += _season_art(show_folder, show_names)
    return _unique(found)


def find_nfo(relative_path: str, folder_files: Iterable[str], parent_files: Iterable[str] = (), *,
             kind: Literal["movie", "episode"] = "movie") -> dict[str, str | None]:
    """The NFO files of a video: ``{"nfo": ..., "series_nfo": ..., "season_nfo": ...}`` (relative paths or ``None``).

    A movie's NFO is ``<name>.nfo``, else ``movie.nfo`` in its own folder; an episode's is
    ``<name>.nfo``; ``tvshow.nfo`` sits in the show folder and ``season.nfo`` in the season folder.
    """
    folder, stem = _folder_and_stem(relative_path)
    names = {n.lower(): n for n in _names(folder_files)}
    parents = {n.lower(): n for n in _names(parent_files)}
    result: dict[str, str | None] = {"nfo": None, "series_nfo": None, "season_nfo": None}
    own = names.get(f"{stem}.nfo".lower())
    if own:
        result["nfo"] = _join(folder, own)
    if kind == "movie":
        if own is None and "movie.nfo" in names and _single_video(list(names.values()), stem):
            result["nfo"] = _join(folder, names["movie.nfo"])
        return result
    if folder and season_from_folder(posixpath.basename(folder)) is not None:
        if "season.nfo" in names:
            result["season_nfo"] = _join(folder, names["season.nfo"])
        if "tvshow.nfo" in parents:
            result["series_nfo"] = _join(posixpath.dirname(folder), parents["tvshow.nfo"])
    elif "tvshow.nfo" in names:
        result["series_nfo"] = _join(folder, names["tvshow.nfo"])
    return result


# --- languages --------------------------------------------------------------------------------------


def normalize_language(code: str) -> tuple[str, str] | None:
    """``(ISO 639-2/B, BCP 47)`` for a language code or English name, else ``None``.

    >>> normalize_language("de"), normalize_language("deu"), normalize_language("pt-BR")
    (('ger', 'de'), ('ger', 'de'), ('por', 'pt-BR'))
    """
    from babelfish import Error as BabelfishError
    from babelfish import Language

    text = code.strip()
    if not text or text.lower() in _NOT_LANGUAGES or not re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*"
                                                                       r"|[A-Za-z][A-Za-z ]{3,30}", text):
        return None
    attempts: list[tuple[str, str]] = []
    if re.fullmatch(r"[A-Za-z]{2,3}[-_][A-Za-z0-9-_]+", text):
        attempts.append(("ietf", text.replace("_", "-")))
    elif len(text) == 2:
        attempts.append(("alpha2", text.lower()))
    elif len(text) == 3:
        attempts += [("alpha3b", text.lower()), ("alpha3t", text.lower())]
    else:
        attempts.append(("name", text.title()))
    for converter, value in attempts:
        try:
            language = Language.fromietf(value) if converter == "ietf" else Language.fromcode(value, converter)
        except (BabelfishError, ValueError, KeyError):
            continue
        try:
            alpha3b = language.alpha3b
        except BabelfishError:
            alpha3b = language.alpha3
        return alpha3b, str(language)
    return None


# --- WebVTT -----------------------------------------------------------------------------------------

_VTT_TAG = re.compile(r"</?(?:i|b|u|c|v|lang|ruby|rt)(?:[.\s][^<>]*)?>|<\d{2}:\d{2}[:.\d]*>")
_TIMING = re.compile(r"^\s*(?:\d+:)?\d{2}:\d{2}[.,]\d{3}\s+-->")


def subtitle_to_webvtt(text: str | bytes, format: str) -> str:
    """Convert subtitle text to WebVTT.

    :param text: the subtitle file's content (bytes are decoded as UTF-8, else cp1252).
    :param format: ``subrip``/``srt``, ``ass``, ``ssa`` or ``webvtt``/``vtt``.
    :raises ValueError: an unsupported format or text that is not that format.
    """
    import pysubs2

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = text.decode("cp1252", errors="replace")
    text = text.lstrip("\ufeff")
    fmt = {"subrip": "srt", "srt": "srt", "ass": "ass", "ssa": "ssa", "webvtt": "vtt", "vtt": "vtt"}.get(
        (format or "").lower().lstrip("."))
    if fmt is None:
        raise ValueError(f"cannot convert {format!r} subtitles to WebVTT; supported: subrip, ass, ssa, webvtt")
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except Exception as exc:
        raise ValueError(f"not valid {fmt} subtitles: {exc}") from None
    subs.events = [e for e in subs.events if not e.is_comment and not e.is_drawing and e.plaintext.strip()]
    subs.sort()
    return _escape_vtt(subs.to_string("vtt"))


def _escape_vtt(vtt: str) -> str:
    out = []
    for line in vtt.split("\n"):
        if line.startswith("WEBVTT") or _TIMING.match(line) or not line:
            out.append(line)
            continue
        line = re.sub(r"&(?!(?:amp|lt|gt|nbsp|lrm|rlm|#\d+|#x[0-9a-fA-F]+);)", "&amp;", line)
        pieces, last = [], 0
        for match in _VTT_TAG.finditer(line):
            pieces.append(line[last:match.start()].replace("<", "&lt;").replace(">", "&gt;"))
            pieces.append(match.group(0))
            last = match.end()
        pieces.append(line[last:].replace("<", "&lt;").replace(">", "&gt;"))
        out.append("".join(pieces))
    return "\n".join(out)


# --- helpers -------------------------------------------------------------------------------------------


def _names(files: Iterable[str]) -> list[str]:
    return [posixpath.basename(str(f).replace("\\", "/")) for f in files if f and str(f).strip()]


def _folder_and_stem(relative_path: str) -> tuple[str, str]:
    path = relative_path.replace("\\", "/").strip("/")
    folder, name = posixpath.split(path)
    stem, dot, _extension = name.rpartition(".")
    return folder, stem if dot and stem else name


def _join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


def _subtitle(path: str, extension: str, tags: list[str], index_path: str | None) -> SubtitleFile:
    language = tag = None
    forced = sdh = default = False
    rest: list[str] = []
    for raw in tags:
        token = raw.strip()
        lower = token.lower()
        if not token:
            continue
        if lower in _FORCED:
            forced = True
        elif lower in _SDH:
            sdh = True
        elif lower in _DEFAULT:
            default = True
        elif language is None and (normalized := normalize_language(token)) is not None:
            language, tag = normalized
        else:
            rest.append(token)
    fmt = "vobsub" if extension == "sub" and index_path else SUBTITLE_FORMATS[extension]
    return SubtitleFile(path=path, format=fmt, language=language, language_tag=tag, forced=forced, sdh=sdh,
                        default=default, title=" ".join(rest) or None, index_path=index_path)


def _all_subtitle_tags(tags: list[str]) -> bool:
    has_language = False
    for token in tags:
        lower = token.strip().lower()
        if lower in _FORCED or lower in _SDH or lower in _DEFAULT:
            continue
        if normalize_language(token) is None:
            return False
        has_language = True
    return has_language


def _video_base(stem: str) -> str:
    """What identifies a movie among versions and parts: ``Movie (2010) - 1080p`` -> ``movie (2010)``."""
    base = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stem)
    base = re.sub(r"(?i)[\s._-]+(?:cd|dvd|disc|disk|part|pt)[\s._-]*\d{1,2}$", "", base)
    base = re.sub(r"(?i)[\s._-]+(?:trailer|sample|featurette|behindthescenes|deleted|interview|scene|short|clip"
                  r"|other|extra)\d{0,2}$", "", base)
    match = re.match(r"^(.*?\((?:19|20)\d{2}\))", base)
    if match:
        base = match.group(1)
    return re.sub(r"\s+", " ", base).strip(" -._").lower()


def _single_video(names: list[str], stem: str) -> bool:
    """Does the folder hold just this movie (its versions, parts, trailers and samples count as it)?"""
    mine = _video_base(stem)
    for name in names:
        other, dot, extension = name.rpartition(".")
        if dot and extension.lower() in VIDEO_EXTENSIONS and _video_base(other) != mine:
            return False
    return True


def _art_kind(word: str) -> str | None:
    match = _NUMBERED_ART.match(word)
    return _ART_WORDS.get(match["word"]) if match else None


def _image_stem(name: str) -> str | None:
    stem, dot, extension = name.rpartition(".")
    return stem if dot and stem and extension.lower() in IMAGE_EXTENSIONS else None


def _generic_art(folder: str, names: list[str], level: Level, *, season: int | None = None) -> list[ArtworkFile]:
    found = []
    for name in names:
        stem = _image_stem(name)
        kind = _art_kind(stem.lower()) if stem else None
        if kind is not None and not (level != "movie" and stem and stem.lower() == "movie"):
            found.append(ArtworkFile(path=_join(folder, name), kind=kind, level=level, season=season))
    return found


def _named_art(folder: str, names: list[str], stem: str, level: Level, *, plain_kind: str) -> list[ArtworkFile]:
    found = []
    prefix = stem.lower()
    for name in names:
        image = _image_stem(name)
        if image is None:
            continue
        lower = image.lower()
        if lower == prefix:
            found.append(ArtworkFile(path=_join(folder, name), kind=plain_kind, level=level))
        elif lower.startswith(prefix + "-") or lower.startswith(prefix + "."):
            kind = _art_kind(lower[len(prefix) + 1:])
            if kind is not None:
                found.append(ArtworkFile(path=_join(folder, name), kind=kind, level=level))
    return found


def _season_art(folder: str, names: list[str]) -> list[ArtworkFile]:
    found = []
    for name in names:
        stem = _image_stem(name)
        match = _SEASON_ART.match(stem.lower()) if stem else None
        if match is None:
            continue
        kind = _art_kind(match["word"])
        if kind is None:
            continue
        if match["all"]:
            found.append(ArtworkFile(path=_join(folder, name), kind=kind, level="series"))
        else:
            number = 0 if match["special"] else int(match["number"])
            found.append(ArtworkFile(path=_join(folder, name), kind=kind, level="season", season=number))
    return found


def _unique(found: list[ArtworkFile]) -> tuple[ArtworkFile, ...]:
    order = {"movie": 0, "series": 1, "season": 2, "episode": 3}
    return tuple(sorted(dict.fromkeys(found), key=lambda a: (order[a.level], a.season or 0, a.kind, a.path)))
