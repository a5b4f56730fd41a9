"""TheTVDB's JSON records as the SDK's types: search candidates and full series metadata.

Everything here is pure: it takes the ``data`` of TheTVDB's answers (shapes of the v4 spec:
``SearchResult``, ``SeriesBaseRecord``, ``SeriesExtendedRecord``, ``EpisodeBaseRecord``...)
and tolerates missing or ``null`` fields, which TheTVDB has plenty of.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from revenge_hookspecs import MetadataMatch
from revenge_hookspecs.media import (
    ArtworkInfo,
    Credit,
    EpisodeMetadata,
    ItemMetadata,
    SeasonMetadata,
    Translation,
    match_score,
)

from .languages import country_alpha2, from_tvdb

PROVIDER = "thetvdb"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SAFE_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")

ARTWORK_TYPES: Mapping[int, tuple[str, str]] = {
    1: ("series", "banner"),
    2: ("series", "poster"),
    3: ("series", "backdrop"),
    6: ("season", "banner"),
    7: ("season", "poster"),
    8: ("season", "backdrop"),
    11: ("episode", "still"),
    12: ("episode", "still"),
    13: ("actor", "profile"),
    22: ("series", "clearart"),
    23: ("series", "logo"),
}
"""TheTVDB artwork type ids (``/artwork/types``) → (record type, SDK artwork kind). Types not
listed (icons 5/10, cinemagraphs 20, movie and company types) are not used."""

REMOTE_SOURCES = {"imdb": "imdb", "themoviedb.com": "tmdb", "tv maze": "tvmaze", "wikidata": "wikidata",
                  "eidr": "eidr"}
"""``RemoteID.sourceName`` (lower case) → the id kind the server uses."""

PEOPLE_ROLES = {"actor": "actor", "guest star": "guest", "director": "director", "writer": "writer",
                "creator": "creator", "producer": "producer", "executive producer": "producer",
                "showrunner": "producer", "host": "actor", "musical guest": "guest"}
"""``Character.peopleType`` (lower case) → the SDK's credit role; crew and others are left out."""
_ROLE_ORDER = {"creator": 0, "actor": 1, "guest": 2, "director": 3, "writer": 4, "producer": 5}


def text(value: Any) -> str | None:
    """A non-empty stripped string, else ``None``."""
    return value.strip() or None if isinstance(value, str) else None


def number(value: Any) -> int | None:
    """An int from an int or a string of digits, else ``None`` (``True`` is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def date(value: Any) -> str | None:
    """``YYYY-MM-DD`` from TheTVDB's dates (which may carry a time), else ``None``."""
    value = text(value)
    return value[:10] if value and DATE.match(value[:10]) else None


def year_of(*values: Any) -> int | None:
    """The first year found: a ``year`` field (``"2008"``) or the start of a date."""
    for value in values:
        found = number(value)
        if found is None and isinstance(value, str) and re.match(r"^\d{4}\b", value):
            found = int(value[:4])
        if found and 1800 < found < 3000:
            return found
    return None


