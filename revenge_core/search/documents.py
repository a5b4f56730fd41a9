"""Search documents and queries, checked against the registered document types.

Everything a caller hands the search service passes through here first: documents are
coerced to their declared field types, and filters and facets are checked against an
allowlist of declared facet fields, so backends only ever see validated names and values.

The rules themselves live in the SDK (:mod:`revenge_hookspecs.search`), so that the test
kit's ``MemorySearch`` applies exactly the server's; this module re-exports all of them
for the server's backends.
"""

from __future__ import annotations

from revenge_hookspecs.search import *  # noqa: F403 - the server's name for the SDK's rules
from revenge_hookspecs.search import __all__  # noqa: F401
