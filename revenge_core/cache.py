"""The cache: an in-process L1 in front of an optional Redis (or Dragonfly) L2.

Embedded mode uses L1 alone. With ``cache.url`` set, values live in Redis as JSON with
their own time-to-live, and every instance keeps a short-lived L1 copy; writes and deletes
are announced on the ``revenge:cache:invalidate`` channel so the other instances drop their
copies. If Redis becomes unreachable the cache keeps answering from L1 (with a warning,
and :meth:`Cache.ping` failing for health checks) and goes back to Redis once it returns.

Values must be JSON-serialisable on both backends, and every read returns a fresh decoded
copy, so code that works on one backend behaves the same on the other (tuples come back
as lists, mapping keys as strings).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import cachetools
import redis.asyncio as aioredis
from loguru import logger
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .config import mask_url

if TYPE_CHECKING:
    from .config import Config

__all__ = ["INVALIDATION_CHANNEL", "MAX_KEY_LENGTH", "Cache", "CacheUnavailableError", "NamespacedCache"]

MAX_KEY_LENGTH = 512
REDIS_KEY_PREFIX = "revenge:cache:"
INVALIDATION_CHANNEL = "revenge:cache:invalidate"

# Any of these from Redis means "L2 is not usable right now"; the cache must never fail a
# request because of it.
_L2_ERRORS = (RedisError, OSError)
_MISSING = object()
_DELETE_BATCH = 500


class CacheUnavailableError(RuntimeError):
    """The configured Redis cannot be reached."""


def _check_key(key: Any, what: str = "cache key") -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a {what} must be a non-empty string, not {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a {what} may have at most {MAX_KEY_LENGTH} characters; this one has {len(key)}")


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"a cache ttl must be a positive number of seconds, not {ttl!r}")


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cache values must be JSON-serialisable: {exc}") from exc


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _l1_expiry(_key: str, entry: tuple[str, float], now: float) -> float:
    return now + entry[1]


class _KeyLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Cache:
    """Two-level cache; see the module docstring.

    :param l1_ttl: the longest time, in seconds, a value stays in the in-process layer.
    :param l1_max_items: how many values the in-process layer holds; least recently used go first.
    :param l2_ttl: the time-to-live in Redis when :meth:`set` is given none.
    :param redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL; ``None`` for L1 only.
    """

    #: Seconds to skip Redis after it failed, before trying it again.
    l2_retry_interval: float = 1.0
    #: At most one "Redis is unreachable" warning per this many seconds.
    warning_interval: float = 60.0
    #: Socket timeouts towards Redis, in seconds.
    redis_timeout: float = 2.0

    def __init__(self, *, l1_ttl: float = 300, l1_max_items: int = 10_000, l2_ttl: float = 3600,
                 redis_url: str | None = None):
        if l1_ttl < 0:
            raise ValueError(f"cache.l1_ttl must be 0 or more seconds, not {l1_ttl!r}")
        if l1_max_items < 0:
            raise ValueError(f"cache.l1_max_items must be 0 or more, not {l1_max_items!r}")
        _check_ttl(l2_ttl)
        self.l1_ttl = float(l1_ttl)
        self.l1_max_items = int(l1_max_items)
        self.l2_ttl = float(l2_ttl)
        self.redis_url = redis_url or None
        self.backend = "redis" if self.redis_url else "memory"
        self._where = mask_url(self.redis_url) if self.redis_url else "memory"
        self._l1: cachetools.TLRUCache = cachetools.TLRUCache(
            maxsize=max(self.l1_max_items, 1), ttu=_l1_expiry)
        self._locks: dict[str, _KeyLock] = {}
        self._id = uuid.uuid4().hex
        # Bumped on every local or remote change, so a Redis read that raced with one does
        # not put a stale value back into L1.
        self._generation = 0
        self._l1_hits = 0
        self._l2_hits = 0
        self._misses = 0
        self._redis: aioredis.Redis | None = None
        self._listener: asyncio.Task | None = None
        self._listener_settled: asyncio.Event | None = None
        self._l2_down = False
        self._l2_retry_at = 0.0
        self._last_warning = float("-inf")

    @classmethod
    def from_config(cls, config: Config) -> Cache:
        """Build the cache described by ``config.cache``."""
        c = config.cache
        return cls(l1_ttl=c.l1_ttl, l1_max_items=c.l1_max_items, l2_ttl=c.l2_ttl, redis_url=c.url or None)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Redis, when configured, and start listening for invalidations.

        An unreachable Redis does not fail the start: the cache runs on L1, warns, and
        keeps trying; :meth:`ping` reports the problem.
        """
        if self.redis_url is None or self._redis is not None:
            return
        self._redis = aioredis.Redis.from_url(
            self.redis_url, decode_responses=True, socket_timeout=self.redis_timeout,
            socket_connect_timeout=self.redis_timeout,
            # Our own circuit breaker decides when to retry; redis-py's retries would make
            # every call during an outage slow, and would resubscribe the listener silently
            # after invalidation messages were lost.
            retry=Retry(NoBackoff(), 0),
        )
        self._listener_settled = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(), name="revenge-cache-invalidation")
        await self._listener_settled.wait()

    async def close(self) -> None:
        """Stop the listener and disconnect from Redis."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis is not None:
            with contextlib.suppress(*_L2_ERRORS):
                await self._redis.aclose()
            self._redis = None

    # --- public operations ---------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        _check_key(key)
        encoded = await self._lookup(key, count=True)
        return default if encoded is _MISSING else json.loads(encoded)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-serialisable ``value`` for ``ttl`` seconds (default: ``l2_ttl``)."""
        _check_key(key)
        _check_ttl(ttl)
        await self._store(key, _encode(value), ttl)

    async def delete(self, key: str) -> None:
        """Remove ``key`` here, in Redis, and from the other instances' L1."""
        _check_key(key)
        self._generation += 1
        self._l1.pop(key, None)
        client = self._l2()
        if client is None:
            return
        try:
            await (client.pipeline(transaction=False)
                   .delete(REDIS_KEY_PREFIX + key)
                   .publish(INVALIDATION_CHANNEL, self._message(key=key))
                   .execute())
        except _L2_ERRORS as exc:
            self._l2_failed(exc)
        else:
            self._l2_ok()

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix``; returns how many were removed."""
        _check_key(prefix, "cache key prefix")
        self._generation += 1
        removed = self._l1_drop_prefix(prefix)
        client = self._l2()
        if client is None:
            return len(removed)
        try:
            found = [k async for k in client.scan_iter(
                match=_glob_escape(REDIS_KEY_PREFIX + prefix) + "*", count=1000)]
            for start in range(0, len(found), _DELETE_BATCH):
                await client.unlink(*found[start:start + _DELETE_BATCH])
            await client.publish(INVALIDATION_CHANNEL, self._message(prefix=prefix))
        except _L2_ERRORS as exc:
            self._l2_failed(exc)
            return len(removed)
        self._l2_ok()
        removed.update(k[len(REDIS_KEY_PREFIX):] for k in found)
        return len(removed)

    async def get_or_set(self, key: str, factory: Callable[[], Awaitable[Any]],
                         ttl: float | None = None) -> Any:
        """The cached value, or ``await factory()`` stored for ``ttl`` seconds.

        Concurrent callers for the same missing key in this process share one factory call.
        """
        _check_key(key)
        _check_ttl(ttl)
        encoded = await self._lookup(key, count=True)
        if encoded is not _MISSING:
            return json.loads(encoded)
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _KeyLock()
        entry.users += 1
        try:
            async with entry.lock:
                encoded = await self._lookup(key, count=False)
                if encoded is _MISSING:
                    encoded = _encode(await factory())
                    await self._store(key, encoded, ttl)
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[key]
        return json.loads(encoded)

    def namespaced(self, prefix: str) -> NamespacedCache:
        """A view of this cache whose keys all start with ``prefix:`` (one per plugin)."""
        return NamespacedCache(self, prefix)

    def stats(self) -> dict[str, Any]:
        """Hit and miss counts since start; each ratio is relative to all lookups."""
        lookups = self._l1_hits + self._l2_hits + self._misses
        self._l1.expire()
        return {
            "l1_hits": self._l1_hits,
            "l2_hits": self._l2_hits,
            "misses": self._misses,
            "l1_hit_ratio": self._l1_hits / lookups if lookups else 0.0,
            "l2_hit_ratio": self._l2_hits / lookups if lookups else 0.0,
            "hit_ratio": (self._l1_hits + self._l2_hits) / lookups if lookups else 0.0,
            "l1_items": len(self._l1),
            "backend": self.backend,
        }

    async def ping(self) -> float:
        """Round-trip time to Redis in seconds (L1 only: a local lookup).

        :raises CacheUnavailableError: Redis is configured but does not answer.
        """
        started = time.perf_counter()
        if self.redis_url is None:
            self._l1.get("")
            return time.perf_counter() - started
        client = self._client()
        try:
            await client.ping()
        except _L2_ERRORS as exc:
            self._l2_failed(exc)
            raise CacheUnavailableError(f"the Redis cache at {self._where} does not answer: {exc}") from exc
        self._l2_ok()
        return time.perf_counter() - started

    # --- layers --------------------------------------------------------------------------------

    async def _lookup(self, key: str, *, count: bool) -> Any:
        """The encoded value from L1 or L2, or ``_MISSING``."""
        entry = self._l1.get(key)
        if entry is not None:
            if count:
                self._l1_hits += 1
            return entry[0]
        client = self._l2()
        if client is not None:
            generation = self._generation
            rkey = REDIS_KEY_PREFIX + key
            try:
                encoded, pttl = await client.pipeline(transaction=False).get(rkey).pttl(rkey).execute()
            except _L2_ERRORS as exc:
                self._l2_failed(exc)
            else:
                self._l2_ok()
                if encoded is not None:
                    if count:
                        self._l2_hits += 1
                    if generation == self._generation:
                        # Never keep the L1 copy longer than Redis keeps the value.
                        self._l1_put(key, encoded, pttl / 1000 if pttl > 0 else None)
                    return encoded
        if count:
            self._misses += 1
        return _MISSING

    async def _store(self, key: str, encoded: str, ttl: float | None) -> None:
        self._generation += 1
        self._l1_put(key, encoded, ttl)
        client = self._l2()
        if client is None:
            return
        millis = max(1, round((self.l2_ttl if ttl is None else ttl) * 1000))
        try:
            await (client.pipeline(transaction=False)
                   .set(REDIS_KEY_PREFIX + key, encoded, px=millis)
                   .publish(INVALIDATION_CHANNEL, self._message(key=key))
                   .execute())
        except _L2_ERRORS as exc:
            self._l2_failed(exc)
        else:
            self._l2_ok()

    def _l1_put(self, key: str, encoded: str, ttl: float | None) -> None:
        if ttl is None:
            ttl = self.l1_ttl
        elif self.redis_url is not None:
            # With Redis behind it, L1 is only a short-lived copy; alone, it is the cache.
            ttl = min(ttl, self.l1_ttl)
        if ttl <= 0 or self.l1_max_items == 0:
            self._l1.pop(key, None)
        else:
            self._l1[key] = (encoded, ttl)

    def _l1_drop_prefix(self, prefix: str) -> set[str]:
        removed = {k for k in list(self._l1) if k.startswith(prefix)}
        for k in removed:
            self._l1.pop(k, None)
        return removed

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("the Redis cache is not started: await Cache.start() first")
        return self._redis

    def _l2(self) -> aioredis.Redis | None:
        """The Redis client, unless there is none or it failed moments ago."""
        if self.redis_url is None:
            return None
        client = self._client()
        return client if time.monotonic() >= self._l2_retry_at else None

    def _l2_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._l2_retry_at = now + self.l2_retry_interval
        self._l2_down = True
        if now - self._last_warning >= self.warning_interval:
            self._last_warning = now
            logger.warning("the Redis cache at {} is unreachable ({}); serving from the in-process "
                           "cache only until it returns", self._where, exc)

    def _l2_ok(self) -> None:
        if self._l2_down:
            self._l2_down = False
            logger.info("the Redis cache at {} is reachable again", self._where)

    # --- invalidation --------------------------------------------------------------------------

    def _message(self, *, key: str | None = None, prefix: str | None = None) -> str:
        body = {"from": self._id, "key": key} if key is not None else {"from": self._id, "prefix": prefix}
        return json.dumps(body)

    def _on_invalidation(self, data: str) -> None:
        try:
            body = json.loads(data)
            if body["from"] == self._id:
                return
            key, prefix = body.get("key"), body.get("prefix")
        except (ValueError, TypeError, KeyError):
            logger.debug("ignoring a malformed cache invalidation message: {!r}", data)
            return
        self._generation += 1
        if isinstance(key, str):
            self._l1.pop(key, None)
        elif isinstance(prefix, str) and prefix:
            self._l1_drop_prefix(prefix)

    async def _listen(self) -> None:
        assert self._redis is not None and self._listener_settled is not None
        lost_messages = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(INVALIDATION_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._on_invalidation(message["data"])
                    elif message["type"] == "subscribe":
                        if lost_messages:
                            # Invalidations sent while we were away are gone; nothing in L1
                            # can be trusted any more.
                            self._generation += 1
                            self._l1.clear()
                            lost_messages = False
                        self._listener_settled.set()
            except Exception as exc:  # the listener must outlive any one failure
                if isinstance(exc, _L2_ERRORS):
                    self._l2_failed(exc)
                else:
                    logger.opt(exception=exc).error("the cache invalidation listener failed")
            finally:
                with contextlib.suppress(*_L2_ERRORS):
                    await pubsub.aclose()
            lost_messages = True
            self._listener_settled.set()
            await asyncio.sleep(self.l2_retry_interval)


class NamespacedCache:
    """A :class:`Cache` seen through a key prefix; what a plugin gets as ``context.cache``."""

    def __init__(self, cache: Cache, prefix: str):
        _check_key(prefix, "cache namespace")
        self.cache = cache
        self.prefix = prefix + ":"

    def _key(self, key: str) -> str:
        _check_key(key)
        return self.prefix + key

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        return await self.cache.get(self._key(key), default)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-serialisable ``value`` for ``ttl`` seconds."""
        await self.cache.set(self._key(key), value, ttl)

    async def delete(self, key: str) -> None:
        """Remove ``key``."""
        await self.cache.delete(self._key(key))

    async def get_or_set(self, key: str, factory: Callable[[], Awaitable[Any]],
                         ttl: float | None = None) -> Any:
        """The cached value, or ``await factory()`` stored for ``ttl`` seconds."""
        return await self.cache.get_or_set(self._key(key), factory, ttl)

    async def clear(self) -> int:
        """Remove every key in this namespace; returns how many were removed."""
        return await self.cache.delete_prefix(self.prefix)
