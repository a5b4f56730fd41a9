"""Artwork: images of items, stored once, resized on demand and served behind the item's access.

``services.artwork`` (:class:`~.service.ArtworkService`) is ``context.artwork`` for every
plugin; :mod:`revenge_core.http.images` serves ``/api/v1/images/{id}/{size}``.
"""

from .images import ArtworkError
from .service import ArtworkService

__all__ = ["ArtworkError", "ArtworkService"]
