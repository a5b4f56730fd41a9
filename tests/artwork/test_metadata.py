"""``context.metadata`` in the server: provider order, fallback past failures, time limits, and
what an operator sees of a failing provider (log, runtime error on its plugin, metrics)."""

from __future__ import annotations

import asyncio

import pytest

from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST
from revenge_hookspecs import MetadataMatch, MetadataProvider, PluginMetadata, hookimpl
from revenge_hookspecs.media import ItemMetadata, ProviderError


class Provider:
    """A metadata-provider plugin answering from memory; ``mode`` makes it fail in one way or another."""

    def __init__(self, name: str, priority: int, content_types=("movie",)):
        self.name = name
        self.priority = priority
        self.content_types = content_types
        self.mode = "ok"
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def revenge_metadata_providers(self, context):
        return MetadataProvider(self.name, self.content_types, source=self, priority=self.priority)

    async def _answer(self, what: str, value: str):
        self.calls.append((what, value))
        if self.mode == "error":
            raise ProviderError(self.name, "HTTP 503 from upstream", status=503)
        if self.mode == "crash":
            raise KeyError("results")
        if self.mode == "slow":
            await asyncio.sleep(30)
        if self.mode == "empty":
            return [] if what == "search" else None
        return "answer"

    async def search(self, content_type, query, *, year=None, language=None, external_ids=None):
        if await self._answer("search", query) is None or self.mode == "empty":
            return []
        return [MetadataMatch(provider=self.name, external_id=f"{self.name}-1", title=query, year=year, score=0.9)]

    async def lookup(self, content_type, external_id, *, language=None):
        if await self._answer("lookup", external_id) is None:
            return None
        return ItemMetadata(provider=self.name, external_id=external_id, content_type=content_type,
                            title=f"From {self.name}", original_language=language)


class Consumer:
    """A plugin that uses context.metadata, as a content type does."""

    @hookimpl
    def revenge_startup(self, context):
        self.context = context


@pytest.fixture
def first() -> Provider:
    return Provider("first", priority=10)


@pytest.fixture
def second() -> Provider:
    return Provider("second", priority=20, content_types=("movie", "series"))


@pytest.fixture
async def client(aiohttp_client, sqlite_config, first, second):
    sqlite_config.metadata.provider_timeout = 0.5
    plugins = {"first": first, "second": second, "consumer": Consumer()}
    return await aiohttp_client(create_app(sqlite_config, plugins=plugins))


@pytest.fixture
def metadata(client):
    return client.app[HOST].context_for("consumer").metadata


async def test_providers_are_asked_by_priority_and_the_first_answer_wins(metadata, first, second):
    assert isinstance(metadata, PluginMetadata)
    assert metadata.providers("movie") == ["first", "second"]
    assert metadata.providers("series") == ["second"]
    assert metadata.providers("book") == []

    [match] = await metadata.search("movie", "Heat", year=1995)
    assert (match.provider, match.title, match.year) == ("first", "Heat", 1995)
    assert second.calls == []

    meta = await metadata.lookup("movie", "second", "949", language="de")
    assert (meta.provider, meta.external_id, meta.original_language) == ("second", "949", "de")
    assert await metadata.lookup("movie", "nobody", "949") is None
    assert await metadata.lookup("book", "second", "949") is None


async def test_the_library_order_overrides_priority(metadata, first, second):
    assert metadata.providers("movie", order=["second", "first"]) == ["second", "first"]
    assert metadata.providers("movie", order=["unknown", "second"]) == ["second", "first"]
    [match] = await metadata.search("movie", "Heat", order=["second", "first"])
    assert match.provider == "second" and first.calls == []
    [match] = await metadata.search("movie", "Heat", only="first")
    assert match.provider == "first"


@pytest.mark.parametrize("mode", ["error", "crash", "slow"])
async def test_a_failing_provider_is_skipped_logged_and_counted_against_its_plugin(
        client, metadata, first, second, mode, caplog_loguru):
    first.mode = mode
    [match] = await metadata.search("movie", "Heat")
    assert match.provider == "second"
    assert first.calls == [("search", "Heat")] and second.calls == [("search", "Heat")]

    record = client.app[HOST].records["first"]
    assert record.runtime_errors == 1
    expected = {"error": "ProviderError: first: HTTP 503", "crash": "KeyError", "slow": "TimeoutError"}[mode]
    assert record.last_error.startswith(expected)
    assert client.app[HOST].records["second"].runtime_errors == 0
    logged = [m for m in caplog_loguru if "metadata provider first" in m]
    assert len(logged) == 1
    if mode == "slow":
        assert "no answer within 0.5 s" in logged[0]

    # A lookup on a failing provider raises what it raised (a failure is not "unknown").
    with pytest.raises((ProviderError, KeyError, TimeoutError)):
        await metadata.lookup("movie", "first", "1")
    assert record.runtime_errors == 2

    metrics = await (await client.get("/metrics")).text()
    assert 'metadata_provider_requests_total{provider="first"} 2.0' in metrics
    assert 'metadata_provider_failures_total{provider="first"} 2.0' in metrics
    assert 'metadata_provider_requests_total{provider="second"} 1.0' in metrics
    assert 'metadata_provider_failures_total{provider="second"}' not in metrics


async def test_an_empty_answer_falls_through_and_nobody_answering_is_empty(metadata, first, second):
    first.mode = "empty"
    [match] = await metadata.search("movie", "Heat")
    assert match.provider == "second"
    second.mode = "error"
    assert await metadata.search("movie", "Heat") == []


async def test_a_disabled_provider_plugin_is_not_asked(client, metadata, first, second):
    host = client.app[HOST]
    await host.set_enabled("first", False)
    assert metadata.providers("movie") == ["second"]
    [match] = await metadata.search("movie", "Heat", order=["first", "second"])
    assert match.provider == "second" and first.calls == []
    assert await metadata.lookup("movie", "first", "1") is None
    await host.set_enabled("first", True)
    [match] = await metadata.search("movie", "Heat")
    assert match.provider == "first"


@pytest.fixture
def caplog_loguru():
    """Messages loguru writes while the test runs."""
    from loguru import logger

    messages: list[str] = []
    handler = logger.add(lambda message: messages.append(str(message)), level="WARNING")
    yield messages
    logger.remove(handler)
