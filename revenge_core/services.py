"""The shared services of one server instance, built from its configuration.

The embedded mode (SQLite, in-process cache, SQLite job queue, SQLite FTS5 search) needs
nothing but ``pip install``; setting ``database.driver=postgres``, ``cache.url`` and
``search.url`` moves each service onto PostgreSQL, Redis and Typesense. The code path is
the same; only the engines differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from .config import Config
from .db.database import Database
from .events import EventBus
from .plugins.registry import Registry

if TYPE_CHECKING:
    from .cache import Cache
    from .jobs import JobQueue
    from .search import SearchService


@attrs.define
class Services:
    config: Config
    db: Database
    registry: Registry
    events: EventBus
    cache: Cache
    jobs: JobQueue
    search: SearchService
    identity: Any = None
    library: Any = None
    metadata: Any = None
    artwork: Any = None
    playback: Any = None

    @classmethod
    def build(cls, config: Config, *, context_for: Callable[[str], Any],
              is_enabled: Callable[[str], bool],
              on_plugin_error: Callable[[str, BaseException], None] | None = None) -> Services:
        """Open every service. ``context_for(plugin)`` gives jobs their plugin context."""
        from .cache import Cache
        from .jobs import JobQueue
        from .search import SearchService

        db = Database(config)
        registry = Registry()
        events = EventBus(registry, on_handler_error=on_plugin_error)
        cache = Cache.from_config(config)
        jobs = JobQueue(config, registry, context_for=context_for, is_enabled=is_enabled)
        search = SearchService(config, db, registry)
        services = cls(config=config, db=db, registry=registry, events=events, cache=cache, jobs=jobs,
                       search=search)
        from .identity.service import Identity

        services.identity = Identity(services)
        from .library import LibraryService

        services.library = LibraryService(services, on_plugin_error=on_plugin_error)
        from .artwork import ArtworkService
        from .metadata import MetadataService

        services.metadata = MetadataService(registry, timeout=config.metadata.provider_timeout, is_enabled=is_enabled,
                                            on_plugin_error=on_plugin_error)
        services.artwork = ArtworkService(services)
        from .playback import PlaybackService

        services.playback = PlaybackService(services)
        return services

    async def start(self) -> None:
        await self.cache.start()
        await self.search.start()

    async def close(self) -> None:
        if self.playback is not None:
            await self.playback.stop()
        if self.library is not None:
            await self.library.stop()
        await self.search.close()
        await self.cache.close()
        if self.artwork is not None:
            self.artwork.close()
        self.jobs.close()
        self.db.close()
