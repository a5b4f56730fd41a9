"""What enabled plugins have registered, by kind, with the plugin that owns each item."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from revenge_hookspecs.types import REGISTRATION_KINDS, registration_key


class DuplicateRegistration(ValueError):
    def __init__(self, kind: str, key: str, owner: str, newcomer: str):
        super().__init__(f"{kind} {key!r} is registered by both {owner!r} and {newcomer!r}")
        self.kind, self.key, self.owner, self.newcomer = kind, key, owner, newcomer


class Registry:
    """Registrations of enabled plugins. ``version`` changes whenever anything does."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, tuple[str, Any]]] = {kind: {} for kind in REGISTRATION_KINDS}
        self._lock = threading.Lock()
        self.version = 0

    def check(self, plugin: str, kind: str, items: list[Any]) -> None:
        """Raise if ``items`` clash with each other or with another plugin's."""
        seen: set[str] = set()
        table = self._items[kind]
        for item in items:
            key = registration_key(item)
            owner = table.get(key, (None,))[0]
            if key in seen or (owner is not None and owner != plugin):
                raise DuplicateRegistration(kind, key, owner or plugin, plugin)
            seen.add(key)

    def replace(self, plugin: str, registrations: dict[str, list[Any]]) -> None:
        """Swap in one plugin's registrations atomically (after :meth:`check`)."""
        with self._lock:
            for kind, items in registrations.items():
                self.check(plugin, kind, items)
            self._drop(plugin)
            for kind, items in registrations.items():
                for item in items:
                    self._items[kind][registration_key(item)] = (plugin, item)
            self.version += 1

    def remove(self, plugin: str) -> None:
        with self._lock:
            self._drop(plugin)
            self.version += 1

    def _drop(self, plugin: str) -> None:
        for table in self._items.values():
            for key in [k for k, (owner, _) in table.items() if owner == plugin]:
                del table[key]

    def get(self, kind: str, key: str) -> tuple[str, Any] | None:
        return self._items[kind].get(key)

    def items(self, kind: str) -> list[tuple[str, Any]]:
        """(plugin, registration) pairs of one kind."""
        return list(self._items[kind].values())

    def of(self, kind: str) -> Iterator[Any]:
        return (item for _, item in self.items(kind))

    def owned_by(self, plugin: str) -> dict[str, list[Any]]:
        return {
            kind: [item for owner, item in table.values() if owner == plugin]
            for kind, table in self._items.items()
            if any(owner == plugin for owner, _ in table.values())
        }
