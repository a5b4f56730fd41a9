"""Enrichment: find a series at the metadata providers, then merge what they know.

A series is matched automatically when the best candidate scores at least ``match_threshold``
(:data:`~revenge_hookspecs.media.AUTO_MATCH_THRESHOLD` unless configured), or shares an id with the series'
tvshow.nfo; otherwise it waits for a user (``needs_review``, with its candidates kept). The
merge never writes a field a user locked, and a provider overwrites what an NFO said only on
a replacing refresh. Providers describe what is on disk: seasons and episodes without files
are not created, but a daily show's episodes known only by air date learn their numbers here.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from revenge_hookspecs.media import ArtworkInfo, Credit, ItemMetadata, normalize_title

from . import store
from .documents import credited
from .models import (
    Episode,
    EpisodeCredit,
    EpisodeFileLink,
    Person,
    Season,
    Series,
    SeriesCertification,
    SeriesCredit,
    SeriesTranslation,
    utcnow,
)

if TYPE_CHECKING:
    from .service import Tv

CONTENT_TYPE = "tv"
MAX_CANDIDATES = 10
SERIES_ARTWORK = ("poster", "backdrop", "banner", "logo")
SERIES_ROLES = frozenset({"actor", "creator", "director", "writer", "producer", "composer"})
EPISODE_ROLES = frozenset({"guest", "director", "writer", "actor"})
ID_KIND_ALIASES = {"thetvdb": "tvdb", "themoviedb": "tmdb"}


def parse_date(value: Any) -> datetime.date | None:
    """A date from ``YYYY-MM-DD`` text (a longer timestamp counts by its date), else ``None``."""
    if isinstance(value, datetime.date) or not value:
        return value or None
    try:
        return datetime.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def id_kind(provider: str) -> str:
    """The id kind a provider's ids are (``tmdb`` for ``tmdb``, ``tvdb`` for ``thetvdb``)."""
    return ID_KIND_ALIASES.get(provider, provider)


def shares_id(match: Any, known: Mapping[str, str]) -> bool:
    """Whether a candidate is the series a known id (from tvshow.nfo) names."""
    if known.get(id_kind(match.provider)) == str(match.external_id):
        return True
    extra = match.extra.get("external_ids") if isinstance(match.extra, Mapping) else None
    return isinstance(extra, Mapping) and any(known.get(k) == str(v) for k, v in extra.items())


def candidate_json(match: Any) -> dict[str, Any]:
    """A provider's :class:`~revenge_hookspecs.MetadataMatch` as JSON (scalar ``extra`` values only)."""
    extra = {str(k): v for k, v in dict(match.extra or {}).items()
             if isinstance(v, (str, int, float, bool)) or v is None}
    return {"provider": match.provider, "external_id": str(match.external_id), "title": match.title,
            "year": match.year, "score": round(float(match.score), 4), "extra": extra}


@attrs.frozen
class Wanted:
    """A snapshot of what enrichment needs to know about a series before asking providers."""

    library_id: str
    title: str
    year: int | None
    external_ids: Mapping[str, str]
    provider: str | None
    external_id: str | None
    pinned: bool
    """The user chose the match (``identify``): refreshes keep it."""


def wanted(series_id: int) -> Wanted | None:
    series = Series.get_or_none(Series.id == series_id)
    if series is None:
        return None
    return Wanted(library_id=series.library_id, title=series.title, year=series.year,
                  external_ids=store.external_ids(series_id), provider=series.match_provider,
                  external_id=series.match_external_id, pinned="match" in (series.locked_fields or ()))


def set_match_state(series_id: int, state: str, *, score: float | None = None,
                    candidates: Sequence[dict[str, Any]] = ()) -> None:
    series = Series.get_by_id(series_id)
    series.match_state, series.match_score = state, score
    series.match_candidates = list(candidates)
    if state != "matched":
        series.match_provider = series.match_external_id = None
    store.touch(series)


async def enrich_series(tv: Tv, series_id: int, *, replace: bool = False, provider: str | None = None,
                        external_id: str | None = None) -> str:
    """Match (unless already matched) and merge one series; returns its match state.

    ``provider`` and ``external_id`` identify the series by hand: the match is pinned.
    :raises LookupError: the chosen provider does not know ``external_id``.
    """
    context = tv.context
    known = await tv.read(wanted, series_id)
    if known is None:
        return "gone"
    library = await context.library.get(known.library_id)
    score = 1.0
    if provider is not None and external_id is not None:
        chosen = (provider, external_id)
    elif known.provider and known.external_id and (known.pinned or not replace):
        chosen = (known.provider, known.external_id)
    else:
        matches = await context.metadata.search(CONTENT_TYPE, known.title, year=known.year,
                                                language=library.language, external_ids=dict(known.external_ids),
                                                order=library.providers)
        candidates = [candidate_json(m) for m in matches[:MAX_CANDIDATES]]
        best = next((m for m in matches if shares_id(m, known.external_ids)), None)
        if best is None and matches and matches[0].score >= tv.config.match_threshold:
            best = matches[0]
        if best is None:
            state = "needs_review" if matches else "unmatched"
            await tv.write(set_match_state, series_id, state, score=matches[0].score if matches else None,
                           candidates=candidates)
            context.logger.info("tv: {} for {!r} ({} candidates)", state, known.title, len(matches))
            return state
        chosen, score = (best.provider, str(best.external_id)), float(best.score)
    metadata = await context.metadata.lookup(CONTENT_TYPE, chosen[0], chosen[1], language=library.language)
    if metadata is None:
        if provider is not None:
            raise LookupError(f"{provider} knows no series {external_id!r}")
        await tv.write(set_match_state, series_id, "unmatched")
        return "unmatched"
    credited_before = await tv.read(credited, [series_id])
    merged = await tv.write(merge, series_id, metadata, replace=replace, score=score,
                            pinned=provider is not None, language=library.language)
    await tv.forget(merged.pruned)
    for owner, owner_id, art in merged.artwork:
        kind = "still" if owner == "episode" else art.kind
        await tv.store_artwork(owner, owner_id, kind, source=metadata.provider, url=art.url, language=art.language)
    await tv.publish(series=[series_id], seasons=merged.seasons, episodes=merged.episodes,
                     all_episodes=merged.title_changed, people=credited_before)
    return "matched"


