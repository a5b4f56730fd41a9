"""The fake TMDb's content: movies and series as TMDb stores them, and the queries TMDb answers.

Entries are kept in TMDb's own JSON shapes: a ``details`` object (what ``/movie/{id}`` answers
without ``append_to_response``) plus its parts (``credits``, ``images``, ``release_dates``...),
and for series the seasons as ``/tv/{id}/season/{n}`` answers them. The default catalogue is
loaded from ``fixtures/catalogue.json`` (recorded TMDb answers, see ``fixtures/SOURCES.md``);
tests add more with :meth:`Catalogue.add_movie` and :meth:`Catalogue.add_tv`.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .images import DEFAULT_SIZES

FIXTURES = Path(__file__).parent / "fixtures"

MOVIE_PARTS = ("credits", "images", "external_ids", "release_dates", "translations", "alternative_titles",
               "keywords", "videos")
TV_PARTS = ("credits", "images", "external_ids", "content_ratings", "translations", "alternative_titles",
            "keywords", "videos")
SEASON_PARTS = ("credits", "images", "external_ids", "translations", "videos")

_EXTERNAL_ID_KEYS = {
    "movie": ("imdb_id", "wikidata_id", "facebook_id", "instagram_id", "twitter_id"),
    "tv": ("imdb_id", "freebase_mid", "freebase_id", "tvdb_id", "tvrage_id", "wikidata_id", "facebook_id",
           "instagram_id", "twitter_id"),
}
_MOVIE_DEFAULTS: dict[str, Any] = {
    "adult": False, "backdrop_path": None, "belongs_to_collection": None, "budget": 0, "genres": [],
    "homepage": "", "imdb_id": None, "original_language": "en", "overview": "", "popularity": 0.0,
    "poster_path": None, "production_companies": [], "production_countries": [], "release_date": "",
    "revenue": 0, "runtime": 0, "spoken_languages": [], "status": "Released", "tagline": "", "video": False,
    "vote_average": 0.0, "vote_count": 0,
}
_TV_DEFAULTS: dict[str, Any] = {
    "adult": False, "backdrop_path": None, "created_by": [], "episode_run_time": [], "first_air_date": "",
    "genres": [], "homepage": "", "in_production": False, "languages": [], "last_air_date": "",
    "last_episode_to_air": None, "next_episode_to_air": None, "networks": [], "origin_country": [],
    "original_language": "en", "overview": "", "popularity": 0.0, "poster_path": None,
    "production_companies": [], "production_countries": [], "spoken_languages": [], "status": "Ended",
    "tagline": "", "type": "Scripted", "vote_average": 0.0, "vote_count": 0,
}
_EPISODE_DEFAULTS: dict[str, Any] = {
    "air_date": None, "episode_type": "standard", "name": "", "overview": "", "production_code": "",
    "runtime": None, "still_path": None, "vote_average": 0.0, "vote_count": 0, "crew": [], "guest_stars": [],
}

_WORD = re.compile(r"\w+")
_PATH_KEY = re.compile(r"(^|_)path$")


def words(text: str | None) -> list[str]:
    """Lower-case words without accents, as TMDb's search compares them."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _WORD.findall(text)


def _year(date: str | None) -> int | None:
    return int(date[:4]) if date and len(date) >= 4 and date[:4].isdigit() else None


