"""A plugin config stored on one instance is applied on every instance sharing the database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import attrs
import pytest

from revenge_core.cli import running_host
from revenge_core.config import Config
from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST, SERVICES
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import ServerSetting
from revenge_core.plugins.host import Status
from revenge_core.plugins.state import SEALED_CONFIG, PluginConfigRevision, bump_config_revision
from tests import plugin_samples as samples
from tests.identity.conftest import bearer, login, make_user
from tests.test_serve_e2e import PLUGIN, _env, server

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")

SYNC = 0.2
WITHIN = 2.0


async def instance(aiohttp_client, config: Config, plugin=None, *, name: str = "good"):
    """One server on the shared database, with its own copy of the config (as a process has)."""
    own = attrs.evolve(config, plugins={key: dict(section) for key, section in config.plugins.items()})
    app = create_app(own, plugins={name: plugin or samples.Good()}, sync_interval=SYNC)
    return await aiohttp_client(app)


async def as_admin(client) -> dict[str, str]:
    """Headers of a freshly made admin."""
    await make_user(client.app, "boss", "boss password", role="admin")
    return bearer((await login(client, "boss", "boss password"))["access_token"])


async def eventually(check, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WITHIN
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not within {WITHIN} s"
        await asyncio.sleep(0.05)


def greeting_on(client) -> str | None:
    """The greeting in the running plugin's context on that instance."""
    host = client.app[HOST]
    return host.context_for("good").config.greeting if host.is_enabled("good") else None


async def store_directly(client, value: str, plugin: str = "good") -> None:
    """Write the stored section as raw JSON text and bump the revision, bypassing the API."""
    services = client.app[SERVICES]

    def write() -> None:
        services.db.bind([ServerSetting])
        ServerSetting.insert(key=f"plugins.{plugin}", value=value).on_conflict(
            conflict_target=[ServerSetting.key], update={ServerSetting.value: value}).execute()
        bump_config_revision(services.db, plugin, "test")

    await services.db.run(write)


async def test_config_put_on_one_instance_reaches_the_other(aiohttp_client, config):
    a = await instance(aiohttp_client, config)
    b_plugin = samples.Good()
    b = await instance(aiohttp_client, config, b_plugin)
    assert greeting_on(b) == "hello"
    admin = await as_admin(a)

    response = await a.put("/api/v1/admin/plugins/good/config", headers=admin, json={"greeting": "hey", "repeat": 2})
    assert response.status == 200, await response.text()
    assert greeting_on(a) == "hey"
    await eventually(lambda: greeting_on(b) == "hey", "instance B's plugin context shows the new config")
    assert (await (await b.get("/api/v1/good/hello")).json()) == {"message": "hey hey"}
    assert b_plugin.stopped == 1 and b_plugin.started == 2
    # Followed once: later syncs leave both instances alone.
    assert await a.app[HOST].sync() == [] and await b.app[HOST].sync() == []
    assert b_plugin.started == 2


async def test_an_invalid_stored_config_is_a_config_error_everywhere_and_sync_goes_on(aiohttp_client, config):
    a = await instance(aiohttp_client, config)
    b = await instance(aiohttp_client, config)

    await store_directly(a, json.dumps({"repeat": "many"}))
    for client in (a, b):
        record = client.app[HOST].get("good")
        await eventually(lambda record=record: record.status == Status.CONFIG_ERROR, "config_error")
        assert record.message.startswith("plugins.good.repeat:")
        assert (await client.get("/api/v1/good/hello")).status == 404

    record = b.app[HOST].get("good")
    for text, reason in (("[1, 2]", "is not a JSON object"), ("{oops", "is not valid JSON")):
        await a.app[HOST].set_config("good", {"greeting": "fixed"}, actor="test")
        await eventually(lambda: greeting_on(b) == "fixed", "a valid config after an invalid one")
        await store_directly(a, text)
        await eventually(lambda: record.status == Status.CONFIG_ERROR, "config_error")
        assert record.message.startswith("plugins.good: the stored configuration " + reason)
        # Still a config error after a toggle: the unusable section is not forgotten.
        await b.app[HOST].set_enabled("good", False)
        await b.app[HOST].set_enabled("good", True)
        assert record.status == Status.CONFIG_ERROR

    assert not b.app[HOST]._sync_task.done()
    await a.app[HOST].set_config("good", {"greeting": "back"}, actor="test")
    await eventually(lambda: greeting_on(b) == "back", "instance B follows after the errors")


