"""The movies tables (schema ``public``), all named ``movie*`` so they never meet another plugin's.

Lists that are only ever read and written whole (audio tracks, subtitle tracks, chapters,
locked field names, identify candidates) are JSON text; everything that is filtered,
sorted or joined on has its own column or table. The migrations in ``migrations/`` create
exactly these tables; change both together.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import peewee

from revenge_hookspecs.db import Model

MATCH_STATES = ("matched", "unmatched", "needs_review")


def utcnow() -> datetime.datetime:
    """Naive UTC, as the server stores times."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class JSONField(peewee.TextField):
    """A JSON value stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class Collection(Model):
    """A film series ("The Matrix Collection"); ``provider``/``external_id`` when a provider named it."""

    name = peewee.CharField(max_length=255, index=True)
    provider = peewee.CharField(max_length=63, null=True)
    external_id = peewee.CharField(max_length=64, null=True)
    overview = peewee.TextField(null=True)

    class Meta:
        table_name = "movie_collections"
        indexes = ((("provider", "external_id"), True),)


class Movie(Model):
    library_id = peewee.CharField(max_length=64, index=True)
    title = peewee.CharField(max_length=512)
    original_title = peewee.CharField(max_length=512, null=True)
    sort_title = peewee.CharField(max_length=512, null=True)
    year = peewee.IntegerField(null=True, index=True)
    release_date = peewee.DateField(null=True)
    overview = peewee.TextField(null=True)
    tagline = peewee.TextField(null=True)
    runtime = peewee.IntegerField(null=True)
    status = peewee.CharField(max_length=64, null=True)
    rating = peewee.DoubleField(null=True)
    votes = peewee.IntegerField(null=True)
    original_language = peewee.CharField(max_length=16, null=True)
    collection = peewee.ForeignKeyField(Collection, null=True, on_delete="SET NULL", backref="movies")
    # Derived on every save (see store.derive): how the movie sorts, is found and matched.
    sort_key = peewee.CharField(max_length=512)  # indexed with id, below
    title_norm = peewee.CharField(max_length=512, index=True)
    name_key = peewee.CharField(max_length=520, index=True)
    search_text = peewee.TextField(default="")
    locked_fields = JSONField(default=list)
    local_fields = JSONField(default=list)
    match_state = peewee.CharField(max_length=16, default="unmatched", index=True)
    match_score = peewee.DoubleField(null=True)
    match_provider = peewee.CharField(max_length=63, null=True)
    match_external_id = peewee.CharField(max_length=64, null=True)
    match_candidates = JSONField(default=list)
    added_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    metadata_updated_at = peewee.DateTimeField(null=True)
    enrich_queued_at = peewee.DateTimeField(null=True)
    """When the ingest last queued a ``movies.enrich`` job for it; cleared when the job runs."""

    class Meta:
        table_name = "movies"


# The orderings of ``GET /movies`` (see ``views.list_order``): title, and year, rating or date
# added descending, each with the title tiebreak. The migration 0002 creates them; on PostgreSQL
# the nullable ``year`` and ``rating`` are ``DESC NULLS LAST`` there, as the query orders them.
Movie.add_index(Movie.sort_key, Movie.id, name="movies_sort_key_id")
Movie.add_index(Movie.year.desc(), Movie.sort_key, Movie.id, name="movies_year_desc_list")
Movie.add_index(Movie.rating.desc(), Movie.sort_key, Movie.id, name="movies_rating_desc_list")
Movie.add_index(Movie.added_at.desc(), Movie.sort_key, Movie.id, name="movies_added_desc_list")


class MovieExternalId(Model):
    """An id of the movie elsewhere (``tmdb``, ``imdb``...); ``source`` is ``local`` (NFO) or a provider."""

    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="external_ids")
    kind = peewee.CharField(max_length=32)
    value = peewee.CharField(max_length=64)
    source = peewee.CharField(max_length=63, default="local")

    class Meta:
        table_name = "movie_external_ids"
        indexes = ((("movie", "kind"), True), (("kind", "value"), False))


class MovieFile(Model):
    """One file of a movie: a version (edition, resolution) or a part of one (cd1, cd2)."""

    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="files")
    file_id = peewee.CharField(max_length=64, unique=True)
    library_id = peewee.CharField(max_length=64, index=True)
    relative_path = peewee.TextField()
    version = peewee.CharField(max_length=128, null=True)
    part = peewee.IntegerField(null=True)
    container = peewee.CharField(max_length=64, null=True)
    duration = peewee.DoubleField(null=True)
    size = peewee.BigIntegerField(null=True)
    bitrate = peewee.BigIntegerField(null=True)
    video_codec = peewee.CharField(max_length=32, null=True)
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    resolution = peewee.CharField(max_length=16, null=True, index=True)
    hdr = peewee.CharField(max_length=32, null=True)
    audio_tracks = JSONField(default=list)
    subtitle_tracks = JSONField(default=list)
    chapters = JSONField(default=list)
    probe_error = peewee.TextField(null=True)
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "movie_files"


class Person(Model):
    """Someone credited in a movie. ``key`` (``tmdb:500``) identifies them across movies when a
    provider gave an id; their image is stored under the item key ``image_item_key``."""

    name = peewee.CharField(max_length=255, index=True)
    key = peewee.CharField(max_length=100, null=True, unique=True)
    external_ids = JSONField(default=dict)
    image_artwork_id = peewee.CharField(max_length=64, null=True)
    image_item_key = peewee.CharField(max_length=100, null=True, index=True)

    class Meta:
        table_name = "movie_people"


class Credit(Model):
    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="credits")
    person = peewee.ForeignKeyField(Person, on_delete="CASCADE", backref="credits")
    role = peewee.CharField(max_length=32)
    character = peewee.CharField(max_length=512, null=True)
    order = peewee.IntegerField(null=True)

    class Meta:
        table_name = "movie_credits"
        indexes = ((("movie", "role", "order"), False),)


class Genre(Model):
    name = peewee.CharField(max_length=128, unique=True)

    class Meta:
        table_name = "movie_genres"


class MovieGenre(Model):
    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE")
    genre = peewee.ForeignKeyField(Genre, on_delete="CASCADE")

    class Meta:
        table_name = "movie_genre_links"
        indexes = ((("movie", "genre"), True),)


class Studio(Model):
    name = peewee.CharField(max_length=255, unique=True)

    class Meta:
        table_name = "movie_studios"


class MovieStudio(Model):
    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE")
    studio = peewee.ForeignKeyField(Studio, on_delete="CASCADE")

    class Meta:
        table_name = "movie_studio_links"
        indexes = ((("movie", "studio"), True),)


class Certification(Model):
    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="certifications")
    country = peewee.CharField(max_length=8)
    certification = peewee.CharField(max_length=32)

    class Meta:
        table_name = "movie_certifications"
        indexes = ((("movie", "country"), True),)


class Translation(Model):
    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="translations")
    language = peewee.CharField(max_length=16)
    title = peewee.CharField(max_length=512, null=True)
    overview = peewee.TextField(null=True)
    tagline = peewee.TextField(null=True)

    class Meta:
        table_name = "movie_translations"
        indexes = ((("movie", "language"), True),)


class Artwork(Model):
    """An image of a movie stored through ``context.artwork``; ``source`` is ``local`` or a provider.

    ``width``, ``height`` and ``blurhash`` are copied from the stored
    :class:`~revenge_hookspecs.media.ArtworkRef` so lists render without asking the artwork service.
    """

    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="artwork")
    kind = peewee.CharField(max_length=16)
    artwork_id = peewee.CharField(max_length=64)
    is_primary = peewee.BooleanField(default=False)
    source = peewee.CharField(max_length=63, default="local")
    language = peewee.CharField(max_length=16, null=True)
    width = peewee.IntegerField(default=0)
    height = peewee.IntegerField(default=0)
    blurhash = peewee.CharField(max_length=128, default="")

    class Meta:
        table_name = "movie_artwork"
        indexes = ((("movie", "kind", "artwork_id"), True), (("movie", "kind", "is_primary"), False))


MODELS: tuple[type[Model], ...] = (Collection, Movie, MovieExternalId, MovieFile, Person, Credit, Genre, MovieGenre,
                                   Studio, MovieStudio, Certification, Translation, Artwork)
"""Every model, parents before children (the order tables are created in)."""
