"""The ``tv`` plugin: what it registers with Revenge.

- the ``tv`` content type (video files; items ``series``, ``season`` and ``episode``) and its
  :class:`~revenge_tv.handler.TvHandler`;
- the ``tv.enrich`` job that matches a series at the metadata providers and merges what they know;
- the ``series``, ``episode`` and ``tv_person`` search documents;
- the routes under ``/api/v1/tv``;
- its migrations (the ``tv_*`` tables) and its configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revenge_hookspecs import ContentType, Job, Migrations, hookimpl

from . import api, documents, store
from .config import TvConfig
from .handler import ENRICH_JOB
from .service import tv_for

NAME = "tv"
VIDEO_EXTENSIONS = frozenset({"mkv", "mp4", "m4v", "avi", "mov", "wmv", "mpg", "mpeg", "ts", "m2ts", "webm", "flv",
                              "ogv", "3gp", "divx"})
"""Files the ``tv`` content type claims in a scan."""
ENRICH_TIMEOUT = 1800.0
"""Seconds one enrichment may take: a long show stores a still per episode."""


@hookimpl
def revenge_config_schema() -> type:
    return TvConfig


@hookimpl
def revenge_migrations() -> Migrations:
    return Migrations(Path(__file__).parent / "migrations")


@hookimpl
def revenge_content_types(context: Any) -> ContentType:
    return ContentType(NAME, "TV Shows", extensions=VIDEO_EXTENSIONS, handler=tv_for(context).handler,
                       item_types={"series", "season", "episode"})


async def enrich_job(context: Any, series_id: int, replace: bool = False) -> str:
    """Match and merge one series; returns its match state (``gone`` when it was deleted meanwhile)."""
    tv = tv_for(context)
    # Running now: a file changed from here on needs another job (and every retry passes here).
    await tv.write(store.release_enrich, [int(series_id)])
    return await tv.enrich(int(series_id), replace=bool(replace))


@hookimpl
def revenge_jobs(context: Any) -> Job:
    return Job(ENRICH_JOB, enrich_job, retries=3, retry_delay=30.0, queue="metadata",
               timeout=ENRICH_TIMEOUT)


@hookimpl
def revenge_search_documents(context: Any) -> list:
    return documents.document_types(tv_for(context))


@hookimpl
def revenge_routes(context: Any) -> list:
    return api.routes(tv_for(context))