# --- the merge (blocking, in one transaction) -------------------------------------------------------


@attrs.define
class Merged:
    seasons: set[int] = attrs.Factory(set)
    episodes: set[int] = attrs.Factory(set)
    artwork: list[tuple[str, int, ArtworkInfo]] = attrs.Factory(list)
    pruned: store.Pruned = attrs.Factory(store.Pruned)
    title_changed: bool = False


def merge(series_id: int, meta: ItemMetadata, *, replace: bool, score: float, pinned: bool,
          language: str) -> Merged:
    merged = Merged()
    series = Series.get_by_id(series_id)
    fields = {"title": meta.title, "original_title": meta.original_title, "year": meta.year,
              "first_air_date": parse_date(meta.release_date), "overview": meta.overview, "status": meta.status,
              "rating": meta.rating, "original_language": meta.original_language}
    changed = store.apply_fields(series, fields, source="provider", replace=replace)
    merged.title_changed = "title" in changed
    for name, values in (("genres", meta.genres), ("networks", meta.networks)):
        if (values or replace) and store.may_set(series, name, source="provider", replace=replace):
            store.set_names(series, name, values)
    locked = set(series.locked_fields or ())
    if (meta.certifications or replace) and "certifications" not in locked:
        SeriesCertification.delete().where(SeriesCertification.series == series).execute()
        for country, rating in meta.certifications.items():
            if country and rating:
                SeriesCertification.create(series=series, country=str(country)[:8].upper(), rating=str(rating)[:32])
    if (meta.translations or replace) and "translations" not in locked:
        SeriesTranslation.delete().where(SeriesTranslation.series == series).execute()
        for tag, text in meta.translations.items():
            SeriesTranslation.create(series=series, language=str(tag)[:16], title=text.title,
                                     overview=text.overview, tagline=text.tagline)
    if (meta.credits or replace) and "credits" not in locked:
        SeriesCredit.delete().where(SeriesCredit.series == series).execute()
        for position, credit in enumerate(c for c in meta.credits if c.role in SERIES_ROLES):
            SeriesCredit.create(series=series, person=person_for(credit), role=credit.role,
                                character=credit.character, position=credit.order if credit.order is not None
                                else position)
    store.set_external_ids(series, {**meta.external_ids, id_kind(meta.provider): meta.external_id},
                           source=meta.provider)
    series.match_state, series.match_score = "matched", round(score, 4)
    series.match_provider, series.match_external_id = meta.provider, str(meta.external_id)[:128]
    series.match_candidates = []
    if pinned:
        series.locked_fields = sorted({*series.locked_fields, "match"})
    series.metadata_updated_at = utcnow()
    store.touch(series)
    merged.artwork += [("series", series.id, art) for art in best_artwork(meta.artwork, SERIES_ARTWORK, language)]
    _merge_seasons(series, meta, merged, replace=replace, language=language)
    return merged


def _merge_seasons(series: Series, meta: ItemMetadata, merged: Merged, *, replace: bool, language: str) -> None:
    _merge_episodes(series, meta, merged, replace=replace, language=language)
    seasons = {s.number: s for s in Season.select().where(Season.series == series)}
    for info in meta.seasons:
        season = seasons.get(info.number)
        if season is None:
            continue
        if store.apply_fields(season, {"title": info.title, "overview": info.overview,
                                       "air_date": parse_date(info.air_date)}, source="provider", replace=replace):
            store.touch(season)
            merged.seasons.add(season.id)
        merged.artwork += [("season", season.id, art) for art in best_artwork(info.artwork, ("poster",), language)]


