"""The bearer token: one login, shared through the cache, renewed once on 401, never logged."""

from __future__ import annotations

import asyncio

import pytest
from thetvdb_testkit import source_of

from revenge_hookspecs.media import ProviderError

WRONG_KEY = "00000000-dead-beef-0000-000000000000"


async def test_one_login_serves_many_calls(source, tvdb):
    await source.search("tv", "Breaking Bad")
    await source.search("tv", "Dark", year=2017)
    await source.lookup("tv", "273181")
    await asyncio.gather(*(source.search("tv", title) for title in ("Better Call Saul", "The Nightly Ledger")))
    [login] = tvdb.logins
    assert login.body == {"apikey": tvdb.api_key}  # no pin for a project key
    [token] = tvdb.tokens
    calls = [r for r in tvdb.api_requests() if r.path != "/v4/login"]
    assert len(calls) >= 6
    assert {r.headers["Authorization"] for r in calls} == {f"Bearer {token}"}


async def test_concurrent_first_calls_share_one_login(source, tvdb):
    await asyncio.gather(*(source.search("tv", title) for title in ("Breaking", "Dark", "Better", "Nightly")))
    assert len(tvdb.logins) == 1


async def test_a_second_instance_reuses_the_token_from_the_shared_cache(make_harness, tvdb):
    first, second = make_harness(), make_harness()
    second.context.cache = first.context.cache  # as two servers sharing one Redis
    await source_of(first).search("tv", "Breaking Bad")
    await source_of(second).lookup("tv", "81189")
    assert len(tvdb.logins) == 1
    assert second.cache.keys() == []  # it used the shared cache, not its own
    [key] = first.cache.keys()
    assert key.startswith("token:") and tvdb.api_key not in key


async def test_an_expired_token_leads_to_one_new_login(source, tvdb, logged):
    await source.search("tv", "Dark")
    old = set(tvdb.tokens)
    tvdb.expire_tokens()
    match = (await source.search("tv", "Breaking Bad"))[0]
    assert match.external_id == "81189"
    assert len(tvdb.logins) == 2
    assert [r.status for r in tvdb.api_requests("/search")] == [200, 401, 200]
    assert tvdb.tokens and not tvdb.tokens & old
    assert "logging in again" in logged()


async def test_a_token_another_instance_renewed_is_taken_from_the_cache(make_harness, tvdb):
    first, second = make_harness(), make_harness()
    second.context.cache = first.context.cache
    await source_of(first).search("tv", "Dark")
    await source_of(second).search("tv", "Dark")
    tvdb.expire_tokens()
    await source_of(first).search("tv", "Breaking Bad")  # logs in again and shares the new token
    await source_of(second).search("tv", "Better Call Saul")  # 401, then the shared new token
    assert len(tvdb.logins) == 2


async def test_a_token_refused_twice_is_a_provider_error(source, tvdb):
    tvdb.issue_token = lambda: "eyJhbGciOiJSUzI1NiJ9.refused.token"  # every token it hands out is refused
    with pytest.raises(ProviderError) as caught:
        await source.lookup("tv", "81189")
    assert caught.value.status == 401 and caught.value.provider == "thetvdb"
    assert "refused a fresh token" in str(caught.value)
    assert len(tvdb.logins) == 2  # renewed once, not in a loop
    assert "refused.token" not in str(caught.value)


async def test_a_bad_api_key_is_a_provider_error_that_never_shows_the_key(make_harness, tvdb, logged):
    harness = make_harness(api_key=WRONG_KEY)
    source = source_of(harness)
    with pytest.raises(ProviderError) as caught:
        await source.lookup("tv", "81189")
    assert caught.value.status == 401
    assert "TheTVDB refused the API key" in str(caught.value)
    assert "plugins.thetvdb.api_key" in str(caught.value)
    [login] = tvdb.api_requests()  # nothing else was tried, and a 401 is not retried
    assert login.body == {"apikey": WRONG_KEY} and login.status == 401
    # the same through the chain the server uses
    with pytest.raises(ProviderError) as chained:
        await harness.metadata.search("tv", "Breaking Bad")
    for text in (str(caught.value), str(chained.value), logged(), repr(harness.logs)):
        assert WRONG_KEY not in text and "dead-beef" not in text
    assert "/v4/login" in logged()  # the request line was logged, the key was not


async def test_tokens_and_keys_stay_out_of_the_logs(source, tvdb, logged):
    await source.lookup("tv", "334824", language="en")
    tvdb.expire_tokens()
    await source.search("tv", "Dark")
    text = logged()
    assert "logged in to" in text
    assert tvdb.api_key not in text
    issued = [r.headers["Authorization"].split()[1] for r in tvdb.api_requests() if "Authorization" in r.headers]
    assert issued and not any(token in text for token in issued)


@pytest.mark.parametrize("fake_options", [{"pin": "4711"}])
async def test_a_user_supported_key_logs_in_with_its_pin(make_harness, tvdb, fake_options):
    assert (await source_of(make_harness(pin="4711")).lookup("tv", "273181")).title == "Better Call Saul"
    assert tvdb.logins[0].body == {"apikey": tvdb.api_key, "pin": "4711"}
    with pytest.raises(ProviderError, match="refused the API key or PIN") as caught:
        await source_of(make_harness(pin="1234")).lookup("tv", "273181")
    assert "plugins.thetvdb.pin" in str(caught.value) and "1234" not in str(caught.value)
