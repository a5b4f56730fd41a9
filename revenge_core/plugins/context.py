"""The host's implementation of ``PluginContext``."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from ..httpclient import client_session

if TYPE_CHECKING:
    from ..services import Services


class HostPluginContext:
    """What one plugin sees of the server: its config, its folder, and the shared services."""

    def __init__(self, name: str, config: Any, services: Services):
        self.name = name
        self.config = config
        self._services = services
        self._data_dir = services.config.data_dir / "plugins" / name
        self.logger = logger.bind(plugin=name)
        self.db = services.db
        self.cache = services.cache.namespaced(f"plugin:{name}")
        self.jobs = services.jobs.for_plugin(name)
        self.events = services.events.for_plugin(name)
        self.search = services.search

    @property
    def data_dir(self) -> Path:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return self._data_dir

    def http_client(self, **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        return client_session(**kwargs)

    def __repr__(self) -> str:
        return f"<PluginContext {self.name}>"
