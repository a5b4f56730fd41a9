"""The TheTVDB metadata source: login, search and lookup over TheTVDB's API v4."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loguru import logger as default_logger

from revenge_hookspecs import MetadataMatch
from revenge_hookspecs.media import ItemMetadata, ProviderError
from revenge_hookspecs.provider_http import ProviderClient, RateLimit

from . import mapping
from .languages import TVDB_LANGUAGE, to_tvdb
from .mapping import PROVIDER

CONTENT_TYPES = frozenset({"tv"})
TVDB_ID = re.compile(r"^[1-9][0-9]{0,9}$")
IMDB_ID = re.compile(r"^tt[0-9]{5,10}$")
TOKEN_TTL = 25 * 24 * 3600.0
"""TheTVDB's tokens last a month; keep one a little less, then log in again."""
MAX_PAGES = 200
"""Episode pages followed at most (500 episodes each); guards against a ``links.next`` that never ends."""
SEARCH_LIMIT = 20
NO_KEY = "no API key: set plugins.thetvdb.api_key (get one at https://thetvdb.com/dashboard/account/apikey)"


def _data(body: Any) -> Any:
    """The ``data`` of TheTVDB's ``{"status", "data"}`` envelope (``None`` for a 404)."""
    return body.get("data") if isinstance(body, Mapping) else None


def next_page(links: Any, current: int) -> int | None:
    """The page ``links.next`` points to, when it is past ``current``; only its ``page`` is
    trusted (the URL itself is never followed)."""
    target = links.get("next") if isinstance(links, Mapping) else None
    if not isinstance(target, str) or not target:
        return None
    pages = parse_qs(urlsplit(target).query).get("page") or []
    page = mapping.number(pages[0]) if pages else None
    return page if page is not None and page > current else None


