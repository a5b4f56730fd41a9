"""Create the movies tables.

The models are a frozen copy of ``revenge_movies.models`` at version 0.1, not an import: this
script must keep creating the tables as they were then, whatever the models become later.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Collection(Model):
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
    sort_key = peewee.CharField(max_length=512, index=True)
    title_norm = peewee.CharField(max_length=512, index=True)
    name_key = peewee.CharField(max_length=520, index=True)
    search_text = peewee.TextField(default="")
    locked_fields = peewee.TextField()
    local_fields = peewee.TextField()
    match_state = peewee.CharField(max_length=16, default="unmatched", index=True)
    match_score = peewee.DoubleField(null=True)
    match_provider = peewee.CharField(max_length=63, null=True)
    match_external_id = peewee.CharField(max_length=64, null=True)
    match_candidates = peewee.TextField()
    added_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    metadata_updated_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "movies"


class MovieExternalId(Model):
    movie = peewee.ForeignKeyField(Movie, on_delete="CASCADE", backref="external_ids")
    kind = peewee.CharField(max_length=32)
    value = peewee.CharField(max_length=64)
    source = peewee.CharField(max_length=63, default="local")

    class Meta:
        table_name = "movie_external_ids"
        indexes = ((("movie", "kind"), True), (("kind", "value"), False))


class MovieFile(Model):
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
    audio_tracks = peewee.TextField()
    subtitle_tracks = peewee.TextField()
    chapters = peewee.TextField()
    probe_error = peewee.TextField(null=True)
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "movie_files"


class Person(Model):
    name = peewee.CharField(max_length=255, index=True)
    key = peewee.CharField(max_length=100, null=True, unique=True)
    external_ids = peewee.TextField()
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


MODELS = (Collection, Movie, MovieExternalId, MovieFile, Person, Credit, Genre, MovieGenre, Studio, MovieStudio,
          Certification, Translation, Artwork)


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, MODELS)
    db.drop_tables(list(reversed(MODELS)))
