"""What a movie file and its neighbours say, before any provider is asked.

The file name (:func:`revenge_video.names.parse_name`), the NFO beside it, its sidecar
subtitles and local artwork (:func:`revenge_video.sidecars.find_sidecars`) and what PyAV
finds inside it (:func:`revenge_video.probe.probe`). Files are read where they are: directly
when the storage gives the file a local path (never outside the library folder), else through
the library's storage backend. Probing needs a local file; without one a movie is still made
from its name.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
from collections.abc import Sequence
from typing import Any

import attrs

from revenge_hookspecs.media import Library, MediaFile
from revenge_video.names import ParsedName, parse_name_async
from revenge_video.nfo import MAX_NFO_BYTES, NfoDocument, parse_nfo
from revenge_video.probe import MediaInfo, ProbeError, probe
from revenge_video.sidecars import ArtworkFile, Sidecars, find_sidecars

from .facts import ARTWORK_FIELDS, FileFacts, LocalMovie

MAX_IMAGE_BYTES = 20 * 1024 * 1024
LOCAL_ARTWORK_KINDS = (*ARTWORK_FIELDS, "banner", "thumb", "clearart", "disc")
_ISO_COUNTRY = re.compile(r"^[A-Z]{2}$")
_RATED = re.compile(r"(?i)^rated\s+")
# Kodi writes certifications as "Country:Rating"; the country as a name, in English.
_COUNTRIES = {"usa": "US", "united states": "US", "us": "US", "uk": "GB", "united kingdom": "GB", "gb": "GB",
              "germany": "DE", "deutschland": "DE", "france": "FR", "australia": "AU", "canada": "CA",
              "netherlands": "NL", "brazil": "BR", "spain": "ES", "italy": "IT", "japan": "JP",
              "new zealand": "NZ", "ireland": "IE", "sweden": "SE", "denmark": "DK", "norway": "NO",
              "finland": "FI", "austria": "AT", "switzerland": "CH", "india": "IN", "mexico": "MX",
              "portugal": "PT", "russia": "RU", "south korea": "KR", "korea": "KR"}
# FFmpeg's format names -> the extensions they cover, to name the container by what the file is.
_CONTAINER_ALIASES = {"mkv": "matroska", "m4v": "mp4", "ts": "mpegts", "m2ts": "mpegts", "mts": "mpegts",
                      "mpg": "mpeg", "wmv": "asf", "ogv": "ogg", "divx": "avi"}


@attrs.frozen
class LocalImage:
    """A local artwork file to store: a path on this machine, or the bytes read from the storage."""

    kind: str
    local_path: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Gathered:
    movie: LocalMovie
    facts: FileFacts
    artwork: tuple[LocalImage, ...] = ()


class Neighbours:
    """The files in a media file's folder, and reading them, locally or through the storage."""

    def __init__(self, context: Any, library: Library, media: MediaFile):
        self.context = context
        self.library = library
        self.media = media
        self.local_root: str | None = None
        if media.local_path:
            relative = media.relative_path.replace("/", os.sep)
            if media.local_path.endswith(os.sep + relative):
                self.local_root = media.local_path[: -len(relative) - 1]

    @property
    def local(self) -> bool:
        return self.local_root is not None

    def local_file(self, relative_path: str) -> str | None:
        """The local path of a file of the library, if it really lies inside the library folder."""
        if self.local_root is None:
            return None
        candidate = os.path.join(self.local_root, *relative_path.split("/"))
        root = os.path.realpath(self.local_root)
        real = os.path.realpath(candidate)
        return candidate if os.path.commonpath([real, root]) == root else None

    def storage_file(self, relative_path: str) -> str:
        return self.media.root.rstrip("/") + "/" + relative_path

    async def names(self) -> list[str]:
        """Names of the files beside the media file (its own name included)."""
        if self.local_root is not None:
            folder = os.path.dirname(self.media.local_path)
            return await asyncio.to_thread(
                lambda: [e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=True)])
        storage = self.context.library.storage(self.library)
        folder = self.media.path.rsplit("/", 1)[0]
        return [posixpath.basename(e.path) for e in await storage.list(folder) if not e.is_dir]

    async def read(self, relative_path: str, limit: int) -> bytes | None:
        """A neighbour's bytes; ``None`` when it is gone, outside the library or over ``limit``."""
        path = self.local_file(relative_path)
        if path is not None:
            def read_local() -> bytes | None:
                if os.path.getsize(path) > limit:
                    return None
                with open(path, "rb") as handle:
                    return handle.read(limit + 1)
            try:
                return await asyncio.to_thread(read_local)
            except OSError:
                return None
        if self.local:
            return None
        storage = self.context.library.storage(self.library)
        target = self.storage_file(relative_path)
        try:
            info = await storage.stat(target)
            if info.size > limit:
                return None
            return b"".join([chunk async for chunk in storage.open(target, 0, max(info.size - 1, 0))]) \
                if info.size else b""
        except (OSError, ValueError):
            return None


# --- the pieces ---------------------------------------------------------------------------------------


def certifications(mpaa: str | None) -> dict[str, str]:
    """``PG-13`` / ``Rated PG-13`` (the MPAA rates for the US), ``US:PG-13``, ``Germany:FSK 12``."""
    if not mpaa:
        return {}
    text = _RATED.sub("", mpaa.strip())
    country, colon, rating = text.partition(":")
    if not colon:
        return {"US": text[:32]} if text else {}
    code = country.strip().upper() if _ISO_COUNTRY.match(country.strip().upper()) else \
        _COUNTRIES.get(country.strip().lower())
    rating = _RATED.sub("", rating.strip())
    return {code: rating[:32]} if code and rating else {}