def records(value: Any) -> list[dict[str, Any]]:
    """The dicts of a list (``null`` and junk entries dropped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def image_url(value: Any, artwork_base: str) -> str | None:
    """An absolute artwork URL: TheTVDB sends full URLs, older records paths below ``/banners/``."""
    value = text(value)
    if value is None:
        return None
    if value.startswith(("https://", "http://")):
        return value
    path = value if value.startswith("/banners/") else "/banners/" + value.lstrip("/")
    return artwork_base.rstrip("/") + path


def remote_ids(entries: Any) -> dict[str, str]:
    """``remoteIds``/``remote_ids`` as ``{"imdb": "tt…", "tmdb": "…"}`` (first of each kind)."""
    ids: dict[str, str] = {}
    for entry in records(entries):
        kind = REMOTE_SOURCES.get(str(entry.get("sourceName") or "").strip().lower())
        value = text(str(entry["id"])) if entry.get("id") is not None else None
        if kind and value and SAFE_ID.match(value):
            ids.setdefault(kind, value)
    return ids


def _shares_id(ids: Mapping[str, str], found: Mapping[str, str]) -> bool:
    return any(ids.get(kind) == value for kind, value in found.items())


# --- search -------------------------------------------------------------------------------------------


def search_match(result: Mapping[str, Any], query: str, year: int | None, ids: Mapping[str, str],
                 language: str, artwork_base: str) -> MetadataMatch | None:
    """A ``/search`` result (``SearchResult``) as a scored candidate; ``None`` if it is no series."""
    tvdb_id = text(str(result.get("tvdb_id") or "")) or (text(result.get("id")) or "").removeprefix("series-")
    if not tvdb_id or not tvdb_id.isdigit() or result.get("type") not in (None, "series"):
        return None
    translations = {k: v for k, v in (result.get("translations") or {}).items() if text(v)} \
        if isinstance(result.get("translations"), Mapping) else {}
    overviews = result.get("overviews") if isinstance(result.get("overviews"), Mapping) else {}
    name = text(result.get("name")) or ""
    title = text(translations.get(language)) or name
    aliases = [a for a in result.get("aliases") or [] if isinstance(a, str)]
    found = {"tvdb": tvdb_id, **remote_ids(result.get("remote_ids"))}
    candidate_year = year_of(result.get("year"), result.get("first_air_time"))
    score = match_score(query, year, title, candidate_year, alternative_titles=[name, *aliases, *translations.values()],
                        same_external_id=_shares_id(ids, found))
    extra = {
        "original_title": name or None,
        "original_language": from_tvdb(result.get("primary_language")),
        "overview": text(overviews.get(language)) or text(result.get("overview")),
        "first_air_date": date(result.get("first_air_time")),
        "network": text(result.get("network")),
        "status": text(result.get("status")),
        "country": country_alpha2(result.get("country")),
        "poster_url": image_url(result.get("image_url") or result.get("thumbnail"), artwork_base),
        "slug": text(result.get("slug")),
        "external_ids": found,
    }
    return MetadataMatch(provider=PROVIDER, external_id=tvdb_id, title=title or tvdb_id, year=candidate_year,
                         score=score, extra={k: v for k, v in extra.items() if v is not None})


def base_match(series: Mapping[str, Any], ids: Mapping[str, str], artwork_base: str, *,
               found_by: Mapping[str, str] = ()) -> MetadataMatch | None:
    """A series base record found by id (``/series/{id}``, ``/search/remoteid``): score 1.0
    when it shares an id with ``ids`` (``found_by`` adds the id it was found by)."""
    tvdb_id = number(series.get("id"))
    if tvdb_id is None:
        return None
    found = {"tvdb": str(tvdb_id), **remote_ids(series.get("remoteIds")), **dict(found_by)}
    name = text(series.get("name")) or str(tvdb_id)
    candidate_year = year_of(series.get("year"), series.get("firstAired"))
    score = 1.0 if _shares_id(ids, found) else 0.0
    extra = {
        "original_title": name,
        "original_language": from_tvdb(series.get("originalLanguage")),
        "first_air_date": date(series.get("firstAired")),
        "status": text((series.get("status") or {}).get("name")) if isinstance(series.get("status"), Mapping) else None,
        "country": country_alpha2(series.get("originalCountry")),
        "poster_url": image_url(series.get("image"), artwork_base),
        "slug": text(series.get("slug")),
        "external_ids": found,
    }
    return MetadataMatch(provider=PROVIDER, external_id=str(tvdb_id), title=name, year=candidate_year, score=score,
                         extra={k: v for k, v in extra.items() if v is not None})


# --- lookup --------------------------------------------------------------------------------------------


def translations_of(series: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Names and overviews by TheTVDB language code, from ``meta=translations``."""
    block = series.get("translations") if isinstance(series.get("translations"), Mapping) else {}
    names = {t["language"]: t["name"].strip() for t in records(block.get("nameTranslations"))
             if isinstance(t.get("language"), str) and text(t.get("name")) and not t.get("isAlias")}
    overviews = {t["language"]: t["overview"].strip() for t in records(block.get("overviewTranslations"))
                 if isinstance(t.get("language"), str) and text(t.get("overview"))}
    return names, overviews


def _language_rank(language: Any, wanted: str, original: str | None) -> int:
    if language == wanted:
        return 0
    if not language:
        return 1
    return 2 if language in (original, "eng") else 3


def _artwork(entry: Mapping[str, Any], kind: str, artwork_base: str) -> ArtworkInfo | None:
    url = image_url(entry.get("image"), artwork_base)
    if url is None:
        return None
    score = entry.get("score")
    return ArtworkInfo(kind=kind, url=url, language=from_tvdb(entry.get("language")),
                       width=number(entry.get("width")) or None, height=number(entry.get("height")) or None,
                       score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None)


