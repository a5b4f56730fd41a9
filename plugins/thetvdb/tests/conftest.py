"""The plugin against a fake TheTVDB on loopback: real HTTP, only the addresses differ."""

from __future__ import annotations

import logging

import pytest
from loguru import logger
from thetvdb_testkit import NAME, settings, source_of

import revenge_thetvdb.plugin as plugin
from revenge_thetvdb.testing import FakeTheTVDB


@pytest.fixture
def fake_options() -> dict:
    """Keyword arguments for the fake; a test overrides the fixture to change them."""
    return {}


@pytest.fixture
async def tvdb(fake_options):
    async with FakeTheTVDB(**fake_options) as fake:
        yield fake


@pytest.fixture
def make_harness(revenge_plugin, tvdb):
    """``make_harness(**config)``: the plugin enabled against the fake."""

    def make(**config):
        return revenge_plugin(plugin, name=NAME, config=settings(tvdb, **config))

    return make


@pytest.fixture
def source(make_harness):
    return source_of(make_harness())


@pytest.fixture
def logged(caplog):
    """``logged()``: everything logged so far, loguru and the standard library (urllib3,
    requests-cache) at their most verbose, as one text; the fake's own aiohttp lines left out."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="TRACE",
                      format="{level} {name} {message} {extra}")
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        records = [f"{r.name} {r.getMessage()}" for r in caplog.records if not r.name.startswith("aiohttp")]
        return "\n".join([*lines, *records])

    yield text
    logger.remove(sink)
