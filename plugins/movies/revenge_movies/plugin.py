"""The ``movies`` plugin: what it registers with Revenge.

- the ``movie`` content type, whose :class:`~revenge_movies.handler.MoviesHandler` turns a
  library's video files into movies (versions and parts of one movie share it);
- the ``movies.enrich`` job (queue ``metadata``) that matches a movie at the metadata
  providers and merges what they know;
- the ``movie`` and ``movie_person`` search documents;
- the API under ``/api/v1/movies``;
- its migrations (tables ``movies`` and ``movie_*`` in the ``public`` schema).
"""

from __future__ import annotations

from pathlib import Path

from revenge_hookspecs import ContentType, Job, Migrations, hookimpl

from . import api
from .config import MoviesConfig
from .documents import document_types
from .enrich import enrich_job
from .handler import MoviesHandler
from .service import ENRICH_JOB, ITEM_TYPE, MovieService

NAME = "movies"
EXTENSIONS = frozenset({"mkv", "mp4", "m4v", "avi", "mov", "wmv", "ts", "m2ts", "mts", "webm", "mpg", "mpeg", "flv",
                        "ogv", "3gp", "vob", "divx"})
"""Video files a movie library claims (disc images and ``.strm`` links are not playable files)."""


@hookimpl
def revenge_config_schema() -> type:
    return MoviesConfig


@hookimpl
def revenge_migrations() -> Migrations:
    return Migrations(Path(__file__).parent / "migrations")


@hookimpl
def revenge_content_types(context) -> ContentType:
    return ContentType(name="movie", label="Movies", extensions=EXTENSIONS, handler=MoviesHandler(context),
                       item_types={ITEM_TYPE})


@hookimpl
def revenge_jobs(context) -> Job:
    return Job(ENRICH_JOB, enrich_job, retries=3, retry_delay=30.0, queue="metadata", timeout=300.0)


@hookimpl
def revenge_search_documents(context):
    return document_types(MovieService(context))


@hookimpl
def revenge_routes(context):
    return api.routes(MovieService(context))
