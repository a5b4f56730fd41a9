"""The HTTP API under ``/api/v1/movies``.

Every answer is limited to the libraries the caller may see: lists filter by
``context.access.visible_library_ids``, and one movie is looked up, then checked with
``context.access.require``, so a movie the caller may not see answers 404 like one that does
not exist. Query parameters, sort keys and body fields are checked against allowlists; anything
else is a 400 naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from revenge_hookspecs import Route, params
from revenge_hookspecs.errors import ApiError, BadRequest, NotFound
from revenge_hookspecs.search import normalize_query

from . import enrich, store, views
from .facts import LOCKABLE_FIELDS, RESOLUTIONS
from .service import MovieService, movie_key

READ = "movies:read"
"""Reading movies; held by the built-in ``user`` role (the core's content-read permissions)."""
MANAGE = "library:manage"
"""Refreshing, identifying and editing movies; held by ``moderator`` and ``admin``."""
TAGS = ("movies",)

MAX_PER_PAGE = params.MAX_PER_PAGE
MAX_QUERY = params.MAX_QUERY
MAX_GENRE = 128
YEARS = params.YEARS
LIST_PARAMS = frozenset({"library", "genre", "year", "year_from", "year_to", "resolution", "collection", "q", "sort",
                         "order", "page", "per_page"})
TEXT_LIMITS = {"title": 512, "original_title": 512, "sort_title": 512, "overview": 20000, "tagline": 1000}
EDITABLE = frozenset({*TEXT_LIMITS, "year", "release_date", "runtime", "original_language", "genres"})


# --- validation (the shared rules are revenge_hookspecs.params) -----------------------------------------------


def parse_query(query: Any) -> views.MovieQuery:
    """A ``GET /movies`` query string as a :class:`~revenge_movies.views.MovieQuery`."""
    params.only(query, LIST_PARAMS)
    year_from, year_to = params.year_range(query)
    sort, descending = params.sort_order(query, views.SORTS)
    resolution = params.one(query, "resolution")
    if resolution is not None and resolution not in RESOLUTIONS:
        raise BadRequest(f"resolution must be one of {', '.join(RESOLUTIONS)}.", {"parameter": "resolution"})
    genres = params.names(query, "genre", max_length=MAX_GENRE, see="/movies/genres")
    text = params.text(query, "q", max_length=MAX_QUERY)
    page, per_page = params.paging(query, max_per_page=MAX_PER_PAGE)
    return views.MovieQuery(
        libraries=params.libraries(query), genres=genres, year_from=year_from, year_to=year_to, resolution=resolution,
        collection=params.whole(query, "collection", low=1, high=2**31 - 1),
        text=normalize_query(text), sort=sort, descending=descending, page=page, per_page=per_page,
    )


def parse_edit(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """A ``PATCH /movies/{id}`` body as column values and genres (``None``: genres not edited)."""
    params.edit_fields(body, EDITABLE)
    values: dict[str, Any] = {}
    for field, value in body.items():
        if field in TEXT_LIMITS:
            values[field] = params.text_field(field, value, limit=TEXT_LIMITS[field], nullable=field != "title")
        elif field == "year":
            values[field] = params.number_field(field, value, *YEARS)
        elif field == "runtime":
            values[field] = params.number_field(field, value, 0, 2000)
        elif field == "release_date":
            values[field] = params.date_field(field, value)
        elif field == "original_language":
            values[field] = params.language_field(field, value)
    genres = params.names_field("genres", body["genres"], max_length=MAX_GENRE) if "genres" in body else None
    return values, genres


# --- routes ----------------------------------------------------------------------------------------------------


def routes(service: MovieService) -> list[Route]:
    context = service.context

    async def visible(request: web.Request) -> frozenset[str] | None:
        return await context.access.visible_library_ids(request)

    async def movie_for(request: web.Request, permission: str = "view") -> Any:
        """The movie of ``{id}``, or 404 when it does not exist or the caller may not ``permission`` it."""
        movie_id = int(request.match_info["id"])
        movie = await service.run(views.get_movie, movie_id) if movie_id < 2**31 else None
        if movie is None:
            raise NotFound(f"No movie {movie_id}.")
        try:
            await context.access.require(request, permission, "item", movie_key(movie.id), library_id=movie.library_id)
        except NotFound:
            raise NotFound(f"No movie {movie_id}.") from None
        return movie

    async def list_movies(request: web.Request) -> web.Response:
        query = parse_query(request.query)
        return web.json_response(await service.run(views.list_movies, query, await visible(request)))

    async def recent(request: web.Request) -> web.Response:
        params.only(request.query, frozenset({"library", "limit"}))
        limit = params.whole(request.query, "limit", low=1, high=MAX_PER_PAGE, default=20)
        items = await service.run(views.recent_movies, limit, params.libraries(request.query), await visible(request))
        return web.json_response({"items": items})

    async def detail(request: web.Request) -> web.Response:
        movie = await movie_for(request)
        return web.json_response(await service.run(views.movie_detail, movie.id))

    async def files(request: web.Request) -> web.Response:
        movie = await movie_for(request)
        return web.json_response({"items": await service.run(views.movie_files, movie.id)})

    async def credits(request: web.Request) -> web.Response:
        movie = await movie_for(request)
        return web.json_response(await service.run(views.movie_credits, movie.id))

    async def genres(request: web.Request) -> web.Response:
        params.only(request.query, frozenset({"library"}))
        items = await service.run(views.genres, params.libraries(request.query), await visible(request))
        return web.json_response({"items": items})

    async def collections(request: web.Request) -> web.Response:
        params.only(request.query, frozenset())
        return web.json_response({"items": await service.run(views.collections, await visible(request))})

    async def collection(request: web.Request) -> web.Response:
        collection_id = int(request.match_info["id"])
        found = (await service.run(views.collection_detail, collection_id, await visible(request))
                 if collection_id < 2**31 else None)
        if found is None:
            raise NotFound(f"No collection {collection_id}.")
        return web.json_response(found)

    async def refresh(request: web.Request) -> web.Response:
        movie = await movie_for(request, "manage")
        replace = params.flag(await params.json_body(request), "replace")
        job_id = service.enqueue_enrich(movie.id, replace=replace)
        return web.json_response({"movie_id": movie.id, "job_id": job_id}, status=202)

    async def identify_search(request: web.Request) -> web.Response:
        movie = await movie_for(request, "manage")
        text, year = params.identify_query(request.query, title=movie.title, year=movie.year)
        library = await context.library.get(movie.library_id)
        candidates = await enrich.identify_candidates(service, library, text, year)
        return web.json_response({"movie_id": movie.id, "query": text, "year": year, "candidates": candidates})

    async def identify_apply(request: web.Request) -> web.Response:
        movie = await movie_for(request, "manage")
        provider, external_id = params.provider_pick(await params.json_body(request),
                                                     context.metadata.providers("movie"), kind="movie", item="movie")
        library = await context.library.get(movie.library_id)
        try:
            applied = await enrich.apply_pick(service, movie.id, library, provider, external_id)
        except enrich.ProviderUnavailable as exc:
            context.logger.warning("identify: {}", exc)
            raise ApiError(502, "provider_error", f"{provider} could not answer; try again later.") from None
        if not applied:
            raise NotFound(f"{provider} knows no movie {external_id}.")
        return web.json_response(await service.run(views.movie_detail, movie.id))

    async def locks(request: web.Request) -> web.Response:
        movie = await movie_for(request, "manage")
        body = await params.json_body(request)
        fields = body.get("fields")
        if set(body) != {"fields"} or not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise BadRequest("Send {\"fields\": [names]}.", {"field": "fields"})
        unknown = sorted(set(fields) - LOCKABLE_FIELDS)
        if unknown:
            raise BadRequest(f"{unknown[0]!r} cannot be locked; lockable: {', '.join(sorted(LOCKABLE_FIELDS))}.",
                             {"field": unknown[0], "allowed": sorted(LOCKABLE_FIELDS)})
        return web.json_response({"locked_fields": await service.run(store.set_locks, movie.id, fields)})

    async def edit(request: web.Request) -> web.Response:
        movie = await movie_for(request, "manage")
        values, genre_names = parse_edit(await params.json_body(request))
        await service.run(store.edit_movie, movie.id, values, genre_names)
        await service.publish([movie.id])
        return web.json_response(await service.run(views.movie_detail, movie.id))

    one = "/movies/{id:\\d{1,10}}"
    return [
        Route("GET", "/movies", list_movies, permission=READ, tags=TAGS, summary="Movies, filtered, sorted and paged",
              response_schema=LIST_SCHEMA),
        Route("GET", "/movies/recent", recent, permission=READ, tags=TAGS, summary="Recently added movies"),
        Route("GET", "/movies/genres", genres, permission=READ, tags=TAGS, summary="Genres with their movie counts"),
        Route("GET", "/movies/collections", collections, permission=READ, tags=TAGS, summary="Movie collections"),
        Route("GET", "/movies/collections/{id:\\d{1,10}}", collection, permission=READ, tags=TAGS,
              summary="One collection with its movies"),
        Route("GET", one, detail, permission=READ, tags=TAGS, summary="One movie"),
        Route("GET", one + "/files", files, permission=READ, tags=TAGS, summary="A movie's files (versions, parts)"),
        Route("GET", one + "/credits", credits, permission=READ, tags=TAGS, summary="A movie's cast and crew"),
        Route("POST", one + "/refresh", refresh, permission=MANAGE, tags=TAGS,
              summary="Fetch a movie's metadata again (queued)", request_schema=params.flag_schema("replace")),
        Route("GET", one + "/identify", identify_search, permission=MANAGE, tags=TAGS,
              summary="Candidates from the metadata providers for a movie"),
        Route("POST", one + "/identify", identify_apply, permission=MANAGE, tags=TAGS,
              summary="Identify a movie as a provider's item", request_schema=params.provider_pick_schema()),
        Route("PUT", one + "/locks", locks, permission=MANAGE, tags=TAGS,
              summary="Set the fields refreshes never overwrite", request_schema={
                  "type": "object", "required": ["fields"],
                  "properties": {"fields": {"type": "array", "items": {"type": "string",
                                                                        "enum": sorted(LOCKABLE_FIELDS)}}}}),
        Route("PATCH", one, edit, permission=MANAGE, tags=TAGS, summary="Edit a movie (edited fields become locked)",
              request_schema={"type": "object", "properties": {f: {} for f in sorted(EDITABLE)}}),
    ]


LIST_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"},
                   "page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"}},
}

__all__ = ["MANAGE", "READ", "parse_edit", "parse_query", "routes"]