def local_movie(parsed: ParsedName, nfo: NfoDocument | None, fallback_name: str) -> LocalMovie:
    """The movie as the name and the NFO describe it; the NFO wins where it says something."""
    name = parsed.title or fallback_name
    ids = {k: v for k, v in parsed.external_ids.items()}
    if nfo is None or nfo.kind != "movie":
        return LocalMovie(name=name, name_year=parsed.year, external_ids=ids)
    ids.update({k: v for k, v in nfo.ids.items() if not k.endswith("_collection")})
    rating = nfo.rating
    fields = {
        "title": nfo.title, "original_title": nfo.original_title, "sort_title": nfo.sort_title, "year": nfo.year,
        "release_date": nfo.premiered, "overview": nfo.plot or nfo.outline, "tagline": nfo.tagline,
        "runtime": nfo.runtime_minutes, "status": nfo.status,
        "rating": rating.out_of_ten if rating is not None else None,
        "votes": rating.votes if rating is not None else None,
    }
    return LocalMovie(name=name, name_year=parsed.year, fields={k: v for k, v in fields.items() if v is not None},
                      external_ids=ids, genres=nfo.genres, studios=nfo.studios, collection=nfo.set_name,
                      certifications=certifications(nfo.mpaa), credits=nfo.credits())


def container_name(info: MediaInfo | None, relative_path: str) -> str | None:
    """The container by the file's extension when FFmpeg agrees, else FFmpeg's first name for it."""
    extension = relative_path.rsplit(".", 1)[-1].lower() if "." in relative_path else ""
    if info is None:
        return extension or None
    names = info.container.split(",")
    if extension and (extension in names or _CONTAINER_ALIASES.get(extension) in names):
        return extension
    return names[0] or None


def file_facts(media: MediaFile, parsed: ParsedName, info: MediaInfo | None, sidecars: Sidecars,
               probe_error: str | None) -> FileFacts:
    video = info.main_video if info is not None else None
    resolution = info.resolution if info is not None else None
    audio = [{"index": a.index, "codec": a.codec, "language": a.language, "channels": a.channels,
              "channel_layout": a.channel_layout, "title": a.title, "default": a.default, "forced": a.forced}
             for a in (info.audio if info else ())]
    subtitles = [{"index": s.index, "codec": s.codec, "language": s.language, "title": s.title, "forced": s.forced,
                  "default": s.default, "sdh": s.hearing_impaired, "external": False, "path": None}
                 for s in (info.subtitles if info else ())]
    subtitles += [{"index": None, "codec": s.format, "language": s.language, "title": s.title, "forced": s.forced,
                   "default": s.default, "sdh": s.sdh, "external": True, "path": s.path} for s in sidecars.subtitles]
    chapters = [{"start": c.start, "end": c.end, "title": c.title} for c in (info.chapters if info else ())]
    return FileFacts(
        relative_path=media.relative_path, size=(info.size if info else None) or media.size or None,
        version=(parsed.edition or resolution or parsed.screen_size or "")[:128] or None, part=parsed.part,
        container=container_name(info, media.relative_path),
        duration=round(info.duration_seconds, 3) if info and info.duration_seconds else None,
        bitrate=info.bitrate if info else None, video_codec=video.codec if video else None,
        width=video.width or None if video else None, height=video.height or None if video else None,
        resolution=resolution or parsed.screen_size, hdr=info.hdr if info else None,
        audio_tracks=audio, subtitle_tracks=subtitles, chapters=chapters, probe_error=probe_error,
    )


async def local_images(neighbours: Neighbours, artwork: Sequence[ArtworkFile]) -> tuple[LocalImage, ...]:
    """One image per kind (the first found: ``<name>-poster.jpg`` before ``poster.jpg``)."""
    chosen: dict[str, LocalImage] = {}
    for image in artwork:
        if image.level != "movie" or image.kind not in LOCAL_ARTWORK_KINDS or image.kind in chosen:
            continue
        if neighbours.local:
            path = neighbours.local_file(image.path)
            if path is not None:
                chosen[image.kind] = LocalImage(image.kind, local_path=path)
        else:
            data = await neighbours.read(image.path, MAX_IMAGE_BYTES)
            if data:
                chosen[image.kind] = LocalImage(image.kind, data=data)
    return tuple(chosen.values())


async def gather(context: Any, library: Library, media: MediaFile, *, probe_timeout: float) -> Gathered | None:
    """Everything local about one file, or ``None`` for a sample or an extra (not a movie)."""
    parsed = await parse_name_async(media.relative_path, kind="movie")
    if parsed.is_sample or parsed.is_extra:
        return None
    neighbours = Neighbours(context, library, media)
    sidecars = find_sidecars(media.relative_path, await neighbours.names(), kind="movie")
    nfo = None
    if sidecars.nfo:
        data = await neighbours.read(sidecars.nfo, MAX_NFO_BYTES)
        nfo = parse_nfo(data) if data else None
    info, probe_error = None, None
    # A local path laid out unlike the library (a symlinked file) still probes; its
    # neighbours are read through the storage then.
    path = neighbours.local_file(media.relative_path) if neighbours.local else media.local_path
    if path is None:
        probe_error = "not probed: the storage gives no local path"
    else:
        try:
            info = await asyncio.to_thread(probe, path, timeout=probe_timeout)
        except ProbeError as exc:
            probe_error = str(exc)
    stem = posixpath.splitext(media.name)[0]
    return Gathered(movie=local_movie(parsed, nfo, stem or media.name),
                    facts=file_facts(media, parsed, info, sidecars, probe_error),
                    artwork=await local_images(neighbours, sidecars.artwork))
