"""Writing the TV schema: placing files into series, seasons and episodes, and pruning.

Every function here is blocking and runs on a database thread (``await context.db.run(fn)``),
inside one transaction per call from :mod:`revenge_tv.handler` or :mod:`revenge_tv.enrich`.
They return plain facts (ids, item keys) for the async side to act on: the item registry,
artwork and the search index.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import peewee

from .documents import credited
from .models import (
    Artwork,
    Episode,
    EpisodeCredit,
    EpisodeFile,
    EpisodeFileLink,
    Genre,
    Network,
    Season,
    Series,
    SeriesCertification,
    SeriesCredit,
    SeriesExternalId,
    SeriesGenre,
    SeriesNetwork,
    SeriesTranslation,
    utcnow,
)
from .paths import location_key, sort_key

SERIES_FIELDS = ("title", "original_title", "sort_title", "year", "first_air_date", "overview", "status", "rating",
                 "original_language")
EPISODE_FIELDS = ("title", "overview", "air_date", "runtime", "absolute_number", "rating")
LIST_FIELDS = ("genres", "networks")
"""Series fields kept in tables of their own; they lock like the others."""


@attrs.define
class SeriesFacts:
    """What the files say about a series: its folder, parsed title and tvshow.nfo."""

    folder: str
    title: str
    year: int | None = None
    external_ids: dict[str, str] = attrs.Factory(dict)
    fields: dict[str, Any] = attrs.Factory(dict)
    """Field values from tvshow.nfo (see :data:`SERIES_FIELDS`, plus ``genres`` and ``networks``)."""

    @property
    def key(self) -> str:
        return location_key(self.folder, self.title)


@attrs.define
class EpisodeTarget:
    """Which episodes one file holds: numbers in a season, or else an air date or absolute number."""

    season: int
    numbers: tuple[int, ...] = ()
    air_date: datetime.date | None = None
    absolute: int | None = None
    episode_fields: dict[tuple[int, int], dict[str, Any]] = attrs.Factory(dict)
    """Fields from the episode NFO by ``(season, number)``."""
    season_fields: dict[str, Any] = attrs.Factory(dict)
    """Fields from season.nfo."""


@attrs.define
class Placed:
    """Where a file went."""

    series_id: int
    season_id: int
    episode_ids: list[int]
    created: bool
    """Whether anything new was created (a series, season or episode)."""
    pruned: Pruned


@attrs.define
class Pruned:
    """Rows deleted because the files that held them are gone."""

    episodes: list[int] = attrs.Factory(list)
    seasons: list[int] = attrs.Factory(list)
    series: list[int] = attrs.Factory(list)
    touched_series: set[int] = attrs.Factory(set)
    """Series that lost something but remain."""
    people: set[tuple[int, str]] = attrs.Factory(set)
    """``(person_id, library_id)`` of the people credited in what was deleted (their search
    documents are brought up to date)."""

    def keys(self) -> list[str]:
        return ([f"episode:{i}" for i in self.episodes] + [f"season:{i}" for i in self.seasons]
                + [f"series:{i}" for i in self.series])

    def merge(self, other: Pruned) -> None:
        self.episodes += other.episodes
        self.seasons += other.seasons
        self.series += other.series
        self.touched_series |= other.touched_series
        self.touched_series -= set(self.series)
        self.people |= other.people


# --- fields --------------------------------------------------------------------------------------


def apply_fields(row: peewee.Model, values: Mapping[str, Any], *, source: str, replace: bool = False) -> list[str]:
    """Set fields on a row by who says so; returns the fields that changed.

    ``source`` is ``user`` (an edit: it locks the field), ``local`` (an NFO: providers leave it
    alone unless ``replace``) or ``provider``. Nothing but a user edit touches a locked field,
    and a provider's ``None`` never erases a value.
    """
    locked = set(row.locked_fields or ())
    local = set(getattr(row, "local_fields", None) or ())
    changed = []
    for name, value in values.items():
        if source != "user" and name in locked:
            continue
        if source == "provider" and (value is None or (name in local and not replace)):
            continue
        if source == "local" and value is None:
            continue
        if source == "local":
            local.add(name)
        else:
            local.discard(name)
        if source == "user":
            locked.add(name)
        if name in LIST_FIELDS:
            continue
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    row.locked_fields = sorted(locked)
    if hasattr(row, "local_fields"):
        row.local_fields = sorted(local)
    return changed


def may_set(row: peewee.Model, name: str, *, source: str, replace: bool = False) -> bool:
    """Whether ``source`` may change a field kept outside the row (genres, networks)."""
    if name in (row.locked_fields or ()):
        return source == "user"
    return not (source == "provider" and name in (row.local_fields or ()) and not replace)


def set_names(series: Series, field: str, names: Sequence[str]) -> None:
    """Replace a series' genres or networks, keeping their order."""
    model, link, column = (Genre, SeriesGenre, "genre") if field == "genres" else (Network, SeriesNetwork, "network")
    link.delete().where(link.series == series).execute()
    seen: set[str] = set()
    for position, name in enumerate(n.strip()[:255] for n in names):
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        named = model.get_or_none(model.name == name) or model.create(name=name)
        link.create(series=series, position=position, **{column: named})


