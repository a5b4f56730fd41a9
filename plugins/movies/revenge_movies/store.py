"""Writes to the movies tables. Every function here is blocking: call it through ``context.db.run``.

The merge rules live here, in one place:

- a field the user locked (``locked_fields``) is never written by ingest or enrichment;
- a field the NFO gave (``local_fields``) wins over providers, unless a refresh asks to
  ``replace``, which lets the provider overwrite it (and forgets that it was local);
- a provider value that is empty never erases a known one;
- genres, studios, the collection, certifications, translations and credits are replaced as
  a whole by the provider's when it has any (or always, with ``replace``), and by the NFO's on
  ingest when the NFO lists any.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import peewee

from revenge_hookspecs.media import Credit as CreditInfo
from revenge_hookspecs.media import ItemMetadata, MediaFile, normalize_title
from revenge_hookspecs.search import normalize

from .facts import SCALAR_FIELDS, FileFacts, LocalMovie
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
    utcnow,
)

LOCAL = "local"
MAX_CANDIDATES = 10


def parse_date(value: Any) -> datetime.date | None:
    """An ISO ``YYYY-MM-DD`` date (or its date part), else ``None``."""
    if isinstance(value, datetime.date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        return None


def name_key(name: str, year: int | None) -> str:
    return f"{normalize_title(name)[:500]}|{year or ''}"


def derive(movie: Movie) -> None:
    """Recompute the columns that follow from the others (sorting, matching, text search)."""
    movie.title = (movie.title or "").strip()[:512] or "Untitled"
    movie.sort_key = (normalize_title(movie.sort_title or movie.title) or normalize(movie.title))[:512]
    movie.title_norm = normalize_title(movie.title)[:512]
    # A leading space lets one LIKE pattern (' word%') find the start of any word.
    parts = dict.fromkeys(normalize(t) for t in (movie.title, movie.original_title, movie.sort_title) if t)
    movie.search_text = " " + " ".join(p for p in parts if p)
    movie.updated_at = utcnow()


def _set(movie: Movie, field: str, value: Any) -> None:
    """Set a column from local or provider metadata, cut to the column's size."""
    column = Movie._meta.fields[field]
    if field == "release_date":
        value = parse_date(value)
    elif isinstance(column, peewee.CharField) and isinstance(value, str):
        value = value.strip()[:column.max_length]
    setattr(movie, field, value)


def _save(movie: Movie) -> Movie:
    derive(movie)
    movie.save()
    return movie


# --- finding and creating movies from files ---------------------------------------------------------


def find_movie(library_id: str, local: LocalMovie) -> Movie | None:
    """The movie of ``library_id`` a file belongs to: by a shared external id, else by title and year."""
    in_library = Movie.library_id == library_id
    if local.external_ids:
        same_id = None
        for kind, value in local.external_ids.items():
            condition = (MovieExternalId.kind == kind) & (MovieExternalId.value == value)
            same_id = condition if same_id is None else same_id | condition
        found = (Movie.select().join(MovieExternalId).where(in_library & same_id).order_by(Movie.id).first())
        if found is not None:
            return found
    keys = {name_key(local.name, local.name_year), name_key(local.title, local.year)}
    titles = {normalize_title(local.name), normalize_title(local.title)}
    by_title = Movie.title_norm.in_(titles)
    by_title &= (Movie.year == local.year) if local.year else Movie.year.is_null()
    found = Movie.select().where(in_library & (Movie.name_key.in_(keys) | by_title)).order_by(Movie.id).first()
    if found is not None or local.year:
        return found
    # No year known: a title alone decides only when it is unambiguous.
    same_title = list(Movie.select().where(in_library & Movie.title_norm.in_(titles)).limit(2))
    return same_title[0] if len(same_title) == 1 else None


def movie_of_file(library_id: str, file_id: str, local: LocalMovie, *, known: MovieFile | None = None) -> Movie | None:
    """The movie a file is (or is about to be) attached to: the one holding it, else :func:`find_movie`."""
    known = known or MovieFile.get_or_none(MovieFile.file_id == file_id)
    return Movie.get_by_id(known.movie_id) if known is not None else find_movie(library_id, local)


