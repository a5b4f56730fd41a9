"""The plugin against a fake TMDb on loopback: real HTTP, only the base URL differs."""

from __future__ import annotations

import logging

import pytest
from loguru import logger

import revenge_tmdb.plugin as plugin
from revenge_tmdb.testing import FakeTMDb


@pytest.fixture
async def tmdb():
    async with FakeTMDb() as fake:
        yield fake


@pytest.fixture
def make_harness(revenge_plugin, tmdb):
    """``make_harness(**config)``: the plugin enabled against the fake, with its provider's source."""

    def make(**config):
        config = {"api_key": tmdb.api_key, "base_url": tmdb.api_url, "image_base_url": tmdb.image_url, **config}
        return revenge_plugin(plugin, name="tmdb", config=config)

    return make


@pytest.fixture
def source(make_harness):
    return make_harness().registration("metadata_providers", "tmdb").source


class LogLines:
    """Every line logged while a test runs: loguru's and the standard library's (urllib3,
    requests-cache) at their most verbose, as the server routes both into its log."""

    def __init__(self, caplog):
        self._caplog = caplog
        self._loguru: list[str] = []

    def write(self, message) -> None:
        self._loguru.append(str(message))

    @property
    def lines(self) -> list[str]:
        # the fake's own access log is the remote side, not the plugin's
        return [*self._loguru, *(f"{r.name} {r.getMessage()}" for r in self._caplog.records
                                 if not r.name.startswith("aiohttp"))]

    def mention(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


@pytest.fixture
def log_lines(caplog):
    lines = LogLines(caplog)
    sink = logger.add(lines.write, level="TRACE", format="{level} {name} {message} {extra}")
    caplog.set_level(logging.DEBUG)
    yield lines
    logger.remove(sink)
