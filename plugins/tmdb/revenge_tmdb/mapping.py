"""TMDb's JSON as the SDK's metadata classes: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from revenge_hookspecs.media import (
    ArtworkInfo,
    Credit,
    EpisodeMetadata,
    ItemMetadata,
    SeasonMetadata,
    Translation,
)

PROVIDER = "tmdb"

# crew jobs worth keeping, by the role the SDK names them
CREW_ROLES = {
    "Director": "director",
    "Screenplay": "writer", "Writer": "writer", "Story": "writer", "Novel": "writer", "Author": "writer",
    "Teleplay": "writer", "Characters": "writer",
    "Producer": "producer", "Executive Producer": "producer",
    "Original Music Composer": "composer", "Music": "composer",
}
# release types in the order a certification is taken from: theatrical, limited, digital, physical, TV, premiere
RELEASE_TYPE_PREFERENCE = (3, 2, 4, 5, 6, 1)
_IMAGE_KINDS = (("posters", "poster"), ("backdrops", "backdrop"), ("logos", "logo"))


def text(value: Any) -> str | None:
    """TMDb writes "no value" as ``""``; the SDK as ``None``."""
    return value.strip() or None if isinstance(value, str) else None


def year_of(date: Any) -> int | None:
    date = text(date)
    return int(date[:4]) if date and date[:4].isdigit() else None


def positive(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class Images:
    """Builds image URLs: ``<image_base_url>/original/<file_path>``."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def url(self, file_path: Any, size: str = "original") -> str | None:
        path = text(file_path)
        return f"{self.base_url}/{size}{path}" if path else None

    def info(self, kind: str, file_path: Any, *, language: str | None = None, width: int | None = None,
             height: int | None = None, score: float | None = None) -> ArtworkInfo | None:
        url = self.url(file_path)
        return ArtworkInfo(kind, url, language=language, width=width, height=height, score=score) if url else None

    def artwork(self, images: Mapping[str, Any] | None, primary: Mapping[str, Any]) -> list[ArtworkInfo]:
        """Every image of ``images``; TMDb's chosen poster and backdrop (``primary`` maps kind to
        file path) come first of their kind, and stand alone when ``images`` was not fetched."""
        found: list[ArtworkInfo] = []
        seen: set[str] = set()
        for key, kind in _IMAGE_KINDS:
            entries = list((images or {}).get(key) or [])
            first = primary.get(kind)
            entries.sort(key=lambda e: e.get("file_path") != first)
            if first and not any(e.get("file_path") == first for e in entries):
                entries.insert(0, {"file_path": first})
            for entry in entries:
                info = self.info(kind, entry.get("file_path"), language=text(entry.get("iso_639_1")),
                                 width=positive(entry.get("width")), height=positive(entry.get("height")),
                                 score=entry.get("vote_average"))
                if info is not None and info.url not in seen:
                    seen.add(info.url)
                    found.append(info)
        return found


def external_ids(tmdb_id: Any, ids: Mapping[str, Any] | None, **extra: Any) -> dict[str, str]:
    """``{"tmdb": "603", "imdb": "tt0133093", "wikidata": "Q83495", ...}``: TMDb's ``*_id`` keys
    without the suffix, empty ones left out."""
    result = {"tmdb": str(tmdb_id)}
    for key, value in {**(ids or {}), **extra}.items():
        if key == "id" or value in (None, "", 0):
            continue
        result[key.removesuffix("_id")] = str(value)
    return result


def person_credit(person: Mapping[str, Any], role: str, images: Images, *, character: Any = None,
                  order: Any = None) -> Credit:
    return Credit(name=person["name"], role=role, character=text(character),
                  order=order if isinstance(order, int) else None,
                  external_ids={"tmdb": str(person["id"])} if person.get("id") is not None else {},
                  image_url=images.url(person.get("profile_path")))


def credits(data: Mapping[str, Any] | None, images: Images, *, cast_role: str = "actor",
            creators: Iterable[Mapping[str, Any]] = ()) -> list[Credit]:
    """Creators, then cast in billing order, then the crew that matters (see :data:`CREW_ROLES`)."""
    data = data or {}
    found = [person_credit(p, "creator", images) for p in creators]
    cast = sorted(data.get("cast") or [], key=lambda p: p.get("order", 1 << 30))
    found += [person_credit(p, cast_role, images, character=p.get("character"), order=p.get("order"))
              for p in cast]
    seen: set[tuple[str, str]] = set()
    for person in data.get("crew") or []:
        role = CREW_ROLES.get(person.get("job", ""))
        if role is None or (person["name"], role) in seen:
            continue
        seen.add((person["name"], role))
        found.append(person_credit(person, role, images))
    return found


def movie_certifications(release_dates: Mapping[str, Any] | None) -> dict[str, str]:
    """Per country, the certification of the theatrical release, else of the first other
    release type (see :data:`RELEASE_TYPE_PREFERENCE`) that has one."""
    found: dict[str, str] = {}
    for country in (release_dates or {}).get("results") or []:
        rank = {t: i for i, t in enumerate(RELEASE_TYPE_PREFERENCE)}
        certified = [r for r in country.get("release_dates") or [] if text(r.get("certification"))]
        if certified:
            best = min(certified, key=lambda r: rank.get(r.get("type"), len(rank)))
            found[country["iso_3166_1"]] = best["certification"].strip()
    return found


