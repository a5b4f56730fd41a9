"""What a file and its neighbours say before any provider is asked.

For a file on local storage: tvshow.nfo, season.nfo and the episode's NFO, external subtitles
and local artwork (found by :mod:`revenge_video.sidecars` among the names in the file's folder
and the one above), and what probing finds inside the file. Only the two folders are listed,
only regular files inside the library root are read, and NFOs are read up to their size limit.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from revenge_hookspecs.media import MediaFile
from revenge_video.nfo import MAX_NFO_BYTES, NfoDocument, parse_nfo
from revenge_video.probe import MediaInfo, ProbeError, probe_async
from revenge_video.sidecars import Sidecars, find_sidecars

from .enrich import parse_date
from .store import EpisodeTarget


@attrs.frozen
class ShowFacts:
    """What tvshow.nfo says: column values (plus ``genres``/``networks``) and external ids."""

    fields: Mapping[str, Any] = attrs.field(factory=dict)
    external_ids: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class FileFound:
    """Everything local about one episode file."""

    sidecars: Sidecars
    series_nfo: str | None = None
    season_fields: Mapping[str, Any] = attrs.field(factory=dict)
    episode_fields: Mapping[tuple[int, int], Mapping[str, Any]] = attrs.field(factory=dict)
    info: MediaInfo | None = None
    probe_error: str | None = None


def library_root(media: MediaFile) -> Path | None:
    """The library folder on this machine, from the file's local path and relative path."""
    if media.local_path is None:
        return None
    local = Path(media.local_path)
    depth = len([p for p in media.relative_path.split("/") if p])
    if depth == 0 or len(local.parts) <= depth:
        return None
    return local.parents[depth - 1]


def _inside(root: Path, relative: str) -> Path | None:
    """The local file of a path relative to the root, if it is a regular file inside the root."""
    path = root / relative
    try:
        real, real_root = os.path.realpath(path), os.path.realpath(root)
    except OSError:
        return None
    if not real.startswith(real_root.rstrip(os.sep) + os.sep) or not os.path.isfile(real):
        return None
    return Path(real)


def local_file(media: MediaFile, relative: str) -> str | None:
    """The local path of a sidecar of ``media`` (``None`` when it is not a file inside the library)."""
    root = library_root(media)
    found = _inside(root, relative) if root is not None else None
    return str(found) if found is not None else None


def _listing(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(folder) if not entry.name.startswith(".")]
    except OSError:
        return []


def _read_nfo(root: Path, relative: str | None) -> NfoDocument | None:
    path = _inside(root, relative) if relative else None
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_NFO_BYTES + 1)
    except OSError:
        return None
    return parse_nfo(data)


def show_fields(document: NfoDocument) -> ShowFacts:
    rating = document.rating
    fields = {"title": document.title, "original_title": document.original_title, "sort_title": document.sort_title,
              "year": document.year, "first_air_date": parse_date(document.premiered), "overview": document.plot,
              "status": document.status, "rating": rating.out_of_ten if rating else None}
    values: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if document.genres:
        values["genres"] = list(document.genres)
    if document.studios:
        values["networks"] = list(document.studios)
    return ShowFacts(fields=values, external_ids=dict(document.ids))


def episode_fields(document: NfoDocument, target: EpisodeTarget) -> dict[tuple[int, int], dict[str, Any]]:
    """``(season, number) -> column values`` of each episode an episode NFO describes."""
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for index, entry in enumerate(document.episodes or (document,)):
        season = entry.season if entry.season is not None else target.season
        number = entry.episode
        if number is None:
            number = target.numbers[index] if index < len(target.numbers) else None
        rating = entry.rating
        values = {"title": entry.title, "overview": entry.plot, "air_date": parse_date(entry.aired),
                  "runtime": entry.runtime_minutes, "rating": rating.out_of_ten if rating else None,
                  "external_ids": dict(entry.ids) or None}
        found[(season, number)] = {k: v for k, v in values.items() if v is not None}
    return found


