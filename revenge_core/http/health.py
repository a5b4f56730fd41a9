"""Health probes: live (the process answers), startup (boot finished), ready (dependencies)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .keys import METRICS, SERVICES, STATE

CHECK_TIMEOUT = 5.0


async def _timed(name: str, check: Callable[[], Awaitable[Any]], metrics: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            detail = await check()
        ok = True
        error = None
    except Exception as exc:
        ok, detail, error = False, None, (str(exc) or type(exc).__name__)
    duration = time.perf_counter() - started
    metrics.health_status.labels(name).set(1 if ok else 0)
    metrics.health_duration.labels(name).observe(duration)
    result: dict[str, Any] = {"status": "ok" if ok else "failed", "duration_ms": round(duration * 1000, 2)}
    if isinstance(detail, dict):
        result.update(detail)
    if error:
        result["error"] = error
    return result


async def readiness(app: web.Application) -> tuple[bool, dict[str, Any]]:
    """Run every dependency check at once."""
    services = app.get(SERVICES)
    if services is None or not app[STATE].get("started"):
        return False, {}

    async def database() -> dict[str, Any]:
        await services.db.aping()
        return {"driver": services.db.driver}

    async def cache() -> dict[str, Any]:
        await services.cache.ping()
        return {"backend": services.cache.backend}

    async def search() -> dict[str, Any]:
        detail = await services.search.ping()
        if not detail.get("ok", False) and not detail.get("fallback"):
            raise RuntimeError(detail.get("error") or "search backend unavailable")
        return detail

    async def jobs() -> dict[str, Any]:
        detail = await asyncio.to_thread(services.jobs.health)
        if services.config.jobs.embedded_consumer and not detail.get("consumer_alive", False):
            raise RuntimeError("the embedded job consumer is not running")
        return detail

    checks = {"database": database, "cache": cache, "search": search, "jobs": jobs}
    metrics = app[METRICS]
    results = await asyncio.gather(*(_timed(name, fn, metrics) for name, fn in checks.items()))
    report = dict(zip(checks, results, strict=True))
    return all(r["status"] == "ok" for r in report.values()), report


async def live(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def startup(request: web.Request) -> web.Response:
    """Boot has finished: migrations applied, plugins activated."""
    state = request.app[STATE]
    if state.get("started"):
        return web.json_response({"status": "ok", "started_at": state.get("started_at")})
    return web.json_response({"status": "starting"}, status=503)


async def ready(request: web.Request) -> web.Response:
    """Database, cache, search and job queue all answer."""
    ok, report = await readiness(request.app)
    body = {"status": "ok" if ok else "unavailable", "checks": report}
    return web.json_response(body, status=200 if ok else 503)
