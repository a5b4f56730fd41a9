"""What a video file's path says about it: title, year, season and episodes, version, extras.

:func:`parse_name` reads a path relative to the library root with guessit and then applies
what media servers agree on for folders:

- ``Movie Name (2010)/movie.mkv``: a generic file name takes the title and year from its folder;
- ``Show Name/Season 01/S01E02.mkv``: the series title comes from the show folder, the season
  from the ``Season NN`` folder (``Specials`` and ``Season 00`` are season 0);
- ``Movie (2010) - Director's Cut.mkv`` / ``Movie (2010) - 1080p.mkv``: the text after `` - ``
  names the version (``edition``), so versions of one movie can be told apart;
- trailers, featurettes, behind the scenes... (``Extras/``, ``Trailers/`` folders, ``-trailer``
  suffixes) are extras of the movie or show they sit in; ``sample`` files are samples.

Parsing never raises: a name nothing can be made of gives ``kind="unknown"``.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import re
import threading
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = ["EXTRA_TYPES", "ParsedName", "clean_title", "parse_name", "parse_name_async", "season_from_folder"]

Kind = Literal["movie", "episode", "unknown"]

EXTRA_TYPES = frozenset({"trailer", "featurette", "behind_the_scenes", "deleted_scene", "interview", "scene",
                         "short", "clip", "other", "extra", "theme"})
"""Values of :attr:`ParsedName.extra_type`."""

_EXTRA_FOLDERS = {
    "trailers": "trailer", "trailer": "trailer",
    "featurettes": "featurette", "featurette": "featurette",
    "behind the scenes": "behind_the_scenes", "behindthescenes": "behind_the_scenes", "making of": "behind_the_scenes",
    "deleted scenes": "deleted_scene", "deleted": "deleted_scene", "deletedscenes": "deleted_scene",
    "interviews": "interview", "interview": "interview",
    "scenes": "scene", "shorts": "short", "clips": "clip",
    "other": "other", "others": "other",
    "extras": "extra", "extra": "extra", "bonus": "extra", "bonus features": "extra", "special features": "extra",
    "backdrops": "theme", "theme-videos": "theme",
}
_SAMPLE_FOLDERS = {"sample", "samples"}
_EXTRA_SUFFIX = re.compile(
    r"(?i)(?:^|[\s._-])(?P<kind>trailer|featurette|behindthescenes|deletedscene|deleted|interview|scene|short|clip"
    r"|other|extra|theme)[\s._-]?\d{0,2}$")
_EXTRA_SUFFIX_TYPES = {"behindthescenes": "behind_the_scenes", "deletedscene": "deleted_scene",
                       "deleted": "deleted_scene"}
_SAMPLE_WORD = re.compile(r"(?i)(?:^|[\s._\-\[(])sample(?:$|[\s._\-\])\d])")

_SEASON_FOLDER = re.compile(
    r"(?i)^(?:season|series|staffel|saison|temporada|stagione|seizoen|sezon|s)[\s._-]*(?P<number>\d{1,4})"
    r"(?:\s*[\[(].*)?$")
_SPECIALS_FOLDER = re.compile(r"(?i)^(?:specials?|extras? season|season specials)$")
_EXPLICIT_SEASON = re.compile(r"(?i)(?:\bs\d{1,4}(?:\b|e)|\b\d{1,2}x\d{1,4}\b|season|saison|staffel|series)")
_FANSUB_PREFIX = re.compile(r"^\s*\[[^\]]+\]")

_TITLE_YEAR = re.compile(r"^(?P<title>.*?)[\s._]*[(\[]?(?P<year>(?:19|20)\d{2})[)\]]?(?=$|[\s._\-\[(])")
_VERSION_SUFFIX = re.compile(
    r"^(?P<base>.+?[(\[](?:19|20)\d{2}[)\]](?:\s*[\[{][^\]}]*[\]}])*)\s+-\s+(?P<label>\S.*)$")
_PLEX_EDITION = re.compile(r"(?i)\{edition-(?P<label>[^}]+)\}")
_FILE_PART = re.compile(r"(?i)(?:^|[\s._-])(?:cd|dvd|disc|disk|part|pt)[\s._-]*(?P<number>\d{1,2})$")
_ID_TAG = re.compile(
    r"(?i)[\[{](?P<kind>imdb|imdbid|tmdb|tmdbid|tvdb|tvdbid)[-=](?P<id>tt\d{5,10}|\d{1,10})[\]}]")
_BRACKETS = re.compile(r"[\[{][^\]}]*[\]}]")
_SPACES = re.compile(r"\s+")

_GENERIC_NAMES = frozenset({"movie", "film", "video", "feature", "main", "title", "untitled", "vts", "bdmv",
                            "index", "stream", "playlist", "default"})
_VIDEO_EXTENSIONS = frozenset({"mkv", "mp4", "m4v", "avi", "mov", "wmv", "mpg", "mpeg", "ts", "m2ts", "mts",
                               "webm", "flv", "ogv", "3gp", "vob", "iso", "divx", "rmvb", "strm"})

_OTHER_EXTENSIONS = frozenset({"nfo", "txt", "srt", "ass", "ssa", "vtt", "sub", "idx", "sup", "jpg", "jpeg", "png",
                               "webp", "tbn", "gif", "bmp", "xml", "json", "md", "log", "url", "db", "ini", "sfv",
                               "par2", "rar", "zip", "7z", "exe", "mp3", "flac", "m4a", "aac", "ogg", "opus", "wav"})


@attrs.frozen
class ParsedName:
    """What a path says about a video file.

    :param kind: ``"movie"``, ``"episode"`` or ``"unknown"`` when nothing usable was found.
    :param title: movie title, or the series title for an episode (for an extra: the title of
        the movie or show it belongs to, when known).
    :param year: release year (for a series: the year in its folder name, ``Doctor Who (2005)``).
    :param season: season number; ``0`` for specials; ``None`` when the path names none (then
        ``episodes`` are absolute numbers, as in anime releases).
    :param episodes: episode numbers, several for multi-episode files (``S01E02E03``,
        ``S01E02-E04``, ``1x03-1x04``); empty for movies and daily shows.
    :param air_date: the date of a daily show (``Show.2024.03.15.mkv``).
    :param absolute_episode: the absolute episode number when the name gives no season
        (``[Group] Show - 1071 [1080p].mkv``) or gives it besides the season.
    :param edition: the version label telling versions of one movie apart (``Director's Cut``,
        ``Extended``, ``1080p``); see also :attr:`version`.
    :param part: the part of a movie split into files (``cd1``, ``part2``, ``disc1``).
    :param screen_size: ``1080p``, ``2160p``... as the name says (not probed).
    :param source: ``Blu-ray``, ``Web``, ``HDTV``... as guessit names it.
    :param release_group: the scene or fansub group.
    :param is_sample: a sample clip (``sample`` in the name, a ``Sample/`` folder).
    :param is_extra: a trailer, featurette, behind the scenes... of a movie or show.
    :param extra_type: one of :data:`EXTRA_TYPES` when ``is_extra``.
    :param extra_title: the extra's own title (``Making of`` for ``Extras/Making of.mkv``).
    :param episode_title: the episode title the name carries, if any.
    :param external_ids: ids written into the name: ``[imdbid-tt0133093]``, ``{tmdb-603}``,
        ``[tvdbid-81189]`` as ``{"imdb": "tt0133093", "tmdb": "603"}``.
    :param container: the file extension, lower case, without the dot.
    :param country: ISO 3166-1 alpha-2 code a title carries to tell remakes apart
        (``The Office (US)`` -> title ``The Office``, country ``US``).
    """

    kind: Kind
    title: str | None = None
    year: int | None = None
    season: int | None = None
    episodes: tuple[int, ...] = attrs.field(default=(), converter=tuple)
    air_date: datetime.date | None = None
    absolute_episode: int | None = None
    edition: str | None = None
    part: int | None = None
    screen_size: str | None = None
    source: str | None = None
    release_group: str | None = None
    is_sample: bool = False
    is_extra: bool = False
    extra_type: str | None = None
    extra_title: str | None = None
    episode_title: str | None = None
    external_ids: Mapping[str, str] = attrs.field(factory=dict)
    container: str | None = None
    country: str | None = None

    @property
    def episode(self) -> int | None:
        """The first episode number, if any."""
        return self.episodes[0] if self.episodes else None

    @property
    def version(self) -> str | None:
        """The version label; the same as :attr:`edition`."""
        return self.edition


def clean_title(text: str) -> str:
    """A display title from a folder or file name.

    Dots and underscores used as spaces become spaces (``The.Matrix`` -> ``The Matrix``; a
    title that already has spaces keeps its dots: ``Mr. Robot``), ``[tags]`` and ``{tags}`` and
    a trailing ``(year)`` are dropped, and runs of white space collapse.
    """
    text = unicodedata.normalize("NFC", text or "")
    text = _BRACKETS.sub(" ", text)
    if " " not in text.strip():
        text = re.sub(r"(?<!\b[A-Za-z])[._]|_", " ", text)
        text = re.sub(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]{2})", " ", text)
    text = re.sub(r"\s*\((?:19|20)\d{2}\)\s*$", "", text)
    return _SPACES.sub(" ", text).strip(" -._")


def season_from_folder(name: str) -> int | None:
    """The season a folder name stands for: ``Season 01`` -> 1, ``Specials`` -> 0, else ``None``."""
    name = name.strip()
    if _SPECIALS_FOLDER.match(name):
        return 0
    match = _SEASON_FOLDER.match(name)
    return int(match["number"]) if match else None


_PARSING = threading.Lock()


async def parse_name_async(relative_path: str, *, kind: Kind | None = None) -> ParsedName:
    """:func:`parse_name` on a worker thread: guessit spends 15–30 ms of CPU on a name, which
    would stall every other request if a scan ran it on the event loop. One parse at a time,
    as guessit does not promise to be thread-safe."""

    def parse() -> ParsedName:
        with _PARSING:
            return parse_name(relative_path, kind=kind)

    return await asyncio.to_thread(parse)


def parse_name(relative_path: str, *, kind: Kind | None = None) -> ParsedName:
    """Parse a video file's path relative to its library root.

    :param relative_path: e.g. ``Show Name/Season 01/Show Name - S01E02.mkv``; ``\\`` counts as ``/``.
    :param kind: ``"movie"`` or ``"episode"`` when the caller knows (a movie library parses
        ``Movie S01E01 (2010).mkv`` as a movie); ``None`` lets the name decide.
    """
    parts = [p for p in relative_path.replace("\\", "/").split("/") if p and p != "."]
    if not parts:
        return ParsedName(kind="unknown")
    file_name, folders = parts[-1], parts[:-1]
    stem, container = _split_extension(file_name)
    if container is None and file_name.rpartition(".")[2].lower() in _OTHER_EXTENSIONS:
        return ParsedName(kind="unknown")

    extra_type, owner_folders, extra_title = _extra_facts(stem, folders)
    sample = _is_sample(stem, folders)
    season_dir = season_from_folder(owner_folders[-1]) if owner_folders else None
    show_folders = owner_folders[:-1] if season_dir is not None else owner_folders

    hint = kind if kind in ("movie", "episode") else ("episode" if season_dir is not None else None)
    guess = _guess(file_name, hint)
    ids = _external_ids(stem, guess, folders)

    is_episode = hint == "episode" or (hint is None and _looks_like_episode(guess))
    if is_episode:
        parsed = _episode(stem, guess, season_dir, show_folders)
    else:
        parsed = _movie(stem, guess, owner_folders, extra=extra_type is not None)
    if parsed["kind"] == "unknown" and extra_type is None and not sample:
        return ParsedName(kind="unknown", container=container, external_ids=ids)
    return ParsedName(
        **parsed,
        screen_size=_text(guess.get("screen_size")),
        source=_text(guess.get("source")),
        release_group=None if sample and str(guess.get("release_group", "")).lower() == "sample"
        else _release_group(guess, parsed.get("edition")),
        is_sample=sample,
        is_extra=extra_type is not None,
        extra_type=extra_type,
        extra_title=extra_title,
        external_ids=ids,
        container=container,
    )


# --- the two kinds --------------------------------------------------------------------------------


def _movie(stem: str, guess: Mapping[str, Any], folders: list[str], *, extra: bool) -> dict[str, Any]:
    title = _text(guess.get("title"))
    year = _int(guess.get("year"))
    part = _file_part(stem)
    if guess.get("part") is not None and part is None and title:
        # "Harry Potter and the Deathly Hallows Part 2 (2011)": the part belongs to the title.
        match = _TITLE_YEAR.match(_BRACKETS.sub(" ", stem))
        if match and match["title"].strip():
            title = clean_title(match["title"])
    folder = _folder_guess(folders[-1]) if folders else {}
    folder_title, folder_year = _text(folder.get("title")), _int(folder.get("year"))
    generic = title is None or _is_generic(title)
    if extra or (folder_title and folder_year and (generic or year is None or year == folder_year)):
        if folder_title and (folder_year or generic or extra):
            title, year = clean_title(folder_title), folder_year
    elif generic and folder_title:
        title, year = clean_title(folder_title), folder_year or year
    if title is None:
        return {"kind": "unknown"}
    return {"kind": "movie", "title": clean_title(title) or None, "year": year,
            "edition": _edition(stem, guess), "part": part, "country": _country(guess.get("country"))}


def _episode(stem: str, guess: Mapping[str, Any], season_dir: int | None, show_folders: list[str]) -> dict[str, Any]:
    episodes = _int_tuple(guess.get("episode"))
    season = _int(guess.get("season")) if not isinstance(guess.get("season"), list) else _int(guess["season"][0])
    air_date = guess.get("date") if isinstance(guess.get("date"), datetime.date) else None
    absolute = _int(guess.get("absolute_episode"))
    explicit_season = bool(_EXPLICIT_SEASON.search(stem))
    if season is not None and not explicit_season and season_dir is None and episodes and (
            season == 0 or _FANSUB_PREFIX.match(stem)):
        # guessit reads "Show - 001" as season 0, "[Group] Show 1071" as 10x71: both are absolute.
        digits = re.findall(r"(?<!\d)\d{3,4}(?!\d)", stem)
        episodes = (int(digits[0]),) if digits else episodes
        season = None
    if season is None and season_dir is not None and not explicit_season:
        season = season_dir
    if season is None and episodes and absolute is None:
        absolute = episodes[0]
    file_title = title = _text(guess.get("title"))
    year = _int(guess.get("year"))
    country = _country(guess.get("country"))
    show = _folder_guess(show_folders[-1]) if show_folders else {}
    if show.get("title") and not show.get("episode") and not show.get("season"):
        title, year = _text(show["title"]), _int(show.get("year")) or year
        country = _country(show.get("country")) or country
    episode_title = _text(guess.get("episode_title"))
    if episodes == () and air_date is None and season is None and title is None:
        return {"kind": "unknown"}
    if episode_title is None and not episodes and air_date is None and file_title and title \
            and clean_title(file_title).lower() != clean_title(title).lower():
        # "Show/Season 1/Pilot.mkv": the name is the episode's title, not the show's.
        episode_title = clean_title(file_title)
    return {"kind": "episode", "title": clean_title(title) if title else None, "year": year, "season": season,
            "episodes": episodes, "air_date": air_date, "absolute_episode": absolute,
            "episode_title": episode_title, "part": _file_part(stem), "country": country}


# --- helpers --------------------------------------------------------------------------------------


def _split_extension(file_name: str) -> tuple[str, str | None]:
    stem, dot, ext = file_name.rpartition(".")
    if dot and stem and ext.lower() in _VIDEO_EXTENSIONS:
        return stem, ext.lower()
    return file_name, None


@functools.lru_cache(maxsize=4096)
def _guess_cached(text: str, kind: str | None) -> tuple[tuple[str, Any], ...]:
    from guessit import guessit

    options: dict[str, Any] = {"type": kind} if kind else {}
    try:
        return tuple(dict(guessit(text, options)).items())
    except Exception:  # guessit raises GuessitException on inputs its rules trip over
        return ()


def _guess(text: str, kind: str | None) -> dict[str, Any]:
    return dict(_guess_cached(text, kind))


def _folder_guess(folder: str) -> dict[str, Any]:
    return _guess(folder, None)


def _looks_like_episode(guess: Mapping[str, Any]) -> bool:
    if guess.get("type") == "episode":
        return guess.get("episode") is not None or guess.get("season") is not None or guess.get("date") is not None
    return isinstance(guess.get("date"), datetime.date) and guess.get("title") is not None


def _extra_facts(stem: str, folders: list[str]) -> tuple[str | None, list[str], str | None]:
    """(extra type, the folders of the movie or show owning the file, the extra's own title)."""
    for i in range(len(folders) - 1, -1, -1):
        kind = _EXTRA_FOLDERS.get(folders[i].strip().lower())
        if kind is not None:
            return kind, folders[:i], clean_title(stem) or None
    match = _EXTRA_SUFFIX.search(stem)
    if match is not None:
        word = match["kind"].lower()
        own = clean_title(stem[: match.start()]) or None
        return _EXTRA_SUFFIX_TYPES.get(word, word), folders, own
    if stem.strip().lower() in ("trailer", "theme"):
        return stem.strip().lower(), folders, None
    return None, [f for f in folders if f.strip().lower() not in _SAMPLE_FOLDERS], None


def _is_sample(stem: str, folders: list[str]) -> bool:
    return bool(_SAMPLE_WORD.search(stem)) or any(f.strip().lower() in _SAMPLE_FOLDERS for f in folders)


def _is_generic(title: str) -> bool:
    word = re.sub(r"[\d\s._-]+$", "", title.strip().lower())
    return word in _GENERIC_NAMES or len(word) < 2


def _edition(stem: str, guess: Mapping[str, Any]) -> str | None:
    plex = _PLEX_EDITION.search(stem)
    if plex:
        return plex["label"].strip() or None
    match = _VERSION_SUFFIX.match(stem.strip())
    if match:
        label = match["label"].strip()
        if not _FILE_PART.match(" " + label):
            label = _BRACKETS.sub(lambda m: m.group(0)[1:-1], label).strip(" -")
            if label:
                return label
    edition = guess.get("edition")
    if isinstance(edition, list):
        return " ".join(str(e) for e in edition)
    return _text(edition)


def _file_part(stem: str) -> int | None:
    match = _FILE_PART.search(_BRACKETS.sub(" ", stem).strip())
    return int(match["number"]) if match else None


def _release_group(guess: Mapping[str, Any], edition: str | None) -> str | None:
    group = _text(guess.get("release_group"))
    if group and edition and group.lower() in edition.lower():
        return None  # "Movie (2010) - Extended Edition": "Edition" is no group
    return group


def _external_ids(stem: str, guess: Mapping[str, Any], folders: list[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for text in (*folders, stem):
        for match in _ID_TAG.finditer(text):
            kind = match["kind"].lower().removesuffix("id")
            ids[kind] = match["id"].lower() if kind == "imdb" else match["id"]
    if "imdb" not in ids and isinstance(guess.get("imdb_id"), str):
        ids["imdb"] = guess["imdb_id"]
    return ids


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    text = str(value).strip()
    return text or None


def _country(value: Any) -> str | None:
    code = getattr(value[0] if isinstance(value, list) and value else value, "alpha2", None)
    return str(code) if code else None


def _int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _int_tuple(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    numbers: list[int] = []
    for v in values:
        number = _int(v)
        if number is not None and number not in numbers:
            numbers.append(number)
    return tuple(sorted(numbers))
