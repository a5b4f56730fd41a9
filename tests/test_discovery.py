"""Discovery through entry points, from fake installed distributions on sys.path."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

from revenge_core.config import load_config
from revenge_core.plugins.host import PluginHost, Status

GOOD_MODULE = '''
"""Adds a greeting route."""
from aiohttp import web
from revenge_hookspecs import PUBLIC, Route, hookimpl

@hookimpl
def revenge_routes(context):
    async def hi(request):
        return web.json_response({"hi": True})
    return Route("GET", "/fake/hi", hi, permission=PUBLIC)
'''


def install_fake_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str],
                              modules: dict[str, str]) -> None:
    """Write a package and its .dist-info the way pip would leave them."""
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: A fake plugin for tests\n"
    )
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[revenge.plugins]\n{lines}\n")


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(
        site, "revenge-fake", "1.2.3",
        {"fake": "revenge_fake_plugin", "broken": "revenge_broken_plugin"},
        {"revenge_fake_plugin": GOOD_MODULE,
         "revenge_broken_plugin": "raise ImportError('needs libfoo, which is not installed')\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return site


def _config(tmp_path: Path, **environ: str):
    return load_config(environ={"REVENGE_DATA_DIR": str(tmp_path / "data"), **environ})


def test_plugins_are_discovered_from_installed_distributions(fake_site: Path, tmp_path: Path) -> None:
    host = PluginHost(_config(tmp_path))
    records = {r.name: r for r in host.discover()}
    fake = records["fake"]
    assert fake.loaded
    assert (fake.distribution, fake.version, fake.summary) == ("revenge-fake", "1.2.3", "A fake plugin for tests")
    broken = records["broken"]
    assert broken.status == Status.LOAD_ERROR
    assert broken.message == "import failed: ImportError: needs libfoo, which is not installed"
    # The built-in plugins arrive the same way.
    assert "localfs" in records


def test_disabled_plugins_variable_blocks_a_plugin(fake_site: Path, tmp_path: Path) -> None:
    host = PluginHost(_config(tmp_path, REVENGE_DISABLED_PLUGINS="fake,broken"))
    records = {r.name: r for r in host.discover()}
    assert records["fake"].status == Status.EXCLUDED
    assert not records["fake"].loaded
    assert records["broken"].status == Status.EXCLUDED  # never imported, so no load error either


def test_load_plugins_variable_loads_only_those(fake_site: Path, tmp_path: Path) -> None:
    host = PluginHost(_config(tmp_path, REVENGE_LOAD_PLUGINS="fake"))
    records = {r.name: r for r in host.discover()}
    assert records["fake"].loaded
    assert all(r.status == Status.EXCLUDED for name, r in records.items() if name != "fake")


async def test_discovered_plugin_serves_its_route(fake_site: Path, tmp_path: Path, aiohttp_client) -> None:
    from revenge_core.http.app import create_app

    config = _config(tmp_path, REVENGE_LOAD_PLUGINS="fake,broken")
    client = await aiohttp_client(create_app(config))
    response = await client.get("/api/v1/fake/hi")
    assert response.status == 200
    assert await response.json() == {"hi": True}