def artworks_by_owner(series: Mapping[str, Any], wanted: str, artwork_base: str
                      ) -> tuple[list[ArtworkInfo], dict[int, list[ArtworkInfo]]]:
    """The series' own artwork, and season artwork by season id, best first: the wanted
    language, then images without text, then the original language and English; higher score first."""
    original = series.get("originalLanguage")
    entries = sorted(records(series.get("artworks")),
                     key=lambda a: (_language_rank(a.get("language"), wanted, original),
                                    -(a.get("score") or 0) if isinstance(a.get("score"), (int, float)) else 0))
    own: list[ArtworkInfo] = []
    seasons: dict[int, list[ArtworkInfo]] = {}
    for entry in entries:
        record_type, kind = ARTWORK_TYPES.get(number(entry.get("type")) or -1, ("", ""))
        season_id = number(entry.get("seasonId"))
        info = _artwork(entry, kind, artwork_base) if kind else None
        if info is None:
            continue
        if record_type == "series":
            own.append(info)
        elif record_type == "season" and season_id:
            seasons.setdefault(season_id, []).append(info)
    poster = image_url(series.get("image"), artwork_base)
    if poster and all(a.url != poster for a in own):
        own.insert(0, ArtworkInfo(kind="poster", url=poster))
    return own, seasons


def credit(character: Mapping[str, Any], artwork_base: str) -> Credit | None:
    """A ``Character`` record as a credit; ``None`` for crew the SDK has no role for."""
    role = PEOPLE_ROLES.get(str(character.get("peopleType") or "").strip().lower())
    person = text(character.get("personName"))
    if role is None or person is None:
        return None
    people_id = number(character.get("peopleId"))
    return Credit(name=person, role=role,
                  character=text(character.get("name")) if role in ("actor", "guest") else None,
                  order=number(character.get("sort")),
                  external_ids={"tvdb": str(people_id)} if people_id else {},
                  image_url=image_url(character.get("personImgURL") or character.get("image"), artwork_base))


def credits_by_episode(series: Mapping[str, Any], artwork_base: str) -> tuple[list[Credit], dict[int, list[Credit]]]:
    """The series' credits, and guest credits by episode id."""
    own: list[Credit] = []
    episodes: dict[int, list[Credit]] = {}
    characters = sorted(records(series.get("characters")),
                        key=lambda c: (number(c.get("sort")) if number(c.get("sort")) is not None else 1 << 30))
    for character in characters:
        found = credit(character, artwork_base)
        if found is None:
            continue
        episode_id = number(character.get("episodeId"))
        (episodes.setdefault(episode_id, []) if episode_id else own).append(found)
    own.sort(key=lambda c: _ROLE_ORDER.get(c.role, 9))
    return own, episodes


def certifications(ratings: Any) -> dict[str, str]:
    """``contentRatings`` as ``{"US": "TV-MA"}``, the first rating of each country."""
    found: dict[str, str] = {}
    for rating in records(ratings):
        country, name = country_alpha2(rating.get("country")), text(rating.get("name"))
        if country and name:
            found.setdefault(country, name)
    return found


def _names(*values: Any) -> list[str]:
    seen: list[str] = []
    for value in values:
        name = text(value.get("name")) if isinstance(value, Mapping) else None
        if name and name not in seen:
            seen.append(name)
    return seen


