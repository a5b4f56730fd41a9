"""The provider HTTP client against a small local aiohttp server that answers like a provider."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web
from loguru import logger

from revenge_hookspecs import __version__
from revenge_hookspecs.media import ProviderError
from revenge_hookspecs.provider_http import ProviderClient, RateLimit, RateLimiter, parse_retry_after

API_KEY = "k3y-5ecret-0123456789abcdef"
TOKEN = "t0ken-5ecret-fedcba9876543210"


class FakeProvider:
    """Answers like a typical JSON API; tests script failures and read the request log."""

    def __init__(self):
        self.log: list[tuple[float, str, str, dict[str, str], dict[str, str]]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{tail:.*}", self.handle)

    def hits(self, path: str | None = None) -> int:
        return sum(1 for entry in self.log if path is None or entry[2] == path)

    async def handle(self, request: web.Request) -> web.Response:
        self.log.append((time.monotonic(), request.method, request.path, dict(request.query), dict(request.headers)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.script:
                status, headers = self.script.pop(0)
                if status != 200:
                    return web.json_response({"status_message": f"scripted {status}"}, status=status,
                                             headers=headers)
            tail = request.match_info["tail"]
            if tail == "missing":
                return web.json_response({"status_message": "not found"}, status=404)
            if tail == "secure" and request.query.get("api_key") != API_KEY \
                    and request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"status_message": "Invalid API key."}, status=401)
            if tail == "forbidden":
                return web.json_response({"message": "no"}, status=403)
            if tail == "bad":
                return web.json_response({"error": "bad query"}, status=400)
            if tail == "text":
                return web.Response(text="<html>oops</html>", content_type="text/html")
            if tail == "empty":
                return web.Response(status=204)
            body = await request.json() if request.can_read_body else None
            query = {k: v for k, v in request.query.items() if k != "api_key"}  # an API never echoes keys
            return web.json_response({"path": request.path, "query": query, "body": body,
                                      "n": len(self.log)})
        finally:
            self.in_flight -= 1


@pytest.fixture
def provider():
    return FakeProvider()


@pytest.fixture
async def base_url(provider, aiohttp_server):
    server = await aiohttp_server(provider.app, host="127.0.0.1")
    return str(server.make_url("/api"))


@pytest.fixture
def make_client(base_url, tmp_path):
    clients: list[ProviderClient] = []

    def make(**kwargs) -> ProviderClient:
        kwargs.setdefault("rate_limit", RateLimit(100, 1.0))
        kwargs.setdefault("backoff_base", 0.01)
        client = ProviderClient(kwargs.pop("provider", "fake"), kwargs.pop("base_url", base_url), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def all_logs():
    """Every log line of the client side, loguru's and the standard library's at DEBUG."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="TRACE", format="{message}")

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith("aiohttp"):  # the fake server's own access log, not the client's
                return
            lines.append(f"{record.name}: {record.getMessage()}")

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)
    logger.remove(sink)


# --- answers ---------------------------------------------------------------------------------------


async def test_get_json_sends_params_and_headers(make_client, provider):
    client = make_client(params={"api_key": API_KEY}, headers={"X-Extra": "1"})
    answer = await client.get_json("/echo", {"language": "en-US", "page": 2})
    assert answer["path"] == "/api/echo"
    assert answer["query"] == {"language": "en-US", "page": "2"}
    assert provider.log[0][3] == {"api_key": API_KEY, "language": "en-US", "page": "2"}
    headers = provider.log[0][4]
    assert headers["User-Agent"] == f"Revenge/{__version__}"
    assert headers["Accept"] == "application/json"
    assert headers["X-Extra"] == "1"
    assert client.requests_made == 1


async def test_404_is_none_and_other_answers(make_client, provider):
    client = make_client()
    assert await client.get_json("/missing") is None
    assert await client.get_json("/empty") is None
    with pytest.raises(ProviderError, match="not JSON") as info:
        await client.get_json("/text")
    assert info.value.status == 200
    assert provider.hits() == 3


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/secure", 401, "Invalid API key"), ("/forbidden", 403, "no"), ("/bad", 400, "bad query")])
async def test_client_errors_are_not_retried(make_client, provider, path, status, text, all_logs):
    client = make_client(params={"api_key": "wrong-key-123456"}, max_tries=5)
    with pytest.raises(ProviderError) as info:
        await client.get_json(path)
    assert info.value.status == status
    assert info.value.provider == "fake"
    assert text in str(info.value)
    assert "wrong-key-123456" not in str(info.value)
    assert provider.hits() == 1
    assert not any("wrong-key-123456" in line for line in all_logs)


