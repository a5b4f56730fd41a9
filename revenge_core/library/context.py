"""``context.library``: libraries, files and the item registry as one plugin sees them.

Any plugin may read libraries, files and items. Writing to the registry is kept to the
owner: a plugin registers or removes items only in libraries of a content type it
registered, and only of the item types that content type declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from loguru import logger

from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.media import ItemRef, Library, MediaFile, item_ownership_problem, parse_item_key

if TYPE_CHECKING:
    from .service import LibraryService


class HostLibrary:
    """The host's ``PluginLibrary`` for plugin ``plugin``."""

    def __init__(self, service: LibraryService, plugin: str):
        self._service = service
        self.plugin = plugin

    async def get(self, library_id: str) -> Library:
        return await self._service.get(library_id)

    async def libraries(self, content_type: str | None = None) -> list[Library]:
        return await self._service.list(content_type)

    async def files(self, *, library_id: str | None = None, item_key: str | None = None,
                    file_ids: Iterable[str] | None = None, include_missing: bool = False) -> list[MediaFile]:
        return await self._service.files(library_id=library_id, item_key=item_key, file_ids=file_ids,
                                         include_missing=include_missing)

    async def upsert_items(self, items: Iterable[ItemRef]) -> None:
        refs = list(items)
        for ref in refs:
            if not isinstance(ref, ItemRef):
                raise TypeError(f"upsert_items takes ItemRef, not {type(ref).__name__}")
        libraries: dict[str, set[str]] = {}
        for ref in refs:
            libraries.setdefault(ref.library_id, set()).add(ref.item_type)
        for library_id, item_types in libraries.items():
            await self._check_owner(library_id, item_types, "register")
        await self._service.items.upsert(refs)

    async def remove_items(self, keys: Iterable[str]) -> None:
        wanted = list(keys)
        for key in wanted:
            parse_item_key(key)
        libraries: dict[str, set[str]] = {}
        for key, library_id in (await self._service.items.library_of(wanted)).items():
            libraries.setdefault(library_id, set()).add(parse_item_key(key)[0])
        for library_id, item_types in libraries.items():
            await self._check_owner(library_id, item_types, "remove")
        await self._service.items.remove(wanted)

    async def item(self, key: str) -> ItemRef | None:
        return await self._service.items.get(key)

    def storage(self, library: Library) -> Any:
        return self._service.storage_for(library)

    async def _check_owner(self, library_id: str, item_types: set[str], verb: str) -> None:
        try:
            library = await self._service.get(library_id)
        except NotFound:
            raise NotFound(f"no library {library_id!r}") from None
        found = self._service.content_type(library.content_type)
        owner, content_type = found if found is not None else (None, None)
        problem = item_ownership_problem(self.plugin, verb, library, item_types, content_type, owner)
        if problem is not None:
            logger.bind(plugin=self.plugin).warning("refused: {}", problem)
            raise ValueError(problem)

    def __repr__(self) -> str:
        return f"<HostLibrary {self.plugin}>"