def set_external_ids(series: Series, ids: Mapping[str, str], *, source: str) -> None:
    """Add or update a series' ids elsewhere; a provider never overrides an NFO's id of its kind."""
    known = {row.kind: row for row in SeriesExternalId.select().where(SeriesExternalId.series == series)}
    for kind, value in ids.items():
        kind, value = str(kind)[:32], str(value)[:128]
        if not kind or not value:
            continue
        row = known.get(kind)
        if row is None:
            SeriesExternalId.create(series=series, kind=kind, value=value, source=source)
        elif row.value != value and (source == "local" or row.source != "local"):
            row.value, row.source = value, source
            row.save()


def external_ids(series_id: int) -> dict[str, str]:
    rows = SeriesExternalId.select().where(SeriesExternalId.series == series_id)
    return {row.kind: row.value for row in rows}


def touch(row: peewee.Model) -> None:
    """Save a changed row (a series also re-derives how it sorts)."""
    if isinstance(row, Series):
        row.sort_key = sort_key(row.sort_title or row.title)
    row.updated_at = utcnow()
    row.save()


# --- placing files --------------------------------------------------------------------------------


def ensure_series(library_id: str, facts: SeriesFacts) -> tuple[Series, bool]:
    series = Series.get_or_none((Series.library_id == library_id) & (Series.location_key == facts.key))
    created = series is None
    if created:
        series = Series.create(library_id=library_id, folder=facts.folder, location_key=facts.key,
                               title=facts.title[:512], sort_key=sort_key(facts.title), year=facts.year)
    if facts.fields:
        scalar = {k: v for k, v in facts.fields.items() if k in SERIES_FIELDS}
        apply_fields(series, {**scalar, **{k: facts.fields[k] for k in LIST_FIELDS if k in facts.fields}},
                     source="local")
        for name in LIST_FIELDS:
            if name in facts.fields and may_set(series, name, source="local"):
                set_names(series, name, facts.fields[name])
        touch(series)
    if facts.external_ids:
        set_external_ids(series, facts.external_ids, source="local")
    return series, created


def ensure_season(series: Series, number: int, fields: Mapping[str, Any] | None = None) -> tuple[Season, bool]:
    season = Season.get_or_none((Season.series == series) & (Season.number == number))
    created = season is None
    if created:
        season = Season.create(series=series, number=number)
    if fields and apply_fields(season, fields, source="local"):
        touch(season)
    return season, created


def _find_episode(series: Series, target: EpisodeTarget) -> Episode | None:
    if target.air_date is not None:
        query = Episode.air_date == target.air_date
    else:
        query = Episode.absolute_number == target.absolute
    return Episode.select().where((Episode.series == series) & query).order_by(Episode.number.is_null(),
                                                                                 Episode.id).first()


def ensure_episodes(series: Series, season: Season, target: EpisodeTarget) -> tuple[list[Episode], bool]:
    """The episodes a file holds, created when new (a placeholder without a number for a daily
    show's date or an absolute number nobody has resolved yet)."""
    episodes: list[Episode] = []
    created = False
    if target.numbers:
        for number in target.numbers:
            episode = Episode.get_or_none((Episode.series == series) & (Episode.season_number == season.number)
                                          & (Episode.number == number))
            if episode is None:
                episode = Episode.create(series=series, season=season, season_number=season.number, number=number)
                created = True
            episodes.append(episode)
    else:
        episode = _find_episode(series, target)
        if episode is None:
            episode = Episode.create(series=series, season=season, season_number=season.number, number=None,
                                     air_date=target.air_date, absolute_number=target.absolute)
            created = True
        episodes.append(episode)
    for episode in episodes:
        fields = target.episode_fields.get((episode.season_number, episode.number))
        if fields is None and len(episodes) == 1 and len(target.episode_fields) == 1:
            fields = next(iter(target.episode_fields.values()))
        if fields and apply_fields(episode, fields, source="local"):
            touch(episode)
    return episodes, created