def _merge_episodes(series: Series, meta: ItemMetadata, merged: Merged, *, replace: bool, language: str) -> None:
    by_number = {(e.season, e.number): e for info in meta.seasons for e in info.episodes}
    by_date: dict[datetime.date, list[Any]] = {}
    by_absolute: dict[int, Any] = {}
    for info in by_number.values():
        aired = parse_date(info.air_date)
        if aired is not None:
            by_date.setdefault(aired, []).append(info)
        if info.absolute_number is not None:
            by_absolute[info.absolute_number] = info
    emptied: set[int] = set()
    for episode in list(Episode.select().where(Episode.series == series).order_by(Episode.id)):
        if episode.number is not None:
            info = by_number.get((episode.season_number, episode.number))
        elif episode.air_date is not None:
            same_day = by_date.get(episode.air_date, [])
            info = same_day[0] if len(same_day) == 1 else None
        else:
            info = by_absolute.get(episode.absolute_number)
        if info is None:
            continue
        if episode.number is None:
            old_season = episode.season_id
            episode = _resolve_placeholder(series, episode, info, merged)
            if episode.season_id != old_season:
                emptied.add(old_season)
        _merge_episode(episode, info, merged, replace=replace, language=language)
    merged.pruned.merge(store.prune_seasons(emptied))
    merged.seasons -= set(merged.pruned.seasons)


def _resolve_placeholder(series: Series, placeholder: Episode, info: Any, merged: Merged) -> Episode:
    """A daily show's (or an absolute-numbered) episode learns its season and number.

    When that episode exists already (another file holds it), the placeholder's files join it.
    """
    season, created = store.ensure_season(series, info.season)
    if created:
        merged.seasons.add(season.id)
    existing = Episode.get_or_none((Episode.series == series) & (Episode.season_number == info.season)
                                   & (Episode.number == info.number))
    if existing is None:
        placeholder.season, placeholder.season_number, placeholder.number = season, info.season, info.number
        store.touch(placeholder)
        merged.episodes.add(placeholder.id)
        return placeholder
    held = {link.episode_file_id for link in EpisodeFileLink.select().where(EpisodeFileLink.episode == existing)}
    for link in list(EpisodeFileLink.select().where(EpisodeFileLink.episode == placeholder)):
        if link.episode_file_id not in held:
            EpisodeFileLink.create(episode=existing, episode_file=link.episode_file_id)
    merged.pruned.people |= credited(episode_ids=[placeholder.id])
    store.delete_episode(placeholder.id)
    merged.pruned.episodes.append(placeholder.id)
    merged.episodes.discard(placeholder.id)
    merged.episodes.add(existing.id)
    return existing


def _merge_episode(episode: Episode, info: Any, merged: Merged, *, replace: bool, language: str) -> None:
    fields = {"title": info.title, "overview": info.overview, "air_date": parse_date(info.air_date),
              "runtime": info.runtime_minutes, "absolute_number": info.absolute_number, "rating": info.rating}
    changed = store.apply_fields(episode, fields, source="provider", replace=replace)
    ids = {**(episode.external_ids or {}), **{str(k): str(v) for k, v in info.external_ids.items()}}
    if ids != episode.external_ids:
        episode.external_ids = ids
        changed.append("external_ids")
    if changed:
        store.touch(episode)
        merged.episodes.add(episode.id)
    if (info.credits or replace) and "credits" not in (episode.locked_fields or ()):
        EpisodeCredit.delete().where(EpisodeCredit.episode == episode).execute()
        for position, credit in enumerate(c for c in info.credits if c.role in EPISODE_ROLES):
            EpisodeCredit.create(episode=episode, person=person_for(credit), role=credit.role,
                                 character=credit.character,
                                 position=credit.order if credit.order is not None else position)
    stills = best_artwork(info.artwork, ("still",), language) or best_artwork(info.artwork, ("thumb",), language)
    merged.artwork += [("episode", episode.id, art) for art in stills]


def person_for(credit: Credit) -> Person:
    """The person a credit names: the same row for the same provider id, else for the same name."""
    ids = {str(k): str(v) for k, v in credit.external_ids.items() if v}
    keys = [f"{kind}:{value}"[:160] for kind, value in sorted(ids.items())]
    name = credit.name.strip()[:255] or "Unknown"
    keys.append(f"name:{normalize_title(name)}"[:160])
    person = Person.get_or_none(Person.key.in_(keys)) if keys else None
    if person is None:
        person = Person.create(key=keys[0], name=name, image_url=credit.image_url, external_ids=ids)
    elif credit.image_url and person.image_url != credit.image_url:
        person.image_url = credit.image_url
        person.save()
    return person


def best_artwork(offered: Iterable[ArtworkInfo], kinds: Sequence[str], language: str) -> list[ArtworkInfo]:
    """The image to keep of each kind: in the library's language, else without text, else any;
    the provider's order (or score) decides between equals."""
    wanted_language = language.split("-")[0].lower()
    best: list[ArtworkInfo] = []
    offered = list(offered)
    for kind in kinds:
        of_kind = [a for a in offered if a.kind == kind]
        if not of_kind:
            continue

        def rank(item: tuple[int, ArtworkInfo]) -> tuple[int, float, int]:
            index, art = item
            tag = (art.language or "").split("-")[0].lower()
            place = 0 if tag == wanted_language else 1 if not tag else 2
            return place, -(art.score or 0.0), index

        best.append(min(enumerate(of_kind), key=rank)[1])
    return best
