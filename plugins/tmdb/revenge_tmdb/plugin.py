"""The ``tmdb`` plugin: movies and series described by The Movie Database.

Configuration (``plugins.tmdb``)::

    plugins:
      tmdb:
        api_key: 0123456789abcdef0123456789abcdef   # v3 key, or:
        read_access_token: eyJhbGciOi...            # v4 read access token
        language: de-DE
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from revenge_hookspecs import MetadataProvider, hookimpl
from revenge_hookspecs.provider_http import PerContext

from .source import CONTENT_TYPES, LANGUAGE, TMDbSource

NAME = "tmdb"
PRIORITY = 10
_CREDENTIAL = re.compile(r"^[A-Za-z0-9._~+/=-]{16,1024}$")


@attrs.define
class TMDbConfig:
    """``plugins.tmdb``.

    :param api_key: a TMDb v3 API key (sent as the ``api_key`` query parameter).
    :param read_access_token: a TMDb v4 read access token (sent as a bearer token); used
        instead of ``api_key`` when both are set.
    :param base_url: the API's address.
    :param image_base_url: the image CDN's address; artwork URLs are ``<it>/original/<file>``.
    :param language: metadata language when a library asks for none (``en-US``, ``de``).
    :param include_adult: let searches return adult titles.
    :param cache_ttl_hours: how long answers are reused before TMDb is asked again (0: never cached).
    :param requests_per_second: the request budget (TMDb allows about 50 per second).
    :param timeout: seconds to wait for an answer.
    :param max_tries: attempts per request on rate limits, server errors and network errors.
    :param max_retry_after: the longest ``Retry-After`` waited for, in seconds.
    """

    api_key: str = ""
    read_access_token: str = ""
    base_url: str = "https://api.themoviedb.org/3"
    image_base_url: str = "https://image.tmdb.org/t/p"
    language: str = "en-US"
    include_adult: bool = False
    cache_ttl_hours: float = 24.0
    requests_per_second: int = 50
    timeout: float = 30.0
    max_tries: int = 5
    max_retry_after: float = 60.0

    def validate(self) -> None:
        for key in ("api_key", "read_access_token"):
            value = getattr(self, key)
            if value and not _CREDENTIAL.match(value):
                raise ValueError(f"{key}: does not look like a TMDb credential; copy it from "
                                 "https://www.themoviedb.org/settings/api")
        for key in ("base_url", "image_base_url"):
            parts = urlsplit(getattr(self, key))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"{key}: must be an http:// or https:// URL without query, got {getattr(self, key)!r}")
        if not LANGUAGE.match(self.language):
            raise ValueError(f"language: expected a language tag like en-US or de, got {self.language!r}")
        if not 0 <= self.cache_ttl_hours <= 24 * 365:
            raise ValueError(f"cache_ttl_hours: must be between 0 and 8760, got {self.cache_ttl_hours}")
        if not 1 <= self.requests_per_second <= 1000:
            raise ValueError(f"requests_per_second: must be between 1 and 1000, got {self.requests_per_second}")
        if not 0 < self.timeout <= 300:
            raise ValueError(f"timeout: must be between 0 and 300 seconds, got {self.timeout}")
        if not 1 <= self.max_tries <= 10:
            raise ValueError(f"max_tries: must be between 1 and 10, got {self.max_tries}")
        if not 0 <= self.max_retry_after <= 3600:
            raise ValueError(f"max_retry_after: must be between 0 and 3600 seconds, got {self.max_retry_after}")


# one source per plugin context (per activation), so the self-check and the provider share a
# client, its rate limit and its cache file
_sources: PerContext[TMDbSource] = PerContext(
    lambda context: TMDbSource(context.config, context.data_dir / "http-cache.sqlite", log=context.logger))


def source_for(context) -> TMDbSource:
    return _sources.get(context)


@hookimpl
def revenge_config_schema() -> type:
    return TMDbConfig


@hookimpl
def revenge_metadata_providers(context) -> MetadataProvider:
    return MetadataProvider(name=NAME, content_types=CONTENT_TYPES, source=source_for(context), priority=PRIORITY)


@hookimpl
async def revenge_self_check(context) -> str | None:
    """Credentials must be set and accepted; an unreachable TMDb is only logged."""
    return await source_for(context).check()


@hookimpl
def revenge_shutdown(context) -> None:
    _sources.close(context)
