"""What the API answers: queries and their JSON shapes (blocking; run through ``context.db.run``).

The shapes are documented in the plugin's README; keep both in step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import peewee

from revenge_hookspecs.media import ArtworkRef

from .facts import ARTWORK_FIELDS, best_resolution
from .models import (
    Artwork,
    Certification,
    Collection,
    Credit,
    Genre,
    Movie,
    MovieExternalId,
    MovieFile,
    MovieGenre,
    MovieStudio,
    Person,
    Studio,
    Translation,
)
from .service import movie_key

IMAGE_URL_SIZES = ("w185", "w342", "w780", "original")
"""The sizes listed in ``urls`` of an image; every size of ``IMAGE_SIZES`` works the same way."""
SORTS: dict[str, peewee.Field] = {
    "title": Movie.sort_key, "year": Movie.year, "added": Movie.added_at, "rating": Movie.rating,
    "runtime": Movie.runtime, "release_date": Movie.release_date,
}

Visible = frozenset[str] | None
"""Library ids the caller may see; ``None`` means every library."""


@attrs.frozen
class MovieQuery:
    """A validated ``GET /movies`` request (see ``api.parse_query``)."""

    libraries: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    resolution: str | None = None
    collection: int | None = None
    text: str = ""
    sort: str = "title"
    descending: bool = False
    page: int = 1
    per_page: int = 50


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text + "Z" if hasattr(value, "hour") else text


def image_json(image_id: str, *, kind: str, width: int = 0, height: int = 0, blurhash: str = "",
               source: str | None = None, language: str | None = None) -> dict[str, Any]:
    ref = ArtworkRef(id=image_id, item_key="movie:0", kind=kind, width=width, height=height, blurhash=blurhash)
    return {"id": image_id, "kind": kind, "width": width, "height": height, "blurhash": blurhash or None,
            "source": source, "language": language, "urls": {size: ref.url(size) for size in IMAGE_URL_SIZES}}


def _artwork_json(row: Artwork) -> dict[str, Any]:
    return {**image_json(row.artwork_id, kind=row.kind, width=row.width, height=row.height, blurhash=row.blurhash,
                         source=row.source, language=row.language), "primary": row.is_primary}


def _visible(query: peewee.Query, visible: Visible) -> peewee.Query:
    return query if visible is None else query.where(Movie.library_id.in_(sorted(visible)))


def _by_movie(rows: Sequence[tuple[int, Any]]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for movie_id, value in rows:
        grouped.setdefault(movie_id, []).append(value)
    return grouped


def summaries(movies: Sequence[Movie]) -> list[dict[str, Any]]:
    """The list shape of movies, with their genres, best resolution, poster and backdrop."""
    ids = [m.id for m in movies]
    if not ids:
        return []
    genres = _by_movie(MovieGenre.select(MovieGenre.movie, Genre.name).join(Genre)
                       .where(MovieGenre.movie.in_(ids)).order_by(Genre.name).tuples())
    resolutions = _by_movie(MovieFile.select(MovieFile.movie, MovieFile.resolution)
                            .where(MovieFile.movie.in_(ids)).tuples())
    primary: dict[tuple[int, str], Artwork] = {
        (row.movie_id, row.kind): row for row in
        Artwork.select().where(Artwork.movie.in_(ids) & Artwork.is_primary & Artwork.kind.in_(ARTWORK_FIELDS))}
    result = []
    for movie in movies:
        item = {
            "id": movie.id, "key": movie_key(movie.id), "library_id": movie.library_id, "title": movie.title,
            "original_title": movie.original_title, "sort_title": movie.sort_title, "year": movie.year,
            "release_date": _iso(movie.release_date), "runtime": movie.runtime, "rating": movie.rating,
            "genres": genres.get(movie.id, []), "resolution": best_resolution(resolutions.get(movie.id, [])),
            "match_state": movie.match_state, "added_at": _iso(movie.added_at),
        }
        for kind in ("poster", "backdrop"):
            row = primary.get((movie.id, kind))
            item[kind] = _artwork_json(row) if row is not None else None
        result.append(item)
    return result


def _direction(field: peewee.Field, descending: bool) -> peewee.Ordering:
    # Nulls last either way, but only where there can be any: the clause on a NOT NULL column
    # keeps SQLite from reading the order off an index.
    nulls = "LAST" if field.null else None
    return field.desc(nulls=nulls) if descending else field.asc(nulls=nulls)


def list_order(sort: str, descending: bool) -> list[peewee.Ordering]:
    """The ORDER BY of ``GET /movies``; the migration 0002 indexes each descending one and the title."""
    field = SORTS[sort]
    if field is Movie.sort_key:
        return [_direction(field, descending), _direction(Movie.id, descending)]
    # Ties go by title whichever the direction, so pages never shuffle equal items.
    return [_direction(field, descending), Movie.sort_key.asc(), Movie.id.asc()]


def list_movies(query: MovieQuery, visible: Visible) -> dict[str, Any]:
    select = _visible(Movie.select(), visible)
    if query.libraries:
        select = select.where(Movie.library_id.in_(list(query.libraries)))
    if query.genres:
        select = select.where(Movie.id.in_(
            MovieGenre.select(MovieGenre.movie).join(Genre).where(Genre.name.in_(list(query.genres)))))
    if query.year_from is not None:
        select = select.where(Movie.year >= query.year_from)
    if query.year_to is not None:
        select = select.where(Movie.year <= query.year_to)
    if query.resolution:
        select = select.where(Movie.id.in_(
            MovieFile.select(MovieFile.movie).where(MovieFile.resolution == query.resolution)))
    if query.collection is not None:
        select = select.where(Movie.collection == query.collection)
    if query.text:
        # search_text is normalised with a leading space: ' word%' finds the start of any word.
        select = select.where(Movie.search_text.contains(" " + query.text))
    total = select.count()
    page = list(select.order_by(*list_order(query.sort, query.descending)).paginate(query.page, query.per_page))
    return {"items": summaries(page), "total": total, "page": query.page, "per_page": query.per_page,
            "pages": math.ceil(total / query.per_page)}


def recent_movies(limit: int, libraries: Sequence[str], visible: Visible) -> list[dict[str, Any]]:
    select = _visible(Movie.select(), visible)
    if libraries:
        select = select.where(Movie.library_id.in_(list(libraries)))
    return summaries(list(select.order_by(Movie.added_at.desc(), Movie.id.desc()).limit(limit)))


def get_movie(movie_id: int) -> Movie | None:
    return Movie.get_or_none(Movie.id == movie_id)


def movie_detail(movie_id: int) -> dict[str, Any] | None:
    movie = (Movie.select(Movie, Collection).join(Collection, join_type=peewee.JOIN.LEFT_OUTER)
             .where(Movie.id == movie_id).first())
    if movie is None:
        return None
    detail = summaries([movie])[0]
    studios = [r[0] for r in Studio.select(Studio.name).join(MovieStudio)
               .where(MovieStudio.movie == movie_id).order_by(Studio.name).tuples()]
    detail.update({
        "overview": movie.overview, "tagline": movie.tagline, "status": movie.status, "votes": movie.votes,
        "original_language": movie.original_language,
        "collection": {"id": movie.collection.id, "name": movie.collection.name} if movie.collection_id else None,
        "studios": studios,
        "external_ids": {r.kind: r.value for r in MovieExternalId.select().where(MovieExternalId.movie == movie_id)
                         .order_by(MovieExternalId.kind)},
        "certifications": {r.country: r.certification for r in Certification.select()
                           .where(Certification.movie == movie_id).order_by(Certification.country)},
        "translations": {r.language: {"title": r.title, "overview": r.overview, "tagline": r.tagline}
                         for r in Translation.select().where(Translation.movie == movie_id)
                         .order_by(Translation.language)},
        "locked_fields": list(movie.locked_fields),
        "match": {"state": movie.match_state, "score": movie.match_score, "provider": movie.match_provider,
                  "external_id": movie.match_external_id, "candidates": list(movie.match_candidates)},
        "artwork": [_artwork_json(r) for r in Artwork.select().where(Artwork.movie == movie_id)
                    .order_by(Artwork.kind, Artwork.is_primary.desc(), Artwork.id)],
        "file_count": MovieFile.select().where(MovieFile.movie == movie_id).count(),
        "updated_at": _iso(movie.updated_at), "metadata_updated_at": _iso(movie.metadata_updated_at),
    })
    return detail


def movie_files(movie_id: int) -> list[dict[str, Any]]:
    rows = MovieFile.select().where(MovieFile.movie == movie_id).order_by(
        MovieFile.version, MovieFile.part, MovieFile.relative_path)
    return [{
        "file_id": r.file_id, "relative_path": r.relative_path, "version": r.version, "part": r.part,
        "container": r.container, "duration": r.duration, "size": r.size, "bitrate": r.bitrate,
        "video_codec": r.video_codec, "width": r.width, "height": r.height, "resolution": r.resolution,
        "hdr": r.hdr, "audio_tracks": r.audio_tracks, "subtitle_tracks": r.subtitle_tracks, "chapters": r.chapters,
        "probe_error": r.probe_error, "added_at": _iso(r.added_at), "updated_at": _iso(r.updated_at),
    } for r in rows]


def movie_credits(movie_id: int) -> dict[str, list[dict[str, Any]]]:
    rows = (Credit.select(Credit, Person).join(Person).where(Credit.movie == movie_id)
            .order_by(Credit.order, Credit.id))
    cast, crew = [], []
    for row in rows:
        person = row.person
        image = image_json(person.image_artwork_id, kind="profile") if person.image_artwork_id else None
        entry = {"person_id": person.id, "name": person.name, "role": row.role, "order": row.order,
                 "external_ids": dict(person.external_ids), "image": image}
        if row.role == "actor":
            cast.append({**entry, "character": row.character})
        else:
            crew.append(entry)
    return {"cast": cast, "crew": crew}


def genres(libraries: Sequence[str], visible: Visible) -> list[dict[str, Any]]:
    movies = _visible(Movie.select(Movie.id), visible)
    if libraries:
        movies = movies.where(Movie.library_id.in_(list(libraries)))
    count = peewee.fn.COUNT(MovieGenre.movie.distinct())
    rows = (Genre.select(Genre.id, Genre.name, count.alias("movie_count")).join(MovieGenre)
            .where(MovieGenre.movie.in_(movies)).group_by(Genre.id, Genre.name).order_by(Genre.name))
    return [{"id": r.id, "name": r.name, "movie_count": r.movie_count} for r in rows]


def collections(visible: Visible) -> list[dict[str, Any]]:
    count = peewee.fn.COUNT(Movie.id)
    select = _visible(Collection.select(Collection, count.alias("movie_count")).join(Movie), visible)
    rows = select.group_by(Collection.id).order_by(Collection.name, Collection.id)
    return [{"id": r.id, "name": r.name, "overview": r.overview, "movie_count": r.movie_count} for r in rows]


def collection_detail(collection_id: int, visible: Visible) -> dict[str, Any] | None:
    collection = Collection.get_or_none(Collection.id == collection_id)
    if collection is None:
        return None
    movies = list(_visible(Movie.select().where(Movie.collection == collection_id), visible)
                  .order_by(Movie.year.asc(nulls="LAST"), Movie.sort_key, Movie.id))
    if not movies:
        return None  # a collection with nothing the caller may see does not exist for them
    return {"id": collection.id, "name": collection.name, "overview": collection.overview,
            "movie_count": len(movies), "movies": summaries(movies)}