def default_seasons(series: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The seasons of the series' default season type (``defaultSeasonType``, else "official")."""
    seasons = records(series.get("seasons"))
    default = number(series.get("defaultSeasonType"))

    def season_type(season: Mapping[str, Any]) -> Mapping[str, Any]:
        return season.get("type") if isinstance(season.get("type"), Mapping) else {}

    chosen = [s for s in seasons if default is not None and number(season_type(s).get("id")) == default]
    return chosen or [s for s in seasons if season_type(s).get("type") in ("official", "default")]


def episode(record: Mapping[str, Any], translated: Mapping[str, Any] | None, guests: Sequence[Credit],
            artwork_base: str) -> EpisodeMetadata | None:
    """An ``EpisodeBaseRecord`` (its ``translated`` twin's name and overview win when given)."""
    season, episode_number = number(record.get("seasonNumber")), number(record.get("number"))
    if season is None or episode_number is None:
        return None
    translated = translated or {}
    still = image_url(record.get("image"), artwork_base)
    episode_id = number(record.get("id"))
    return EpisodeMetadata(
        season=season, number=episode_number,
        title=text(translated.get("name")) or text(record.get("name")),
        overview=text(translated.get("overview")) or text(record.get("overview")),
        air_date=date(record.get("aired")),
        runtime_minutes=number(record.get("runtime")) or None,
        absolute_number=number(record.get("absoluteNumber")) or None,
        external_ids={"tvdb": str(episode_id)} if episode_id else {},
        credits=tuple(guests),
        artwork=(ArtworkInfo(kind="still", url=still),) if still else (),
    )


def seasons_of(series: Mapping[str, Any], episodes: Iterable[Mapping[str, Any]],
               translated: Mapping[int, Mapping[str, Any]], season_art: Mapping[int, list[ArtworkInfo]],
               guests: Mapping[int, list[Credit]], artwork_base: str) -> list[SeasonMetadata]:
    """Seasons of the default order with their episodes; season 0 holds the specials."""
    by_number: dict[int, list[EpisodeMetadata]] = {}
    seen: set[tuple[int, int]] = set()
    for record in episodes:
        episode_id = number(record.get("id")) or 0
        found = episode(record, translated.get(episode_id), guests.get(episode_id, ()), artwork_base)
        if found is None or (found.season, found.number) in seen:
            continue
        seen.add((found.season, found.number))
        by_number.setdefault(found.season, []).append(found)
    listed = {number(s.get("number")): s for s in default_seasons(series) if number(s.get("number")) is not None}
    seasons = []
    for season_number in sorted(set(listed) | set(by_number)):
        record = listed.get(season_number, {})
        season_id = number(record.get("id"))
        artwork = list(season_art.get(season_id, ())) if season_id else []
        poster = image_url(record.get("image"), artwork_base)
        if poster and all(a.url != poster for a in artwork):
            kind = ARTWORK_TYPES.get(number(record.get("imageType")) or 7, ("season", "poster"))[1]
            artwork.insert(0, ArtworkInfo(kind=kind, url=poster))
        season_episodes = sorted(by_number.get(season_number, ()), key=lambda e: e.number)
        aired = [e.air_date for e in season_episodes if e.air_date]
        seasons.append(SeasonMetadata(
            number=season_number, title=text(record.get("name")), air_date=min(aired) if aired else None,
            external_ids={"tvdb": str(season_id)} if season_id else {}, artwork=artwork, episodes=season_episodes))
    return seasons


def series_metadata(series: Mapping[str, Any], episodes: Iterable[Mapping[str, Any]],
                    translated_episodes: Iterable[Mapping[str, Any]], language: str,
                    artwork_base: str) -> ItemMetadata:
    """A ``SeriesExtendedRecord`` (``meta=translations``) and its episodes as ``ItemMetadata``.

    :param translated_episodes: the same episodes in ``language`` (may be empty).
    :param language: TheTVDB code of the wanted language; title and overview fall back to English,
        then to the record's own.
    """
    tvdb_id = str(series["id"])
    names, overviews = translations_of(series)
    original = text(series.get("originalLanguage"))
    artwork, season_art = artworks_by_owner(series, language, artwork_base)
    credits, guests = credits_by_episode(series, artwork_base)
    translated = {number(e.get("id")) or 0: e for e in translated_episodes if isinstance(e, Mapping)}
    status = series.get("status") if isinstance(series.get("status"), Mapping) else {}
    companies = records(series.get("companies"))
    return ItemMetadata(
        provider=PROVIDER, external_id=tvdb_id, content_type="tv",
        title=names.get(language) or names.get("eng") or text(series.get("name")) or tvdb_id,
        original_title=names.get(original or "") or text(series.get("name")),
        original_language=from_tvdb(original),
        year=year_of(series.get("year"), series.get("firstAired")),
        release_date=date(series.get("firstAired")),
        overview=overviews.get(language) or overviews.get("eng") or text(series.get("overview")),
        runtime_minutes=number(series.get("averageRuntime")) or None,
        status=text(status.get("name")),
        genres=_names(*records(series.get("genres"))),
        studios=_names(*[c for c in companies if number(c.get("primaryCompanyType")) in (2, 3)]),
        networks=_names(series.get("originalNetwork"), series.get("latestNetwork")),
        countries=[c for c in [country_alpha2(series.get("originalCountry"))] if c],
        certifications=certifications(series.get("contentRatings")),
        external_ids={**remote_ids(series.get("remoteIds")), "tvdb": tvdb_id},
        credits=credits,
        artwork=artwork,
        translations={tag: Translation(title=names.get(code), overview=overviews.get(code))
                      for code in sorted(set(names) | set(overviews)) if (tag := from_tvdb(code))},
        seasons=seasons_of(series, episodes, translated, season_art, guests, artwork_base),
    )
