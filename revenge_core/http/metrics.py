"""Prometheus metrics, one registry per application (tests build many apps in one process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .keys import METRICS, ROUTE_LABEL, SERVICES

if TYPE_CHECKING:
    from ..services import Services


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter("http_requests_total", "HTTP requests answered.",
                                     ["method", "route", "status"], registry=r)
        self.http_latency = Histogram("http_request_duration_seconds", "Time to answer HTTP requests.",
                                      ["method", "route"], registry=r)
        self.health_status = Gauge("health_check_status", "1 when the check passed, 0 when it failed.",
                                   ["check"], registry=r)
        self.health_duration = Histogram("health_check_duration_seconds", "Time taken by a health check.",
                                         ["check"], registry=r,
                                         buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5))
        self.db_pool = Gauge("db_pool_connections", "Database connections by state.", ["state"], registry=r)
        self.cache_hit_ratio = Gauge("cache_hit_ratio", "Share of cache lookups answered, by layer.",
                                     ["layer"], registry=r)
        self.plugins = Gauge("plugins", "Plugins by status.", ["status"], registry=r)
        self.jobs = Gauge("jobs", "Job queue figures.", ["state"], registry=r)
        self.metadata_requests = Counter("metadata_provider_requests_total", "Calls to metadata providers.",
                                         ["provider"], registry=r)
        self.metadata_failures = Counter("metadata_provider_failures_total",
                                         "Metadata provider calls that failed or timed out.", ["provider"], registry=r)

    def refresh(self, services: Services | None, plugin_statuses: list[str]) -> None:
        """Read the gauges that are cheaper to sample at scrape time than to keep current."""
        if services is not None:
            for state, value in services.db.pool_stats().items():
                self.db_pool.labels(state).set(value)
            stats = services.cache.stats()
            self.cache_hit_ratio.labels("l1").set(stats.get("l1_hit_ratio", 0.0))
            self.cache_hit_ratio.labels("l2").set(stats.get("l2_hit_ratio", 0.0))
            self.cache_hit_ratio.labels("all").set(stats.get("hit_ratio", 0.0))
        counts: dict[str, int] = {}
        for status in plugin_statuses:
            counts[status] = counts.get(status, 0) + 1
        for status in ("enabled", "disabled", "excluded", "load_error", "config_error", "failed",
                       "failed_self_check"):
            self.plugins.labels(status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


@web.middleware
async def metrics_middleware(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics: Metrics = request.app[METRICS]
        # Label by route template, never by raw path, to keep label cardinality bounded.
        route = request.get(ROUTE_LABEL) or "unmatched"
        metrics.http_requests.labels(request.method, route, str(status)).inc()
        metrics.http_latency.labels(request.method, route).observe(time.perf_counter() - started)


async def metrics_handler(request: web.Request) -> web.Response:
    """Prometheus exposition of this instance's metrics."""
    from .keys import HOST

    metrics = request.app[METRICS]
    services = request.app.get(SERVICES)
    host = request.app[HOST]
    metrics.refresh(services, [str(r.status) for r in host.records.values()])
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
