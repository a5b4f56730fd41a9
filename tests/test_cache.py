"""The cache on both backends: in-process only, and in-process in front of a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis
from loguru import logger

from revenge_core.cache import REDIS_KEY_PREFIX, Cache, CacheUnavailableError
from revenge_core.config import CacheConfig, Config
from revenge_hookspecs.context import PluginCache
from tests import servers
from tests.servers import RedisServer

MakeCache = Callable[..., Awaitable[Cache]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[MakeCache]:
    """Build started caches on the backend under test (sharing one Redis); closed afterwards."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[Cache] = []

    async def make(**kwargs) -> Cache:
        cache = Cache(redis_url=url, **kwargs)
        await cache.start()
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


@pytest.fixture
async def cache(make_cache: MakeCache) -> Cache:
    return await make_cache()


@pytest.fixture
async def redis_caches(redis_url: str) -> AsyncIterator[MakeCache]:
    """Build started caches that share the test's Redis database."""
    made: list[Cache] = []

    async def make(**kwargs) -> Cache:
        cache = Cache(redis_url=redis_url, **kwargs)
        await cache.start()
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


@pytest.fixture
def log_messages() -> Iterator[list[str]]:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="INFO")
    yield messages
    logger.remove(handler)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("the condition did not become true in time")
        await asyncio.sleep(0.02)


# --- behaviour on both backends ------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2.5, "text ünïcode", True, [1, "a"], {"a": {"b": [1, 2]}}, ""])
async def test_set_then_get_returns_the_value(cache: Cache, value) -> None:
    await cache.set("k", value)
    assert await cache.get("k") == value


async def test_missing_key_gives_the_default(cache: Cache) -> None:
    assert await cache.get("absent") is None
    assert await cache.get("absent", "fallback") == "fallback"


async def test_cached_none_is_not_a_miss(cache: Cache) -> None:
    await cache.set("k", None)
    assert await cache.get("k", "fallback") is None
    calls = 0

    async def factory() -> str:
        nonlocal calls
        calls += 1
        return "computed"

    assert await cache.get_or_set("k", factory) is None
    assert calls == 0
    assert cache.stats()["misses"] == 0


async def test_values_come_back_as_json_copies(cache: Cache) -> None:
    await cache.set("k", {"items": (1, 2), 3: "int key"})
    first = await cache.get("k")
    assert first == {"items": [1, 2], "3": "int key"}
    first["items"].append("mutated")
    assert await cache.get("k") == {"items": [1, 2], "3": "int key"}


async def test_a_value_that_is_not_json_is_refused(cache: Cache) -> None:
    with pytest.raises(TypeError, match="JSON"):
        await cache.set("k", object())
    with pytest.raises(TypeError, match="JSON"):
        await cache.get_or_set("k", _returning({1, 2}))
    assert await cache.get("k", "absent") == "absent"


async def test_set_overwrites(cache: Cache) -> None:
    await cache.set("k", "old")
    await cache.set("k", "new")
    assert await cache.get("k") == "new"


async def test_delete(cache: Cache) -> None:
    await cache.set("k", "v")
    await cache.set("other", "v")
    await cache.delete("k")
    await cache.delete("never-set")
    assert await cache.get("k", "absent") == "absent"
    assert await cache.get("other") == "v"


async def test_delete_prefix_removes_only_matching_keys(cache: Cache) -> None:
    for key in ("movie:1", "movie:2", "movie:3", "moviex", "show:1", "a*b", "a*c", "axb"):
        await cache.set(key, key)
    assert await cache.delete_prefix("movie:") == 3
    assert [await cache.get(k) for k in ("movie:1", "movie:2", "movie:3")] == [None, None, None]
    assert await cache.get("moviex") == "moviex"
    assert await cache.get("show:1") == "show:1"
    # Glob characters in a prefix are literal.
    assert await cache.delete_prefix("a*") == 2
    assert await cache.get("axb") == "axb"
    assert await cache.delete_prefix("nothing") == 0


async def test_a_value_expires_after_its_ttl(cache: Cache) -> None:
    await cache.set("short", "v", ttl=0.2)
    await cache.set("long", "v", ttl=30)
    assert await cache.get("short") == "v"
    await asyncio.sleep(0.3)
    assert await cache.get("short", "expired") == "expired"
    assert await cache.get("long") == "v"


