"""What the API answers: queries and their JSON shapes (blocking; run through ``context.db.run``).

The shapes are documented in the plugin's README; keep both in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import peewee

from revenge_hookspecs.media import ArtworkRef

from .documents import RESOLUTION_ORDER, episode_title
from .models import (
    Artwork,
    Episode,
    EpisodeCredit,
    EpisodeFile,
    EpisodeFileLink,
    Genre,
    Network,
    Person,
    Season,
    Series,
    SeriesCertification,
    SeriesCredit,
    SeriesExternalId,
    SeriesGenre,
    SeriesNetwork,
    SeriesTranslation,
)
from .service import season_title

IMAGE_URL_SIZES = ("w185", "w342", "w780", "original")
"""The sizes listed in ``urls`` of an image; every size of ``IMAGE_SIZES`` is served the same way."""
SORTS: dict[str, peewee.Field] = {
    "title": Series.sort_key, "year": Series.year, "added": Series.added_at, "rating": Series.rating,
    "first_air_date": Series.first_air_date,
}
STATUSES_MAX = 32
CAST_ROLES = ("actor", "guest")

Visible = frozenset[str] | None
"""Library ids the caller may see; ``None`` means every library."""


@attrs.frozen
class SeriesQuery:
    """A validated ``GET /tv/series`` request (see ``api.parse_query``)."""

    libraries: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    status: str | None = None
    match_state: str | None = None
    sort: str = "title"
    descending: bool = False
    page: int = 1
    per_page: int = 50


def iso(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text + "Z" if hasattr(value, "hour") else text


def artwork_json(row: Artwork) -> dict[str, Any]:
    ref = ArtworkRef(id=row.artwork_id, item_key=f"{row.owner_type}:{row.owner_id}", kind=row.kind, width=row.width,
                     height=row.height, blurhash=row.blurhash)
    return {"id": row.artwork_id, "kind": row.kind, "width": row.width, "height": row.height,
            "blurhash": row.blurhash or None, "source": row.source, "language": row.language,
            "primary": row.is_primary, "urls": {size: ref.url(size) for size in IMAGE_URL_SIZES}}


def primary_artwork(owner_type: str, ids: Sequence[int]) -> dict[tuple[int, str], dict[str, Any]]:
    """``(owner id, kind) -> image`` of the primary images of some items."""
    if not ids:
        return {}
    rows = Artwork.select().where((Artwork.owner_type == owner_type) & Artwork.owner_id.in_(list(ids))
                                  & Artwork.is_primary)
    return {(row.owner_id, row.kind): artwork_json(row) for row in rows}


def all_artwork(owner_type: str, owner_id: int) -> list[dict[str, Any]]:
    rows = (Artwork.select().where((Artwork.owner_type == owner_type) & (Artwork.owner_id == owner_id))
            .order_by(Artwork.kind, Artwork.is_primary.desc(), Artwork.id))
    return [artwork_json(row) for row in rows]


def _grouped(rows: Iterable[tuple[int, Any]]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for key, value in rows:
        grouped.setdefault(key, []).append(value)
    return grouped


def _counts(column: peewee.Field, group: peewee.Field, ids: Sequence[int]) -> dict[int, int]:
    query = column.model.select(group, peewee.fn.COUNT(column)).where(group.in_(list(ids))).group_by(group)
    return dict(query.tuples())


def _best_resolution(labels: Iterable[str | None]) -> str | None:
    known = [label for label in labels if label in RESOLUTION_ORDER]
    return min(known, key=RESOLUTION_ORDER.index) if known else None


def _visible(query: peewee.Query, visible: Visible, column: peewee.Field = Series.library_id) -> peewee.Query:
    return query if visible is None else query.where(column.in_(sorted(visible)))


# --- series ----------------------------------------------------------------------------------------


def series_summaries(shows: Sequence[Series]) -> list[dict[str, Any]]:
    """The list shape of series: genres, networks, counts, poster and backdrop."""
    ids = [s.id for s in shows]
    if not ids:
        return []
    genres = _grouped(SeriesGenre.select(SeriesGenre.series, Genre.name).join(Genre)
                      .where(SeriesGenre.series.in_(ids)).order_by(SeriesGenre.position).tuples())
    networks = _grouped(SeriesNetwork.select(SeriesNetwork.series, Network.name).join(Network)
                        .where(SeriesNetwork.series.in_(ids)).order_by(SeriesNetwork.position).tuples())
    seasons = _counts(Season.id, Season.series, ids)
    episodes = _counts(Episode.id, Episode.series, ids)
    art = primary_artwork("series", ids)
    return [{
        "id": s.id, "key": f"series:{s.id}", "library_id": s.library_id, "title": s.title,
        "original_title": s.original_title, "sort_title": s.sort_title, "year": s.year,
        "first_air_date": iso(s.first_air_date), "status": s.status, "rating": s.rating,
        "genres": genres.get(s.id, []), "networks": networks.get(s.id, []),
        "season_count": seasons.get(s.id, 0), "episode_count": episodes.get(s.id, 0),
        "match_state": s.match_state, "added_at": iso(s.added_at),
        "poster": art.get((s.id, "poster")), "backdrop": art.get((s.id, "backdrop")),
    } for s in shows]


def list_order(sort: str, descending: bool) -> list[peewee.Ordering]:
    """The ORDER BY of ``GET /tv/series``: the sort column, nulls last, then the id the same way.

    ``NULLS LAST`` only on a nullable column: on a NOT NULL one (the title's sort key) it would
    keep SQLite from reading the order off an index. The migration 0002 indexes each ordering.
    """
    field = SORTS[sort]
    nulls = "LAST" if field.null else None
    if descending:
        return [field.desc(nulls=nulls), Series.id.desc()]
    return [field.asc(nulls=nulls), Series.id.asc()]


def list_series(query: SeriesQuery, visible: Visible) -> dict[str, Any]:
    select = _visible(Series.select(), visible)
    if query.libraries:
        select = select.where(Series.library_id.in_(list(query.libraries)))
    if query.genres:
        select = select.where(Series.id.in_(
            SeriesGenre.select(SeriesGenre.series).join(Genre).where(Genre.name.in_(list(query.genres)))))
    if query.networks:
        select = select.where(Series.id.in_(
            SeriesNetwork.select(SeriesNetwork.series).join(Network).where(Network.name.in_(list(query.networks)))))
    if query.year_from is not None:
        select = select.where(Series.year >= query.year_from)
    if query.year_to is not None:
        select = select.where(Series.year <= query.year_to)
    if query.status:
        select = select.where(Series.status == query.status)
    if query.match_state:
        select = select.where(Series.match_state == query.match_state)
    total = select.count()
    page = list(select.order_by(*list_order(query.sort, query.descending)).paginate(query.page, query.per_page))
    return {"items": series_summaries(page), "total": total, "page": query.page, "per_page": query.per_page,
            "pages": math.ceil(total / query.per_page)}


def recent_series(limit: int, libraries: Sequence[str], visible: Visible) -> list[dict[str, Any]]:
    select = _visible(Series.select(), visible)
    if libraries:
        select = select.where(Series.library_id.in_(list(libraries)))
    return series_summaries(list(select.order_by(Series.added_at.desc(), Series.id.desc()).limit(limit)))


def get_series(series_id: int) -> Series | None:
    return Series.get_or_none(Series.id == series_id)


def series_detail(series_id: int) -> dict[str, Any] | None:
    series = get_series(series_id)
    if series is None:
        return None
    detail = series_summaries([series])[0]
    detail.update({
        "overview": series.overview, "original_language": series.original_language, "folder": series.folder,
        "external_ids": {r.kind: r.value for r in SeriesExternalId.select()
                         .where(SeriesExternalId.series == series_id).order_by(SeriesExternalId.kind)},
        "certifications": {r.country: r.rating for r in SeriesCertification.select()
                           .where(SeriesCertification.series == series_id).order_by(SeriesCertification.country)},
        "translations": {r.language: {"title": r.title, "overview": r.overview, "tagline": r.tagline}
                         for r in SeriesTranslation.select().where(SeriesTranslation.series == series_id)
                         .order_by(SeriesTranslation.language)},
        "locked_fields": list(series.locked_fields),
        "match": {"state": series.match_state, "score": series.match_score, "provider": series.match_provider,
                  "external_id": series.match_external_id, "candidates": list(series.match_candidates)},
        "artwork": all_artwork("series", series_id),
        "seasons": series_seasons(series_id),
        "updated_at": iso(series.updated_at), "metadata_updated_at": iso(series.metadata_updated_at),
    })
    return detail


def _credit_json(credit: Any, person: Person) -> dict[str, Any]:
    return {"person_id": person.id, "name": person.name, "role": credit.role, "character": credit.character,
            "order": credit.position, "image_url": person.image_url, "external_ids": person.external_ids}


def series_credits(series_id: int) -> dict[str, list[dict[str, Any]]]:
    rows = (SeriesCredit.select(SeriesCredit, Person).join(Person).where(SeriesCredit.series == series_id)
            .order_by(SeriesCredit.role, SeriesCredit.position, SeriesCredit.id))
    credits = [_credit_json(row, row.person) for row in rows]
    return {"cast": [c for c in credits if c["role"] in CAST_ROLES],
            "crew": [c for c in credits if c["role"] not in CAST_ROLES]}


def names_with_counts(kind: str, libraries: Sequence[str], visible: Visible) -> list[dict[str, Any]]:
    """Genres or networks with how many (visible) series have each."""
    model, link = (Genre, SeriesGenre) if kind == "genres" else (Network, SeriesNetwork)
    count = peewee.fn.COUNT(peewee.fn.DISTINCT(Series.id))
    query = (model.select(model.name, count.alias("count")).join(link).join(Series).group_by(model.name)
             .order_by(model.name))
    query = _visible(query, visible)
    if libraries:
        query = query.where(Series.library_id.in_(list(libraries)))
    return [{"name": name, "count": n} for name, n in query.tuples()]


# --- seasons ---------------------------------------------------------------------------------------


def season_summaries(seasons: Sequence[Season]) -> list[dict[str, Any]]:
    ids = [s.id for s in seasons]
    if not ids:
        return []
    episodes = _counts(Episode.id, Episode.season, ids)
    art = primary_artwork("season", ids)
    return [{"id": s.id, "key": f"season:{s.id}", "series_id": s.series_id, "number": s.number,
             "title": s.title or season_title(s.number), "overview": s.overview, "air_date": iso(s.air_date),
             "episode_count": episodes.get(s.id, 0), "poster": art.get((s.id, "poster")),
             "added_at": iso(s.added_at)} for s in seasons]


def series_seasons(series_id: int) -> list[dict[str, Any]]:
    return season_summaries(list(Season.select().where(Season.series == series_id).order_by(Season.number)))


def get_season(season_id: int) -> tuple[Season, Series] | None:
    season = Season.select(Season, Series).join(Series).where(Season.id == season_id).first()
    return None if season is None else (season, season.series)


def season_episodes(season_id: int) -> list[dict[str, Any]]:
    episodes = list(Episode.select().where(Episode.season == season_id)
                    .order_by(Episode.number.asc(nulls="LAST"), Episode.air_date, Episode.id))
    return episode_summaries(episodes)


def season_detail(season_id: int) -> dict[str, Any] | None:
    found = get_season(season_id)
    if found is None:
        return None
    season, series = found
    detail = season_summaries([season])[0]
    detail.update({"series": {"id": series.id, "key": f"series:{series.id}", "title": series.title},
                   "library_id": series.library_id, "locked_fields": list(season.locked_fields),
                   "artwork": all_artwork("season", season.id), "episodes": season_episodes(season.id)})
    return detail


# --- episodes --------------------------------------------------------------------------------------


def episode_summaries(episodes: Sequence[Episode], *, with_series: bool = False) -> list[dict[str, Any]]:
    ids = [e.id for e in episodes]
    if not ids:
        return []
    resolutions = _grouped(EpisodeFileLink.select(EpisodeFileLink.episode, EpisodeFile.resolution)
                           .join(EpisodeFile).where(EpisodeFileLink.episode.in_(ids)).tuples())
    art = primary_artwork("episode", ids)
    titles: dict[int, str] = {}
    if with_series:
        series_ids = sorted({e.series_id for e in episodes})
        titles = dict(Series.select(Series.id, Series.title).where(Series.id.in_(series_ids)).tuples())
    result = []
    for e in episodes:
        item = {"id": e.id, "key": f"episode:{e.id}", "series_id": e.series_id, "season_id": e.season_id,
                "season_number": e.season_number, "number": e.number, "title": episode_title(e),
                "overview": e.overview, "air_date": iso(e.air_date), "runtime": e.runtime,
                "absolute_number": e.absolute_number, "rating": e.rating,
                "file_count": len(resolutions.get(e.id, [])),
                "resolution": _best_resolution(resolutions.get(e.id, [])),
                "still": art.get((e.id, "still")), "added_at": iso(e.added_at)}
        if with_series:
            item["series_title"] = titles.get(e.series_id)
        result.append(item)
    return result


def get_episode(episode_id: int) -> tuple[Episode, Series] | None:
    episode = Episode.select(Episode, Series).join(Series).where(Episode.id == episode_id).first()
    return None if episode is None else (episode, episode.series)


def episode_detail(episode_id: int) -> dict[str, Any] | None:
    found = get_episode(episode_id)
    if found is None:
        return None
    episode, series = found
    detail = episode_summaries([episode])[0]
    credits = (EpisodeCredit.select(EpisodeCredit, Person).join(Person).where(EpisodeCredit.episode == episode_id)
               .order_by(EpisodeCredit.role, EpisodeCredit.position, EpisodeCredit.id))
    detail.update({
        "series": {"id": series.id, "key": f"series:{series.id}", "title": series.title},
        "library_id": series.library_id, "external_ids": dict(episode.external_ids or {}),
        "locked_fields": list(episode.locked_fields), "artwork": all_artwork("episode", episode_id),
        "credits": [_credit_json(row, row.person) for row in credits],
        "updated_at": iso(episode.updated_at),
    })
    return detail


def episode_files(episode_id: int) -> list[dict[str, Any]]:
    rows = (EpisodeFile.select().join(EpisodeFileLink).where(EpisodeFileLink.episode == episode_id)
            .order_by(EpisodeFile.relative_path))
    result = []
    for r in rows:
        episodes = [link.episode_id for link in EpisodeFileLink.select(EpisodeFileLink.episode)
                    .where(EpisodeFileLink.episode_file == r.id).order_by(EpisodeFileLink.episode)]
        result.append({
            "file_id": r.file_id, "relative_path": r.relative_path, "size": r.size, "container": r.container,
            "duration": r.duration, "bitrate": r.bitrate, "video_codec": r.video_codec, "width": r.width,
            "height": r.height, "resolution": r.resolution, "frame_rate": r.frame_rate, "hdr": r.hdr,
            "audio_tracks": r.audio_tracks, "subtitle_tracks": r.subtitle_tracks, "chapters": r.chapters,
            "source": r.source, "release_group": r.release_group, "probe_error": r.probe_error,
            "episode_ids": episodes, "added_at": iso(r.added_at), "updated_at": iso(r.updated_at),
        })
    return result


def recent_episodes(limit: int, libraries: Sequence[str], visible: Visible) -> list[dict[str, Any]]:
    select = Episode.select(Episode).join(Series)
    select = _visible(select, visible)
    if libraries:
        select = select.where(Series.library_id.in_(list(libraries)))
    episodes = list(select.order_by(Episode.added_at.desc(), Episode.id.desc()).limit(limit))
    return episode_summaries(episodes, with_series=True)
