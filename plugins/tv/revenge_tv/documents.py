"""The search documents of the TV content type: ``series`` and ``episode``.

Both carry the reserved ``library_id``, so the core's search keeps every caller to the
libraries they may see. Document ids are the rows' ids; a hit's ``type`` and ``id`` make its
item key (``series:12``, ``episode:345``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from revenge_hookspecs import SearchDocumentType, SearchField

from .models import Episode, EpisodeFile, EpisodeFileLink, Genre, Network, Series, SeriesGenre, SeriesNetwork

SERIES = "series"
EPISODE = "episode"
BATCH = 500
RESOLUTION_ORDER = ("2160p", "1440p", "1080p", "720p", "576p", "480p", "SD")

SERIES_FIELDS = (
    SearchField("year", "int", facet=True),
    SearchField("genre", "string[]", facet=True),
    SearchField("network", "string[]", facet=True),
    SearchField("original_title", "string", searchable=True),
    SearchField("status", "string", facet=True),
)
EPISODE_FIELDS = (
    SearchField("series_title", "string", searchable=True),
    SearchField("series_id", "int"),
    SearchField("season", "int"),
    SearchField("number", "int"),
    SearchField("resolution", "string", facet=True),
    SearchField("air_year", "int", facet=True),
)


def episode_title(episode: Episode) -> str:
    if episode.title:
        return episode.title
    if episode.number is not None:
        return f"Episode {episode.number}"
    if episode.air_date is not None:
        return episode.air_date.isoformat()
    return f"Episode {episode.absolute_number}" if episode.absolute_number is not None else "Episode"


def _names(model: Any, link: Any, column: str, series_ids: list[int]) -> dict[int, list[str]]:
    named: dict[int, list[str]] = {}
    rows = (link.select(link.series, model.name).join(model).where(link.series.in_(series_ids))
            .order_by(link.series, link.position).tuples())
    for series_id, name in rows:
        named.setdefault(series_id, []).append(name)
    return named


def series_documents(series_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Blocking: the documents of some series."""
    ids = sorted(set(series_ids))
    if not ids:
        return []
    genres = _names(Genre, SeriesGenre, "genre", ids)
    networks = _names(Network, SeriesNetwork, "network", ids)
    return [{"id": str(s.id), "title": s.title, "library_id": s.library_id, "year": s.year,
             "genre": genres.get(s.id, []), "network": networks.get(s.id, []),
             "original_title": s.original_title, "status": s.status}
            for s in Series.select().where(Series.id.in_(ids))]


def _best_resolution(labels: Iterable[str | None]) -> str | None:
    known = [label for label in labels if label in RESOLUTION_ORDER]
    return min(known, key=RESOLUTION_ORDER.index) if known else None


def episode_documents(episode_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Blocking: the documents of some episodes."""
    ids = sorted(set(episode_ids))
    if not ids:
        return []
    resolutions: dict[int, list[str | None]] = {}
    rows = (EpisodeFileLink.select(EpisodeFileLink.episode, EpisodeFile.resolution).join(EpisodeFile)
            .where(EpisodeFileLink.episode.in_(ids)).tuples())
    for episode_id, resolution in rows:
        resolutions.setdefault(episode_id, []).append(resolution)
    episodes = Episode.select(Episode, Series).join(Series).where(Episode.id.in_(ids))
    return [{"id": str(e.id), "title": episode_title(e), "library_id": e.series.library_id,
             "series_title": e.series.title, "series_id": e.series_id, "season": e.season_number,
             "number": e.number, "resolution": _best_resolution(resolutions.get(e.id, ())),
             "air_year": e.air_date.year if e.air_date else None}
            for e in episodes]


def episode_ids_of(series_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(series_ids))
    return [e.id for e in Episode.select(Episode.id).where(Episode.series.in_(ids))] if ids else []


def document_types(tv: Any) -> list[SearchDocumentType]:
    """The two document types, with ``load_all`` reading the database in pages."""

    async def load(model: Any, build: Any) -> AsyncIterator[dict[str, Any]]:
        last = 0
        while True:
            ids = await tv.read(lambda last=last: [row.id for row in model.select(model.id).where(model.id > last)
                                                   .order_by(model.id).limit(BATCH)])
            if not ids:
                return
            for document in await tv.read(build, ids):
                yield document
            last = ids[-1]

    return [
        SearchDocumentType(SERIES, fields=SERIES_FIELDS, load_all=lambda: load(Series, series_documents)),
        SearchDocumentType(EPISODE, fields=EPISODE_FIELDS, load_all=lambda: load(Episode, episode_documents)),
    ]
