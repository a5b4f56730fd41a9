"""revenge-tmdb: movies and series described by The Movie Database (TMDb).

The plugin object is :mod:`revenge_tmdb.plugin`, published under the ``revenge.plugins``
entry point ``tmdb``; :class:`~revenge_tmdb.source.TMDbSource` does the work, and
:mod:`revenge_tmdb.testing` holds a fake TMDb for tests.
"""

from .source import TMDbSource

__version__ = "0.1.0"

__all__ = ["TMDbSource", "__version__"]
