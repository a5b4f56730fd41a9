"""Revenge: a self-hosted media server framework built from plugins."""

__version__ = "0.1.0"
