"""Discovery, configuration, registration and the self-check."""

from __future__ import annotations

import pytest
from thetvdb_testkit import NAME, settings, source_of

import revenge_thetvdb.plugin as plugin
from revenge_hookspecs.media import ProviderError
from revenge_hookspecs.testing import PluginConfigError, PluginSelfCheckError
from revenge_thetvdb.languages import country_alpha2, from_tvdb, to_tvdb


def test_the_installed_entry_point_is_this_plugin(revenge_plugin):
    assert revenge_plugin(NAME).plugin is plugin


def test_it_provides_series_after_tmdb(make_harness):
    provider = make_harness().registration("metadata_providers", NAME)
    assert provider.content_types == frozenset({"tv"})
    assert provider.priority == 20  # TMDb has 10: TheTVDB is the fallback unless a library orders it first


def test_the_defaults_are_theirs(revenge_plugin):
    config = revenge_plugin(plugin, name=NAME).config
    assert config.base_url == "https://api4.thetvdb.com/v4"
    assert config.language == "eng"
    assert (config.rate_limit_requests, config.rate_limit_period) == (20, 10.0)


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("api_key", "not a key!", "does not look like a TheTVDB API key"),
    ("pin", "12 34", "letters and digits"),
    ("base_url", "ftp://api4.thetvdb.com/v4", "http:// or https://"),
    ("language", "klingon-ish", "expected a language"),
    ("cache_ttl_hours", "-1", "between 0 and 8760"),
    ("rate_limit_requests", "0", "between 1 and 10000"),
    ("rate_limit_period", "0", "between 0 and 3600"),
    ("max_tries", "11", "between 1 and 10"),
])
def test_bad_config_names_the_key(revenge_plugin, key, value, reason):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(plugin, name=NAME, config={key: value})
    assert reason in str(caught.value) and key in str(caught.value)


def test_secrets_are_declared_secret_and_kept_out_of_repr(revenge_plugin):
    config = revenge_plugin(plugin, name=NAME, config={"api_key": "abcdef12-3456", "pin": "9876"}).config
    fields = {f.name: f for f in type(config).__attrs_attrs__}
    assert fields["api_key"].metadata["secret"] and fields["pin"].metadata["secret"]
    assert "abcdef12-3456" not in repr(config) and "9876" not in repr(config)


@pytest.mark.parametrize(("tag", "code"), [
    ("en", "eng"), ("en-US", "eng"), ("de-DE", "deu"), ("de_AT", "deu"), ("fr", "fra"), ("ger", "deu"),
    ("deu", "deu"), ("pt-BR", "pt"), ("pt-PT", "por"), ("zh-TW", "zhtw"), ("zh-Hant-HK", "zhtw"), ("zh", "zho"),
    ("ja", "jpn"), ("", None), ("x", None), ("en/../x", None), (None, None),
])
def test_language_tags_become_thetvdb_codes(tag, code):
    assert to_tvdb(tag) == code


@pytest.mark.parametrize(("code", "tag"), [
    ("eng", "en"), ("deu", "de"), ("pt", "pt-BR"), ("zhtw", "zh-TW"), ("yue", "yue"), ("xyz", None), ("", None),
])
def test_thetvdb_codes_become_language_tags(code, tag):
    assert from_tvdb(code) == tag


def test_countries_become_two_letters():
    assert [country_alpha2(c) for c in ("usa", "deu", "gbr", "GB", "zzz", "", None)] == \
        ["US", "DE", "GB", "GB", None, None, None]


async def test_the_self_check_passes_with_a_good_key_and_logs_in_once(make_harness, tvdb):
    harness = make_harness()
    async with harness:
        assert harness.status == "enabled"
        assert len(tvdb.logins) == 1
        await source_of(harness).search("tv", "Dark")
        assert len(tvdb.logins) == 1  # the self-check's token serves the provider too


async def test_the_self_check_asks_for_a_key(revenge_plugin, tvdb):
    harness = revenge_plugin(plugin, name=NAME, config=settings(tvdb, api_key=""))
    assert "no API key: set plugins.thetvdb.api_key" in await harness.self_check()
    with pytest.raises(ProviderError, match="no API key"):
        await source_of(harness).search("tv", "Dark")
    assert tvdb.requests == []


async def test_the_self_check_fails_on_a_refused_key_without_showing_it(make_harness, tvdb):
    harness = make_harness(api_key="00000000-dead-beef-0000-000000000000")
    with pytest.raises(PluginSelfCheckError) as caught:
        await harness.enable()
    assert "TheTVDB refused the API key" in str(caught.value)
    assert "dead-beef" not in str(caught.value)


async def test_an_unreachable_thetvdb_does_not_fail_the_self_check(make_harness, tvdb):
    harness = make_harness(max_tries=1)
    tvdb.fail_next(1, 503)
    assert await harness.self_check() is None
    assert any("could not reach TheTVDB" in message for _, message in harness.logs)


async def test_shutdown_closes_the_client(make_harness, tvdb):
    harness = make_harness()
    source = source_of(harness)
    await source.search("tv", "Dark")
    assert "client" in vars(source)
    await harness.shutdown()
    assert "client" not in vars(source)
