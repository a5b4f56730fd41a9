"""TheTVDB (API v4) as a Revenge metadata provider for series: the ``thetvdb`` plugin."""

__version__ = "0.1.0"
