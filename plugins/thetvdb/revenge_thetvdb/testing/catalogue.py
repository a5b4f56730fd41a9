"""The fake TheTVDB's catalogue: series records, their episodes and translations, and the
queries TheTVDB answers over them (search, remote ids, translated episode lists).

Records are kept in TheTVDB's own shapes (see :mod:`.content`). Image fields hold paths
below the artwork host (``/banners/...``); the fake turns them into URLs of itself.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import content

_WORD = re.compile(r"\w+")
BASE_FIELDS = ("aliases", "averageRuntime", "country", "defaultSeasonType", "episodes", "firstAired", "id", "image",
               "isOrderRandomized", "lastAired", "lastUpdated", "name", "nameTranslations", "nextAired",
               "originalCountry", "originalLanguage", "overviewTranslations", "score", "slug", "status", "year")
"""The fields of a ``SeriesBaseRecord``."""


def words(value: str | None) -> list[str]:
    """Lower-case words without accents."""
    value = unicodedata.normalize("NFKD", value or "")
    return _WORD.findall("".join(c for c in value if not unicodedata.combining(c)).lower())


def image_paths(value: Any) -> Iterator[str]:
    """Every ``/banners/...`` path inside a record."""
    if isinstance(value, str):
        if value.startswith("/banners/"):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from image_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from image_paths(item)


class Catalogue:
    """Series by TheTVDB id, with their episodes (default order) and translations.

    :ivar series: ``SeriesExtendedRecord`` s without ``translations`` and ``episodes``.
    :ivar episodes: the ``EpisodeBaseRecord`` s of each series.
    :ivar translations: ``{series id: {language: {"name", "overview", "isPrimary"?}}}``.
    :ivar episode_translations: ``{episode id: {language: {"name", "overview"}}}``.
    :ivar images: every image path the catalogue mentions.
    """

    def __init__(self) -> None:
        self.series: dict[int, dict[str, Any]] = {}
        self.episodes: dict[int, list[dict[str, Any]]] = {}
        self.translations: dict[int, dict[str, dict[str, Any]]] = {}
        self.episode_translations: dict[int, dict[str, dict[str, Any]]] = {}
        self.images: set[str] = set()

    @classmethod
    def default(cls) -> Catalogue:
        """The series described in :mod:`.content`."""
        catalogue = cls()
        ids = content._Ids(5_000_000)
        record, episodes, episode_translations, translations = content.breaking_bad(ids)
        catalogue.add_series(record, episodes, translations=translations, episode_translations=episode_translations)
        record, episodes, episode_translations, translations = content.dark(ids)
        catalogue.add_series(record, episodes, translations=translations, episode_translations=episode_translations)
        for build in (content.better_call_saul, content.breaking_badly, content.nightly_ledger):
            catalogue.add_series(*build(ids))
        return catalogue

    def add_series(self, record: Mapping[str, Any], episodes: Iterable[Mapping[str, Any]] = (), *,
                   translations: Mapping[str, Mapping[str, Any]] | None = None,
                   episode_translations: Mapping[str, Mapping[int, Mapping[str, Any]]] | None = None) -> dict:
        """Add (or replace) a series.

        :param record: a ``SeriesExtendedRecord`` (``id`` and ``name`` at least).
        :param episodes: its ``EpisodeBaseRecord`` s in the default order.
        :param translations: ``{language: {"name", "overview"}}``; the record's own name and
            overview count as its original language's when that language is missing.
        :param episode_translations: ``{language: {episode id: {"name", "overview"}}}``.
        """
        record = copy.deepcopy(dict(record))
        series_id = int(record["id"])
        original = record.get("originalLanguage") or "eng"
        texts = {lang: dict(t) for lang, t in (translations or {}).items()}
        texts.setdefault(original, {"name": record.get("name"), "overview": record.get("overview"),
                                    "isPrimary": True})
        record["nameTranslations"] = sorted(lang for lang, t in texts.items() if t.get("name"))
        record["overviewTranslations"] = sorted(lang for lang, t in texts.items() if t.get("overview"))
        self.series[series_id] = record
        self.translations[series_id] = texts
        listed = [copy.deepcopy(dict(e)) for e in episodes]
        by_episode: dict[int, dict[str, dict[str, Any]]] = {}
        for lang, table in (episode_translations or {}).items():
            for episode_id, text in table.items():
                by_episode.setdefault(int(episode_id), {})[lang] = dict(text)
        for episode in listed:
            own = by_episode.setdefault(episode["id"], {})
            own.setdefault(original, {"name": episode.get("name"), "overview": episode.get("overview")})
            episode["nameTranslations"] = sorted(lang for lang, t in own.items() if t.get("name"))
            episode["overviewTranslations"] = sorted(lang for lang, t in own.items() if t.get("overview"))
        self.episodes[series_id] = listed
        self.episode_translations.update(by_episode)
        self.images.update(image_paths(record))
        self.images.update(p for e in listed for p in image_paths(e))
        self.images.update(content.thumbnail_path(p) for p in list(self.images) if "_t." not in p)
        return record

    # --- records ------------------------------------------------------------------------------

    def base(self, series_id: int) -> dict[str, Any] | None:
        """The ``SeriesBaseRecord`` of a series."""
        record = self.series.get(series_id)
        return {k: copy.deepcopy(record.get(k)) for k in BASE_FIELDS} if record else None

    def extended(self, series_id: int, *, meta: str | None = None, short: bool = False) -> dict[str, Any] | None:
        """``/series/{id}/extended``: ``meta=translations`` adds the translations, ``meta=episodes``
        the episodes; ``short`` leaves out characters, artworks and trailers."""
        record = self.series.get(series_id)
        if record is None:
            return None
        answer = copy.deepcopy(record)
        if short:
            for key in ("characters", "artworks", "trailers"):
                answer[key] = None
        if meta == "translations":
            texts = self.translations[series_id]
            answer["translations"] = {
                "nameTranslations": [{"name": t["name"], "language": lang, "isPrimary": bool(t.get("isPrimary")),
                                      "isAlias": False, "aliases": [], "overview": None, "tagline": None}
                                     for lang, t in sorted(texts.items()) if t.get("name")],
                "overviewTranslations": [{"overview": t["overview"], "language": lang, "name": None,
                                          "isPrimary": bool(t.get("isPrimary")), "aliases": [], "tagline": None}
                                         for lang, t in sorted(texts.items()) if t.get("overview")],
                "alias": [a["name"] for a in record.get("aliases") or []],
            }
        if meta == "episodes":
            answer["episodes"] = copy.deepcopy(self.episodes.get(series_id, []))
        return answer

    def translation(self, series_id: int, language: str) -> dict[str, Any] | None:
        """``/series/{id}/translations/{language}`` (a ``Translation``), or ``None``."""
        text = self.translations.get(series_id, {}).get(language)
        if not text:
            return None
        aliases = [a["name"] for a in self.series[series_id].get("aliases") or [] if a.get("language") == language]
        return {"name": text.get("name"), "overview": text.get("overview"), "language": language,
                "aliases": aliases, "isPrimary": bool(text.get("isPrimary")), "isAlias": False, "tagline": None}

    def episode_translation(self, episode_id: int, language: str) -> dict[str, Any] | None:
        """``/episodes/{id}/translations/{language}``, or ``None``."""
        text = self.episode_translations.get(episode_id, {}).get(language)
        if not text:
            return None
        return {"name": text.get("name"), "overview": text.get("overview"), "language": language, "aliases": [],
                "isPrimary": False, "isAlias": False, "tagline": None}

    def episode_list(self, series_id: int, season_type: str, language: str | None = None) -> list[dict[str, Any]]:
        """Episodes in a season order (``default`` is the series' own); in ``language`` the name and
        overview are that language's, ``null`` where it has none."""
        record = self.series.get(series_id)
        if record is None:
            return []
        types = {t["type"] for t in record.get("seasonTypes") or []}
        if season_type != "default" and season_type not in types:
            return []
        listed = copy.deepcopy(self.episodes.get(series_id, []))
        if language is not None:
            for episode in listed:
                text = self.episode_translations.get(episode["id"], {}).get(language) or {}
                episode["name"], episode["overview"] = text.get("name"), text.get("overview")
        return listed

    # --- queries ------------------------------------------------------------------------------

    def _titles(self, series_id: int) -> list[str]:
        record = self.series[series_id]
        titles = [record.get("name") or ""]
        titles += [a["name"] for a in record.get("aliases") or [] if a.get("name")]
        titles += [t["name"] for t in self.translations[series_id].values() if t.get("name")]
        return titles

    def search_result(self, series_id: int) -> dict[str, Any]:
        """A ``SearchResult`` for a series."""
        record = self.series[series_id]
        texts = self.translations[series_id]
        network = record.get("originalNetwork") or {}
        original = texts.get(record.get("originalLanguage")) or {}
        return {
            "objectID": f"series-{series_id}", "id": f"series-{series_id}", "tvdb_id": str(series_id),
            "type": "series", "name": record.get("name"), "slug": record.get("slug"),
            "aliases": [a["name"] for a in record.get("aliases") or []],
            "translations": {lang: t["name"] for lang, t in texts.items() if t.get("name")},
            "overviews": {lang: t["overview"] for lang, t in texts.items() if t.get("overview")},
            "overview": (texts.get("eng") or {}).get("overview") or original.get("overview"),
            "first_air_time": record.get("firstAired"), "year": record.get("year"),
            "image_url": record.get("image"), "thumbnail": record.get("image") and content.thumbnail_path(
                record["image"]),
            "primary_language": record.get("originalLanguage"), "country": record.get("originalCountry"),
            "network": network.get("name"), "status": (record.get("status") or {}).get("name"),
            "genres": [g["name"] for g in record.get("genres") or []],
            "companies": [c["name"] for c in record.get("companies") or []],
            "remote_ids": copy.deepcopy(record.get("remoteIds") or []), "is_official": True,
        }

    def search(self, query: str, *, kind: str | None = None, year: int | None = None) -> list[dict[str, Any]]:
        """Series whose name, an alias or a translation holds every word of ``query`` (the last
        one may be the start of a word), most popular first."""
        wanted = words(query)
        if not wanted or kind not in (None, "series"):
            return []

        def matches(title: str) -> bool:
            have = words(title)
            return all(w in have for w in wanted[:-1]) and any(h.startswith(wanted[-1]) for h in have)

        found = [series_id for series_id, record in self.series.items()
                 if (year is None or str(record.get("year")) == str(year))
                 and any(matches(t) for t in self._titles(series_id))]
        found.sort(key=lambda i: -(self.series[i].get("score") or 0))
        return [self.search_result(i) for i in found]

    def remote(self, remote_id: str) -> list[dict[str, Any]]:
        """``/search/remoteid/{id}``: the series with that remote id, as ``{"series": base}``."""
        return [{"series": self.base(series_id)} for series_id, record in self.series.items()
                if any(str(r.get("id")) == remote_id for r in record.get("remoteIds") or [])]
