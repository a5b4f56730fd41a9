"""A local TMDb that answers like the real one, for tests of the plugin and of the server.

It serves the API under ``/3`` and the image CDN under ``/t/p/{size}/{file}`` from one
aiohttp app::

    async with FakeTMDb() as tmdb:
        config = {"api_key": tmdb.api_key, "base_url": tmdb.api_url, "image_base_url": tmdb.image_url}

What it does as TMDb does: ``api_key`` query parameter or ``Authorization: Bearer`` check with
TMDb's 401 body (status_code 7); 404 with status_code 34; ``append_to_response``,
``language`` (translated titles and overviews) and ``include_image_language``; search by
title words with ``year``/``primary_release_year``/``first_air_date_year``; ``/find`` by
IMDb or TheTVDB id; 429 with ``Retry-After`` and ``X-RateLimit-*`` headers once a budget set
by :meth:`FakeTMDb.rate_limit` is spent. Test hooks: :meth:`FakeTMDb.fail_next` (5xx),
:attr:`FakeTMDb.delay` and :meth:`FakeTMDb.slow_next` (slow answers), :attr:`FakeTMDb.requests`
(every request), and :attr:`FakeTMDb.catalogue` (add movies and series).

Two simplifications: a series lists only the seasons the catalogue holds (so the plugin asks
for no season it cannot get), and images are drawn (a gradient, at most ``max_image_side``
pixels on the longest side) in the proportions TMDb lists for them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

from .catalogue import FIXTURES, MOVIE_PARTS, SEASON_PARTS, TV_PARTS, Catalogue, empty_part
from .images import FILE, SIZE, render, target_size

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef"
DEFAULT_READ_ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.fake-tmdb-read-access-token.c2lnbmF0dXJl"

_ERRORS = {
    400: (22, "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer."),
    429: (25, "Your request count (#) is over the allowed limit of (40)."),
    500: (11, "Internal error: Something went wrong, contact TMDB."),
    502: (11, "Internal error: Something went wrong, contact TMDB."),
    503: (9, "Service offline: This service is temporarily offline, try again later."),
    504: (24, "Your request to the backend server timed out. Try again."),
}


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


# recorded from TMDb itself; the others are written from TMDb's list of status codes
_RECORDED_ERRORS = {401: "invalid-api-key.json", 404: "resource-not-found.json"}


def error_body(status: int) -> dict[str, Any]:
    """TMDb's error body for an HTTP status."""
    if status in _RECORDED_ERRORS:
        recorded = FIXTURES / "recorded/tmdb-api-rust" / _RECORDED_ERRORS[status]
        return json.loads(recorded.read_text(encoding="utf-8"))
    code, message = _ERRORS.get(status, (11, "Internal error: Something went wrong, contact TMDB."))
    return {"success": False, "status_code": code, "status_message": message}


