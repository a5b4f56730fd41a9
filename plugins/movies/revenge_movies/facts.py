"""What a file tells about its movie before any provider is asked: plain values, no I/O.

:mod:`revenge_movies.local` builds these from the file name, the NFO, sidecars and the probe;
:mod:`revenge_movies.store` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from revenge_hookspecs.media import Credit

SCALAR_FIELDS = ("title", "original_title", "sort_title", "year", "release_date", "overview", "tagline", "runtime",
                 "status", "rating", "votes", "original_language")
"""Movie columns that local metadata, providers and users set."""
GROUP_FIELDS = ("genres", "studios", "collection", "certifications", "credits", "translations")
"""Related rows that are replaced as a whole."""
ARTWORK_FIELDS = ("poster", "backdrop", "logo")
"""Artwork kinds a movie shows; locking one keeps its primary image."""
LOCKABLE_FIELDS = frozenset({*SCALAR_FIELDS, *GROUP_FIELDS, *ARTWORK_FIELDS, "match"})
"""What ``locked_fields`` may hold; ``match`` pins the identification a user chose."""
RESOLUTIONS = ("2160p", "1440p", "1080p", "720p", "576p", "480p", "SD")
"""Resolution labels, best first."""


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class LocalMovie:
    """What the file name and the NFO say about the movie.

    :param name: the title from the file (or folder) name; with ``name_year`` it finds the
        other versions of the same movie.
    :param fields: column values the NFO gave (see :data:`SCALAR_FIELDS`); they win over
        the name and over providers.
    """

    name: str
    name_year: int | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    external_ids: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    genres: tuple[str, ...] = attrs.field(factory=tuple, converter=tuple)
    studios: tuple[str, ...] = attrs.field(factory=tuple, converter=tuple)
    collection: str | None = None
    certifications: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    credits: tuple[Credit, ...] = attrs.field(factory=tuple, converter=tuple)

    @property
    def title(self) -> str:
        return self.fields.get("title") or self.name

    @property
    def year(self) -> int | None:
        return self.fields.get("year") or self.name_year


@attrs.frozen
class FileFacts:
    """One file of a movie as stored in ``movie_files``: its version and what probing found.

    ``audio_tracks``, ``subtitle_tracks`` (embedded and sidecar) and ``chapters`` are lists of
    JSON objects (see the README for their keys).
    """

    relative_path: str
    size: int | None = None
    version: str | None = None
    part: int | None = None
    container: str | None = None
    duration: float | None = None
    bitrate: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    resolution: str | None = None
    hdr: str | None = None
    audio_tracks: tuple[Mapping[str, Any], ...] = attrs.field(factory=tuple, converter=tuple)
    subtitle_tracks: tuple[Mapping[str, Any], ...] = attrs.field(factory=tuple, converter=tuple)
    chapters: tuple[Mapping[str, Any], ...] = attrs.field(factory=tuple, converter=tuple)
    probe_error: str | None = None

    def columns(self) -> dict[str, Any]:
        """The ``movie_files`` column values."""
        values = attrs.asdict(self, recurse=False)
        for name in ("audio_tracks", "subtitle_tracks", "chapters"):
            values[name] = [dict(track) for track in values[name]]
        return values


def best_resolution(labels: list[str | None]) -> str | None:
    """The best of some resolution labels (``None`` when there is none)."""
    known = [label for label in labels if label in RESOLUTIONS]
    return min(known, key=RESOLUTIONS.index) if known else None
