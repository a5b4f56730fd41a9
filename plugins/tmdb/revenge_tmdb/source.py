"""The TMDb metadata source: search and lookup over TMDb's v3 API."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loguru import logger

from revenge_hookspecs import MetadataMatch
from revenge_hookspecs.media import ProviderError, match_score
from revenge_hookspecs.provider_http import ProviderClient, RateLimit

from . import mapping
from .mapping import PROVIDER, Images, text, year_of

CONTENT_TYPES = frozenset({"movie", "tv"})
MOVIE_APPEND = "credits,images,external_ids,release_dates,translations,alternative_titles"
TV_APPEND = "credits,images,external_ids,content_ratings,translations"
LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
TMDB_ID = re.compile(r"^[1-9][0-9]{0,9}$")
IMDB_ID = re.compile(r"^(tt|nm)[0-9]{5,10}$")
TVDB_ID = re.compile(r"^[1-9][0-9]{0,9}$")
# how TMDb's /find names the id kinds the SDK calls imdb, tvdb...
FIND_SOURCES = {"imdb": ("imdb_id", IMDB_ID), "tvdb": ("tvdb_id", TVDB_ID)}


class TMDbSource:
    """Answers :class:`~revenge_hookspecs.MetadataSource` calls from TMDb.

    :param config: the plugin's :class:`~revenge_tmdb.plugin.TMDbConfig`.
    :param cache_path: SQLite file for cached answers (``None``: in memory).
    :param log: where to log (the plugin's ``context.logger``).
    """

    def __init__(self, config: Any, cache_path: Path | None = None, *, log: Any = logger):
        self.config = config
        self.cache_path = cache_path
        self.log = log
        self.images = Images(config.image_base_url)
        self._client: ProviderClient | None = None
        self._lock = threading.Lock()

    # --- the HTTP client ------------------------------------------------------------------------

    @property
    def client(self) -> ProviderClient:
        """Made on first use, so registering the provider costs nothing."""
        with self._lock:
            if self._client is None:
                config = self.config
                self._client = ProviderClient(
                    PROVIDER, config.base_url, rate_limit=RateLimit(config.requests_per_second, 1.0),
                    cache_path=self.cache_path, cache_ttl=config.cache_ttl_hours * 3600, timeout=config.timeout,
                    max_tries=config.max_tries, max_retry_after=config.max_retry_after,
                    params={"api_key": config.api_key} if config.api_key and not config.read_access_token else None,
                    headers={"Authorization": f"Bearer {config.read_access_token}"}
                    if config.read_access_token else None)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _get(self, path: str, params: Mapping[str, Any] | None = None, *, cache: bool = True) -> Any:
        try:
            return await self.client.get_json(path, params, cache=cache)
        except ProviderError as exc:
            if exc.status == 401:
                raise ProviderError(PROVIDER, "invalid API key or read access token (TMDb answered 401); "
                                    "check plugins.tmdb.api_key or plugins.tmdb.read_access_token",
                                    status=401) from None
            raise

    def _language(self, language: str | None) -> str:
        if language and LANGUAGE.match(language):
            return language
        if language and LANGUAGE.match(language.split("-")[0]):
            return language.split("-")[0]
        return self.config.language

    async def check(self) -> str | None:
        """``None`` when TMDb accepts the credentials, else what is wrong (for the self-check)."""
        if not (self.config.api_key or self.config.read_access_token):
            return "no credentials: set plugins.tmdb.api_key (v3) or plugins.tmdb.read_access_token (v4)"
        try:
            await self._get("/authentication", cache=False)
        except ProviderError as exc:
            if exc.status in (401, 403):
                return str(exc)
            self.log.warning("could not reach TMDb to check the credentials: {}", exc)
        return None

    # --- search -------------------------------------------------------------------------------

    async def search(self, content_type: str, query: str, *, year: int | None = None,
                     language: str | None = None, external_ids: Mapping[str, str] | None = None) -> list[MetadataMatch]:
        """Candidates for a title, best first: by id when ``external_ids`` has a ``tmdb``,
        ``imdb`` or ``tvdb`` id TMDb knows, else by title (and year)."""
        if content_type not in CONTENT_TYPES:
            return []
        language = self._language(language)
        ids = {k.lower(): str(v).strip() for k, v in (external_ids or {}).items() if v}
        matches = await self._by_id(content_type, ids, language)
        if matches:
            return matches
        query = (query or "").strip()
        if not query:
            return []
        results = await self._search_title(content_type, query, year, language)
        matches = [self._match(content_type, r, query, year, ids) for r in results]
        popularity = {m.external_id: r.get("popularity") or 0 for m, r in zip(matches, results, strict=True)}
        return sorted(matches, key=lambda m: (-m.score, -popularity[m.external_id]))

    async def _by_id(self, content_type: str, ids: Mapping[str, str], language: str) -> list[MetadataMatch]:
        tmdb_id = ids.get("tmdb")
        if tmdb_id and TMDB_ID.match(tmdb_id):
            found = await self._get(f"/{content_type}/{tmdb_id}", {"language": language})
            if found:
                return [self._match(content_type, found, "", None, ids)]
        for kind, (source, pattern) in FIND_SOURCES.items():
            value = ids.get(kind)
            if not value or not pattern.match(value):
                continue
            found = await self._get(f"/find/{value}", {"external_source": source, "language": language})
            results = (found or {}).get(f"{content_type}_results") or []
            if results:
                return [self._match(content_type, r, "", None, ids, same_id=True) for r in results]
        return []

    async def _search_title(self, content_type: str, query: str, year: int | None, language: str) -> list[dict]:
        base = {"query": query, "language": language, "include_adult": str(self.config.include_adult).lower()}
        if content_type == "movie":
            attempts = [{"primary_release_year": year}, {"year": year}] if year else []
        else:
            attempts = [{"first_air_date_year": year}] if year else []
        # a file's year may be off (a festival, another country's release): fall back to none
        for extra in [*attempts, {}]:
            answer = await self._get(f"/search/{content_type}", {**base, **extra})
            results = (answer or {}).get("results") or []
            if results:
                return results
        return []

    def _match(self, content_type: str, result: Mapping[str, Any], query: str, year: int | None,
               ids: Mapping[str, str], *, same_id: bool = False) -> MetadataMatch:
        if content_type == "movie":
            title, original, date = result.get("title"), result.get("original_title"), result.get("release_date")
        else:
            title, original, date = result.get("name"), result.get("original_name"), result.get("first_air_date")
        title = title or original or ""
        candidate_year = year_of(date)
        same = same_id or ids.get("tmdb") == str(result["id"]) or (
            bool(ids.get("imdb")) and ids.get("imdb") == result.get("imdb_id"))
        score = match_score(query, year, title, candidate_year, alternative_titles=[original] if original else [],
                            same_external_id=same)
        extra = {"original_title": text(original), "original_language": text(result.get("original_language")),
                 "overview": text(result.get("overview")), "release_date": text(date),
                 "popularity": result.get("popularity"), "poster_url": self.images.url(result.get("poster_path")),
                 "backdrop_url": self.images.url(result.get("backdrop_path"))}
        return MetadataMatch(provider=PROVIDER, external_id=str(result["id"]), title=title, year=candidate_year,
                             score=score, extra={k: v for k, v in extra.items() if v is not None})

    # --- lookup -------------------------------------------------------------------------------

    async def lookup(self, content_type: str, external_id: str, *, language: str | None = None) -> Any:
        """Everything TMDb knows of a movie, or of a series with all its seasons; ``None`` for an
        id TMDb does not know (or that is not a TMDb id)."""
        external_id = str(external_id).strip()
        if content_type not in CONTENT_TYPES or not TMDB_ID.match(external_id):
            return None
        language = self._language(language)
        images = f"{language.split('-')[0]},null"
        if content_type == "movie":
            data = await self._get(f"/movie/{external_id}", {"append_to_response": MOVIE_APPEND,
                                                              "language": language, "include_image_language": images})
            return mapping.movie(data, self.images) if data else None
        data = await self._get(f"/tv/{external_id}", {"append_to_response": TV_APPEND, "language": language,
                                                       "include_image_language": images})
        if not data:
            return None
        numbers = sorted({s["season_number"] for s in data.get("seasons") or []
                          if isinstance(s.get("season_number"), int)})
        seasons = await asyncio.gather(*(self._get(f"/tv/{external_id}/season/{n}", {"language": language})
                                         for n in numbers))
        missing = [n for n, s in zip(numbers, seasons, strict=True) if not s]
        if missing:
            self.log.info("series {} lists seasons {} that TMDb does not serve", external_id, missing)
        return mapping.tv(data, [s for s in seasons if s], self.images)