@attrs.frozen
class Attached:
    """What :func:`attach_file` did: the movie, whether it is new, and whether it was matched."""

    movie_id: int
    created: bool
    was_matched: bool


def attach_file(library_id: str, media: MediaFile, local: LocalMovie, facts: FileFacts) -> Attached:
    """Create or update the movie a file belongs to, and the file's row (idempotent)."""
    with Movie._meta.database.atomic():
        known = MovieFile.get_or_none(MovieFile.file_id == media.file_id)
        movie = movie_of_file(library_id, media.file_id, local, known=known)
        created = movie is None
        if created:
            movie = Movie(library_id=library_id, title=local.title, year=local.year,
                          name_key=name_key(local.name, local.name_year))
            _save(movie)
        was_matched = not created and movie.match_state == "matched"
        apply_local(movie, local)
        row = known or MovieFile(file_id=media.file_id)
        row.movie = movie
        row.library_id = library_id
        for column, value in facts.columns().items():
            setattr(row, column, value)
        row.updated_at = utcnow()
        row.save()
    return Attached(movie.id, created, was_matched)


def apply_local(movie: Movie, local: LocalMovie) -> None:
    """Write what the NFO said, except what the user locked; remember which fields came from it."""
    locked = set(movie.locked_fields)
    applied = set(movie.local_fields)
    for field, value in local.fields.items():
        if field in SCALAR_FIELDS and field not in locked and value not in (None, ""):
            _set(movie, field, value)
            applied.add(field)
    groups = {
        "genres": (local.genres, lambda: set_names(movie, Genre, MovieGenre, "genre", local.genres)),
        "studios": (local.studios, lambda: set_names(movie, Studio, MovieStudio, "studio", local.studios)),
        "collection": (local.collection, lambda: set_collection(movie, local.collection)),
        "certifications": (local.certifications, lambda: set_certifications(movie, local.certifications)),
        "credits": (local.credits, lambda: set_credits(movie, local.credits, provider=None)),
    }
    for field, (value, write) in groups.items():
        if value and field not in locked:
            write()
            applied.add(field)
    if local.external_ids:
        set_external_ids(movie, local.external_ids, source=LOCAL, overwrite=True)
    movie.local_fields = sorted(applied)
    _save(movie)


# --- related rows -------------------------------------------------------------------------------------


def _clip(text: str | None, limit: int) -> str | None:
    return text[:limit] if text else None


def _clean_names(names: Iterable[str], limit: int) -> list[str]:
    cleaned = (str(n).strip()[:limit] for n in names)
    return list(dict.fromkeys(n for n in cleaned if n))


def set_names(movie: Movie, vocabulary: type[peewee.Model], link: type[peewee.Model], column: str,
              names: Iterable[str]) -> None:
    """Replace the movie's genres or studios by ``names`` (a vocabulary row each, made on demand)."""
    limit = vocabulary.name.max_length
    link.delete().where(link.movie == movie.id).execute()
    for name in _clean_names(names, limit):
        entry, _ = vocabulary.get_or_create(name=name)
        link.create(movie=movie.id, **{column: entry.id})


def set_collection(movie: Movie, name: str | None, *, provider: str | None = None,
                   external_id: str | None = None, overview: str | None = None) -> None:
    if not name:
        movie.collection = None
        return
    name = name.strip()[:255]
    collection = None
    if provider and external_id:
        collection = Collection.get_or_none((Collection.provider == provider) & (Collection.external_id == external_id))
    if collection is None:
        collection = (Collection.select().where((Collection.name == name) & Collection.provider.is_null())
                      .order_by(Collection.id).first())
        if collection is not None and provider and external_id:
            collection.provider, collection.external_id = provider, external_id
    if collection is None:
        collection = Collection(name=name, provider=provider, external_id=external_id)
    collection.name = name
    if overview:
        collection.overview = overview
    collection.save()
    movie.collection = collection