async def test_bearer_token_set_later(make_client, provider, all_logs):
    client = make_client()
    with pytest.raises(ProviderError):
        await client.get_json("/secure")
    client.set_header("Authorization", f"Bearer {TOKEN}")
    assert (await client.get_json("/secure"))["path"] == "/api/secure"
    assert provider.log[-1][4]["Authorization"] == f"Bearer {TOKEN}"
    assert not any(TOKEN in line for line in all_logs)


async def test_post_json_sends_body_and_is_never_cached(make_client, provider):
    client = make_client()
    first = await client.post_json("/login", {"apikey": "x", "pin": "y"})
    second = await client.post_json("/login", {"apikey": "x", "pin": "y"})
    assert first["body"] == {"apikey": "x", "pin": "y"}
    assert provider.hits("/api/login") == 2 and second["n"] == 2
    assert [entry[1] for entry in provider.log] == ["POST", "POST"]


# --- retries ---------------------------------------------------------------------------------------


async def test_500_twice_then_success(make_client, provider, all_logs):
    provider.script = [(500, {}), (502, {})]
    client = make_client(params={"api_key": API_KEY})
    answer = await client.get_json("/movie")
    assert answer["n"] == 3
    assert client.requests_made == 3
    retries = [line for line in all_logs if "retrying" in line]
    assert len(retries) == 2 and all("fake" in line for line in retries)
    assert not any(API_KEY in line for line in all_logs)


async def test_persistent_503_gives_up_after_max_tries(make_client, provider):
    provider.script = [(503, {})] * 10
    client = make_client(max_tries=3)
    with pytest.raises(ProviderError, match="503") as info:
        await client.get_json("/movie")
    assert info.value.status == 503
    assert provider.hits() == 3


async def test_429_retry_after_is_honoured(make_client, provider, all_logs):
    provider.script = [(429, {"Retry-After": "1"})]
    client = make_client()
    started = time.monotonic()
    answer = await client.get_json("/movie")
    waited = time.monotonic() - started
    assert answer["n"] == 2
    assert 0.95 <= waited < 5
    assert provider.log[1][0] - provider.log[0][0] >= 0.95
    assert any("rate limited" in line and "fake" in line for line in all_logs)


async def test_429_retry_after_as_http_date(make_client, provider):
    when = datetime.now(UTC) + timedelta(seconds=2)
    provider.script = [(429, {"Retry-After": format_datetime(when, usegmt=True)})]
    client = make_client()
    started = time.monotonic()
    await client.get_json("/movie")
    # HTTP dates have whole seconds: the wait lies between 1 and 2 seconds.
    assert 0.9 <= time.monotonic() - started < 5


async def test_retry_after_is_capped_and_reported(make_client, provider):
    provider.script = [(429, {"Retry-After": "3600"})] * 3
    client = make_client(max_tries=2, max_retry_after=0.3)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="rate limited") as info:
        await client.get_json("/movie")
    assert 0.25 <= time.monotonic() - started < 3
    assert info.value.status == 429
    assert info.value.retry_after == 3600
    assert provider.hits() == 2


async def test_network_errors_are_retried_then_reported_without_secrets(make_client, all_logs):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/api", params={"api_key": API_KEY}, max_tries=2,
                         timeout=2)
    with pytest.raises(ProviderError, match="network error") as info:
        await client.get_json("/movie/1")
    assert info.value.status is None
    assert API_KEY not in str(info.value)
    assert client.requests_made == 2
    assert not any(API_KEY in line for line in all_logs)


def test_parse_retry_after():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("-3") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- cache -----------------------------------------------------------------------------------------


async def test_answers_are_cached_in_sqlite_without_secrets(make_client, provider, tmp_path, all_logs):
    cache = tmp_path / "cache" / "fake.sqlite"
    client = make_client(cache_path=cache, params={"api_key": API_KEY},
                         headers={"Authorization": f"Bearer {TOKEN}"})
    first = await client.get_json("/movie/603", {"language": "en-US"})
    second = await client.get_json("/movie/603", {"language": "en-US"})
    assert first == second
    assert provider.hits() == 1 and client.requests_made == 1
    await client.get_json("/movie/603", {"language": "de-DE"})
    assert provider.hits() == 2
    client.close()
    data = cache.read_bytes()
    assert b"/movie/603" in data  # the cache really holds the answer...
    assert API_KEY.encode() not in data and TOKEN.encode() not in data  # ...but no secret
    assert not any(API_KEY in line or TOKEN in line for line in all_logs)

    # a new client (a restart) reads the same cache file
    again = make_client(cache_path=cache, params={"api_key": API_KEY})
    assert await again.get_json("/movie/603", {"language": "en-US"}) == first
    assert again.requests_made == 0


