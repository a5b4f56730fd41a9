"""The plugin as the server sees it: entry point, configuration, registration, self-check."""

from __future__ import annotations

import socket

import pytest

import revenge_tmdb.plugin as plugin
from revenge_hookspecs.testing import PluginConfigError


def test_the_installed_entry_point_is_this_plugin(revenge_plugin):
    assert revenge_plugin("tmdb").plugin is plugin


def test_it_registers_a_tmdb_provider_for_movies_and_tv(make_harness):
    provider = make_harness().registration("metadata_providers", "tmdb")
    assert provider.content_types == frozenset({"movie", "tv"})
    assert provider.priority == 10


def test_defaults(revenge_plugin):
    config = revenge_plugin(plugin, name="tmdb").config
    assert (config.base_url, config.image_base_url) == ("https://api.themoviedb.org/3", "https://image.tmdb.org/t/p")
    assert (config.language, config.include_adult, config.requests_per_second) == ("en-US", False, 50)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("language", "english", "language"),
    ("base_url", "ftp://api.themoviedb.org/3", "base_url"),
    ("image_base_url", "https://image.tmdb.org/t/p?x=1", "image_base_url"),
    ("requests_per_second", "0", "requests_per_second"),
    ("cache_ttl_hours", "-1", "cache_ttl_hours"),
    ("api_key", "not a key!", "api_key"),
    ("max_tries", "50", "max_tries"),
])
def test_bad_settings_are_refused_with_the_key_named(revenge_plugin, key, value, message):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(plugin, name="tmdb", config={key: value})
    assert message in str(caught.value)


def test_values_from_environment_text_are_converted(revenge_plugin):
    config = revenge_plugin(plugin, name="tmdb", config={"requests_per_second": "20", "include_adult": "true",
                                                          "cache_ttl_hours": "1.5"}).config
    assert (config.requests_per_second, config.include_adult, config.cache_ttl_hours) == (20, True, 1.5)


async def test_self_check_wants_credentials(revenge_plugin):
    harness = revenge_plugin(plugin, name="tmdb")
    assert "no credentials" in await harness.self_check()


async def test_self_check_rejects_a_bad_key(make_harness, tmdb):
    harness = make_harness(api_key="ffffffffffffffffffffffffffffffff")
    message = await harness.self_check()
    assert "invalid API key" in message and "ffffffffffffffff" not in message
    assert tmdb.api_requests()[0].path == "/3/authentication"


async def test_self_check_passes_and_the_plugin_starts(make_harness):
    harness = make_harness()
    async with harness:
        assert harness.status == "enabled"
    assert harness.status == "disabled"


async def test_an_unreachable_tmdb_does_not_fail_the_self_check(make_harness):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    harness = make_harness(base_url=f"http://127.0.0.1:{port}/3", max_tries=1)
    assert await harness.self_check() is None
    assert any("could not reach TMDb" in message for _, message in harness.logs)


async def test_shutdown_closes_the_client(make_harness):
    harness = make_harness()
    source = harness.registration("metadata_providers", "tmdb").source
    await source.lookup("movie", "603")
    assert source._client is not None
    await harness.shutdown()
    assert source._client is None
