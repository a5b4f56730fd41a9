"""revenge-tv: TV shows for Revenge.

The plugin object is :mod:`revenge_tv.plugin`, published under the ``revenge.plugins`` entry
point ``tv``. :class:`~revenge_tv.handler.TvHandler` turns a library's files into series,
seasons and episodes; :mod:`revenge_tv.enrich` merges what metadata providers know.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
