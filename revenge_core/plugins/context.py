"""The host's implementation of ``PluginContext``."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.types import Caller

from ..httpclient import client_session

if TYPE_CHECKING:
    from ..services import Services


class HostAccess:
    """``context.access``: the caller of a request and the library grants, for plugins."""

    def __init__(self, services: Services):
        self._services = services

    def caller(self, request: Any) -> Caller | None:
        from ..identity.principal import PRINCIPAL

        principal = request.get(PRINCIPAL)
        if principal is None:
            return None
        return Caller(user_id=principal.user_id, username=principal.username, roles=principal.roles,
                      scopes=principal.scopes)

    async def can(self, request: Any, permission: str, resource_type: str, resource_id: str, *,
                  library_id: str | None = None) -> bool:
        from ..identity.principal import PRINCIPAL

        return await self._services.identity.grants.can(request.get(PRINCIPAL), permission, resource_type,
                                                        str(resource_id), library_id=library_id)

    async def visible_library_ids(self, request: Any, permission: str = "view") -> frozenset[str] | None:
        from ..identity.grants import ALL
        from ..identity.principal import PRINCIPAL

        visible = await self._services.identity.grants.visible_library_ids(request.get(PRINCIPAL), permission)
        return None if visible is ALL else frozenset(visible)

    async def require(self, request: Any, permission: str, resource_type: str, resource_id: str, *,
                      library_id: str | None = None) -> None:
        if not await self.can(request, permission, resource_type, resource_id, library_id=library_id):
            raise NotFound()


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
        self.access = HostAccess(services)
        self.library = services.library.for_plugin(name) if services.library is not None else None
        self.metadata = services.metadata
        self.artwork = services.artwork

    @property
    def data_dir(self) -> Path:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return self._data_dir

    def http_client(self, **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        return client_session(**kwargs)

    def __repr__(self) -> str:
        return f"<PluginContext {self.name}>"