async def test_get_or_set_stores_for_its_ttl(cache: Cache) -> None:
    assert await cache.get_or_set("k", _returning("first"), ttl=0.2) == "first"
    assert await cache.get_or_set("k", _returning("second"), ttl=0.2) == "first"
    await asyncio.sleep(0.3)
    assert await cache.get_or_set("k", _returning("third"), ttl=0.2) == "third"


async def test_l1_ttl_bounds_the_in_process_copy(make_cache: MakeCache) -> None:
    cache = await make_cache(l1_ttl=0.2, l2_ttl=30)
    await cache.set("k", "v")
    await cache.set("explicit", "v", ttl=30)
    assert cache.stats()["l1_items"] == 2
    await asyncio.sleep(0.3)
    if cache.backend == "redis":
        # L1 is a short-lived copy of Redis: both fell out of it, Redis still has them.
        assert cache.stats()["l1_items"] == 0
        assert await cache.get("k") == "v"
        assert await cache.get("explicit") == "v"
    else:
        # Alone, L1 is the cache: the default TTL applies, an explicit TTL is kept.
        assert cache.stats()["l1_items"] == 1
        assert await cache.get("k") is None
        assert await cache.get("explicit") == "v"


async def test_l1_holds_at_most_l1_max_items_least_recently_used_first(make_cache: MakeCache) -> None:
    cache = await make_cache(l1_max_items=3)
    for i in range(3):
        await cache.set(f"k{i}", i)
    await cache.get("k0")  # k1 is now the least recently used
    await cache.set("k3", 3)
    await cache.set("k4", 4)
    assert cache.stats()["l1_items"] == 3
    before = cache.stats()
    # Survivors first: on Redis, reading k1 and k2 back from L2 puts them into L1 again.
    values = {k: await cache.get(k) for k in ("k0", "k3", "k4", "k1", "k2")}
    after = cache.stats()
    assert after["l1_hits"] - before["l1_hits"] == 3  # k0, k3, k4 stayed in L1
    if cache.backend == "redis":
        assert values == {"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4}
        assert after["l2_hits"] - before["l2_hits"] == 2
    else:
        assert values == {"k0": 0, "k1": None, "k2": None, "k3": 3, "k4": 4}
        assert after["misses"] - before["misses"] == 2


async def test_no_lookups_give_zero_ratios(cache: Cache) -> None:
    stats = cache.stats()
    assert stats == {"l1_hits": 0, "l2_hits": 0, "misses": 0, "l1_hit_ratio": 0.0, "l2_hit_ratio": 0.0,
                     "hit_ratio": 0.0, "l1_items": 0, "backend": cache.backend}


async def test_hit_ratio_counts_l1_hits_and_misses(cache: Cache) -> None:
    await cache.set("a", 1)
    await cache.set("b", 2)
    for key in ("a", "a", "b", "missing"):
        await cache.get(key)
    await cache.get_or_set("c", _returning(3))  # a miss
    await cache.get_or_set("c", _returning(3))  # an L1 hit
    stats = cache.stats()
    assert (stats["l1_hits"], stats["l2_hits"], stats["misses"]) == (4, 0, 2)
    assert stats["hit_ratio"] == pytest.approx(4 / 6)
    assert stats["l1_hit_ratio"] == pytest.approx(4 / 6)
    assert stats["l2_hit_ratio"] == 0.0
    assert stats["l1_items"] == 3


@pytest.mark.parametrize("bad", ["", "x" * 513, None, 42, b"bytes"])
async def test_invalid_keys_are_refused(cache: Cache, bad) -> None:
    for call in (cache.get(bad), cache.set(bad, 1), cache.delete(bad),
                 cache.get_or_set(bad, _returning(1)), cache.namespaced("ns").get(bad)):
        with pytest.raises(ValueError, match="cache key"):
            await call
    with pytest.raises(ValueError):
        await cache.delete_prefix(bad)


async def test_a_512_character_key_is_allowed(cache: Cache) -> None:
    await cache.set("x" * 512, "v")
    assert await cache.get("x" * 512) == "v"
    with pytest.raises(ValueError, match="512"):
        await cache.namespaced("ns").set("x" * 510, "v")  # "ns:" makes it 513


@pytest.mark.parametrize("ttl", [0, -1, float("nan")])
async def test_a_ttl_must_be_positive(cache: Cache, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", 1, ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await cache.get_or_set("k", _returning(1), ttl=ttl)


async def test_namespaced_caches_prefix_their_keys(cache: Cache) -> None:
    tmdb, trakt = cache.namespaced("tmdb"), cache.namespaced("trakt")
    assert isinstance(tmdb, PluginCache)
    await tmdb.set("movie:1", "from tmdb")
    await trakt.set("movie:1", "from trakt")
    assert await tmdb.get("movie:1") == "from tmdb"
    assert await trakt.get("movie:1") == "from trakt"
    assert await cache.get("tmdb:movie:1") == "from tmdb"
    assert await tmdb.get_or_set("other", _returning(7)) == 7
    assert await cache.get("tmdb:other") == 7
    await tmdb.delete("movie:1")
    assert await cache.get("tmdb:movie:1") is None
    assert await tmdb.clear() == 1
    assert await trakt.get("movie:1") == "from trakt"


async def test_get_or_set_calls_the_factory_once_for_concurrent_callers(cache: Cache) -> None:
    calls = 0

    async def slow_factory() -> dict:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"answer": 42}

    results = await asyncio.gather(*(cache.get_or_set("k", slow_factory) for _ in range(20)))
    assert calls == 1
    assert results == [{"answer": 42}] * 20
    assert cache._locks == {}  # no lock left behind per key


async def test_get_or_set_locks_per_key_not_globally(cache: Cache) -> None:
    a_started = asyncio.Event()

    async def factory_a() -> str:
        a_started.set()
        await asyncio.sleep(0.05)
        return "a"

    async def factory_b() -> str:
        # Deadlocks (and times out) if "b" waits for the lock that "a" holds.
        await a_started.wait()
        return "b"

    async with asyncio.timeout(2):
        results = await asyncio.gather(cache.get_or_set("a", factory_a), cache.get_or_set("b", factory_b))
    assert results == ["a", "b"]


async def test_a_failing_factory_caches_nothing(cache: Cache) -> None:
    async def broken() -> None:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError, match="upstream down"):
        await cache.get_or_set("k", broken)
    assert await cache.get("k", "absent") == "absent"
    assert await cache.get_or_set("k", _returning("recovered")) == "recovered"
    assert cache._locks == {}


