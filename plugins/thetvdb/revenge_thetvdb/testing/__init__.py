"""A fake TheTVDB for tests: :class:`FakeTheTVDB` serves TheTVDB's API v4 and artwork on loopback.

Needs the ``test`` extra (aiohttp, Pillow). The server's integration tests use it too::

    from revenge_thetvdb.testing import FakeTheTVDB

    async with FakeTheTVDB() as tvdb:
        config = {"api_key": tvdb.api_key, "base_url": tvdb.api_url, "artwork_base_url": tvdb.url}
"""

from .catalogue import Catalogue
from .fake import DEFAULT_API_KEY, EPISODE_PAGE_SIZE, FakeTheTVDB, LoggedRequest, failure

__all__ = ["DEFAULT_API_KEY", "EPISODE_PAGE_SIZE", "Catalogue", "FakeTheTVDB", "LoggedRequest", "failure"]
