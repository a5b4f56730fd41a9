"""Fixtures: a harness of the plugin with the fake provider and real images, and a TV library."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tv_testkit import IMAGES, FakeTvSource, Tree

import revenge_tv.plugin as plugin
from revenge_hookspecs import MetadataProvider
from revenge_hookspecs.testing import PluginHarness
from revenge_video.testing import make_image


@pytest.fixture
def provider() -> FakeTvSource:
    return FakeTvSource()


@pytest.fixture
def harness(revenge_plugin: Callable[..., PluginHarness], provider: FakeTvSource, tmp_path: Path) -> PluginHarness:
    built = revenge_plugin(plugin, name="tv")
    built.metadata.extra.append(MetadataProvider("fakedb", content_types={"tv"}, source=provider))
    images: dict[str, bytes] = {}

    async def fetch(url: str) -> bytes:
        if not url.startswith(IMAGES):
            raise ValueError(f"nothing at {url}")
        if url not in images:
            path = make_image(tmp_path / "downloads" / f"{len(images)}.png", width=120, height=180,
                              color=(len(images) * 20 % 256, 90, 160))
            images[url] = path.read_bytes()
        return images[url]

    built.artwork.fetch = fetch
    return built


@pytest.fixture
def tree(harness: PluginHarness, tmp_path: Path) -> Tree:
    return Tree(harness, tmp_path / "tv")


def pytest_configure(config: pytest.Config) -> None:
    # The repository declares it too; on its own the plugin's suite needs it for --strict-markers.
    config.addinivalue_line("markers", "postgres: runs against PostgreSQL (skipped outside the repository)")
