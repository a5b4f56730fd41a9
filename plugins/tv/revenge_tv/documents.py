"""The search documents of the TV content type: ``series``, ``episode`` and ``tv_person``.

All carry the reserved ``library_id``, so the core's search keeps every caller to the
libraries they may see. Series and episode ids are the rows' ids; such a hit's ``type`` and
``id`` make its item key (``series:12``, ``episode:345``). A ``tv_person`` is one document per
person and library (id ``"<person_id>-<library_id>"``, see :mod:`revenge_video.people`):
``known_for`` lists the series they are credited in there, directly or in an episode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from revenge_hookspecs import SearchDocumentType, SearchField
from revenge_video import people as person_docs

from .models import (
    Episode,
    EpisodeCredit,
    EpisodeFile,
    EpisodeFileLink,
    Genre,
    Network,
    Person,
    Series,
    SeriesCredit,
    SeriesGenre,
    SeriesNetwork,
)

SERIES = "series"
EPISODE = "episode"
PERSON = "tv_person"
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


def credited(series_ids: Iterable[int] = (), episode_ids: Iterable[int] = ()) -> set[person_docs.Pair]:
    """Blocking: the people credited in some series (or their episodes) and in some episodes,
    with the series' libraries."""
    pairs: set[person_docs.Pair] = set()
    series_ids, episode_ids = sorted(set(series_ids)), sorted(set(episode_ids))
    if series_ids:
        pairs.update(SeriesCredit.select(SeriesCredit.person, Series.library_id).join(Series)
                     .where(SeriesCredit.series.in_(series_ids)).tuples())
        pairs.update(EpisodeCredit.select(EpisodeCredit.person, Series.library_id).join(Episode).join(Series)
                     .where(Episode.series.in_(series_ids)).tuples())
    if episode_ids:
        pairs.update(EpisodeCredit.select(EpisodeCredit.person, Series.library_id).join(Episode).join(Series)
                     .where(EpisodeCredit.episode.in_(episode_ids)).tuples())
    return pairs


def person_credits(person_ids: list[int]) -> list[person_docs.CreditRow]:
    """Blocking: every credit of some people (in a series or an episode of it), with the series."""
    if not person_ids:
        return []
    columns = (Person.name, Series.library_id, Series.title, Series.year)
    rows = list(SeriesCredit.select(SeriesCredit.person, *columns, SeriesCredit.role).join(Person)
                .switch(SeriesCredit).join(Series).where(SeriesCredit.person.in_(person_ids)).tuples())
    rows.extend(EpisodeCredit.select(EpisodeCredit.person, *columns, EpisodeCredit.role).join(Person)
                .switch(EpisodeCredit).join(Episode).join(Series).where(EpisodeCredit.person.in_(person_ids))
                .distinct().tuples())
    return rows


def person_documents(pairs: Iterable[person_docs.Pair]) -> tuple[list[dict[str, Any]], list[str]]:
    """Blocking: the documents of these people in these libraries, and the ids to delete."""
    return person_docs.refreshed(pairs, person_credits)


def document_types(tv: Any) -> list[SearchDocumentType]:
    """The three document types, with ``load_all`` reading the database in pages."""

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
        person_docs.document_type(PERSON, person_model=Person, credits_of=person_credits, run=tv.read),
    ]
