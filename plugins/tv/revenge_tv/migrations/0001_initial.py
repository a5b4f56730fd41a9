"""Create the TV tables (``tv_*`` in the public schema).

The models are a frozen copy, not an import of ``revenge_tv.models``: this script must keep
creating the tables as they were at version 0.1 whatever the models become later.
"""

from __future__ import annotations

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class JSONField(peewee.TextField):
    """JSON as text; only the column type matters here."""


class Series(Model):
    library_id = peewee.CharField(max_length=64)
    folder = peewee.TextField()
    location_key = peewee.CharField(max_length=64)
    title = peewee.CharField(max_length=512)
    original_title = peewee.CharField(max_length=512, null=True)
    sort_title = peewee.CharField(max_length=512, null=True)
    sort_key = peewee.CharField(max_length=512, index=True)
    year = peewee.IntegerField(null=True, index=True)
    first_air_date = peewee.DateField(null=True)
    overview = peewee.TextField(null=True)
    status = peewee.CharField(max_length=32, null=True)
    rating = peewee.DoubleField(null=True)
    original_language = peewee.CharField(max_length=16, null=True)
    locked_fields = JSONField(default=list)
    local_fields = JSONField(default=list)
    match_state = peewee.CharField(max_length=16, default="unmatched", index=True)
    match_score = peewee.DoubleField(null=True)
    match_provider = peewee.CharField(max_length=64, null=True)
    match_external_id = peewee.CharField(max_length=128, null=True)
    match_candidates = JSONField(default=list)
    added_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    metadata_updated_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "tv_series"
        indexes = ((("library_id", "location_key"), True),)


class SeriesExternalId(Model):
    series = peewee.ForeignKeyField(Series, backref="external_ids", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)
    value = peewee.CharField(max_length=128)
    source = peewee.CharField(max_length=64, default="local")

    class Meta:
        table_name = "tv_series_external_ids"
        indexes = ((("series", "kind"), True), (("kind", "value"), False))


class Network(Model):
    name = peewee.CharField(max_length=255, unique=True)

    class Meta:
        table_name = "tv_networks"


class SeriesNetwork(Model):
    series = peewee.ForeignKeyField(Series, backref="network_links", on_delete="CASCADE")
    network = peewee.ForeignKeyField(Network, backref="series_links", on_delete="CASCADE")
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "tv_series_networks"
        indexes = ((("series", "network"), True),)


class Genre(Model):
    name = peewee.CharField(max_length=255, unique=True)

    class Meta:
        table_name = "tv_genres"


class SeriesGenre(Model):
    series = peewee.ForeignKeyField(Series, backref="genre_links", on_delete="CASCADE")
    genre = peewee.ForeignKeyField(Genre, backref="series_links", on_delete="CASCADE")
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "tv_series_genres"
        indexes = ((("series", "genre"), True),)


class SeriesCertification(Model):
    series = peewee.ForeignKeyField(Series, backref="certifications", on_delete="CASCADE")
    country = peewee.CharField(max_length=8)
    rating = peewee.CharField(max_length=32)

    class Meta:
        table_name = "tv_series_certifications"
        indexes = ((("series", "country"), True),)


class SeriesTranslation(Model):
    series = peewee.ForeignKeyField(Series, backref="translations", on_delete="CASCADE")
    language = peewee.CharField(max_length=16)
    title = peewee.CharField(max_length=512, null=True)
    overview = peewee.TextField(null=True)
    tagline = peewee.TextField(null=True)

    class Meta:
        table_name = "tv_series_translations"
        indexes = ((("series", "language"), True),)


class Season(Model):
    series = peewee.ForeignKeyField(Series, backref="seasons", on_delete="CASCADE")
    number = peewee.IntegerField()
    title = peewee.CharField(max_length=512, null=True)
    overview = peewee.TextField(null=True)
    air_date = peewee.DateField(null=True)
    locked_fields = JSONField(default=list)
    local_fields = JSONField(default=list)
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "tv_seasons"
        indexes = ((("series", "number"), True),)


