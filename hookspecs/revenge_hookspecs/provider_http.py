"""A polite HTTP client for metadata providers: rate limited, cached, retried, and discreet.

Metadata providers (TMDb, TheTVDB...) are remote JSON APIs with rate limits, flaky moments and
secret keys. :class:`ProviderClient` wraps ``requests`` with what every such plugin needs:

* a thread-safe sliding-window :class:`RateLimit` per client, waited for in the worker thread
  (never on the event loop) and only for real requests, not cache hits;
* a ``requests-cache`` cache of successful ``GET`` answers (SQLite file or memory) whose keys and
  stored requests never hold api keys or ``Authorization`` headers in clear;
* retries with exponential backoff and jitter (``backoff``) on 5xx and network errors, and
  ``Retry-After`` honoured on 429;
* errors as :class:`~revenge_hookspecs.media.ProviderError`, and log lines that name the
  provider and the path, never a secret.

Install it with the SDK's ``providers`` extra (``revenge-hookspecs[providers]``)::

    client = ProviderClient("tmdb", "https://api.themoviedb.org/3", rate_limit=RateLimit(50, 1.0),
                            cache_path=context.data_dir / "http-cache.sqlite", params={"api_key": key})
    movie = await client.get_json("/movie/603", {"language": "en-US"})

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs
import backoff
import requests
import requests_cache
from loguru import logger
from requests.adapters import HTTPAdapter
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from . import __version__
from .media import ProviderError

__all__ = ["SECRET_PARAMETERS", "ProviderClient", "RateLimit", "RateLimiter", "parse_retry_after"]

SECRET_PARAMETERS: tuple[str, ...] = (*DEFAULT_IGNORED_PARAMS, "api-key", "apiKey", "token", "pin")
"""Query parameters and headers whose values are secrets: left out of cache keys, redacted
from what the cache stores and from every log line and error message."""

_REDACTED = "***"


# --- rate limiting ---------------------------------------------------------------------------------


@attrs.frozen
class RateLimit:
    """At most ``calls`` requests per ``period`` seconds, per client (shared by all its threads)."""

    calls: int = attrs.field(validator=attrs.validators.gt(0))
    period: float = attrs.field(converter=float, validator=attrs.validators.gt(0))


class _Slot:
    __slots__ = ("end",)

    def __init__(self) -> None:
        self.end = math.inf  # in flight until released


class RateLimiter:
    """A thread-safe sliding window over requests, counted from when each one *finished*.

    A request holds its slot while in flight and for ``period`` seconds after its answer, so
    the server, whichever way it measures, never sees more than ``calls`` requests in a
    ``period``: request ``n + calls`` leaves only after request ``n`` was answered, and so
    after the server received it. :meth:`acquire` blocks the calling (worker) thread.

    :param on_wait: ``on_wait(seconds)`` before each timed wait, for logging.
    """

    def __init__(self, limit: RateLimit, *, clock=time.monotonic, sleep=time.sleep, on_wait=None):
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a server said ``Retry-After``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def _reserve(self) -> tuple[_Slot | None, float | None]:
        """A slot, or how long to wait (``None``: until a request in flight is answered)."""
        now = self._clock()
        if now < self._paused_until:
            return None, max(self._paused_until - now, 0.001)
        window_start = now - self.limit.period
        self._slots = [s for s in self._slots if s.end > window_start]
        if len(self._slots) < self.limit.calls:
            slot = _Slot()
            self._slots.append(slot)
            return slot, None
        finished = [s.end for s in self._slots if s.end != math.inf]
        # a floor keeps float rounding from spinning on waits of 1e-17 seconds
        return None, max(min(finished) - window_start, 0.001) if finished else None

    def acquire(self) -> _Slot:
        """Wait for a slot and take it; give it back with :meth:`release` once answered."""
        while True:
            with self._lock:
                slot, wait = self._reserve()
                if slot is not None:
                    return slot
                if wait is None:
                    self._released.wait(self.limit.period)
                    continue
            if self._on_wait is not None:
                self._on_wait(wait)
            self._sleep(wait)

    def release(self, slot: _Slot) -> None:
        """The request of ``slot`` was answered (or failed): its ``period`` starts now."""
        with self._lock:
            slot.end = self._clock()
            self._released.notify_all()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """``with limiter.slot(): send()``."""
        taken = self.acquire()
        try:
            yield
        finally:
            self.release(taken)


class _LimitedAdapter(HTTPAdapter):
    """The transport: only requests that reach it (cache misses) take a rate-limit slot."""

    def __init__(self, client: ProviderClient):
        super().__init__(pool_maxsize=max(10, client.max_concurrency))
        self._client = weakref.ref(client)

    def send(self, request, *args, **kwargs):
        client = self._client()
        if client is None:
            return super().send(request, *args, **kwargs)
        with client._limiter.slot():
            client._count_request()
            return super().send(request, *args, **kwargs)


# --- secrets out of logs -----------------------------------------------------------------------------

_secrets: weakref.WeakSet[ProviderClient] = weakref.WeakSet()


def _redact_all(text: str) -> str:
    for client in list(_secrets):
        text = client.redact(text)
    return text


class _RedactingFilter(logging.Filter):
    """urllib3 and requests-cache log full URLs at DEBUG; the server routes those logs into
    loguru, so api keys in query strings are masked before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken record is not ours to fix
                return True
            redacted = _redact_all(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


_FILTER = _RedactingFilter()


def _install_log_filter() -> None:
    names = [n for n in list(logging.root.manager.loggerDict)
             if n.split(".")[0] in ("urllib3", "requests", "requests_cache")]
    for name in {"urllib3", "urllib3.connectionpool", "requests_cache", *names}:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)