async def test_a_disabled_plugin_keeps_the_new_config_for_its_next_start(aiohttp_client, config):
    a = await instance(aiohttp_client, config)
    b_plugin = samples.Good()
    b = await instance(aiohttp_client, config, b_plugin)
    await a.app[HOST].set_enabled("good", False)
    await eventually(lambda: b.app[HOST].get("good").status == Status.DISABLED, "disabled on B")

    await a.app[HOST].set_config("good", {"greeting": "later"}, actor="test")
    await eventually(lambda: b.app[HOST].get("good").config_revision == 1, "revision seen on B")
    assert b.app[HOST].get("good").status == Status.DISABLED and b_plugin.started == 1

    await a.app[HOST].set_enabled("good", True)
    await eventually(lambda: greeting_on(b) == "later", "enabled on B with the new config")
    assert b_plugin.started == 2


async def test_a_host_without_the_http_server_starts_with_the_stored_config(aiohttp_client, config):
    a = await instance(aiohttp_client, config)
    await store_directly(a, json.dumps({"urls": ["http://127.0.0.1:9/hook"], "timeout": 7}), PLUGIN)
    # What `revenge worker` runs (installed plugins, no HTTP server and none of its start-up code).
    async with running_host(attrs.evolve(config, plugins={})) as (host, _services):
        record = host.get(PLUGIN)
        assert record.status == Status.ENABLED, record.message
        assert (record.config.timeout, record.config_revision) == (7, 1)


async def test_the_stored_revision_is_recorded_with_who_stored_it(aiohttp_client, config):
    a = await instance(aiohttp_client, config)
    host = a.app[HOST]
    await host.set_config("good", {"greeting": "one"}, actor="alice")
    await host.set_config("good", {"greeting": "two"}, actor="bob")
    assert host.get("good").config_revision == 2 and greeting_on(a) == "two"
    assert await host.stored_config("good") == {"greeting": "two"}
    # Stored encrypted, bound to its row.
    assert set(await a.app[IDENTITY].settings.read_raw("plugins.good")) == {SEALED_CONFIG}
    db = a.app[SERVICES].db

    def row() -> tuple[str, int, str]:
        db.bind([PluginConfigRevision])
        stored = PluginConfigRevision.get()
        return stored.name, stored.revision, stored.updated_by

    assert await db.run(row) == ("good", 2, "bob")


# --- real processes ---------------------------------------------------------------------------------


def _request(url: str, method: str = "GET", body: dict | None = None, token: str = "") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _wait_for(check, what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {WITHIN} s")
        time.sleep(0.05)


@pytest.mark.slow
def test_two_serve_processes_follow_a_config_change(tmp_path: Path) -> None:
    env = _env(tmp_path)
    config_path = f"/api/v1/admin/plugins/{PLUGIN}/config"
    with server(env, tmp_path / "a.log") as a, server(env, tmp_path / "b.log") as b:
        admin = {"username": "admin", "email": "admin@example.org", "password": "correct horse battery"}
        assert _request(a + "/api/v1/setup/database", "POST", {})[0] == 200
        assert _request(a + "/api/v1/setup/admin", "POST", admin)[0] == 200
        status, body = _request(a + "/api/v1/auth/login", "POST", {k: admin[k] for k in ("username", "password")})
        assert status == 200, body
        token = body["access_token"]

        def timeout_on(base: str) -> float | None:
            status, body = _request(base + config_path, token=token)
            assert status == 200, body
            return (body["values"] or {}).get("timeout") if body["status"] == "enabled" else None

        assert timeout_on(b) == 10.0
        status, body = _request(a + config_path, "PUT", {"timeout": 7}, token=token)
        assert status == 200 and body["status"] == "enabled", body
        _wait_for(lambda: timeout_on(b) == 7.0, "instance B runs the plugin with the new timeout")

        # An invalid config written straight into the database stops the plugin on both.
        with sqlite3.connect(tmp_path / "data" / "revenge.db") as db:
            db.execute("UPDATE shared_server_settings SET value = ? WHERE key = ?",
                       (json.dumps({"timeout": 0}), f"plugins.{PLUGIN}"))
            db.execute("UPDATE shared_plugin_config_revision SET revision = revision + 1 WHERE name = ?", (PLUGIN,))
        for base in (a, b):
            _wait_for(lambda base=base: _request(base + config_path, token=token)[1]["status"] == "config_error",
                      "config_error")

        status, body = _request(a + config_path, "PUT", {"timeout": 8}, token=token)
        assert status == 200 and body["status"] == "enabled", body
        _wait_for(lambda: timeout_on(b) == 8.0, "instance B recovers with a valid config")
