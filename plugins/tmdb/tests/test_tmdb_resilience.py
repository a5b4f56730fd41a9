"""Bad keys, missing titles, rate limits, server errors, slow answers, the cache and the budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from revenge_hookspecs.media import ProviderError

WRONG_KEY = "ffffffffffffffffffffffffffffffff"


async def test_a_bad_key_is_a_401_provider_error_that_never_shows_the_key(make_harness, tmdb, log_lines):
    harness = make_harness(api_key=WRONG_KEY)
    source = harness.registration("metadata_providers", "tmdb").source
    with pytest.raises(ProviderError) as caught:
        await source.lookup("movie", "603")
    assert caught.value.status == 401 and caught.value.provider == "tmdb"
    assert "invalid API key" in str(caught.value)
    assert WRONG_KEY not in str(caught.value)
    assert len(tmdb.api_requests()) == 1  # a 401 is not retried
    assert tmdb.api_requests()[0].query["api_key"] == WRONG_KEY  # the key really was sent...

    # ...and through the chain the server uses, the failure is reported without it
    with pytest.raises(ProviderError) as chained:
        await harness.metadata.search("movie", "The Matrix", year=1999)
    assert "tmdb" in str(chained.value) and "invalid API key" in str(chained.value)
    assert WRONG_KEY not in str(chained.value)
    assert log_lines.mention("/3/movie/603")  # urllib3 did log the request line, redacted
    assert log_lines.mention(WRONG_KEY) == []
    assert not any(WRONG_KEY in message for _, message in harness.logs)


async def test_a_read_access_token_is_sent_as_a_bearer(make_harness, tmdb, log_lines):
    harness = make_harness(api_key="", read_access_token=tmdb.read_access_token)
    source = harness.registration("metadata_providers", "tmdb").source
    assert (await source.lookup("movie", "603")).title == "The Matrix"
    [request] = tmdb.api_requests()
    assert request.headers["Authorization"] == f"Bearer {tmdb.read_access_token}"
    assert "api_key" not in request.query
    assert log_lines.mention(tmdb.read_access_token) == []


async def test_429_retry_after_is_honoured(source, tmdb):
    tmdb.rate_limit(2, period=1.0)
    for movie_id in ("603", "604", "550"):
        assert await source.lookup("movie", movie_id) is not None
    statuses = [r.status for r in tmdb.api_requests()]
    assert statuses == [200, 200, 429, 200]
    limited, retried = tmdb.api_requests()[2:]
    # Retry-After counts whole seconds until the fake's window frees a slot
    waited = retried.at - limited.at
    assert waited >= 0.9, f"retried after {waited:.2f}s"
    assert waited < 5


async def test_two_500s_then_success(source, tmdb, log_lines):
    tmdb.fail_next(2, 500)
    movie = await source.lookup("movie", "603")
    assert movie.title == "The Matrix"
    assert [r.status for r in tmdb.api_requests()] == [500, 500, 200]
    retries = [line for line in log_lines.mention("retrying") if "tmdb" in line]
    assert len(retries) == 2


async def test_a_persistent_503_gives_up_after_max_tries(make_harness, tmdb):
    source = make_harness(max_tries=3).registration("metadata_providers", "tmdb").source
    tmdb.fail_next(10, 503)
    with pytest.raises(ProviderError) as caught:
        await source.search("movie", "The Matrix", year=1999)
    assert caught.value.status == 503
    assert [r.status for r in tmdb.api_requests()] == [503, 503, 503]


async def test_a_slow_answer_times_out_and_is_retried(make_harness, tmdb):
    source = make_harness(timeout=0.5).registration("metadata_providers", "tmdb").source
    tmdb.slow_next(1, 2.0)
    started = time.monotonic()
    assert (await source.lookup("movie", "603")).title == "The Matrix"
    assert 0.5 <= time.monotonic() - started < 5
    assert [r.status for r in tmdb.api_requests()] == [None, 200]  # the first is still being answered


async def test_answers_are_cached_on_disk_without_the_key(make_harness, tmdb):
    harness = make_harness()
    source = harness.registration("metadata_providers", "tmdb").source
    first = await source.lookup("movie", "603")
    assert await source.lookup("movie", "603") == first
    assert len(tmdb.api_requests()) == 1  # the second lookup made no HTTP request
    await source.lookup("movie", "603", language="de-DE")
    assert len(tmdb.api_requests()) == 2  # another language is another answer
    await harness.shutdown()

    cache = harness.context.data_dir / "http-cache.sqlite"
    data = cache.read_bytes()
    assert b"Welcome to the Real World" in data
    assert tmdb.api_key.encode() not in data


async def test_a_zero_ttl_caches_nothing(make_harness, tmdb):
    source = make_harness(cache_ttl_hours=0).registration("metadata_providers", "tmdb").source
    await source.lookup("movie", "603")
    await source.lookup("movie", "603")
    assert len(tmdb.api_requests()) == 2


async def test_the_rate_limit_holds_under_concurrency(make_harness, tmdb):
    source = make_harness(requests_per_second=4).registration("metadata_providers", "tmdb").source
    tmdb.rate_limit(4, period=1.0)  # TMDb's budget is the plugin's
    ids = [str(900200 + i) for i in range(10)]
    for movie_id in ids:
        tmdb.add_movie({"id": int(movie_id), "title": f"Movie {movie_id}", "release_date": "2001-01-01"})
    started = time.monotonic()
    movies = await asyncio.gather(*(source.lookup("movie", movie_id) for movie_id in ids))
    assert [m.external_id for m in movies] == ids
    assert time.monotonic() - started >= 1.9  # 10 requests at 4 per second: two full waits
    requests = tmdb.api_requests()
    assert all(r.status == 200 for r in requests)  # TMDb never had to say 429
    arrivals = sorted(r.at for r in requests)
    assert all(arrivals[i + 4] - arrivals[i] >= 0.9 for i in range(len(arrivals) - 4))