class Episode(Model):
    series = peewee.ForeignKeyField(Series, backref="episodes", on_delete="CASCADE")
    season = peewee.ForeignKeyField(Season, backref="episodes", on_delete="CASCADE")
    season_number = peewee.IntegerField()
    number = peewee.IntegerField(null=True)
    title = peewee.CharField(max_length=512, null=True)
    overview = peewee.TextField(null=True)
    air_date = peewee.DateField(null=True)
    runtime = peewee.IntegerField(null=True)
    absolute_number = peewee.IntegerField(null=True)
    rating = peewee.DoubleField(null=True)
    external_ids = JSONField(default=dict)
    locked_fields = JSONField(default=list)
    local_fields = JSONField(default=list)
    added_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "tv_episodes"
        indexes = (
            (("series", "season_number", "number"), True),
            (("series", "air_date"), False),
        )


class EpisodeFile(Model):
    library_id = peewee.CharField(max_length=64, index=True)
    file_id = peewee.CharField(max_length=64, unique=True)
    relative_path = peewee.TextField()
    size = peewee.BigIntegerField(default=0)
    container = peewee.CharField(max_length=64, null=True)
    duration = peewee.DoubleField(null=True)
    bitrate = peewee.BigIntegerField(null=True)
    video_codec = peewee.CharField(max_length=32, null=True)
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    resolution = peewee.CharField(max_length=16, null=True)
    frame_rate = peewee.DoubleField(null=True)
    hdr = peewee.CharField(max_length=32, null=True)
    audio_tracks = JSONField(default=list)
    subtitle_tracks = JSONField(default=list)
    chapters = JSONField(default=list)
    source = peewee.CharField(max_length=32, null=True)
    release_group = peewee.CharField(max_length=128, null=True)
    probe_error = peewee.TextField(null=True)
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "tv_episode_files"


class EpisodeFileLink(Model):

    episode = peewee.ForeignKeyField(Episode, backref="file_links", on_delete="CASCADE")
    episode_file = peewee.ForeignKeyField(EpisodeFile, backref="episode_links", on_delete="CASCADE")

    class Meta:
        table_name = "tv_episode_file_links"
        indexes = ((("episode", "episode_file"), True),)


class Person(Model):
    key = peewee.CharField(max_length=160, unique=True)
    name = peewee.CharField(max_length=255)
    image_url = peewee.TextField(null=True)
    external_ids = JSONField(default=dict)

    class Meta:
        table_name = "tv_people"


class SeriesCredit(Model):
    series = peewee.ForeignKeyField(Series, backref="credits", on_delete="CASCADE")
    person = peewee.ForeignKeyField(Person, backref="series_credits", on_delete="CASCADE")
    role = peewee.CharField(max_length=16)
    character = peewee.CharField(max_length=512, null=True)
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "tv_series_credits"
        indexes = ((("series", "role", "position"), False),)


class EpisodeCredit(Model):
    episode = peewee.ForeignKeyField(Episode, backref="credits", on_delete="CASCADE")
    person = peewee.ForeignKeyField(Person, backref="episode_credits", on_delete="CASCADE")
    role = peewee.CharField(max_length=16)
    character = peewee.CharField(max_length=512, null=True)
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "tv_episode_credits"
        indexes = ((("episode", "role", "position"), False),)


class Artwork(Model):

    owner_type = peewee.CharField(max_length=8)
    owner_id = peewee.IntegerField()
    kind = peewee.CharField(max_length=16)
    artwork_id = peewee.CharField(max_length=64)
    is_primary = peewee.BooleanField(default=False)
    source = peewee.CharField(max_length=64, default="local")
    language = peewee.CharField(max_length=16, null=True)
    width = peewee.IntegerField(default=0)
    height = peewee.IntegerField(default=0)
    blurhash = peewee.CharField(max_length=128, default="")
    added_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "tv_artwork"
        indexes = (
            (("owner_type", "owner_id", "kind", "artwork_id"), True),
            (("owner_type", "owner_id", "is_primary"), False),
        )


MODELS: list[type[peewee.Model]] = [
    Series, SeriesExternalId, Network, SeriesNetwork, Genre, SeriesGenre, SeriesCertification,
    SeriesTranslation, Season, Episode, EpisodeFile, EpisodeFileLink, Person, SeriesCredit,
    EpisodeCredit, Artwork,
]


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, MODELS)
    db.drop_tables(list(reversed(MODELS)))