async def test_ping_answers_when_the_backend_is_up(cache: Cache) -> None:
    assert 0 <= await cache.ping() < 1


# --- Redis: shared between instances -------------------------------------------------------------


@pytest.mark.redis
async def test_values_are_stored_in_redis_as_json_with_their_ttl(redis_caches: MakeCache,
                                                                   redis_url: str) -> None:
    cache = await redis_caches(l2_ttl=100)
    await cache.set("k", {"a": [1, None]}, ttl=50)
    await cache.set("default", "v")
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    assert raw.get(REDIS_KEY_PREFIX + "k") == '{"a":[1,null]}'
    assert 49_000 < raw.pttl(REDIS_KEY_PREFIX + "k") <= 50_000
    assert 99_000 < raw.pttl(REDIS_KEY_PREFIX + "default") <= 100_000


@pytest.mark.redis
async def test_an_instance_reads_what_another_wrote_and_fills_its_l1(redis_caches: MakeCache) -> None:
    a, b = await redis_caches(), await redis_caches()
    await a.set("k", "shared")
    await a.set("none", None)
    assert await b.get("k") == "shared"
    assert await b.get("k") == "shared"
    assert await b.get("none", "fallback") is None
    assert await b.get("missing") is None
    stats = b.stats()
    assert (stats["l1_hits"], stats["l2_hits"], stats["misses"]) == (1, 2, 1)
    assert stats["l1_hit_ratio"] == pytest.approx(1 / 4)
    assert stats["l2_hit_ratio"] == pytest.approx(2 / 4)
    assert stats["hit_ratio"] == pytest.approx(3 / 4)


@pytest.mark.redis
async def test_writes_on_one_instance_invalidate_the_l1_of_the_others(redis_caches: MakeCache) -> None:
    a, b = await redis_caches(), await redis_caches()
    await a.set("k", "old")
    await a.set("movie:1", "m1")
    await a.set("movie:2", "m2")
    for key in ("k", "movie:1", "movie:2"):
        await b.get(key)
    assert b.stats()["l1_items"] == 3  # b holds its own copies now

    await a.set("k", "new")
    await eventually(lambda: _equals(b.get("k"), "new"))

    await a.delete("k")
    await eventually(lambda: _equals(b.get("k", "gone"), "gone"))

    assert await a.delete_prefix("movie:") == 2
    await eventually(lambda: _equals(b.get("movie:1", "gone"), "gone"))
    assert await b.get("movie:2", "gone") == "gone"