# --- retry policy ------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP date; ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Retryable(Exception):
    """A failure worth another try: a 429, a 5xx or a network error."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def _retry_waits(*, base: float, cap: float, max_retry_after: float) -> Generator[float, Any, None]:
    """backoff wait generator: ``Retry-After`` when the server sent one (capped), else full-jitter expo."""
    exc = yield  # type: ignore[misc]
    attempt = 0
    while True:
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            wait = min(exc.retry_after, max_retry_after)
        else:
            wait = random.uniform(0, min(cap, base * 2**attempt))
        attempt += 1
        exc = yield wait


def _server_message(response: requests.Response) -> str:
    """The short reason an API gave in its error body (TMDb's ``status_message`` and the like)."""
    try:
        body = response.json()
    except ValueError:
        return (response.reason or "").strip()
    if isinstance(body, Mapping):
        for key in ("status_message", "message", "error", "Error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key][:300]
    return (response.reason or "").strip()


# --- the client --------------------------------------------------------------------------------------


class ProviderClient:
    """An HTTP client for one provider's JSON API.

    :param provider: the provider's name, used in errors and log lines.
    :param base_url: prefix of every path (``https://api.themoviedb.org/3``).
    :param rate_limit: the provider's request budget for this client.
    :param cache_path: SQLite file for cached ``GET`` answers; ``None`` caches in memory.
    :param cache_ttl: seconds a cached answer stays fresh; 0 turns the cache off.
    :param headers: headers sent with every request (``Accept`` is JSON unless set).
    :param timeout: seconds to connect and to wait for an answer.
    :param max_tries: attempts per call for 429, 5xx and network errors.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds.
    :param user_agent: the ``User-Agent`` header.
    :param params: query parameters sent with every request (a v3 ``api_key``).
    :param secret_params: more parameter or header names whose values are secret (see
        :data:`SECRET_PARAMETERS`, always included).
    :param max_concurrency: requests of this client in flight at once.
    :param backoff_base: first retry waits up to this many seconds, doubling each try.
    :param backoff_cap: no backoff wait is longer than this.
    """

    def __init__(self, provider: str, base_url: str, *, rate_limit: RateLimit, cache_path: Path | None = None,
                 cache_ttl: float = 86400.0, headers: Mapping[str, str] | None = None, timeout: float = 30.0,
                 max_tries: int = 5, max_retry_after: float = 60.0, user_agent: str = f"Revenge/{__version__}",
                 params: Mapping[str, Any] | None = None, secret_params: Iterable[str] = (),
                 max_concurrency: int = 4, backoff_base: float = 0.5, backoff_cap: float = 30.0):
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.rate_limit = rate_limit
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.cache_ttl = cache_ttl
        self.timeout = timeout
        self.max_tries = max_tries
        self.max_retry_after = max_retry_after
        self.max_concurrency = max_concurrency
        self.requests_made = 0
        self._secret_names = frozenset(n.lower() for n in (*SECRET_PARAMETERS, *secret_params))
        self._lock = threading.Lock()
        self._headers = {"Accept": "application/json", "User-Agent": user_agent, **(headers or {})}
        self._params = dict(params or {})
        self._limiter = RateLimiter(rate_limit, on_wait=self._log_wait)
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())

        ignored = sorted({*SECRET_PARAMETERS, *secret_params, *self._params_named_secret()})
        backend = "sqlite" if self.cache_path is not None else "memory"
        cache_name = str(self.cache_path) if self.cache_path is not None else f"revenge-{provider}"
        if self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self._cached = requests_cache.CachedSession(
            cache_name, backend=backend, allowable_codes=(200,),
            expire_after=timedelta(seconds=cache_ttl) if cache_ttl > 0 else requests_cache.DO_NOT_CACHE,
            allowable_methods=("GET",), ignored_parameters=ignored, match_headers=["Accept", "Accept-Language"],
            stale_if_error=False, cache_control=False)
        self._plain = requests.Session()
        adapter = _LimitedAdapter(self)
        for session in (self._cached, self._plain):
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._request_with_retries = backoff.on_exception(
            self._wait_generator, _Retryable, max_tries=max_tries, jitter=None,
            on_backoff=self._log_retry, on_giveup=self._log_giveup)(self._attempt)
        self._wait_kwargs = {"base": backoff_base, "cap": backoff_cap, "max_retry_after": max_retry_after}
        _secrets.add(self)
        _install_log_filter()

    # --- secrets -------------------------------------------------------------------------------

    def _params_named_secret(self) -> list[str]:
        return [name for name in self._params if name.lower() in self._secret_names]

    def _secret_values(self) -> list[str]:
        with self._lock:
            values = [str(v) for k, v in self._params.items() if k.lower() in self._secret_names]
            for name, value in self._headers.items():
                if name.lower() in self._secret_names:
                    values.append(value)
                    values.extend(value.split()[1:])  # "Bearer <token>": the token alone too
        return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with this client's secret values masked."""
        for secret in self._secret_values():
            text = text.replace(secret, _REDACTED)
        return text

    # --- configuration -------------------------------------------------------------------------

    def set_header(self, name: str, value: str) -> None:
        """Send ``name: value`` with every later request (a bearer token obtained after login)."""
        with self._lock:
            self._headers = {**self._headers, name: value}

    def set_param(self, name: str, value: Any) -> None:
        """Send query parameter ``name=value`` with every later request."""
        with self._lock:
            self._params = {**self._params, name: value}

    def close(self) -> None:
        """Close connections and the cache file. The client is unusable afterwards."""
        _secrets.discard(self)
        self._plain.close()
        self._cached.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------------------------

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                       headers: Mapping[str, str] | None = None, cache: bool = True) -> Any | None:
        """``GET base_url + path`` as JSON; ``None`` when the provider answers 404.

        :param cache: ``False`` neither reads nor writes the cache.
        :raises ProviderError: 401/403 at once; 429, 5xx and network errors after ``max_tries``;
            other 4xx at once; an answer that is not JSON.
        """
        return await self._call("GET", path, params=params, headers=headers, cache=cache)

    async def post_json(self, path: str, body: Any, *, headers: Mapping[str, str] | None = None) -> Any:
        """``POST`` ``body`` as JSON and return the JSON answer (never cached; same errors as :meth:`get_json`)."""
        return await self._call("POST", path, json=body, headers=headers, cache=False)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._semaphore():
                return await self._request_with_retries(method, path, **kwargs)
        except _Retryable as exc:
            raise ProviderError(self.provider, exc.message, status=exc.status, retry_after=exc.retry_after) from None

    def _wait_generator(self) -> Generator[float, Any, None]:
        return _retry_waits(**self._wait_kwargs)

    async def _attempt(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await asyncio.to_thread(self._send, method, path, **kwargs)
        return self._interpret(method, path, response)

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            raise ValueError("ProviderClient takes paths relative to its base_url")
        return f"{self.base_url}/{path.lstrip('/')}"

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None, json: Any = None, cache: bool) -> requests.Response:
        with self._lock:
            merged_headers = {**self._headers, **(headers or {})}
            merged_params = {**self._params, **(params or {})}
        session = self._cached if cache else self._plain
        try:
            return session.request(method, self._url(path), params=merged_params or None, headers=merged_headers,
                                   json=json, timeout=self.timeout, allow_redirects=True)
        except requests.RequestException as exc:
            raise _Retryable(f"network error on {path}: {type(exc).__name__}: {self.redact(str(exc))}") from None

    def _count_request(self) -> None:
        """Called by the transport, in the worker thread, for every real request."""
        with self._lock:
            self.requests_made += 1

    def _interpret(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ProviderError(self.provider, f"{method} {path} answered {status} with a body that is not JSON",
                                    status=status) from None
        if status == 404 and method == "GET":
            return None
        reason = self.redact(_server_message(response))
        detail = f"{method} {path} answered HTTP {status}" + (f": {reason}" if reason else "")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                self._limiter.pause(min(retry_after, self.max_retry_after))
            raise _Retryable(f"rate limited: {detail}", status=status, retry_after=retry_after)
        if status >= 500:
            raise _Retryable(detail, status=status,
                             retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            raise ProviderError(self.provider, f"not authorised: {detail}", status=status)
        raise ProviderError(self.provider, detail, status=status)

    # --- logging -------------------------------------------------------------------------------

    def _log_wait(self, seconds: float) -> None:
        logger.debug("{}: rate limit of {} requests per {}s reached, waiting {:.2f}s", self.provider,
                     self.rate_limit.calls, self.rate_limit.period, seconds)

    def _log_retry(self, details: Mapping[str, Any]) -> None:
        exc = details.get("exception")
        logger.warning("{}: {}; try {} of {}, retrying in {:.2f}s", self.provider,
                       getattr(exc, "message", exc), details["tries"], self.max_tries, details["wait"])

    def _log_giveup(self, details: Mapping[str, Any]) -> None:
        exc = details.get("exception")
        logger.warning("{}: giving up after {} tries: {}", self.provider, details["tries"],
                       getattr(exc, "message", exc))


SourceT = TypeVar("SourceT")


class PerContext(Generic[SourceT]):
    """One provider source per plugin activation, shared by its hooks.

    The self-check and the registered provider must share one client (its rate limit, cache
    file and login); the source goes with the context and is rebuilt, the old one closed,
    when the host hands the plugin a new configuration::

        sources = PerContext(lambda context: MySource(context.config, context.data_dir / "cache.sqlite"))

        @hookimpl
        def revenge_metadata_providers(context):
            return MetadataProvider(name="mine", content_types={"movie"}, source=sources.get(context))

        @hookimpl
        def revenge_shutdown(context):
            sources.close(context)

    :param factory: builds the source for a context; the source has ``config`` and ``close()``.
    """

    def __init__(self, factory: Callable[[Any], SourceT]):
        self._factory = factory
        self._sources: weakref.WeakKeyDictionary[Any, SourceT] = weakref.WeakKeyDictionary()

    def get(self, context: Any) -> SourceT:
        source = self._sources.get(context)
        if source is not None and source.config is not context.config:
            source.close()
            source = None
        if source is None:
            source = self._sources[context] = self._factory(context)
        return source

    def close(self, context: Any) -> None:
        source = self._sources.pop(context, None)
        if source is not None:
            source.close()
