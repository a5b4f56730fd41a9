"""A fake TMDb for tests: :class:`FakeTMDb` serves TMDb's API and image CDN on loopback.

Needs the ``test`` extra (aiohttp, pyvips). The server's integration tests use it too::

    from revenge_tmdb.testing import FakeTMDb

    async with FakeTMDb() as tmdb:
        config = {"api_key": tmdb.api_key, "base_url": tmdb.api_url, "image_base_url": tmdb.image_url}
"""

from .catalogue import Catalogue
from .fake import DEFAULT_API_KEY, DEFAULT_READ_ACCESS_TOKEN, FakeTMDb, LoggedRequest, error_body

__all__ = ["DEFAULT_API_KEY", "DEFAULT_READ_ACCESS_TOKEN", "Catalogue", "FakeTMDb", "LoggedRequest", "error_body"]