def empty_part(kind: str, part: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """What TMDb answers for a part it has nothing in."""
    if part == "credits":
        return {"cast": [], "crew": []}
    if part == "images":
        return {"backdrops": [], "logos": [], "posters": []} if kind != "season" else {"posters": []}
    if part == "external_ids":
        ids: dict[str, Any] = dict.fromkeys(_EXTERNAL_ID_KEYS.get(kind, ("tvdb_id",)))
        if kind == "movie":
            ids["imdb_id"] = details.get("imdb_id")
        return ids
    if part == "translations":
        return {"translations": []}
    if part == "alternative_titles":
        return {"titles": []} if kind == "movie" else {"results": []}
    if part == "keywords":
        return {"keywords": []} if kind == "movie" else {"results": []}
    return {"results": []}


class Catalogue:
    """Movies and series by TMDb id, with TMDb's search and find over them."""

    def __init__(self) -> None:
        self.movies: dict[int, dict[str, Any]] = {}
        self.tv: dict[int, dict[str, Any]] = {}
        self.images: dict[str, tuple[int, int]] = {}

    # --- building -----------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Catalogue:
        """The shipped catalogue: The Matrix, The Matrix Reloaded, Fight Club, Game of Thrones
        (seasons 1 and 2), and the other titles of the recorded search answers."""
        catalogue = cls()
        catalogue.load(FIXTURES / "catalogue.json")
        return catalogue

    def load(self, manifest: Path) -> None:
        """Load a manifest naming fixture files (paths relative to the manifest)."""
        root = manifest.parent
        spec = json.loads(manifest.read_text(encoding="utf-8"))

        def read(name: str) -> Any:
            return json.loads((root / name).read_text(encoding="utf-8"))

        for kind, files in spec.get("search_results", {}).items():
            for name in files:
                for result in read(name)["results"]:
                    self.add_search_result(kind, result)
        for movie_id, parts in spec.get("movies", {}).items():
            self.add_movie(read(parts["details"]), **{p: read(f) for p, f in parts.items() if p != "details"})
            assert str(self.movies[int(movie_id)]["details"]["id"]) == movie_id
        for tv_id, parts in spec.get("tv", {}).items():
            seasons = [read(f) for f in parts.get("seasons", {}).values()]
            others = {p: read(f) for p, f in parts.items() if p not in ("details", "seasons")}
            self.add_tv(read(parts["details"]), seasons=seasons, **others)
            assert str(self.tv[int(tv_id)]["details"]["id"]) == tv_id

    def add_search_result(self, kind: str, result: Mapping[str, Any]) -> None:
        """Make a title known from a search answer alone (its details are built from it),
        unless the catalogue has it already."""
        table = self.movies if kind == "movie" else self.tv
        if int(result["id"]) in table:
            return
        details = {k: v for k, v in result.items() if k not in ("genre_ids", "media_type")}
        details["genres"] = [{"id": g, "name": str(g)} for g in result.get("genre_ids", [])]
        if kind == "movie":
            self.add_movie(details)
        else:
            self.add_tv(details)

    def _split_parts(self, details: Mapping[str, Any], names: Iterable[str], parts: Mapping[str, Any]) -> dict:
        details = copy.deepcopy(dict(details))
        entry: dict[str, Any] = {}
        for name in names:
            if name in details:  # a recorded answer with append_to_response
                entry[name] = details.pop(name)
        for name, value in parts.items():
            if value is not None:
                entry[name] = copy.deepcopy(dict(value))
        for part in entry.values():
            if isinstance(part, dict):
                part.pop("id", None)
        entry["details"] = details
        return entry

    def _store(self, kind: str, details: Mapping[str, Any], parts: Mapping[str, Any]) -> dict[str, Any]:
        names, defaults, title = (MOVIE_PARTS, _MOVIE_DEFAULTS, "title") if kind == "movie" else \
            (TV_PARTS, _TV_DEFAULTS, "name")
        unknown = set(parts) - set(names)
        if unknown:
            raise ValueError(f"unknown {kind} parts: {sorted(unknown)}; expected some of {names}")
        entry = self._split_parts(details, names, parts)
        stored = entry["details"]
        stored["id"] = int(stored["id"])
        stored.setdefault(f"original_{title}", stored[title])
        for key, value in defaults.items():
            stored.setdefault(key, copy.deepcopy(value))
        return entry

    def add_movie(self, details: Mapping[str, Any], **parts: Any) -> dict[str, Any]:
        """Add (or replace) a movie: ``details`` needs ``id`` and ``title``; TMDb's other fields
        get TMDb's empty values. ``parts`` are ``credits``, ``images``, ``release_dates``... in
        TMDb's shapes. :returns: the stored entry."""
        entry = self._store("movie", details, parts)
        self.movies[entry["details"]["id"]] = entry
        self._index_images(entry)
        return entry

    def add_tv(self, details: Mapping[str, Any], *, seasons: Iterable[Mapping[str, Any]] = (), **parts: Any) -> dict:
        """Add (or replace) a series: ``details`` needs ``id`` and ``name``; ``seasons`` are
        ``/tv/{id}/season/{n}`` answers (``season_number`` and ``episodes`` at least).
        :returns: the stored entry."""
        entry = self._store("tv", details, parts)
        show = entry["details"]
        entry["seasons"] = {}
        listed = {s["season_number"]: s for s in show.get("seasons", [])}
        for season in seasons:
            stored = self._season(show["id"], season, listed.get(season["season_number"], {}))
            entry["seasons"][stored["season_number"]] = stored
        self.tv[show["id"]] = entry
        self._index_images(entry)
        return entry

    def _season(self, show_id: int, season: Mapping[str, Any], listed: Mapping[str, Any]) -> dict[str, Any]:
        season = copy.deepcopy(dict(season))
        number = int(season["season_number"])
        season.setdefault("id", listed.get("id", show_id * 1000 + number))
        season.setdefault("_id", f"{show_id:012x}{number:012x}")
        season.setdefault("name", listed.get("name", "Specials" if number == 0 else f"Season {number}"))
        season.setdefault("overview", listed.get("overview", ""))
        season.setdefault("poster_path", listed.get("poster_path"))
        season.setdefault("vote_average", listed.get("vote_average", 0))
        episodes = []
        for i, episode in enumerate(season.get("episodes", []), start=1):
            episode = {**copy.deepcopy(_EPISODE_DEFAULTS), **episode}
            episode.setdefault("episode_number", i)
            episode.setdefault("season_number", number)
            episode.setdefault("show_id", show_id)
            episode.setdefault("id", show_id * 100000 + number * 1000 + episode["episode_number"])
            episodes.append(episode)
        season["episodes"] = episodes
        season.setdefault("air_date", listed.get("air_date") or (episodes[0]["air_date"] if episodes else None))
        return season

    def _index_images(self, entry: Any) -> None:
        """Remember every image path the entry mentions, with its size when TMDb gives one."""
        def walk(node: Any) -> None:
            if isinstance(node, dict):
                path = node.get("file_path")
                if isinstance(path, str) and isinstance(node.get("width"), int) and isinstance(node.get("height"), int):
                    self.images[path] = (node["width"], node["height"])
                for key, value in node.items():
                    if isinstance(value, str) and value.startswith("/") and _PATH_KEY.search(key):
                        kind = key.removesuffix("_path") if key != "file_path" else "poster"
                        self.images.setdefault(value, DEFAULT_SIZES.get(kind, DEFAULT_SIZES["poster"]))
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(entry)

    # --- answering ----------------------------------------------------------------------------

    def entry(self, kind: str, tmdb_id: int) -> dict[str, Any] | None:
        return (self.movies if kind == "movie" else self.tv).get(tmdb_id)

    @staticmethod
    def translation(entry: Mapping[str, Any], language: str | None) -> dict[str, Any]:
        """The translated fields for ``language`` (``de-DE`` or ``de``) that are not empty."""
        if not language:
            return {}
        lang, _, country = language.partition("-")
        found: dict[str, Any] | None = None
        for item in entry.get("translations", {}).get("translations", []):
            if item.get("iso_639_1") != lang:
                continue
            if item.get("iso_3166_1") == country or found is None:
                found = item.get("data", {})
        return {k: v for k, v in (found or {}).items() if v and k in ("title", "name", "overview", "tagline")}

    def summary(self, kind: str, entry: Mapping[str, Any], language: str | None = None) -> dict[str, Any]:
        """The entry as a search or find result."""
        d = {**entry["details"], **self.translation(entry, language)}
        common = {k: d.get(k) for k in ("adult", "backdrop_path", "id", "original_language", "overview",
                                        "popularity", "poster_path", "vote_average", "vote_count")}
        common["genre_ids"] = [g["id"] for g in d.get("genres", [])]
        if kind == "movie":
            return {**common, "original_title": d["original_title"], "release_date": d.get("release_date") or "",
                    "title": d["title"], "video": d.get("video", False)}
        return {**common, "origin_country": d.get("origin_country", []), "original_name": d["original_name"],
                "first_air_date": d.get("first_air_date") or "", "name": d["name"]}

    def _titles(self, kind: str, entry: Mapping[str, Any]) -> list[str]:
        d = entry["details"]
        alternatives = entry.get("alternative_titles", {})
        names = [t.get("title", "") for t in alternatives.get("titles", alternatives.get("results", []))]
        names += [t.get("data", {}).get("title") or t.get("data", {}).get("name") or ""
                  for t in entry.get("translations", {}).get("translations", [])]
        main = [d.get("title"), d.get("original_title")] if kind == "movie" else [d.get("name"), d.get("original_name")]
        return [t for t in (*main, *names) if t]

    def _release_years(self, entry: Mapping[str, Any]) -> set[int]:
        years = {_year(entry["details"].get("release_date"))}
        for country in entry.get("release_dates", {}).get("results", []):
            years.update(_year(r.get("release_date")) for r in country.get("release_dates", []))
        return {y for y in years if y is not None}

    def search(self, kind: str, query: str, *, year: int | None = None, primary_year: int | None = None,
               include_adult: bool = False, language: str | None = None) -> list[dict[str, Any]]:
        """Titles whose title, original or alternative titles hold every query word (the last
        may be the start of a word), most popular first, as TMDb orders them.

        :param year: movies: any release in that year; series: first aired that year.
        :param primary_year: movies: the primary release date's year (``primary_release_year``);
            series: ``first_air_date_year``.
        """
        wanted = words(query)
        if not wanted:
            return []
        table = self.movies if kind == "movie" else self.tv
        date_key = "release_date" if kind == "movie" else "first_air_date"
        found = []
        for entry in table.values():
            details = entry["details"]
            if details.get("adult") and not include_adult:
                continue
            first_year = _year(details.get(date_key))
            if primary_year is not None and first_year != primary_year:
                continue
            if year is not None:
                years = self._release_years(entry) if kind == "movie" else {first_year}
                if year not in years:
                    continue
            if any(self._matches(wanted, words(title)) for title in self._titles(kind, entry)):
                found.append(entry)
        found.sort(key=lambda e: (-float(e["details"].get("popularity") or 0), e["details"]["id"]))
        return [self.summary(kind, entry, language) for entry in found]

    @staticmethod
    def _matches(wanted: list[str], title_words: list[str]) -> bool:
        *whole, last = wanted
        return all(w in title_words for w in whole) and any(t.startswith(last) for t in title_words)

    def find(self, external_id: str, source: str, language: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """``/find/{external_id}``: movies and series whose ``source`` (``imdb_id``, ``tvdb_id``...) is the id."""
        answer: dict[str, list[dict[str, Any]]] = {"movie_results": [], "person_results": [], "tv_results": [],
                                                   "tv_episode_results": [], "tv_season_results": []}
        for kind, table in (("movie", self.movies), ("tv", self.tv)):
            for entry in table.values():
                ids = {**{k: entry["details"].get(k) for k in ("imdb_id",)}, **entry.get("external_ids", {})}
                if ids.get(source) is not None and str(ids[source]) == external_id:
                    answer[f"{kind}_results"].append({**self.summary(kind, entry, language), "media_type": kind})
        return answer