def tv_certifications(content_ratings: Mapping[str, Any] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for rating in (content_ratings or {}).get("results") or []:
        if text(rating.get("rating")) and rating.get("iso_3166_1") not in found:
            found[rating["iso_3166_1"]] = rating["rating"].strip()
    return found


def translations(data: Mapping[str, Any] | None) -> dict[str, Translation]:
    """``{"de-DE": Translation(...)}`` for every translation with some text."""
    found: dict[str, Translation] = {}
    for item in (data or {}).get("translations") or []:
        body = item.get("data") or {}
        translation = Translation(title=text(body.get("title")) or text(body.get("name")),
                                  overview=text(body.get("overview")), tagline=text(body.get("tagline")))
        if translation != Translation() and item.get("iso_639_1"):
            tag = item["iso_639_1"] + (f"-{item['iso_3166_1']}" if item.get("iso_3166_1") else "")
            found[tag] = translation
    return found


def _names(items: Any) -> list[str]:
    return [i["name"] for i in items or [] if text(i.get("name"))]


def _item(data: Mapping[str, Any], images: Images, content_type: str, name: str, date: str) -> dict[str, Any]:
    """The fields movies and series share; ``name`` and ``date`` are TMDb's keys for the title and
    first date (``title``/``release_date`` or ``name``/``first_air_date``)."""
    return dict(
        provider=PROVIDER, external_id=str(data["id"]), content_type=content_type,
        title=data.get(name) or data.get(f"original_{name}") or "",
        original_title=text(data.get(f"original_{name}")), original_language=text(data.get("original_language")),
        year=year_of(data.get(date)), release_date=text(data.get(date)),
        overview=text(data.get("overview")), tagline=text(data.get("tagline")), status=text(data.get("status")),
        rating=data.get("vote_average") if data.get("vote_count") else None, votes=data.get("vote_count"),
        genres=_names(data.get("genres")), studios=_names(data.get("production_companies")),
        artwork=images.artwork(data.get("images"), {"poster": data.get("poster_path"),
                                                    "backdrop": data.get("backdrop_path")}),
        translations=translations(data.get("translations")),
    )


def movie(data: Mapping[str, Any], images: Images) -> ItemMetadata:
    """``/movie/{id}?append_to_response=credits,images,external_ids,release_dates,translations``."""
    collection = data.get("belongs_to_collection") or {}
    return ItemMetadata(
        **_item(data, images, "movie", "title", "release_date"),
        runtime_minutes=positive(data.get("runtime")),
        countries=[c["iso_3166_1"] for c in data.get("production_countries") or []],
        collection=text(collection.get("name")),
        collection_id=str(collection["id"]) if collection.get("id") is not None else None,
        certifications=movie_certifications(data.get("release_dates")),
        external_ids=external_ids(data["id"], data.get("external_ids"), imdb_id=data.get("imdb_id")),
        credits=credits(data.get("credits"), images),
    )


def episode(data: Mapping[str, Any], images: Images) -> EpisodeMetadata:
    """One episode of ``/tv/{id}/season/{n}``: guest stars and the episode's directors and writers."""
    guests = sorted(data.get("guest_stars") or [], key=lambda p: p.get("order", 1 << 30))
    people = [person_credit(p, "guest", images, character=p.get("character"), order=p.get("order")) for p in guests]
    people += credits({"crew": data.get("crew")}, images)
    still = images.info("still", data.get("still_path"))
    return EpisodeMetadata(
        season=data["season_number"], number=data["episode_number"], title=text(data.get("name")),
        overview=text(data.get("overview")), air_date=text(data.get("air_date")),
        runtime_minutes=positive(data.get("runtime")),
        external_ids={"tmdb": str(data["id"])} if data.get("id") is not None else {},
        credits=people, artwork=[still] if still else [],
        rating=data.get("vote_average") if data.get("vote_count") else None,
    )


def season(data: Mapping[str, Any], images: Images) -> SeasonMetadata:
    poster = images.info("poster", data.get("poster_path"))
    return SeasonMetadata(
        number=data["season_number"], title=text(data.get("name")), overview=text(data.get("overview")),
        air_date=text(data.get("air_date")),
        external_ids={"tmdb": str(data["id"])} if data.get("id") is not None else {},
        artwork=[poster] if poster else [],
        episodes=[episode(e, images) for e in data.get("episodes") or []],
    )


def tv(data: Mapping[str, Any], seasons: Iterable[Mapping[str, Any]], images: Images) -> ItemMetadata:
    """``/tv/{id}?append_to_response=credits,images,external_ids,content_ratings,translations``
    and its ``/tv/{id}/season/{n}`` answers."""
    runtimes = [r for r in data.get("episode_run_time") or [] if isinstance(r, int) and r > 0]
    return ItemMetadata(
        **_item(data, images, "tv", "name", "first_air_date"),
        runtime_minutes=runtimes[0] if runtimes else None,
        networks=_names(data.get("networks")), countries=list(data.get("origin_country") or []),
        certifications=tv_certifications(data.get("content_ratings")),
        external_ids=external_ids(data["id"], data.get("external_ids")),
        credits=credits(data.get("credits"), images, creators=data.get("created_by") or []),
        seasons=sorted((season(s, images) for s in seasons), key=lambda s: s.number),
    )
