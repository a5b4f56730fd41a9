"""The HTTP API under ``/api/v1/tv``.

Every answer is limited to what the caller may see: lists filter by
``context.access.visible_library_ids``, and one series, season or episode is looked up, then
checked with ``context.access.require``, so an item the caller may not see answers 404 like
one that does not exist. Query parameters, sort keys and body fields are checked against
allowlists; anything else is a 400 naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from revenge_hookspecs import Route, params
from revenge_hookspecs.errors import ApiError, BadRequest, NotFound

from . import edits, views
from .enrich import CONTENT_TYPE, candidate_json
from .handler import ENRICH_JOB
from .models import MATCH_STATES
from .service import Tv

READ = "tv:read"
"""Reading TV shows; held by the built-in ``user`` role (the core's content-read permissions)."""
MANAGE = "library:manage"
"""Refreshing, identifying and editing TV shows; held by ``moderator`` and ``admin``."""
TAGS = ("tv",)

MAX_PER_PAGE = params.MAX_PER_PAGE
LIST_PARAMS = frozenset({"library", "genre", "network", "year", "year_from", "year_to", "status", "match", "sort",
                         "order", "page", "per_page"})
ID = "{id:\\d{1,10}}"


# --- reading requests (the shared rules are revenge_hookspecs.params) ------------------------------


def parse_query(query: Any) -> views.SeriesQuery:
    """A ``GET /tv/series`` query string as a :class:`~revenge_tv.views.SeriesQuery`."""
    params.only(query, LIST_PARAMS)
    year_from, year_to = params.year_range(query)
    sort, descending = params.sort_order(query, views.SORTS)
    status = params.one(query, "status")
    if status is not None and not 0 < len(status) <= views.STATUSES_MAX:
        raise BadRequest(f"status must be 1 to {views.STATUSES_MAX} characters.", {"parameter": "status"})
    match = params.one(query, "match")
    if match is not None and match not in MATCH_STATES:
        raise BadRequest(f"match must be one of {', '.join(MATCH_STATES)}.", {"parameter": "match"})
    page, per_page = params.paging(query, max_per_page=MAX_PER_PAGE)
    return views.SeriesQuery(
        libraries=params.libraries(query), genres=params.names(query, "genre", see="/tv/genres"),
        networks=params.names(query, "network", see="/tv/networks"),
        year_from=year_from, year_to=year_to, status=status, match_state=match, sort=sort,
        descending=descending, page=page, per_page=per_page,
    )


# --- routes ----------------------------------------------------------------------------------------


def routes(tv: Tv) -> list[Route]:
    context = tv.context

    async def visible(request: web.Request) -> frozenset[str] | None:
        return await context.access.visible_library_ids(request)

    async def item(request: web.Request, what: str, find: Callable[[int], Any], permission: str = "view") -> Any:
        """The ``{id}`` row of ``what`` with its series, or 404 when it does not exist or the caller
        may not ``permission`` it."""
        item_id = int(request.match_info["id"])
        found = await tv.read(find, item_id) if item_id < 2**31 else None
        if found is None:
            raise NotFound(f"No {what} {item_id}.")
        row, series = found if isinstance(found, tuple) else (found, found)
        try:
            await context.access.require(request, permission, "item", f"{what}:{row.id}",
                                         library_id=series.library_id)
        except NotFound:
            raise NotFound(f"No {what} {item_id}.") from None
        return row

    def series_of(request: web.Request, permission: str = "view") -> Awaitable[Any]:
        return item(request, "series", views.get_series, permission)

    def answer(handler: Callable[[web.Request], Awaitable[Any]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def respond(request: web.Request) -> web.Response:
            return web.json_response(await handler(request))

        return respond

    @answer
    async def list_series(request: web.Request) -> Any:
        return await tv.read(views.list_series, parse_query(request.query), await visible(request))

    def recent(build: Callable[..., Any]) -> Callable[[web.Request], Awaitable[Any]]:
        async def handler(request: web.Request) -> Any:
            params.only(request.query, frozenset({"library", "limit"}))
            limit = params.whole(request.query, "limit", low=1, high=MAX_PER_PAGE, default=20)
            return {"items": await tv.read(build, limit, params.libraries(request.query), await visible(request))}

        return answer(handler)

    def show(what: str, find: Callable[[int], Any], view: Callable[[int], Any], *,
             listed: bool = False) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A route answering ``view(id)`` of one visible series, season or episode."""

        async def handler(request: web.Request) -> Any:
            found = await tv.read(view, (await item(request, what, find)).id)
            return {"items": found} if listed else found

        return answer(handler)

    def named(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> Any:
            params.only(request.query, frozenset({"library"}))
            return {"items": await tv.read(views.names_with_counts, kind, params.libraries(request.query),
                                           await visible(request))}

        return answer(handler)

    async def refresh(request: web.Request) -> web.Response:
        series = await series_of(request, "manage")
        replace = params.flag(await params.json_body(request), "replace")
        job_id = context.jobs.enqueue(ENRICH_JOB, {"series_id": series.id, "replace": replace})
        return web.json_response({"series_id": series.id, "job_id": job_id}, status=202)

    @answer
    async def identify_search(request: web.Request) -> Any:
        series = await series_of(request, "manage")
        text, year = params.identify_query(request.query, title=series.title, year=series.year)
        library = await context.library.get(series.library_id)
        matches = await context.metadata.search(CONTENT_TYPE, text, year=year, language=library.language,
                                                order=library.providers)
        return {"series_id": series.id, "query": text, "year": year,
                "candidates": [candidate_json(m) for m in matches]}

    @answer
    async def identify_apply(request: web.Request) -> Any:
        series = await series_of(request, "manage")
        provider, external_id = params.provider_pick(await params.json_body(request),
                                                     context.metadata.providers(CONTENT_TYPE), kind="TV", item="series")
        try:
            await tv.enrich(series.id, provider=provider, external_id=external_id)
        except LookupError:
            raise NotFound(f"{provider} knows no series {external_id}.") from None
        except Exception as exc:
            context.logger.warning("tv: identify with {} {} failed: {}", provider, external_id, exc)
            raise ApiError(502, "provider_error", f"{provider} could not answer; try again later.") from None
        return await tv.read(views.series_detail, series.id)

    @answer
    async def edit_series(request: web.Request) -> Any:
        series = await series_of(request, "manage")
        values = edits.parse_series_edit(await params.json_body(request))
        title_changed = await tv.write(edits.edit_series, series.id, values)
        await tv.publish(series=[series.id], all_episodes=title_changed)
        return await tv.read(views.series_detail, series.id)

    @answer
    async def edit_episode(request: web.Request) -> Any:
        episode = await item(request, "episode", views.get_episode, "manage")
        values = edits.parse_episode_edit(await params.json_body(request))
        await tv.write(edits.edit_episode, episode.id, values)
        await tv.publish(episodes=[episode.id])
        return await tv.read(views.episode_detail, episode.id)

    series_path = "/tv/series/" + ID
    return [
        Route("GET", "/tv/series", list_series, permission=READ, tags=TAGS,
              summary="TV series, filtered, sorted and paged", response_schema=LIST_SCHEMA),
        Route("GET", "/tv/series/recent", recent(views.recent_series), permission=READ, tags=TAGS,
              summary="Recently added series"),
        Route("GET", series_path, show("series", views.get_series, views.series_detail), permission=READ,
              tags=TAGS, summary="One series with its seasons"),
        Route("GET", series_path + "/seasons", show("series", views.get_series, views.series_seasons, listed=True),
              permission=READ, tags=TAGS, summary="A series' seasons"),
        Route("GET", series_path + "/credits", show("series", views.get_series, views.series_credits),
              permission=READ, tags=TAGS, summary="A series' cast and crew"),
        Route("GET", "/tv/seasons/" + ID, show("season", views.get_season, views.season_detail), permission=READ,
              tags=TAGS, summary="One season with its episodes"),
        Route("GET", "/tv/seasons/" + ID + "/episodes",
              show("season", views.get_season, views.season_episodes, listed=True), permission=READ, tags=TAGS,
              summary="A season's episodes"),
        Route("GET", "/tv/episodes/recent", recent(views.recent_episodes), permission=READ, tags=TAGS,
              summary="Recently added episodes"),
        Route("GET", "/tv/episodes/" + ID, show("episode", views.get_episode, views.episode_detail),
              permission=READ, tags=TAGS, summary="One episode"),
        Route("GET", "/tv/episodes/" + ID + "/files",
              show("episode", views.get_episode, views.episode_files, listed=True), permission=READ, tags=TAGS,
              summary="The files holding an episode"),
        Route("GET", "/tv/genres", named("genres"), permission=READ, tags=TAGS,
              summary="Genres with their series counts"),
        Route("GET", "/tv/networks", named("networks"), permission=READ, tags=TAGS,
              summary="Networks with their series counts"),
        Route("POST", series_path + "/refresh", refresh, permission=MANAGE, tags=TAGS,
              summary="Fetch a series' metadata again (queued)",
              request_schema=params.flag_schema("replace")),
        Route("GET", series_path + "/identify", identify_search, permission=MANAGE, tags=TAGS,
              summary="Candidates from the metadata providers for a series"),
        Route("POST", series_path + "/identify", identify_apply, permission=MANAGE, tags=TAGS,
              summary="Identify a series as a provider's item", request_schema=params.provider_pick_schema()),
        Route("PATCH", series_path, edit_series, permission=MANAGE, tags=TAGS,
              summary="Edit a series (edited fields become locked)",
              request_schema={"type": "object", "properties": {f: {} for f in sorted(edits.SERIES_EDITABLE)}}),
        Route("PATCH", "/tv/episodes/" + ID, edit_episode, permission=MANAGE, tags=TAGS,
              summary="Edit an episode (edited fields become locked)",
              request_schema={"type": "object", "properties": {f: {} for f in sorted(edits.EPISODE_EDITABLE)}}),
    ]


LIST_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"},
                   "page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"}},
}

__all__ = ["MANAGE", "READ", "parse_query", "routes"]