def upsert_file(library_id: str, file_id: str, relative_path: str, values: Mapping[str, Any]) -> EpisodeFile:
    row = EpisodeFile.get_or_none(EpisodeFile.file_id == file_id)
    if row is None:
        return EpisodeFile.create(library_id=library_id, file_id=file_id, relative_path=relative_path, **values)
    row.library_id, row.relative_path = library_id, relative_path
    for name, value in values.items():
        setattr(row, name, value)
    touch(row)
    return row


def link_file(episode_file: EpisodeFile, episode_ids: Iterable[int]) -> set[int]:
    """Make the file hold exactly these episodes; returns the episodes it no longer holds."""
    wanted = set(episode_ids)
    current = {link.episode_id for link in
               EpisodeFileLink.select().where(EpisodeFileLink.episode_file == episode_file)}
    dropped = current - wanted
    if dropped:
        EpisodeFileLink.delete().where((EpisodeFileLink.episode_file == episode_file)
                                       & EpisodeFileLink.episode.in_(dropped)).execute()
    for episode_id in sorted(wanted - current):
        EpisodeFileLink.create(episode=episode_id, episode_file=episode_file)
    return dropped


def place_file(library_id: str, file_id: str, relative_path: str, facts: SeriesFacts, target: EpisodeTarget,
               file_values: Mapping[str, Any] | None) -> Placed:
    """Put one file where its name says: series, season, episode(s), file row and links.

    ``file_values`` are the probe's columns; ``None`` keeps what an earlier ingest stored (a move).
    """
    series, new_series = ensure_series(library_id, facts)
    season, new_season = ensure_season(series, target.season, target.season_fields)
    episodes, new_episodes = ensure_episodes(series, season, target)
    episode_file = upsert_file(library_id, file_id, relative_path, file_values or {})
    dropped = link_file(episode_file, [e.id for e in episodes])
    pruned = prune_episodes(dropped)
    return Placed(series_id=series.id, season_id=season.id, episode_ids=[e.id for e in episodes],
                  created=new_series or new_season or new_episodes, pruned=pruned)


# --- pruning ---------------------------------------------------------------------------------------


def prune_episodes(episode_ids: Iterable[int]) -> Pruned:
    """Delete the episodes no file holds any more, then the seasons and series left empty."""
    pruned = Pruned()
    ids = set(episode_ids)
    if not ids:
        return pruned
    held = {link.episode_id for link in EpisodeFileLink.select(EpisodeFileLink.episode)
            .where(EpisodeFileLink.episode.in_(ids))}
    orphans = list(Episode.select().where(Episode.id.in_(ids - held)))
    season_ids = {e.season_id for e in orphans}
    pruned.people |= credited(episode_ids=[e.id for e in orphans])
    for episode in orphans:
        delete_episode(episode.id)
        pruned.episodes.append(episode.id)
        pruned.touched_series.add(episode.series_id)
    pruned.merge(prune_seasons(season_ids))
    return pruned


def prune_seasons(season_ids: Iterable[int]) -> Pruned:
    pruned = Pruned()
    ids = set(season_ids)
    if not ids:
        return pruned
    used = {e.season_id for e in Episode.select(Episode.season).where(Episode.season.in_(ids)).distinct()}
    empty = list(Season.select().where(Season.id.in_(ids - used)))
    series_ids = {s.series_id for s in empty}
    for season in empty:
        Artwork.delete().where((Artwork.owner_type == "season") & (Artwork.owner_id == season.id)).execute()
        season.delete_instance()
        pruned.seasons.append(season.id)
    pruned.touched_series |= series_ids
    used_series = {s.series_id for s in Season.select(Season.series).where(Season.series.in_(series_ids)).distinct()}
    for series_id in sorted(series_ids - used_series):
        pruned.people |= credited(series_ids=[series_id])
        delete_series(series_id)
        pruned.series.append(series_id)
    pruned.touched_series -= set(pruned.series)
    return pruned