def set_certifications(movie: Movie, certifications: Mapping[str, str]) -> None:
    Certification.delete().where(Certification.movie == movie.id).execute()
    for country, rating in certifications.items():
        if country and rating:
            Certification.create(movie=movie.id, country=str(country)[:8], certification=str(rating)[:32])


def set_translations(movie: Movie, translations: Mapping[str, Any]) -> None:
    Translation.delete().where(Translation.movie == movie.id).execute()
    for language, text in translations.items():
        if language and (text.title or text.overview or text.tagline):
            Translation.create(movie=movie.id, language=str(language)[:16], title=_clip(text.title, 512),
                               overview=text.overview, tagline=text.tagline)


def set_external_ids(movie: Movie, ids: Mapping[str, str], *, source: str, overwrite: bool) -> None:
    """Add ids; an id already known under that kind is replaced when ``overwrite`` or when it came
    from a provider (a local id is kept over a provider's unless ``overwrite``)."""
    for kind, value in ids.items():
        if not kind or not value:
            continue
        kind, value = str(kind)[:32], str(value)[:64]
        row = MovieExternalId.get_or_none((MovieExternalId.movie == movie.id) & (MovieExternalId.kind == kind))
        if row is None:
            MovieExternalId.create(movie=movie.id, kind=kind, value=value, source=source)
        elif overwrite or row.source != LOCAL:
            row.value, row.source = value, source
            row.save()


def _person_key(credit: CreditInfo, provider: str | None) -> str | None:
    ids = dict(credit.external_ids)
    if not ids:
        return None
    kind = provider if provider in ids else sorted(ids)[0]
    return f"{kind}:{ids[kind]}"[:100]


def _person(credit: CreditInfo, provider: str | None) -> Person:
    name = credit.name.strip()[:255]
    key = _person_key(credit, provider)
    person = Person.get_or_none(Person.key == key) if key else None
    if person is None:
        # Without ids a name is all there is; with them, adopt a namesake known only by name.
        person = (Person.select().where((Person.name == name) & Person.key.is_null()).order_by(Person.id).first())
    if person is None:
        person = Person(name=name, key=key, external_ids={})
    person.name = name
    if key and person.key is None:
        person.key = key
    person.external_ids = {**person.external_ids, **{str(k): str(v) for k, v in credit.external_ids.items()}}
    person.save()
    return person


def set_credits(movie: Movie, credits: Sequence[CreditInfo], *, provider: str | None) -> list[tuple[int, str]]:
    """Replace the movie's credits; returns ``(person_id, image_url)`` of people without an image yet."""
    Credit.delete().where(Credit.movie == movie.id).execute()
    wanting_image: list[tuple[int, str]] = []
    for position, credit in enumerate(credits):
        if not credit.name or not credit.name.strip():
            continue
        person = _person(credit, provider)
        order = credit.order if credit.order is not None else position
        Credit.create(movie=movie.id, person=person.id, role=(credit.role or "actor")[:32],
                      character=_clip(credit.character, 512), order=order)
        if credit.image_url and not person.image_artwork_id:
            wanting_image.append((person.id, credit.image_url))
    return wanting_image


# --- provider metadata -------------------------------------------------------------------------------


