"""The TV schema: series, seasons, episodes, the files they live in, and what describes them.

Every table lives in the ``public`` (content) schema with a ``tv_`` prefix. Rows exist for what
is on disk: a series, season or episode is created by ingesting a file and dropped with its
last file; metadata providers only describe them. Foreign keys cascade, but the code deletes
children itself so that nothing depends on SQLite's foreign-key pragma.
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
    """JSON in a text column: the same on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class Series(Model):
    library_id = peewee.CharField(max_length=64)
    folder = peewee.TextField()
    """The show folder relative to the library root; ``""`` for loose files at the root."""
    location_key = peewee.CharField(max_length=64)
    """A digest of the folder (and, at the root, the parsed title): what identifies the series on disk."""
    title = peewee.CharField(max_length=512)
    original_title = peewee.CharField(max_length=512, null=True)
    sort_title = peewee.CharField(max_length=512, null=True)
    sort_key = peewee.CharField(max_length=512)
    """How lists sort: the sort title (else the title), case-folded, without a leading article."""
    year = peewee.IntegerField(null=True)
    first_air_date = peewee.DateField(null=True)
    overview = peewee.TextField(null=True)
    status = peewee.CharField(max_length=32, null=True)
    rating = peewee.DoubleField(null=True)
    original_language = peewee.CharField(max_length=16, null=True)
    locked_fields = JSONField(default=list)
    """Fields a user edited: nothing else ever overwrites them."""
    local_fields = JSONField(default=list)
    """Fields a local NFO set: providers overwrite them only on a replacing refresh."""
    match_state = peewee.CharField(max_length=16, default="unmatched", index=True)
    match_score = peewee.DoubleField(null=True)
    match_provider = peewee.CharField(max_length=64, null=True)
    match_external_id = peewee.CharField(max_length=128, null=True)
    match_candidates = JSONField(default=list)
    """The best candidates of the last search, kept for a series that needs review."""
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    metadata_updated_at = peewee.DateTimeField(null=True)
    enrich_queued_at = peewee.DateTimeField(null=True)
    """When an ingest last queued a ``tv.enrich`` job for it; cleared when the job runs."""

    class Meta:
        table_name = "tv_series"
        # The orderings of ``GET /tv/series`` (sort key, then id in the same direction); the
        # migration 0002 creates them, on PostgreSQL ``NULLS FIRST`` for the nullable year and
        # rating so that a backward scan gives the query's ``DESC NULLS LAST``.
        indexes = (
            (("library_id", "location_key"), True),
            (("sort_key", "id"), False),
            (("year", "id"), False),
            (("rating", "id"), False),
            (("added_at", "id"), False),
        )


class SeriesExternalId(Model):
    series = peewee.ForeignKeyField(Series, backref="external_ids", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)
    value = peewee.CharField(max_length=128)
    source = peewee.CharField(max_length=64, default="local")
    """``local`` (tvshow.nfo, the folder name) or the provider that gave it."""

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
    """0 is the specials."""
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
    """``None`` for a placeholder known only by its air date or absolute number."""
    title = peewee.CharField(max_length=512, null=True)
    overview = peewee.TextField(null=True)
    air_date = peewee.DateField(null=True)
    runtime = peewee.IntegerField(null=True)
    """Minutes."""
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
    """The server's ``MediaFile.file_id``."""
    relative_path = peewee.TextField()
    size = peewee.BigIntegerField(default=0)
    container = peewee.CharField(max_length=64, null=True)
    duration = peewee.DoubleField(null=True)
    """Seconds."""
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
    """A file holds one episode, or several (``S01E02E03``)."""

    episode = peewee.ForeignKeyField(Episode, backref="file_links", on_delete="CASCADE")
    episode_file = peewee.ForeignKeyField(EpisodeFile, backref="episode_links", on_delete="CASCADE")

    class Meta:
        table_name = "tv_episode_file_links"
        indexes = ((("episode", "episode_file"), True),)


class Person(Model):
    key = peewee.CharField(max_length=160, unique=True)
    """``<id kind>:<id>`` when a provider gave an id, else ``name:<name>``."""
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
    """An image of a series, season or episode, stored through ``context.artwork``.

    ``width``, ``height`` and ``blurhash`` are copied from the stored ArtworkRef so lists render
    without asking the artwork service once per item. ``source`` is ``local`` (an image next to
    the files, which wins the primary place) or the provider that offered it.
    """

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
