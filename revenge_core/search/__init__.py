"""Search: Typesense when configured, the database index (SQLite FTS5 / PostgreSQL pg_trgm) always."""

from .service import SearchService

__all__ = ["SearchService"]