def merge_metadata(movie_id: int, meta: ItemMetadata, *, replace: bool, score: float,
                   candidates: Sequence[Mapping[str, Any]] = (), pin: bool = False) -> list[tuple[int, str]]:
    """Merge a provider's metadata into a movie and mark it matched (see the module's rules).

    :param pin: the user chose this match: lock ``match`` so refreshes keep it.

    :returns: people of the new credits that still want an image, as ``(person_id, url)``.
    """
    with Movie._meta.database.atomic():
        movie = Movie.get_by_id(movie_id)
        locked = set(movie.locked_fields)
        protected = locked if replace else locked | set(movie.local_fields)
        values = {
            "title": meta.title, "original_title": meta.original_title, "year": meta.year,
            "release_date": parse_date(meta.release_date), "overview": meta.overview, "tagline": meta.tagline,
            "runtime": meta.runtime_minutes, "status": meta.status, "rating": meta.rating, "votes": meta.votes,
            "original_language": meta.original_language,
        }
        for field, value in values.items():
            if field not in protected and value not in (None, ""):
                _set(movie, field, value)
        wanting_image: list[tuple[int, str]] = []
        groups = {
            "genres": (meta.genres, lambda: set_names(movie, Genre, MovieGenre, "genre", meta.genres)),
            "studios": (meta.studios, lambda: set_names(movie, Studio, MovieStudio, "studio", meta.studios)),
            "collection": (meta.collection, lambda: set_collection(
                movie, meta.collection, provider=meta.provider, external_id=meta.collection_id)),
            "certifications": (meta.certifications, lambda: set_certifications(movie, meta.certifications)),
            "translations": (meta.translations, lambda: set_translations(movie, meta.translations)),
            "credits": (meta.credits, lambda: wanting_image.extend(
                set_credits(movie, meta.credits, provider=meta.provider))),
        }
        for field, (value, write) in groups.items():
            if field not in protected and (value or replace):
                write()
        ids = {**meta.external_ids, meta.provider: meta.external_id}
        if replace:
            MovieExternalId.delete().where((MovieExternalId.movie == movie.id)
                                           & (MovieExternalId.source != LOCAL)).execute()
            movie.local_fields = []
        set_external_ids(movie, ids, source=meta.provider, overwrite=replace)
        if pin:
            movie.locked_fields = sorted({*movie.locked_fields, "match"})
        movie.match_state = "matched"
        movie.match_score = score
        movie.match_provider = meta.provider[:63]
        movie.match_external_id = str(meta.external_id)[:64]
        movie.match_candidates = list(candidates)[:MAX_CANDIDATES]
        movie.metadata_updated_at = utcnow()
        _save(movie)
    return wanting_image


def set_unmatched(movie_id: int, state: str, candidates: Sequence[Mapping[str, Any]], score: float | None) -> None:
    """Record a search that found nothing sure enough (``needs_review``) or nothing (``unmatched``)."""
    movie = Movie.get_by_id(movie_id)
    movie.match_state = state
    movie.match_score = score
    movie.match_candidates = list(candidates)[:MAX_CANDIDATES]
    movie.metadata_updated_at = utcnow()
    _save(movie)


def set_person_image(person_id: int, artwork_id: str, item_key: str) -> None:
    Person.update(image_artwork_id=artwork_id, image_item_key=item_key).where(Person.id == person_id).execute()


def add_artwork(movie_id: int, ref: Any, *, source: str) -> None:
    """Record a stored image; the primary of its kind is local artwork first, then the newest
    provider pick, and stays as it is while the kind is locked."""
    movie = Movie.get_by_id(movie_id)
    with Movie._meta.database.atomic():
        row = Artwork.get_or_none((Artwork.movie == movie_id) & (Artwork.kind == ref.kind)
                                  & (Artwork.artwork_id == ref.id))
        if row is None:
            row = Artwork(movie=movie_id, kind=ref.kind, artwork_id=ref.id)
        row.source, row.language = source, ref.language
        row.width, row.height, row.blurhash = ref.width, ref.height, (ref.blurhash or "")[:128]
        same_kind = (Artwork.movie == movie_id) & (Artwork.kind == ref.kind)
        has_primary = Artwork.select().where(same_kind & Artwork.is_primary).exists()
        local_primary = Artwork.select().where(same_kind & Artwork.is_primary & (Artwork.source == LOCAL)).exists()
        if ref.kind in movie.locked_fields and has_primary:
            take = False
        elif source == LOCAL:
            take = True
        else:
            take = not local_primary
        if take:
            Artwork.update(is_primary=False).where(same_kind).execute()
        row.is_primary = take or row.is_primary
        row.save()


