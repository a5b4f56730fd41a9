"""The cost of calling into plugins.

Measures, per call:
- a plain Python function call (the floor);
- pluggy's own `pm.hook.<name>()` across N plugins;
- the host's isolated per-plugin call (`PluginHost.call`), which the host uses for
  registration and lifecycle hooks;
- delivering one event through the event bus to N handlers;
- a plugin route through the dynamic plugin router versus a core route (in-process client).

    .venv/bin/python bench/hook_overhead.py [--plugins 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer

from revenge_core.config import load_config
from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST, SERVICES
from revenge_hookspecs import PUBLIC, EventHandler, Route, hookimpl


class Plugin:
    def __init__(self, index: int):
        self.index = index

    @hookimpl
    def revenge_self_check(self, context):
        return True

    @hookimpl
    def revenge_routes(self, context):
        async def handler(request):
            from aiohttp import web

            return web.json_response({"i": self.index})

        return Route("GET", f"/bench{self.index}/ping", handler, permission=PUBLIC)

    @hookimpl
    def revenge_event_handlers(self, context):
        async def on_event(event):
            return None

        return EventHandler("bench.event", on_event, name=f"bench{self.index}.handler")


def per_call(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


async def measure(count: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        config = load_config(environ={"REVENGE_DATA_DIR": data, "REVENGE_LOGGING_ACCESS_LOG": "false"})
        config.logging.access_log = False
        app = create_app(config, plugins={f"bench{i}": Plugin(i) for i in range(count)})
        async with TestClient(TestServer(app)) as client:
            host = app[HOST]
            context = host.context_for("bench0")

            def plain():
                return True

            floor = per_call(plain, 200_000)
            pluggy_call = per_call(lambda: host.pm.hook.revenge_self_check(context=context), 50_000)
            host_call = per_call(lambda: host.call("bench0", "revenge_self_check", context=context), 50_000)
            events = app[SERVICES].events
            rounds = 2000
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(rounds):
                await events.emit("bench.event", {"n": 1})
            emit = (loop.time() - started) / rounds

            async def timed(path: str, n: int = 1000) -> float:
                for _ in range(50):
                    await (await client.get(path)).read()
                started = loop.time()
                for _ in range(n):
                    await (await client.get(path)).read()
                return (loop.time() - started) / n

            core_route = await timed("/health/live")
            plugin_route = await timed("/api/v1/bench0/ping")

    us = 1e6
    print(f"plugins registered:                        {count}")
    print(f"plain function call:                       {floor * us:8.3f} us")
    print(f"pluggy pm.hook call ({count} impls):           {pluggy_call * us:8.3f} us")
    print(f"host isolated call (one plugin):           {host_call * us:8.3f} us")
    print(f"event emit to {count} async handlers:          {emit * us:8.1f} us")
    print(f"HTTP core route round trip:                {core_route * us:8.1f} us")
    print(f"HTTP plugin route round trip:              {plugin_route * us:8.1f} us "
          f"(router overhead {(plugin_route - core_route) * us:+.1f} us)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(measure(args.plugins))


if __name__ == "__main__":
    main()
