"""Helpers the plugin's tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

NAME = "thetvdb"


def settings(tvdb: Any, **config: Any) -> dict[str, Any]:
    """The plugin's config against the fake, with a budget that never slows a test down."""
    return {"api_key": tvdb.api_key, "base_url": tvdb.api_url, "artwork_base_url": tvdb.url,
            "rate_limit_requests": 1000, "rate_limit_period": 1.0, "max_retry_after": 5, **config}


def source_of(harness: Any) -> Any:
    """The provider's source (a :class:`~revenge_thetvdb.source.TheTVDBSource`)."""
    return harness.registration("metadata_providers", NAME).source
