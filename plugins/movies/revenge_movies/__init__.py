"""Revenge content type for movies (``revenge-movies``): see ``plugin.py`` for what it registers."""

__version__ = "0.1.0"