@attrs.define
class LoggedRequest:
    """One request the fake received, logged on arrival (``at``, monotonic clock): ``query`` as
    sent (keys included); ``status`` is ``None`` until it is answered."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    at: float
    status: int | None = None

    @property
    def is_image(self) -> bool:
        return self.path.startswith("/t/p/")


@attrs.define
class _Failure:
    status: int
    retry_after: float | None = None


class FakeTMDb:
    """A local TMDb (API and image CDN) with a small catalogue.

    :param api_key: the v3 key it accepts (``api_key`` query parameter); more in :attr:`api_keys`.
    :param read_access_token: the v4 token it accepts (``Authorization: Bearer``).
    :param catalogue: the content; the shipped fixtures by default.
    :param max_image_side: the longest side of images it draws, in pixels.
    """

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, read_access_token: str = DEFAULT_READ_ACCESS_TOKEN,
                 catalogue: Catalogue | None = None, max_image_side: int = 500):
        self.api_key = api_key
        self.read_access_token = read_access_token
        self.api_keys = {api_key}
        self.tokens = {read_access_token}
        self.catalogue = catalogue if catalogue is not None else Catalogue.default()
        self.max_image_side = max_image_side
        self.requests: list[LoggedRequest] = []
        self.delay = 0.0
        self._slow: deque[float] = deque()
        self._failures: deque[_Failure] = deque()
        self._budget: tuple[int, float] | None = None
        self._window: deque[float] = deque()
        self._rendered: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.app = self.make_app()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API base URL (``.../3``), what the plugin's ``base_url`` takes."""
        return f"{self.url}/3"

    @property
    def image_url(self) -> str:
        """The image CDN base URL (``.../t/p``), what the plugin's ``image_base_url`` takes."""
        return f"{self.url}/t/p"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTMDb:
        """Serve on ``host`` (loopback) at a free port unless one is given."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{host}:{bound[1]}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTMDb:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- test controls --------------------------------------------------------------------------

    def rate_limit(self, requests: int | None, period: float = 10.0) -> None:
        """Answer 429 once more than ``requests`` API calls came in ``period`` seconds (``None``: no limit)."""
        self._budget = None if requests is None else (requests, period)
        self._window.clear()

    def fail_next(self, count: int = 1, status: int = 500, *, retry_after: float | None = None) -> None:
        """The next ``count`` API calls answer ``status`` with TMDb's error body."""
        self._failures.extend(_Failure(status, retry_after) for _ in range(count))

    def slow_next(self, count: int, seconds: float) -> None:
        """The next ``count`` API calls wait ``seconds`` before answering."""
        self._slow.extend([seconds] * count)

    def api_requests(self, prefix: str = "/3/") -> list[LoggedRequest]:
        """The API calls received (not image downloads), optionally only under ``prefix``."""
        return [r for r in self.requests if r.path.startswith(prefix)]

    def add_movie(self, details: Mapping[str, Any], **parts: Any) -> dict[str, Any]:
        """See :meth:`Catalogue.add_movie`."""
        return self.catalogue.add_movie(details, **parts)

    def add_tv(self, details: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        """See :meth:`Catalogue.add_tv`."""
        return self.catalogue.add_tv(details, **kwargs)

    # --- the app --------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        get = app.router.add_get
        get("/3/configuration", self._configuration)
        get("/3/authentication", self._authentication)
        get("/3/search/movie", self._search("movie", "primary_release_year"))
        get("/3/search/tv", self._search("tv", "first_air_date_year"))
        get(r"/3/find/{external_id}", self._find)
        get(r"/3/movie/{id:\d+}", self._movie)
        get(r"/3/movie/{id:\d+}/{part}", self._part_route("movie", MOVIE_PARTS))
        get(r"/3/tv/{id:\d+}", self._tv)
        get(r"/3/tv/{id:\d+}/season/{season:\d+}", self._season)
        get(r"/3/tv/{id:\d+}/{part}", self._part_route("tv", TV_PARTS))
        get(r"/t/p/{size}/{file}", self._image)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        logged = LoggedRequest(request.method, request.path, dict(request.query), dict(request.headers),
                               time.monotonic())
        self.requests.append(logged)
        response = await self._answer(request, handler)
        logged.status = response.status
        return response

    async def _answer(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith("/t/p/"):  # the image CDN needs no key and has no budget
            return await self._route(request, handler)
        delay = self._slow.popleft() if self._slow else self.delay
        if delay:
            await asyncio.sleep(delay)
        if not self._authorised(request):
            return _json(error_body(401), 401)
        headers: dict[str, str] = {}
        if self._budget is not None:
            limit, period = self._budget
            now = time.monotonic()
            while self._window and self._window[0] <= now - period:
                self._window.popleft()
            reset = int(time.time() + (self._window[0] + period - now if self._window else period))
            headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": str(reset)}
            if len(self._window) >= limit:
                retry_after = max(1, math.ceil(self._window[0] + period - now))
                return _json(error_body(429), 429, {**headers, "X-RateLimit-Remaining": "0",
                                                    "Retry-After": str(retry_after)})
            self._window.append(now)
            headers["X-RateLimit-Remaining"] = str(limit - len(self._window))
        if self._failures:
            failure = self._failures.popleft()
            extra = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after is not None else {}
            return _json(error_body(failure.status), failure.status, extra)
        response = await self._route(request, handler)
        response.headers.update(headers)
        return response

    async def _route(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _json(error_body(404), 404)
        except web.HTTPMethodNotAllowed:
            return _json(error_body(404), 405)

    def _authorised(self, request: web.Request) -> bool:
        if request.query.get("api_key") in self.api_keys:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in self.tokens

    # --- handlers -------------------------------------------------------------------------------

    @staticmethod
    def _language(request: web.Request) -> str | None:
        return request.query.get("language") or None

    @staticmethod
    def _int(request: web.Request, name: str) -> int | None:
        value = request.query.get(name)
        return int(value) if value and value.isdigit() else None

    async def _configuration(self, request: web.Request) -> web.Response:
        recorded = json.loads((FIXTURES / "recorded/flexget/configuration.json").read_text(encoding="utf-8"))
        recorded["images"]["base_url"] = recorded["images"]["secure_base_url"] = f"{self.image_url}/"
        return _json(recorded)

    async def _authentication(self, request: web.Request) -> web.Response:
        return _json({"success": True, "status_code": 1, "status_message": "Success."})

    def _page(self, request: web.Request, results: list[dict[str, Any]]) -> web.Response:
        page_text = request.query.get("page", "1")
        if not page_text.isdigit() or not 1 <= int(page_text) <= 500:
            return _json(error_body(400), 400)
        page = int(page_text)
        total_pages = math.ceil(len(results) / 20)
        return _json({"page": page, "results": results[(page - 1) * 20:page * 20],
                      "total_pages": total_pages, "total_results": len(results)})

    def _query(self, request: web.Request) -> str | None:
        query = request.query.get("query", "").strip()
        return query or None

    def _search(self, kind: str, first_year_param: str):
        async def search(request: web.Request) -> web.Response:
            query = self._query(request)
            if query is None:
                return _json({"errors": ["query must be provided"]}, 422)
            results = self.catalogue.search(
                kind, query, year=self._int(request, "year"), primary_year=self._int(request, first_year_param),
                include_adult=request.query.get("include_adult") == "true", language=self._language(request))
            return self._page(request, results)

        return search

    async def _find(self, request: web.Request) -> web.Response:
        source = request.query.get("external_source")
        if not source:
            return _json({"success": False, "status_code": 5,
                          "status_message": "Invalid parameters: Your request parameters are incorrect."}, 400)
        return _json(self.catalogue.find(request.match_info["external_id"], source, self._language(request)))

    def _entry(self, kind: str, request: web.Request) -> dict[str, Any]:
        entry = self.catalogue.entry(kind, int(request.match_info["id"]))
        if entry is None:
            raise web.HTTPNotFound()
        return entry

    def _filter_images(self, images: Mapping[str, Any], request: web.Request) -> dict[str, Any]:
        """``include_image_language`` (``en,null``) keeps those languages; without it, the
        ``language`` parameter's language and untagged images."""
        wanted = request.query.get("include_image_language")
        if wanted is None:
            language = self._language(request)
            if language is None:
                return copy.deepcopy(dict(images))
            wanted = f"{language.split('-')[0]},null"
        keep = {None if w.strip() == "null" else w.strip() for w in wanted.split(",")}
        return {kind: [i for i in items if i.get("iso_639_1") in keep] if isinstance(items, list) else items
                for kind, items in images.items()}

    def _part(self, kind: str, entry: Mapping[str, Any], part: str, request: web.Request) -> dict[str, Any]:
        value = entry.get(part)
        if value is None:
            value = empty_part(kind, part, entry.get("details", entry))
        if part == "images":
            return self._filter_images(value, request)
        return copy.deepcopy(dict(value))

    def _details(self, kind: str, entry: Mapping[str, Any], request: web.Request, allowed: tuple[str, ...]) -> dict:
        details = copy.deepcopy(entry["details"])
        details.update(self.catalogue.translation(entry, self._language(request)))
        for part in request.query.get("append_to_response", "").split(",")[:20]:
            if part in allowed:
                details[part] = self._part(kind, entry, part, request)
        return details

    async def _movie(self, request: web.Request) -> web.Response:
        return _json(self._details("movie", self._entry("movie", request), request, MOVIE_PARTS))

    def _part_route(self, kind: str, allowed: tuple[str, ...]):
        """``/movie/{id}/credits`` and the like: one part, with the title's id."""
        async def part_route(request: web.Request) -> web.Response:
            part = request.match_info["part"]
            if part not in allowed:
                raise web.HTTPNotFound()
            entry = self._entry(kind, request)
            return _json({"id": entry["details"]["id"], **self._part(kind, entry, part, request)})

        return part_route

    async def _tv(self, request: web.Request) -> web.Response:
        entry = self._entry("tv", request)
        details = self._details("tv", entry, request, TV_PARTS)
        seasons = entry["seasons"]
        listed = {s["season_number"]: s for s in details.get("seasons", [])}
        details["seasons"] = [
            {**{k: season.get(k) for k in ("air_date", "id", "name", "overview", "poster_path", "season_number",
                                           "vote_average")},
             **{k: v for k, v in listed.get(number, {}).items() if k not in ("episode_count",)},
             "episode_count": len(season["episodes"])}
            for number, season in sorted(seasons.items())]
        details["number_of_seasons"] = sum(1 for n in seasons if n > 0)
        details["number_of_episodes"] = sum(len(s["episodes"]) for n, s in seasons.items() if n > 0)
        return _json(details)

    async def _season(self, request: web.Request) -> web.Response:
        entry = self._entry("tv", request)
        season = entry["seasons"].get(int(request.match_info["season"]))
        if season is None:
            raise web.HTTPNotFound()
        answer = copy.deepcopy(season)
        for part in request.query.get("append_to_response", "").split(",")[:20]:
            if part in SEASON_PARTS:
                answer[part] = self._part("season", season, part, request)
        return _json(answer)

    async def _image(self, request: web.Request) -> web.Response:
        size, name = request.match_info["size"], "/" + request.match_info["file"]
        if not SIZE.match(size) or not FILE.match(name) or name not in self.catalogue.images:
            return web.Response(status=404, text="Not Found")
        key = (size, name)
        if key not in self._rendered:
            width, height = target_size(self.catalogue.images[name], size, self.max_image_side)
            self._rendered[key] = await asyncio.to_thread(render, name, width, height)
        data, content_type = self._rendered[key]
        return web.Response(body=data, content_type=content_type,
                            headers={"Cache-Control": "public, max-age=31536000"})