def _gather(media: MediaFile, target: EpisodeTarget) -> FileFound | None:
    """Blocking: the sidecars and NFOs of one file (its tvshow.nfo is read once per batch, apart)."""
    root = library_root(media)
    if root is None:
        return None
    folder = Path(media.local_path).parent
    relative_folder = media.relative_path.rpartition("/")[0]
    parent_files = _listing(folder.parent) if relative_folder else []
    sidecars = find_sidecars(media.relative_path, _listing(folder), parent_files, kind="episode")
    season_doc = _read_nfo(root, sidecars.season_nfo)
    episode_doc = _read_nfo(root, sidecars.nfo)
    season = {}
    if season_doc is not None and season_doc.kind == "season":
        season = {k: v for k, v in {"title": season_doc.title, "overview": season_doc.plot,
                                    "air_date": parse_date(season_doc.premiered)}.items() if v is not None}
    episodes = episode_fields(episode_doc, target) if episode_doc and episode_doc.kind == "episodedetails" else {}
    return FileFound(sidecars=sidecars, series_nfo=sidecars.series_nfo, season_fields=season,
                     episode_fields=episodes)


def read_show(media: MediaFile, series_nfo: str | None) -> ShowFacts | None:
    """Blocking: what the show's tvshow.nfo says, if it has one."""
    root = library_root(media)
    document = _read_nfo(root, series_nfo) if root is not None else None
    return show_fields(document) if document is not None and document.kind == "tvshow" else None


async def read_file(media: MediaFile, target: EpisodeTarget, *, probe_timeout: float) -> FileFound | None:
    """Sidecars, NFOs and the probe of one local file; ``None`` when the file is not local."""
    if media.local_path is None:
        return None
    found = await asyncio.to_thread(_gather, media, target) or FileFound(sidecars=Sidecars())
    try:
        info = await probe_async(media.local_path, timeout=probe_timeout)
    except ProbeError as exc:
        return attrs.evolve(found, probe_error=str(exc))
    return attrs.evolve(found, info=info)


def subtitle_tracks(info: MediaInfo | None, sidecars: Sidecars | None) -> list[dict[str, Any]]:
    """Embedded subtitle streams, then the external files beside the video."""
    tracks = [{**attrs.asdict(s), "external": False} for s in (info.subtitles if info else ())]
    tracks += [{"index": None, "codec": s.format, "language": s.language, "language_tag": s.language_tag,
                "title": s.title, "forced": s.forced, "default": s.default, "hearing_impaired": s.sdh,
                "external": True, "path": s.path} for s in (sidecars.subtitles if sidecars else ())]
    return tracks


def file_columns(parsed: Any, media: MediaFile, found: FileFound | None) -> dict[str, Any]:
    """The ``tv_episode_files`` values of a file: what its name, probe and sidecars say."""
    info = found.info if found is not None else None
    video = info.main_video if info is not None else None
    values: dict[str, Any] = {
        "size": info.size if info is not None else media.size,
        "container": info.container if info is not None else parsed.container,
        "duration": info.duration_seconds if info is not None else None,
        "bitrate": info.bitrate if info is not None else None,
        "video_codec": video.codec if video else None,
        "width": video.width if video else None,
        "height": video.height if video else None,
        "resolution": info.resolution if info is not None else parsed.screen_size,
        "frame_rate": video.frame_rate if video else None,
        "hdr": info.hdr if info is not None else None,
        "audio_tracks": [attrs.asdict(a) for a in info.audio] if info is not None else [],
        "subtitle_tracks": subtitle_tracks(info, found.sidecars if found is not None else None),
        "chapters": [attrs.asdict(c) for c in info.chapters] if info is not None else [],
        "source": parsed.source,
        "release_group": parsed.release_group,
        "probe_error": found.probe_error if found is not None else None,
    }
    return values