@pytest.mark.redis
async def test_an_instance_ignores_its_own_invalidations(redis_caches: MakeCache) -> None:
    a, b = await redis_caches(), await redis_caches()
    await a.set("k", "v")
    await b.set("other", "v")
    # By the time b has seen a's message, a has had the same chance to see it.
    await eventually(lambda: _equals(b.get("k"), "v"))
    assert await a.get("k") == "v"
    assert a.stats()["l1_hits"] == 1


@pytest.mark.redis
async def test_an_l1_copy_never_outlives_the_redis_value(redis_caches: MakeCache) -> None:
    a, b = await redis_caches(), await redis_caches(l1_ttl=300)
    await a.set("k", "v", ttl=0.3)
    assert await b.get("k") == "v"
    await asyncio.sleep(0.4)
    assert await b.get("k", "expired") == "expired"


@pytest.mark.redis
async def test_get_or_set_reuses_a_value_another_instance_computed(redis_caches: MakeCache) -> None:
    a, b = await redis_caches(), await redis_caches()
    assert await a.get_or_set("k", _returning("from a")) == "from a"
    assert await b.get_or_set("k", _returning("from b")) == "from a"


@pytest.mark.redis
async def test_a_redis_cache_must_be_started(redis_url: str) -> None:
    cache = Cache(redis_url=redis_url)
    with pytest.raises(RuntimeError, match="start"):
        await cache.get("k")


def test_from_config() -> None:
    config = Config(cache=CacheConfig(url="redis://127.0.0.1:1/2", l1_ttl=5, l1_max_items=7, l2_ttl=9))
    cache = Cache.from_config(config)
    assert (cache.backend, cache.redis_url, cache.l1_ttl, cache.l1_max_items, cache.l2_ttl) == (
        "redis", "redis://127.0.0.1:1/2", 5, 7, 9)
    assert Cache.from_config(Config()).backend == "memory"


# --- Redis going away and coming back ------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server this test may stop."""
    server = RedisServer()
    yield server
    server.cleanup()


@pytest.mark.redis
async def test_an_unreachable_redis_at_start_leaves_a_working_l1_cache(log_messages: list[str]) -> None:
    cache = Cache(redis_url=f"redis://127.0.0.1:{servers.free_port()}/0")
    await cache.start()
    try:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        with pytest.raises(CacheUnavailableError, match="does not answer"):
            await cache.ping()
        assert any("unreachable" in m for m in log_messages)
    finally:
        await cache.close()


@pytest.mark.redis
async def test_the_cache_survives_a_redis_outage_and_recovers(
        own_redis: RedisServer, log_messages: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(redis_url=own_redis.url())
    cache.l2_retry_interval = 0.05
    await cache.start()
    other: Cache | None = None
    try:
        await cache.set("before", "cached")
        await cache.ping()

        own_redis.cleanup()
        with pytest.raises(CacheUnavailableError):
            await cache.ping()
        for _ in range(20):
            assert await cache.get("before") == "cached"  # from L1
            await cache.set("during", "local")
            assert await cache.get("during") == "local"
            assert await cache.get("never", "absent") == "absent"
            await cache.delete_prefix("nothing")
            await asyncio.sleep(0.01)  # lets the circuit retry Redis, and fail, a few times
        with pytest.raises(CacheUnavailableError):
            await cache.ping()
        assert sum("unreachable" in m for m in log_messages) == 1  # rate-limited

        # The same port again: the server comes back, empty.
        monkeypatch.setattr(servers, "free_port", lambda: own_redis.port)
        revived = RedisServer()
        try:
            assert await cache.ping() >= 0
            # Invalidations sent during the outage were lost, so L1 is dropped on reconnect.
            await eventually(lambda: _equals(cache.get("before", "dropped"), "dropped"))
            assert any("reachable again" in m for m in log_messages)

            other = Cache(redis_url=revived.url())
            await other.start()
            await other.set("k", "v1")
            assert await cache.get("k") == "v1"
            await other.set("k", "v2")
            await eventually(lambda: _equals(cache.get("k"), "v2"))
            await cache.set("after", "shared")
            assert await other.get("after") == "shared"
        finally:
            if other is not None:
                await other.close()
            revived.cleanup()
    finally:
        await cache.close()


# --- helpers -------------------------------------------------------------------------------------


def _returning(value) -> Callable[[], Awaitable]:
    async def factory():
        return value

    return factory


async def _equals(awaitable: Awaitable, expected) -> bool:
    return await awaitable == expected