def delete_episode(episode_id: int) -> None:
    EpisodeFileLink.delete().where(EpisodeFileLink.episode == episode_id).execute()
    EpisodeCredit.delete().where(EpisodeCredit.episode == episode_id).execute()
    Artwork.delete().where((Artwork.owner_type == "episode") & (Artwork.owner_id == episode_id)).execute()
    Episode.delete().where(Episode.id == episode_id).execute()


def delete_series(series_id: int) -> None:
    for model in (SeriesExternalId, SeriesGenre, SeriesNetwork, SeriesCertification, SeriesTranslation, SeriesCredit):
        model.delete().where(model.series == series_id).execute()
    Artwork.delete().where((Artwork.owner_type == "series") & (Artwork.owner_id == series_id)).execute()
    Series.delete().where(Series.id == series_id).execute()


def remove_files(file_ids: Iterable[str]) -> Pruned:
    """Forget files; the episodes, seasons and series they leave empty go with them."""
    rows = list(EpisodeFile.select().where(EpisodeFile.file_id.in_([str(f) for f in file_ids])))
    if not rows:
        return Pruned()
    episode_ids = {link.episode_id for link in EpisodeFileLink.select(EpisodeFileLink.episode)
                   .where(EpisodeFileLink.episode_file.in_(rows))}
    EpisodeFileLink.delete().where(EpisodeFileLink.episode_file.in_(rows)).execute()
    EpisodeFile.delete().where(EpisodeFile.id.in_([r.id for r in rows])).execute()
    return prune_episodes(episode_ids)


# --- artwork ---------------------------------------------------------------------------------------


def record_artwork(owner_type: str, owner_id: int, ref: Any, *, source: str) -> None:
    """Remember a stored image of an item and choose the item's primary image of that kind."""
    row = Artwork.get_or_none((Artwork.owner_type == owner_type) & (Artwork.owner_id == owner_id)
                              & (Artwork.kind == ref.kind) & (Artwork.artwork_id == ref.id))
    if row is None:
        Artwork.create(owner_type=owner_type, owner_id=owner_id, kind=ref.kind, artwork_id=ref.id, source=source,
                       language=ref.language, width=ref.width, height=ref.height, blurhash=ref.blurhash or "")
    elif source == "local" and row.source != "local":
        row.source = "local"
        row.save()
    choose_primary(owner_type, owner_id, ref.kind)


def choose_primary(owner_type: str, owner_id: int, kind: str) -> None:
    """Local images win; among the rest, the first stored."""
    rows = list(Artwork.select().where((Artwork.owner_type == owner_type) & (Artwork.owner_id == owner_id)
                                       & (Artwork.kind == kind)).order_by(Artwork.id))
    if not rows:
        return
    best = next((r for r in rows if r.source == "local"), rows[0])
    for row in rows:
        if row.is_primary != (row.id == best.id):
            row.is_primary = row.id == best.id
            row.save()


ENRICH_REQUEUE_AFTER = datetime.timedelta(hours=6)
"""How long a queued enrichment job keeps the ingest from queueing another for the same series
(past that, the first one is taken for lost)."""


def claim_enrich(series_ids: Iterable[int], if_unmatched: Iterable[int] = ()) -> list[int]:
    """Of ``series_ids`` and of the unmatched ones among ``if_unmatched``, those with no
    enrichment job queued recently, now marked as queued. Call in a transaction."""
    now = utcnow()
    free = (Series.enrich_queued_at.is_null()) | (Series.enrich_queued_at < now - ENRICH_REQUEUE_AFTER)
    wanted = Series.id.in_(sorted(set(series_ids)))
    unmatched = sorted(set(if_unmatched))
    if unmatched:
        wanted |= Series.id.in_(unmatched) & (Series.match_state == "unmatched")
    ids = [row[0] for row in Series.select(Series.id).where(wanted & free).order_by(Series.id).tuples()]
    if ids:
        Series.update(enrich_queued_at=now).where(Series.id.in_(ids)).execute()
    return ids


def release_enrich(series_ids: Iterable[int]) -> None:
    """Let the ingest queue enrichment again (the job is running, or was never queued)."""
    ids = list(series_ids)
    if ids:
        Series.update(enrich_queued_at=None).where(
            Series.id.in_(ids) & Series.enrich_queued_at.is_null(False)).execute()
