"""The search documents of the movies plugin: ``movie`` and ``movie_person``.

``movie_person`` is one document per person and library (see :mod:`revenge_video.people`):
id ``"<person_id>-<library_id>"``, the person's name as title, ``known_for`` the titles of
their movies in that library, ``roles`` and ``person_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import peewee

from revenge_hookspecs import SearchDocumentType, SearchField
from revenge_video import people as person_docs

from .facts import best_resolution
from .models import Collection, Credit, Genre, Movie, MovieFile, MovieGenre, Person

DOC_TYPE = "movie"
PERSON_TYPE = "movie_person"
MAX_PEOPLE = 30
REINDEX_BATCH = 200

FIELDS = (
    SearchField("original_title", "string", searchable=True),
    SearchField("year", "int", facet=True),
    SearchField("genre", "string[]", facet=True),
    SearchField("resolution", "string", facet=True),
    SearchField("people", "string[]", searchable=True),
    SearchField("collection", "string", searchable=True),
)


def documents(movie_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Search documents of some movies (blocking; run through ``context.db.run``)."""
    if not movie_ids:
        return []
    movies = list(Movie.select(Movie, Collection).join(Collection, join_type=peewee.JOIN.LEFT_OUTER)
                  .where(Movie.id.in_(list(movie_ids))).order_by(Movie.id))
    ids = [m.id for m in movies]
    genres: dict[int, list[str]] = {}
    for row in (MovieGenre.select(MovieGenre.movie, Genre.name).join(Genre).where(MovieGenre.movie.in_(ids))
                .order_by(Genre.name).tuples()):
        genres.setdefault(row[0], []).append(row[1])
    resolutions: dict[int, list[str | None]] = {}
    for movie_id, resolution in MovieFile.select(MovieFile.movie, MovieFile.resolution).where(
            MovieFile.movie.in_(ids)).tuples():
        resolutions.setdefault(movie_id, []).append(resolution)
    people: dict[int, list[str]] = {}
    for movie_id, name in (Credit.select(Credit.movie, Person.name).join(Person).where(Credit.movie.in_(ids))
                           .order_by(Credit.movie, Credit.order, Credit.id).tuples()):
        names = people.setdefault(movie_id, [])
        if len(names) < MAX_PEOPLE and name not in names:
            names.append(name)
    docs = []
    for movie in movies:
        doc: dict[str, Any] = {
            "id": str(movie.id), "title": movie.title, "library_id": movie.library_id,
            "original_title": movie.original_title, "year": movie.year, "genre": genres.get(movie.id, []),
            "resolution": best_resolution(resolutions.get(movie.id, [])), "people": people.get(movie.id, []),
            "collection": movie.collection.name if movie.collection_id else None,
        }
        docs.append({k: v for k, v in doc.items() if v is not None})
    return docs


def all_movie_ids(after: int, limit: int) -> list[int]:
    return [row[0] for row in Movie.select(Movie.id).where(Movie.id > after).order_by(Movie.id).limit(limit).tuples()]


def credited(movie_ids: Iterable[int]) -> set[person_docs.Pair]:
    """Blocking: the people credited in some movies, with those movies' libraries."""
    ids = sorted(set(movie_ids))
    if not ids:
        return set()
    return set(Credit.select(Credit.person, Movie.library_id).join(Movie).where(Credit.movie.in_(ids)).tuples())


def person_credits(person_ids: list[int]) -> list[person_docs.CreditRow]:
    """Blocking: every credit of some people, as :data:`revenge_video.people.CreditRow`."""
    if not person_ids:
        return []
    return list(Credit.select(Credit.person, Person.name, Movie.library_id, Movie.title, Movie.year, Credit.role)
                .join(Person).switch(Credit).join(Movie).where(Credit.person.in_(person_ids)).tuples())


def person_documents(pairs: Iterable[person_docs.Pair]) -> tuple[list[dict[str, Any]], list[str]]:
    """Blocking: the documents of these people in these libraries, and the ids to delete."""
    return person_docs.refreshed(pairs, person_credits)


def document_types(service: Any) -> list[SearchDocumentType]:
    return [document_type(service),
            person_docs.document_type(PERSON_TYPE, person_model=Person, credits_of=person_credits, run=service.run)]


def document_type(service: Any) -> SearchDocumentType:
    async def load_all():
        after = 0
        while True:
            ids = await service.run(all_movie_ids, after, REINDEX_BATCH)
            if not ids:
                return
            for doc in await service.run(documents, ids):
                yield doc
            after = ids[-1]

    return SearchDocumentType(DOC_TYPE, fields=FIELDS, load_all=load_all)