# --- moves, removals, user edits -------------------------------------------------------------------------


def move_files(moves: Iterable[tuple[str, str]]) -> list[int]:
    """Update relative paths (``(file_id, relative_path)``); returns the movies touched."""
    touched = set()
    for file_id, relative_path in moves:
        row = MovieFile.get_or_none(MovieFile.file_id == file_id)
        if row is not None:
            row.relative_path, row.updated_at = relative_path, utcnow()
            row.save()
            touched.add(row.movie_id)
    return sorted(touched)


def remove_files(file_ids: Iterable[str]) -> tuple[list[int], list[int]]:
    """Drop file rows; returns ``(movies left without files, movies that keep some)``."""
    file_ids = [str(f) for f in file_ids]
    with Movie._meta.database.atomic():
        movies = {row.movie_id for row in MovieFile.select(MovieFile.movie).where(MovieFile.file_id.in_(file_ids))}
        MovieFile.delete().where(MovieFile.file_id.in_(file_ids)).execute()
        keeping = {row.movie_id for row in MovieFile.select(MovieFile.movie).where(MovieFile.movie.in_(movies))}
    return sorted(movies - keeping), sorted(keeping)


def delete_movies(movie_ids: Sequence[int]) -> None:
    """Delete movies and every row that hangs off them (explicitly: SQLite may run without FKs)."""
    if not movie_ids:
        return
    with Movie._meta.database.atomic():
        for child in (MovieExternalId, MovieFile, Credit, MovieGenre, MovieStudio, Certification, Translation,
                      Artwork):
            child.delete().where(child.movie.in_(movie_ids)).execute()
        Movie.delete().where(Movie.id.in_(movie_ids)).execute()


def forget_person_images(item_keys: Iterable[str]) -> None:
    """People whose image was stored under a removed movie lose it (it is deleted with the movie)."""
    Person.update(image_artwork_id=None, image_item_key=None).where(
        Person.image_item_key.in_(list(item_keys))).execute()


def edit_movie(movie_id: int, values: Mapping[str, Any], genres: Sequence[str] | None) -> None:
    """A user's edit: write the values and lock every field edited."""
    with Movie._meta.database.atomic():
        movie = Movie.get_by_id(movie_id)
        for field, value in values.items():
            setattr(movie, field, value)
        edited = set(values)
        if genres is not None:
            set_names(movie, Genre, MovieGenre, "genre", genres)
            edited.add("genres")
        movie.locked_fields = sorted(set(movie.locked_fields) | edited)
        _save(movie)


def set_locks(movie_id: int, fields: Iterable[str]) -> list[str]:
    movie = Movie.get_by_id(movie_id)
    movie.locked_fields = sorted(set(fields))
    _save(movie)
    return movie.locked_fields


ENRICH_REQUEUE_AFTER = datetime.timedelta(hours=6)
"""How long a queued enrichment job keeps the ingest from queueing another for the same movie
(past that, the first one is taken for lost)."""


def claim_enrich(movie_ids: Iterable[int]) -> list[int]:
    """Of ``movie_ids``, those with no enrichment job queued recently, now marked as queued."""
    ids = sorted(set(movie_ids))
    if not ids:
        return []
    now = utcnow()
    with Movie._meta.database.atomic():
        free = [row[0] for row in Movie.select(Movie.id).where(
            Movie.id.in_(ids) & (Movie.enrich_queued_at.is_null()
                                 | (Movie.enrich_queued_at < now - ENRICH_REQUEUE_AFTER))).tuples()]
        if free:
            Movie.update(enrich_queued_at=now).where(Movie.id.in_(free)).execute()
    return free


def release_enrich(movie_ids: Iterable[int]) -> None:
    """Let the ingest queue enrichment again (the job is running, or was never queued)."""
    ids = list(movie_ids)
    if ids:
        Movie.update(enrich_queued_at=None).where(Movie.id.in_(ids) & Movie.enrich_queued_at.is_null(False)).execute()
