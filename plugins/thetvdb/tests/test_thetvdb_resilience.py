"""Rate limits, server errors, the answer cache and the request budget."""

from __future__ import annotations

import asyncio

import pytest
from thetvdb_testkit import source_of

from revenge_hookspecs.media import ProviderError


async def test_429_waits_for_retry_after(source, tvdb):
    tvdb.rate_limit(3, period=2.0)  # the login and two calls, then 429 until the window frees a slot
    for title in ("Breaking Bad", "Dark", "Better Call Saul"):
        assert await source.search("tv", title)
    statuses = [r.status for r in tvdb.api_requests()]
    assert statuses == [200, 200, 200, 429, 200]
    limited, retried = tvdb.api_requests()[3:]
    waited = retried.at - limited.at
    assert waited >= 0.95, f"retried after {waited:.2f}s"  # Retry-After: whole seconds until a slot is free
    assert waited < 4


async def test_a_429_past_the_tries_is_a_provider_error(make_harness, tvdb):
    source = source_of(make_harness(max_tries=2, max_retry_after=0.2))
    await source.search("tv", "Dark")
    tvdb.rate_limit(0, period=30.0)  # nothing passes any more
    with pytest.raises(ProviderError) as caught:
        await source.search("tv", "Breaking Bad")
    assert caught.value.status == 429 and caught.value.retry_after is not None
    assert [r.status for r in tvdb.api_requests("/search")] == [200, 429, 429]


async def test_5xx_is_retried(source, tvdb):
    tvdb.fail_next(2, 503)
    meta = await source.lookup("tv", "273181")
    assert meta.title == "Better Call Saul"
    assert [r.status for r in tvdb.api_requests()] == [503, 503, 200, 200, 200]  # the login was retried too


async def test_5xx_past_the_tries_is_a_provider_error(make_harness, tvdb, logged):
    source = source_of(make_harness(max_tries=2))
    await source.search("tv", "Dark")
    tvdb.fail_next(5, 500)
    with pytest.raises(ProviderError) as caught:
        await source.lookup("tv", "81189")
    assert caught.value.status == 500
    assert len(tvdb.api_requests("/series/81189/extended")) == 2
    assert "giving up after 2 tries" in logged()


async def test_a_repeated_lookup_makes_no_request(source, tvdb):
    first = await source.lookup("tv", "81189", language="de")
    count = len(tvdb.requests)
    made = source.client.requests_made
    assert await source.lookup("tv", "81189", language="de") == first
    assert len(tvdb.requests) == count and source.client.requests_made == made
    await source.search("tv", "Breaking Bad")
    await source.search("tv", "Breaking Bad")
    assert len(tvdb.api_requests("/search")) == 1


async def test_the_cache_survives_a_new_token(source, tvdb):
    await source.lookup("tv", "334824")
    tvdb.expire_tokens()
    count = len(tvdb.requests)
    await source.lookup("tv", "334824")  # the cached answers need no token at all
    assert len(tvdb.requests) == count


async def test_cache_ttl_zero_asks_every_time(make_harness, tvdb):
    source = source_of(make_harness(cache_ttl_hours=0))
    await source.lookup("tv", "273181")
    await source.lookup("tv", "273181")
    assert len(tvdb.api_requests("/series/273181/extended")) == 2


@pytest.mark.parametrize("fake_options", [{"episode_page_size": 40}])
async def test_the_budget_is_never_exceeded(make_harness, tvdb, fake_options):
    calls, period = 5, 1.0
    tvdb.rate_limit(calls, period)  # the fake would answer 429 past the budget
    source = source_of(make_harness(rate_limit_requests=calls, rate_limit_period=period, cache_ttl_hours=0))
    await asyncio.gather(source.lookup("tv", "81189", language="de"),  # extended + 4 pages + 1 German page
                         source.search("tv", "Dark"), source.search("tv", "Breaking Bad", year=2008),
                         source.lookup("tv", "273181"))
    received = tvdb.api_requests()
    assert len(received) >= 12
    assert all(r.status == 200 for r in received), [r.status for r in received]
    arrivals = [r.at for r in received]
    for first, later in zip(arrivals, arrivals[calls:], strict=False):
        assert later - first >= period, "more than 5 requests reached the fake within 1 s"
