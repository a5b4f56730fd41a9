"""Libraries: folders of media on a storage backend, owned by a content type.

``services.library`` (:class:`~.service.LibraryService`) holds them, their files, the item
registry and users' state per item; :mod:`.scanner` keeps files and items in step with the
folders, :mod:`.watcher` does it in real time, and :mod:`.context` is ``context.library``.
"""

from .service import LibraryService

__all__ = ["LibraryService"]
