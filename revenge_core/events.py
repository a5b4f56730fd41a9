"""The event bus: deliver events to every enabled plugin's handlers, each isolated."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from revenge_hookspecs.types import Event, EventHandler

from .plugins.registry import Registry

HANDLER_TIMEOUT = 30.0


class EventBus:
    """Events go to handlers registered through ``revenge_event_handlers``.

    A handler that raises or times out is logged against its plugin; the others still run.
    """

    def __init__(self, registry: Registry, *, timeout: float = HANDLER_TIMEOUT,
                 on_handler_error: Callable[[str, BaseException], None] | None = None):
        self.registry = registry
        self.timeout = timeout
        self.on_handler_error = on_handler_error
        self.delivered = 0
        self.failed = 0

    def handlers_for(self, name: str) -> list[tuple[str, EventHandler]]:
        return [(plugin, h) for plugin, h in self.registry.items("event_handlers") if h.event in (name, "*")]

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None, *, source: str = "core") -> Event:
        event = Event(name=name, payload=dict(payload or {}), source=source)
        handlers = self.handlers_for(name)
        if handlers:
            await asyncio.gather(*(self._deliver(plugin, handler, event) for plugin, handler in handlers))
        return event

    async def _deliver(self, plugin: str, handler: EventHandler, event: Event) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                result = handler.handler(event)
                if inspect.isawaitable(result):
                    await result
            self.delivered += 1
        except Exception as exc:  # one handler must never break the others
            self.failed += 1
            logger.opt(exception=exc).error(
                "event handler {} of plugin {} failed on {}", handler.name, plugin, event.name
            )
            if self.on_handler_error is not None:
                self.on_handler_error(plugin, exc)

    def for_plugin(self, plugin: str) -> PluginEventEmitter:
        return PluginEventEmitter(self, plugin)


class PluginEventEmitter:
    """What ``context.events`` is: emits events with the plugin as their source."""

    def __init__(self, bus: EventBus, plugin: str):
        self._bus = bus
        self._plugin = plugin

    async def emit(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        await self._bus.emit(name, payload, source=self._plugin)