async def test_cache_bypass_ttl_and_errors(make_client, provider):
    client = make_client(cache_ttl=0.5)
    await client.get_json("/a")
    await client.get_json("/a", cache=False)
    assert provider.hits() == 2
    await client.get_json("/a")
    assert provider.hits() == 2
    await asyncio.sleep(0.6)
    await client.get_json("/a")
    assert provider.hits() == 3

    assert await client.get_json("/missing") is None
    assert await client.get_json("/missing") is None
    assert provider.hits("/api/missing") == 2  # only 200 answers are cached

    provider.script = [(500, {})]
    await client.get_json("/b")
    await client.get_json("/b")
    assert provider.hits("/api/b") == 2  # the 500 was retried, the 200 then cached


# --- rate limit and concurrency ---------------------------------------------------------------------


async def test_rate_limit_holds_under_concurrency(make_client, provider, all_logs):
    client = make_client(rate_limit=RateLimit(3, 0.5), max_concurrency=4)
    started = time.monotonic()
    answers = await asyncio.gather(*(client.get_json(f"/item/{i}") for i in range(9)))
    elapsed = time.monotonic() - started
    assert len(answers) == 9 and client.requests_made == 9
    arrivals = sorted(entry[0] for entry in provider.log)
    # request i+3 may only leave a full period after request i (small slack for loopback jitter)
    assert all(arrivals[i + 3] - arrivals[i] >= 0.45 for i in range(len(arrivals) - 3))
    assert elapsed >= 0.95
    assert any("rate limit" in line and "fake" in line for line in all_logs)


async def test_cache_hits_do_not_spend_the_budget(make_client, provider):
    client = make_client(rate_limit=RateLimit(1, 5.0))
    await client.get_json("/same")
    started = time.monotonic()
    for _ in range(5):
        await client.get_json("/same")
    assert time.monotonic() - started < 1
    assert provider.hits() == 1


async def test_concurrency_is_bounded(make_client, provider):
    provider.delay = 0.1
    client = make_client(max_concurrency=2)
    await asyncio.gather(*(client.get_json(f"/slow/{i}", cache=False) for i in range(6)))
    assert provider.max_in_flight == 2


def test_rate_limiter_counts_the_window_from_each_answer():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(RateLimit(2, 1.0), clock=lambda: now[0], sleep=sleep)
    limiter.release(limiter.acquire())  # answered at t=0
    now[0] = 0.4
    limiter.release(limiter.acquire())  # answered at t=0.4
    limiter.release(limiter.acquire())  # the first slot frees at t=1.0
    assert now[0] == pytest.approx(1.0, abs=0.002)
    slow = limiter.acquire()  # the second frees at t=1.4...
    assert now[0] == pytest.approx(1.4, abs=0.002)
    now[0] = 3.0
    limiter.release(slow)  # ...but this one was answered only at t=3: its slot is held until t=4
    limiter.release(limiter.acquire())  # the t=1.0 slot is long free
    assert now[0] == 3.0
    with limiter.slot():
        assert now[0] == pytest.approx(4.0, abs=0.002)
    limiter.pause(3)  # a Retry-After holds every request back
    with limiter.slot():
        assert now[0] == pytest.approx(7.0, abs=0.002)
    # (float rounding may add a wait of a millisecond)
    assert [w for w in waits if w > 0.01] == [pytest.approx(w, abs=0.002) for w in (0.6, 0.4, 1.0, 3.0)]


def test_rate_limiter_waits_for_requests_in_flight():
    limiter = RateLimiter(RateLimit(1, 0.05))
    first = limiter.acquire()
    got_second = threading.Event()
    worker = threading.Thread(target=lambda: (limiter.acquire(), got_second.set()))
    worker.start()
    assert not got_second.wait(0.3)  # long past the period, but the first request is still in flight
    limiter.release(first)
    assert got_second.wait(2)
    worker.join()


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError):
        RateLimit(0, 1)
    with pytest.raises(ValueError):
        ProviderClient("x", "http://127.0.0.1:9", rate_limit=RateLimit(1, 1), max_tries=0)


def test_per_context_shares_one_source_and_closes_the_stale_one():
    from revenge_hookspecs.provider_http import PerContext

    class Source:
        def __init__(self, config):
            self.config, self.closed = config, False

        def close(self):
            self.closed = True

    class Context:
        def __init__(self, config):
            self.config = config

    sources = PerContext(lambda context: Source(context.config))
    context = Context({"key": "a"})
    first = sources.get(context)
    assert sources.get(context) is first and not first.closed
    context.config = {"key": "b"}  # the host applied a new configuration
    second = sources.get(context)
    assert second is not first and second.config == {"key": "b"} and first.closed
    other = Context({"key": "b"})
    assert sources.get(other) is not second  # one per activation
    sources.close(context)
    assert second.closed
    sources.close(context)  # closing twice is harmless
