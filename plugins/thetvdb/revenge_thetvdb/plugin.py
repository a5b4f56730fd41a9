"""The ``thetvdb`` plugin: series described by TheTVDB (API v4).

Configuration (``plugins.thetvdb``)::

    plugins:
      thetvdb:
        api_key: 0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d
        pin: "1234"          # only for a user-supported key
        language: de         # or TheTVDB's code, deu
"""

from __future__ import annotations

import re
import weakref
from urllib.parse import urlsplit

import attrs

from revenge_hookspecs import MetadataProvider, hookimpl
from revenge_hookspecs.provider_http import PerContext

from .languages import to_tvdb
from .source import CONTENT_TYPES, TheTVDBSource

NAME = "thetvdb"
PRIORITY = 20
"""After TMDb (10): TheTVDB is the fallback for series unless a library orders it first."""
_API_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
_PIN = re.compile(r"^[A-Za-z0-9]{1,64}$")
SECRET = {"secret": True}
_RANGES = {"cache_ttl_hours": (0, 24 * 365, ""), "rate_limit_requests": (1, 10000, ""),
           "rate_limit_period": (0, 3600, " seconds"), "timeout": (0, 300, " seconds"), "max_tries": (1, 10, ""),
           "max_retry_after": (0, 3600, " seconds")}


@attrs.define
class TheTVDBConfig:
    """``plugins.thetvdb``.

    :param api_key: a TheTVDB v4 API key (project or user-supported), sent once to ``/login``.
    :param pin: the subscriber PIN that goes with a user-supported key; empty otherwise.
    :param base_url: the API's address.
    :param artwork_base_url: where image paths TheTVDB gives without a host live.
    :param language: metadata language when a library asks for none (``en``, ``de-DE``, or
        TheTVDB's own code such as ``deu``).
    :param cache_ttl_hours: how long answers are reused before TheTVDB is asked again (0: never cached).
    :param rate_limit_requests: requests allowed per ``rate_limit_period`` seconds.
    :param rate_limit_period: the window of the request budget, in seconds.
    :param timeout: seconds to wait for an answer.
    :param max_tries: attempts per request on rate limits, server errors and network errors.
    :param max_retry_after: the longest ``Retry-After`` waited for, in seconds.
    """

    api_key: str = attrs.field(default="", repr=False, metadata=SECRET)
    pin: str = attrs.field(default="", repr=False, metadata=SECRET)
    base_url: str = "https://api4.thetvdb.com/v4"
    artwork_base_url: str = "https://artworks.thetvdb.com"
    language: str = "eng"
    cache_ttl_hours: float = 24.0
    rate_limit_requests: int = 20
    rate_limit_period: float = 10.0
    timeout: float = 30.0
    max_tries: int = 5
    max_retry_after: float = 60.0

    def validate(self) -> None:
        if self.api_key and not _API_KEY.match(self.api_key):
            raise ValueError("api_key: does not look like a TheTVDB API key; copy it from "
                             "https://thetvdb.com/dashboard/account/apikey")
        if self.pin and not _PIN.match(self.pin):
            raise ValueError("pin: a subscriber PIN is letters and digits")
        for key in ("base_url", "artwork_base_url"):
            parts = urlsplit(getattr(self, key))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"{key}: must be an http:// or https:// URL without query, got {getattr(self, key)!r}")
        if to_tvdb(self.language) is None:
            raise ValueError(f"language: expected a language such as en, de-DE or eng, got {self.language!r}")
        for key, (low, high, unit) in _RANGES.items():
            value = getattr(self, key)
            # the budget's period and the timeout must be above 0; the others may be 0 or 1
            if not (low < value if key in ("rate_limit_period", "timeout") else low <= value) or value > high:
                raise ValueError(f"{key}: must be between {low} and {high}{unit}, got {value}")


def _new_source(context) -> TheTVDBSource:
    ref = weakref.ref(context)  # the source must not keep its context alive
    return TheTVDBSource(context.config, cache=lambda: ref().cache, cache_path=context.data_dir / "http-cache.sqlite",
                         logger=context.logger)


# one source per plugin context (per activation): the self-check and the provider share a client,
# its rate limit, its cache file and the token
_sources: PerContext[TheTVDBSource] = PerContext(_new_source)


def source_for(context) -> TheTVDBSource:
    return _sources.get(context)


@hookimpl
def revenge_config_schema() -> type:
    return TheTVDBConfig


@hookimpl
def revenge_metadata_providers(context) -> MetadataProvider:
    return MetadataProvider(name=NAME, content_types=CONTENT_TYPES, source=source_for(context), priority=PRIORITY)


@hookimpl
async def revenge_self_check(context) -> str | None:
    """The API key must be set and accepted; an unreachable TheTVDB is only logged."""
    return await source_for(context).check()


@hookimpl
def revenge_shutdown(context) -> None:
    _sources.close(context)
