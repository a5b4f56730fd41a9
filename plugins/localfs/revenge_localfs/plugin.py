"""The ``localfs`` plugin: serve media from local folders, and nothing outside them.

Configuration (``plugins.localfs``)::

    plugins:
      localfs:
        roots: [/srv/media/movies, /srv/media/tv]
        follow_symlinks: true
"""

from __future__ import annotations

import asyncio
import os

import attrs

from revenge_hookspecs import StorageBackend, hookimpl

from .storage import LocalStorage, check_roots

NAME = "localfs"


@attrs.define
class LocalFSConfig:
    """``plugins.localfs``.

    :param roots: absolute folders the server may read media from; nothing else is served.
    :param follow_symlinks: follow symlinks whose target stays inside a root.
    """

    roots: list[str] = attrs.Factory(list)
    follow_symlinks: bool = True

    def validate(self) -> None:
        """Reject roots the storage could not confine paths to."""
        for root in self.roots:
            if "\x00" in root or not os.path.isabs(root):
                raise ValueError(f"roots: {root!r} is not an absolute path; give the full path, e.g. /srv/media")


def storage_for(config: LocalFSConfig) -> LocalStorage:
    return LocalStorage(config.roots, follow_symlinks=config.follow_symlinks)


@hookimpl
def revenge_config_schema() -> type:
    return LocalFSConfig


@hookimpl
def revenge_storage_backends(context) -> StorageBackend:
    return StorageBackend(name=NAME, storage=storage_for(context.config))


@hookimpl
async def revenge_self_check(context) -> str | None:
    """Every root must exist and be readable; no roots at all is allowed but logged."""
    roots = context.config.roots
    if not roots:
        context.logger.warning("no roots configured: set plugins.localfs.roots to serve media")
        return None
    problems = await asyncio.to_thread(check_roots, roots)
    return "; ".join(problems) or None
