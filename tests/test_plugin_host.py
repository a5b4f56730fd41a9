"""The plugin host: isolation of broken plugins, config, registrations, runtime toggles."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST, SERVICES
from revenge_core.plugins.host import Status
from revenge_hookspecs import PUBLIC, Job, Route, hookimpl
from tests import plugin_samples as samples

pytestmark = pytest.mark.usefixtures("db_driver")


async def start(aiohttp_client, config, plugins, **kwargs):
    app = create_app(config, plugins=plugins, **kwargs)
    client = await aiohttp_client(app)
    return app, client


async def test_broken_plugins_are_marked_and_the_server_keeps_serving(aiohttp_client, config):
    good = samples.Good()
    plugins = {
        "good": good,
        "routes-raise": samples.RaisesInRoutes(),
        "misspelled": samples.Misspelled(),
        "bad-signature": samples.BadSignature(),
        "bad-config": samples.BadConfig(),
        "self-check": samples.FailsSelfCheck(),
        "configure-raises": samples.RaisesInConfigure(),
        "startup-raises": samples.RaisesInStartup(),
        "wrong-type": samples.ReturnsWrongType(),
    }
    config.plugins["bad-config"] = {"count": "many"}
    app, client = await start(aiohttp_client, config, plugins)
    host = app[HOST]
    status = {name: (r.status, r.message) for name, r in host.records.items()}

    assert status["good"][0] == Status.ENABLED
    assert status["routes-raise"] == (Status.FAILED, "revenge_routes raised RuntimeError: cannot build routes")
    assert status["misspelled"][0] == Status.LOAD_ERROR
    assert "'revenge_roues'" in status["misspelled"][1] and "did you mean 'revenge_routes'" in status["misspelled"][1]
    assert status["bad-signature"][0] == Status.LOAD_ERROR
    assert status["bad-config"][0] == Status.CONFIG_ERROR
    assert status["bad-config"][1].startswith("plugins.bad-config.count:")
    assert status["self-check"] == (Status.FAILED_SELF_CHECK, "the API key was rejected")
    assert status["configure-raises"] == (Status.FAILED, "revenge_configure raised ValueError: no thanks")
    assert status["startup-raises"] == (Status.FAILED, "revenge_startup raised OSError: port in use")
    assert status["wrong-type"] == (Status.FAILED, "revenge_routes returned str, expected Route")

    # Nothing of a failed plugin stays registered, and the good one works.
    registry = app[SERVICES].registry
    assert registry.get("routes", "GET /startup-fails") is None
    assert (await client.get("/api/v1/startup-fails")).status == 404
    response = await client.get("/api/v1/good/hello")
    assert response.status == 200
    assert await response.json() == {"message": "hello"}
    assert (await client.get("/health/live")).status == 200


async def test_plugin_config_comes_from_file_section_and_environment(aiohttp_client, config):
    config.plugins["good"] = {"greeting": "ahoy", "repeat": 2}
    environ = {"REVENGE_PLUGINS_GOOD_LOUD": "true", "REVENGE_PLUGINS_GOOD_REPEAT": "3"}
    _app, client = await start(aiohttp_client, config, {"good": samples.Good()}, environ=environ)
    response = await client.get("/api/v1/good/hello")
    assert await response.json() == {"message": "AHOY AHOY AHOY"}


async def test_unknown_plugin_config_key_is_a_config_error(aiohttp_client, config):
    config.plugins["good"] = {"greting": "typo"}
    app, _ = await start(aiohttp_client, config, {"good": samples.Good()})
    record = app[HOST].records["good"]
    assert record.status == Status.CONFIG_ERROR
    assert record.message == "plugins.good.greting: unknown key"


async def test_every_registration_kind_is_collected_and_taken_back(aiohttp_client, config):
    good = samples.Good()
    app, _ = await start(aiohttp_client, config, {"good": good})
    registry = app[SERVICES].registry
    kinds = registry.owned_by("good")
    assert set(kinds) == {
        "content_types", "metadata_providers", "arr_connectors", "scrobblers", "storage_backends",
        "routes", "jobs", "schedules", "event_handlers", "auth_providers", "notification_channels",
        "search_documents",
    }
    assert len(kinds["routes"]) == 4
    await app[HOST].set_enabled("good", False)
    assert registry.owned_by("good") == {}
    assert good.stopped == 1


async def test_duplicate_registrations_fail_the_newcomer_and_name_both(aiohttp_client, config):
    plugins = {"first": samples.Good("first", "/same"), "second": samples.Good("second", "/same")}
    app, client = await start(aiohttp_client, config, plugins)
    host = app[HOST]
    assert host.records["first"].status == Status.ENABLED
    assert host.records["second"].status == Status.FAILED
    assert "registered by both 'first' and 'second'" in host.records["second"].message
    assert (await client.get("/api/v1/same/hello")).status == 200


async def test_runtime_toggle_removes_routes_jobs_schedules_and_restores_them(aiohttp_client, config):
    good = samples.Good()
    app, client = await start(aiohttp_client, config, {"good": good})
    host, services = app[HOST], app[SERVICES]
    assert (await client.get("/api/v1/good/items/42")).status == 200

    await host.set_enabled("good", False)
    assert host.records["good"].status == Status.DISABLED
    response = await client.get("/api/v1/good/items/42")
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"
    assert services.registry.get("jobs", "good.work") is None
    assert services.registry.get("schedules", "good.hourly") is None
    with pytest.raises(ValueError):
        services.jobs.enqueue("good.work", {"value": 1})

    await host.set_enabled("good", True)
    response = await client.get("/api/v1/good/items/42")
    assert response.status == 200
    assert await response.json() == {"id": "42"}
    assert services.registry.get("jobs", "good.work") is not None
    # Historic configure reaches a plugin registered again at runtime.
    assert len(good.configured) == 2
    assert good.started == 2


async def test_routes_need_their_permission_and_plugin_errors_stay_inside(aiohttp_client, config):
    app, client = await start(aiohttp_client, config, {"good": samples.Good()})
    response = await client.get("/api/v1/good/private")
    assert response.status == 401
    body = await response.json()
    assert body["code"] == "unauthorized" and body["details"] == {"permission": "good:read"}

    response = await client.get("/api/v1/good/boom")
    assert response.status == 500
    body = await response.json()
    assert body["code"] == "internal_error" and "the plugin broke" not in body["message"]
    assert app[HOST].records["good"].runtime_errors == 1
    assert app[HOST].records["good"].status == Status.ENABLED


async def test_a_failing_event_handler_does_not_stop_the_others(aiohttp_client, config):
    good = samples.Good()
    app, _ = await start(aiohttp_client, config, {"broken": samples.BrokenEventHandler(), "good": good})
    await app[SERVICES].events.emit("item.added", {"id": 1})
    assert [e.payload for e in good.events if getattr(e, "name", None) == "item.added"] == [{"id": 1}]
    assert app[HOST].records["broken"].runtime_errors == 1


async def test_disabled_state_reaches_another_instance(aiohttp_client, config):
    """Two instances on one database: a toggle on one is followed by the other."""
    app_a, _client_a = await start(aiohttp_client, config, {"good": samples.Good()}, sync_interval=0.2)
    _app_b, client_b = await start(aiohttp_client, config, {"good": samples.Good()}, sync_interval=0.2)
    assert (await client_b.get("/api/v1/good/hello")).status == 200

    await app_a[HOST].set_enabled("good", False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while (await client_b.get("/api/v1/good/hello")).status != 404:
        assert loop.time() < deadline, "instance B still serves the disabled plugin after 2 s"
        await asyncio.sleep(0.05)

    await app_a[HOST].set_enabled("good", True)
    deadline = loop.time() + 2.0
    while (await client_b.get("/api/v1/good/hello")).status != 200:
        assert loop.time() < deadline, "instance B did not re-enable the plugin within 2 s"
        await asyncio.sleep(0.05)


async def test_state_survives_a_restart(aiohttp_client, config):
    app, _ = await start(aiohttp_client, config, {"good": samples.Good()})
    await app[HOST].set_enabled("good", False)
    app2, client2 = await start(aiohttp_client, config, {"good": samples.Good()})
    assert app2[HOST].records["good"].status == Status.DISABLED
    assert app2[HOST].records["good"].message == "disabled by an admin"
    assert (await client2.get("/api/v1/good/hello")).status == 404


async def test_load_and_disable_lists(aiohttp_client, config):
    config.disabled_plugins = ["second"]
    plugins = {"first": samples.Good("first", "/one"), "second": samples.Good("second", "/two")}
    app, client = await start(aiohttp_client, config, plugins)
    assert app[HOST].records["second"].status == Status.EXCLUDED
    assert "disabled_plugins" in app[HOST].records["second"].message
    assert (await client.get("/api/v1/two/hello")).status == 404

    config.disabled_plugins = []
    config.load_plugins = ["second"]
    app, client = await start(aiohttp_client, config, plugins)
    assert app[HOST].records["first"].status == Status.EXCLUDED
    assert app[HOST].records["second"].status == Status.ENABLED


class EnqueuesAtStartup:
    """Queues its own job from revenge_startup and answers HEAD and OPTIONS."""

    @hookimpl
    def revenge_jobs(self, context):
        return Job("early.job", lambda ctx: None, retries=0)

    @hookimpl
    def revenge_routes(self, context):
        async def head(request):
            return web.Response(headers={"X-Probe": "yes"})

        async def options(request):
            return web.Response(headers={"Allow": "GET, HEAD, OPTIONS"})

        return [Route("HEAD", "/early/probe", head, permission=PUBLIC),
                Route("OPTIONS", "/early/probe", options, permission=PUBLIC)]

    @hookimpl
    def revenge_startup(self, context):
        self.job_id = context.jobs.enqueue("early.job")


async def test_a_plugin_may_enqueue_its_jobs_at_startup_and_serve_head_and_options(aiohttp_client, config):
    plugin = EnqueuesAtStartup()
    app, client = await start(aiohttp_client, config, {"early": plugin})
    assert app[HOST].records["early"].status == Status.ENABLED
    assert plugin.job_id
    response = await client.head("/api/v1/early/probe")
    assert response.status == 200 and response.headers["X-Probe"] == "yes"
    response = await client.options("/api/v1/early/probe")
    assert response.status == 200 and response.headers["Allow"] == "GET, HEAD, OPTIONS"


class TakesACoreRoute:
    @hookimpl
    def revenge_routes(self, context):
        async def handler(request):
            return web.json_response({"name": "impostor"})

        return Route("GET", "/system/info", handler, permission=PUBLIC)


async def test_a_plugin_cannot_take_over_a_core_route(aiohttp_client, config):
    app, client = await start(aiohttp_client, config, {"impostor": TakesACoreRoute()})
    record = app[HOST].records["impostor"]
    assert (record.status, record.message) == (Status.FAILED, "route GET /api/v1/system/info belongs to the core")
    assert (await (await client.get("/api/v1/system/info")).json())["name"] == "Revenge"
