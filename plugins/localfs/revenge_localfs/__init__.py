"""revenge-localfs: local folders as a Revenge storage backend.

The plugin object is :mod:`revenge_localfs.plugin`, published under the ``revenge.plugins``
entry point ``localfs``; :class:`~revenge_localfs.storage.LocalStorage` does the work.
"""

from .storage import LocalStorage

__version__ = "0.1.0"

__all__ = ["LocalStorage", "__version__"]
