"""The HTTP application: error bodies, request ids, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio

import pytest

from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST
from tests import plugin_samples as samples


@pytest.fixture
async def client(aiohttp_client, config):
    return await aiohttp_client(create_app(config, plugins={"good": samples.Good()}))


async def test_errors_are_json_with_code_message_details_and_request_id(client) -> None:
    response = await client.get("/api/v1/nothing/here")
    assert response.status == 404
    body = await response.json()
    assert body["code"] == "not_found"
    assert body["message"]
    assert body["details"] == {}
    assert body["request_id"] == response.headers["X-Request-ID"]

    response = await client.delete("/api/v1/good/hello")
    assert response.status == 405
    assert (await response.json())["code"] == "method_not_allowed"


async def test_request_id_is_kept_when_well_formed_and_replaced_otherwise(client) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await client.get("/health/live", headers={"X-Request-ID": "bad id\u00e9" * 20})
    assert response.headers["X-Request-ID"] != "bad id"
    assert len(response.headers["X-Request-ID"]) == 32


async def test_health_probes_on_the_embedded_and_the_postgres_database(client, db_driver) -> None:
    assert (await client.get("/health/live")).status == 200
    response = await client.get("/health/startup")
    assert response.status == 200 and (await response.json())["status"] == "ok"
    response = await client.get("/health/ready")
    body = await response.json()
    assert response.status == 200, body
    assert set(body["checks"]) == {"database", "cache", "search", "jobs"}
    assert body["checks"]["database"]["driver"] == db_driver
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.mark.parametrize("db_driver", ["postgres"], indirect=True)
async def test_ready_turns_503_while_postgres_is_down_and_recovers(client, postgres_server) -> None:
    assert (await client.get("/health/ready")).status == 200
    await asyncio.to_thread(postgres_server.stop, "immediate")
    try:
        response = await client.get("/health/ready")
        body = await response.json()
        assert response.status == 503
        assert body["checks"]["database"]["status"] == "failed"
        # The rest of the server still answers.
        assert (await client.get("/health/live")).status == 200
    finally:
        await asyncio.to_thread(postgres_server.start)
    for _ in range(20):
        if (await client.get("/health/ready")).status == 200:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("readiness did not recover after PostgreSQL came back")


async def test_metrics_expose_the_required_series(client) -> None:
    await client.get("/health/ready")
    await client.get("/api/v1/good/hello")
    text = await (await client.get("/metrics")).text()
    for series in ("health_check_status{check=\"database\"} 1.0", "health_check_duration_seconds_bucket",
                   "db_pool_connections", "cache_hit_ratio", "http_requests_total",
                   "http_request_duration_seconds_bucket", 'plugins{status="enabled"} 1.0'):
        assert series in text, series
    assert 'http_requests_total{method="GET",route="/api/v1/good/hello",status="200"} 1.0' in text


async def test_openapi_lists_core_and_plugin_routes_and_follows_toggles(client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    assert "/health/ready" in doc["paths"]
    hello = doc["paths"]["/api/v1/good/hello"]["get"]
    assert hello["summary"] == "Say hello"
    assert hello["x-revenge-permission"] == "public" and hello["security"] == []
    item = doc["paths"]["/api/v1/good/items/{item_id}"]["get"]
    assert item["parameters"][0]["name"] == "item_id"
    private = doc["paths"]["/api/v1/good/private"]["get"]
    assert private["x-revenge-permission"] == "good:read"
    assert "good" in private["tags"]

    await client.app[HOST].set_enabled("good", False)
    doc = await (await client.get("/api/openapi.json")).json()
    assert not any(path.startswith("/api/v1/good") for path in doc["paths"])


async def test_docs_page_renders_the_openapi_document(client) -> None:
    response = await client.get("/api/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "/api/openapi.json" in await response.text()


async def test_system_info_is_public(client) -> None:
    body = await (await client.get("/api/v1/system/info")).json()
    assert body["name"] == "Revenge" and body["api"] == "/api/v1"


@pytest.mark.parametrize("db_driver", ["postgres"], indirect=True)
async def test_postgres_pool_warms_prunes_idle_and_drops_dead_connections(config, postgres_server) -> None:
    from revenge_core.db.database import Database

    config.database.pool.min_conns = 2
    config.database.pool.max_conn_idle_time = 0.2
    db = Database(config)
    try:
        pool = db.database
        assert pool.warm() == 2
        assert db.pool_stats()["idle"] == 2
        # Extra connections beyond the minimum go once they idle too long.
        await asyncio.gather(*(db.run(lambda: db.database.execute_sql("SELECT pg_sleep(0.05)")) for _ in range(4)))
        assert db.pool_stats()["idle"] >= 3
        await asyncio.sleep(0.3)
        report = db.maintain()
        assert report["closed_idle"] >= 1
        assert db.pool_stats()["idle"] == 2
        # After a server restart every pooled connection is dead; upkeep replaces them.
        await asyncio.to_thread(postgres_server.restart)
        config.database.pool.max_conn_idle_time = 3600
        pool.max_idle = 3600
        report = db.maintain()
        assert report["closed_dead"] == 2 and report["opened"] == 2
        assert await db.run(lambda: db.database.execute_sql("SELECT 1").fetchone()) == (1,)
    finally:
        db.close()


async def test_a_route_without_a_declared_permission_stops_startup(aiohttp_client, sqlite_config) -> None:
    app = create_app(sqlite_config, plugins={})

    async def sneaky(request):
        return None

    app.router.add_get("/api/v2/sneaky", sneaky)
    with pytest.raises(RuntimeError, match=r"routes without a declared permission .*GET /api/v2/sneaky"):
        await aiohttp_client(app)