class TheTVDBSource:
    """Answers :class:`~revenge_hookspecs.MetadataSource` calls from TheTVDB.

    The bearer token is obtained at the first request that needs one, kept in memory and in the
    plugin's cache (``cache()``, shared by every instance of the server), and obtained once more
    when TheTVDB answers 401 (an expired or revoked token).

    :param config: the plugin's :class:`~revenge_thetvdb.plugin.TheTVDBConfig`.
    :param cache: returns the plugin's cache (``context.cache``).
    :param cache_path: SQLite file for cached answers (``None``: in memory).
    :param logger: where to log (``context.logger``).
    """

    def __init__(self, config: Any, cache: Callable[[], Any], cache_path: Path | None = None, logger: Any = None):
        self.config = config
        self.cache_path = cache_path
        self.logger = logger or default_logger
        self._cache = cache
        self._token: str | None = None
        self._token_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        credential = "\0".join((config.base_url, config.api_key, config.pin))
        self.token_key = "token:" + hashlib.sha256(credential.encode()).hexdigest()[:32]

    # --- the HTTP client ----------------------------------------------------------------------

    @functools.cached_property
    def client(self) -> ProviderClient:
        """Made on first use (once: ``cached_property`` locks), so registering the provider costs nothing."""
        config = self.config
        return ProviderClient(PROVIDER, config.base_url,
                              rate_limit=RateLimit(config.rate_limit_requests, config.rate_limit_period),
                              cache_path=self.cache_path, cache_ttl=config.cache_ttl_hours * 3600,
                              timeout=config.timeout, max_tries=config.max_tries,
                              max_retry_after=config.max_retry_after)

    def close(self) -> None:
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()

    # --- the token ----------------------------------------------------------------------------

    def _token_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._token_locks.get(loop)
        if lock is None:
            lock = self._token_locks[loop] = asyncio.Lock()
        return lock

    def _use(self, token: str) -> str:
        self._token = token
        self.client.set_header("Authorization", f"Bearer {token}")
        return token

    async def _login(self) -> str:
        config = self.config
        if not config.api_key:
            raise ProviderError(PROVIDER, NO_KEY)
        body = {"apikey": config.api_key, **({"pin": config.pin} if config.pin else {})}
        try:
            answer = await self.client.post_json("/login", body)
        except ProviderError as exc:
            if exc.status not in (400, 401, 403):
                raise
            refused, keys = (("API key or PIN", "plugins.thetvdb.api_key and plugins.thetvdb.pin") if config.pin
                             else ("API key", "plugins.thetvdb.api_key"))
            raise ProviderError(PROVIDER, f"TheTVDB refused the {refused} (HTTP {exc.status} at login); check {keys}",
                                status=exc.status) from None
        data = _data(answer)
        token = data.get("token") if isinstance(data, Mapping) else None
        if not isinstance(token, str) or not token.strip():
            raise ProviderError(PROVIDER, "TheTVDB's login answer holds no token")
        self.logger.info("thetvdb: logged in to {}", config.base_url)
        await self._cache().set(self.token_key, token.strip(), ttl=TOKEN_TTL)
        return token.strip()

    async def token(self) -> str:
        """The bearer token: in memory, else the one in the plugin's cache, else a new login."""
        if self._token is not None:
            return self._token
        async with self._token_lock():
            if self._token is not None:
                return self._token
            cached = await self._cache().get(self.token_key)
            if isinstance(cached, str) and cached:
                return self._use(cached)
            return self._use(await self._login())

    async def _renew(self, rejected: str) -> None:
        """TheTVDB answered 401 with ``rejected``: take a newer token (another instance's) or log in."""
        async with self._token_lock():
            if self._token is not None and self._token != rejected:
                return  # a concurrent request renewed it already
            cached = await self._cache().get(self.token_key)
            if isinstance(cached, str) and cached and cached != rejected:
                self._use(cached)
                return
            self.logger.info("thetvdb: the token was refused (expired or revoked); logging in again")
            self._token = None
            await self._cache().delete(self.token_key)
            self._use(await self._login())

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` with the token: TheTVDB's whole answer (``None`` for 404). One 401 leads to a
        new token and one more try; a second is a :class:`ProviderError` with status 401."""
        token = await self.token()
        try:
            return await self.client.get_json(path, params)
        except ProviderError as exc:
            if exc.status != 401:
                raise
        await self._renew(token)
        try:
            return await self.client.get_json(path, params)
        except ProviderError as exc:
            if exc.status == 401:
                raise ProviderError(PROVIDER, "TheTVDB refused a fresh token (HTTP 401); check that the API key "
                                    "in plugins.thetvdb.api_key is still active", status=401) from None
            raise

    async def check(self) -> str | None:
        """``None`` when TheTVDB accepts the credentials, else what is wrong (for the self-check)."""
        if not self.config.api_key:
            return NO_KEY
        try:
            await self.token()
        except ProviderError as exc:
            if exc.status in (400, 401, 403):
                return str(exc)
            self.logger.warning("thetvdb: could not reach TheTVDB to check the API key: {}", exc)
        return None

    def language(self, language: str | None) -> str:
        """TheTVDB's code for a wanted language, else the configured one."""
        return to_tvdb(language) or to_tvdb(self.config.language) or "eng"

    @property
    def artwork_base(self) -> str:
        return self.config.artwork_base_url

    # --- search ----------------------------------------------------------------------------------

    async def search(self, content_type: str, query: str, *, year: int | None = None,
                     language: str | None = None, external_ids: Mapping[str, str] | None = None) -> list[MetadataMatch]:
        """Candidates for a series, best first: by TheTVDB id or IMDb id when ``external_ids``
        has one TheTVDB knows, else by title (and year)."""
        if content_type not in CONTENT_TYPES:
            return []
        language = self.language(language)
        ids = {str(k).lower(): str(v).strip() for k, v in (external_ids or {}).items() if v}
        matches = await self._by_id(ids)
        if matches:
            return matches
        query = (query or "").strip()
        if not query:
            return []
        results = await self._search_title(query, year)
        matches = [m for m in (mapping.search_match(r, query, year, ids, language, self.artwork_base)
                               for r in results) if m is not None]
        return sorted(matches, key=lambda m: -m.score)  # stable: TheTVDB's order among equals

    async def _by_id(self, ids: Mapping[str, str]) -> list[MetadataMatch]:
        tvdb_id = ids.get("tvdb")
        if tvdb_id and TVDB_ID.match(tvdb_id):
            series = _data(await self.get(f"/series/{tvdb_id}"))
            if isinstance(series, Mapping):
                found = mapping.base_match(series, ids, self.artwork_base)
                if found is not None:
                    return [found]
        imdb_id = ids.get("imdb")
        if imdb_id and IMDB_ID.match(imdb_id):
            results = _data(await self.get(f"/search/remoteid/{imdb_id}"))
            matches = [mapping.base_match(r["series"], ids, self.artwork_base, found_by={"imdb": imdb_id})
                       for r in mapping.records(results) if isinstance(r.get("series"), Mapping)]
            return [m for m in matches if m is not None]
        return []

    async def _search_title(self, query: str, year: int | None) -> list[dict[str, Any]]:
        base = {"query": query, "type": "series", "limit": SEARCH_LIMIT}
        # a file's year may be off by a season or a country: fall back to none
        for extra in ([{"year": year}] if year else []) + [{}]:
            results = mapping.records(_data(await self.get("/search", {**base, **extra})))
            if results:
                return results
        return []

    # --- lookup ----------------------------------------------------------------------------------

    async def lookup(self, content_type: str, external_id: str, *, language: str | None = None) -> ItemMetadata | None:
        """Everything TheTVDB knows of a series with every season and episode of its default
        order; ``None`` for an id TheTVDB does not know (or that is not a TheTVDB id)."""
        external_id = str(external_id).strip()
        if content_type not in CONTENT_TYPES or not TVDB_ID.match(external_id):
            return None
        language = self.language(language)
        series = _data(await self.get(f"/series/{external_id}/extended", {"meta": "translations", "short": "false"}))
        if not isinstance(series, Mapping) or mapping.number(series.get("id")) is None:
            return None
        names, overviews = mapping.translations_of(series)
        translated_codes = {*names, *overviews, *_codes(series.get("nameTranslations")),
                            *_codes(series.get("overviewTranslations"))}
        wants_translation = language != series.get("originalLanguage") and language in translated_codes
        episodes, translated = await asyncio.gather(
            self._episodes(external_id, None),
            self._episodes(external_id, language) if wants_translation else _nothing())
        return mapping.series_metadata(series, episodes, translated, language, self.artwork_base)

    async def _episodes(self, series_id: str, language: str | None) -> list[dict[str, Any]]:
        """Every episode of the default season order, page by page (in ``language`` if given)."""
        if language is not None and not TVDB_LANGUAGE.match(language):
            return []
        path = f"/series/{series_id}/episodes/default" + (f"/{language}" if language else "")
        episodes: list[dict[str, Any]] = []
        page = 0
        for _ in range(MAX_PAGES):
            body = await self.get(path, {"page": page})
            found = mapping.records((_data(body) or {}).get("episodes") if isinstance(_data(body), Mapping) else None)
            episodes.extend(found)
            following = next_page(body.get("links") if isinstance(body, Mapping) else None, page)
            if following is None or not found:
                return episodes
            page = following
        self.logger.warning("thetvdb: stopped after {} pages of episodes of series {}", MAX_PAGES, series_id)
        return episodes


def _codes(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


async def _nothing() -> list[dict[str, Any]]:
    return []
