"""A local TheTVDB (API v4 and artwork host) that answers like the real one, for tests.

It serves the API under ``/v4`` and the artwork under ``/banners/...`` from one aiohttp app::

    async with FakeTheTVDB() as tvdb:
        config = {"api_key": tvdb.api_key, "base_url": tvdb.api_url, "artwork_base_url": tvdb.url}

As TheTVDB does: ``POST /login`` with ``{"apikey", "pin"}`` answers a bearer token (a JWT);
every other API route wants ``Authorization: Bearer <token>`` and answers 401 with
``{"status": "failure", "message": "Unauthorized", "data": null}`` without it; answers come in
``{"status": "success", "data": ...}``; episode lists are paged (500 a page, ``page`` from 0)
with ``links.prev/self/next/total_items/page_size``. Test hooks: :meth:`FakeTheTVDB.rate_limit`
(429 with ``Retry-After`` past a budget), :meth:`FakeTheTVDB.fail_next` (5xx),
:meth:`FakeTheTVDB.expire_tokens` (every issued token now answers 401), :attr:`requests`
(every request, logged on arrival), :attr:`catalogue`.

Where the spec and the live API differ, the fake follows the live API:
``/series/{id}/episodes/{season-type}/{lang}`` answers the episodes (with that language's
names and overviews, ``null`` where it has none) beside the series.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import attrs
from aiohttp import web
from aiohttp.test_utils import TestServer

from .catalogue import Catalogue
from .content import ARTWORK_TYPES
from .images import PATH, render

DEFAULT_API_KEY = "5f1e0b5c-7a1d-4c2e-9b3f-2d6a8e4c1f07"
EPISODE_PAGE_SIZE = 500
"""Episodes per page of ``/series/{id}/episodes/{season-type}``, as TheTVDB answers."""
SEASON_TYPES = ("default", "official", "dvd", "absolute", "alternate", "regional")


def failure(message: str) -> dict[str, Any]:
    """TheTVDB's error body."""
    return {"status": "failure", "message": message, "data": None}


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def _ok(data: Any, **more: Any) -> web.Response:
    return _json({"status": "success", "data": data, **more})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json(failure(message), status, headers)


class _Budget:
    """At most ``limit`` API calls in any ``period`` seconds, counted on arrival."""

    def __init__(self, limit: int, period: float):
        self.limit, self.period = limit, period
        self.arrivals: deque[float] = deque()

    def take(self, now: float) -> float | None:
        """Count a call at ``now``; or, when the budget is spent, the seconds until a call is allowed."""
        while self.arrivals and self.arrivals[0] <= now - self.period:
            self.arrivals.popleft()
        if len(self.arrivals) < self.limit:
            self.arrivals.append(now)
            return None
        return (self.arrivals[0] if self.arrivals else now) + self.period - now


@attrs.define
class LoggedRequest:
    """One request the fake received, logged on arrival (``at``, monotonic clock); ``status`` is
    ``None`` until it is answered; ``body`` is the JSON body of a POST."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    at: float
    body: Any = None
    status: int | None = None

    @property
    def is_image(self) -> bool:
        return self.path.startswith("/banners/")


class FakeTheTVDB:
    """A local TheTVDB with a small catalogue (see :mod:`revenge_thetvdb.testing.content`).

    :param api_key: the API key ``/login`` accepts; more in :attr:`api_keys`.
    :param pin: when set, ``/login`` wants this subscriber PIN with the key (a user-supported key).
    :param catalogue: the content; :meth:`Catalogue.default` if omitted.
    :param episode_page_size: episodes per page.
    :param max_image_side: the longest side of the images it draws, in pixels.
    """

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, pin: str | None = None,
                 catalogue: Catalogue | None = None, episode_page_size: int = EPISODE_PAGE_SIZE,
                 max_image_side: int = 320):
        self.api_key = api_key
        self.pin = pin
        self.api_keys = {api_key}
        self.catalogue = catalogue if catalogue is not None else Catalogue.default()
        self.episode_page_size = episode_page_size
        self.max_image_side = max_image_side
        self.tokens: set[str] = set()
        self.requests: list[LoggedRequest] = []
        self._failures: deque[tuple[int, float | None]] = deque()
        self._budget: _Budget | None = None
        self._rendered: dict[str, tuple[bytes, str]] = {}
        self._server: TestServer | None = None
        self.url = ""
        self.app = self.make_app()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API base URL (``.../v4``), what the plugin's ``base_url`` takes."""
        return f"{self.url}/v4"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTheTVDB:
        """Serve on ``host`` (loopback) at a free port unless one is given."""
        self._server = TestServer(self.app, host=host, port=port or None)
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.close()

    async def __aenter__(self) -> FakeTheTVDB:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- test controls --------------------------------------------------------------------------

    def rate_limit(self, requests: int | None = 20, period: float = 10.0) -> None:
        """Answer 429 with ``Retry-After`` to API calls past ``requests`` in ``period`` seconds
        (TheTVDB's figure by default); ``None`` lifts the limit."""
        self._budget = None if requests is None else _Budget(requests, period)

    def fail_next(self, count: int = 1, status: int = 500, *, retry_after: float | None = None) -> None:
        """The next ``count`` API calls (``/login`` too) answer ``status``."""
        self._failures.extend([(status, retry_after)] * count)

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (401), as an expired one is."""
        self.tokens.clear()

    def api_requests(self, path: str | None = None) -> list[LoggedRequest]:
        """The API calls received (not image downloads), optionally only those to ``path`` (below ``/v4``)."""
        return [r for r in self.requests if not r.is_image and (path is None or r.path == f"/v4{path}")]

    @property
    def logins(self) -> list[LoggedRequest]:
        return self.api_requests("/login")

    def issue_token(self) -> str:
        """A new token, JWT-shaped as TheTVDB's are."""
        def part(value: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        token = ".".join((part({"alg": "RS256", "typ": "JWT"}),
                          part({"exp": int(time.time()) + 30 * 86400, "nonce": secrets.token_hex(8)}),
                          secrets.token_urlsafe(32)))
        self.tokens.add(token)
        return token

    # --- the app --------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v4/login", self._login)
        get = app.router.add_get
        get("/v4/artwork/types", self._artwork_types)
        get("/v4/search", self._search)
        get("/v4/search/remoteid/{remote_id}", self._remote_id)
        get("/v4/series/{id}", self._series)
        get("/v4/series/{id}/extended", self._extended)
        get("/v4/series/{id}/episodes/{season_type}", self._episodes)
        get("/v4/series/{id}/episodes/{season_type}/{language}", self._episodes)
        get("/v4/series/{id}/translations/{language}", self._series_translation)
        get("/v4/episodes/{id}/translations/{language}", self._episode_translation)
        get("/banners/{path:.+}", self._image)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        body = None
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except (ValueError, UnicodeDecodeError):
                body = None
        logged = LoggedRequest(request.method, request.path, dict(request.query), dict(request.headers),
                               time.monotonic(), body)
        self.requests.append(logged)
        response = await self._answer(request, handler)
        logged.status = response.status
        return response

    async def _answer(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith("/banners/"):  # the artwork host wants no token and has no budget
            return await self._route(request, handler)
        wait = self._budget.take(time.monotonic()) if self._budget is not None else None
        if wait is not None:
            return _error(429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})
        if self._failures:
            status, retry_after = self._failures.popleft()
            headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after is not None else None
            return _error(status, "Service Unavailable" if status == 503 else "Internal Server Error", headers)
        if request.path != "/v4/login":
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token.strip() not in self.tokens:
                return _error(401, "Unauthorized")
        return await self._route(request, handler)

    async def _route(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, "NotFoundException: not found")
        except web.HTTPMethodNotAllowed:
            return _error(405, "Method Not Allowed")

    # --- helpers --------------------------------------------------------------------------------

    def _absolute(self, value: Any) -> Any:
        """``value`` with every ``/banners/...`` path made a URL of this server."""
        if isinstance(value, str):
            return f"{self.url}{value}" if value.startswith("/banners/") else value
        if isinstance(value, Mapping):
            return {k: self._absolute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._absolute(v) for v in value]
        return value

    @staticmethod
    def _id(request: web.Request) -> int | None:
        value = request.match_info["id"]
        return int(value) if value.isdigit() and len(value) <= 10 else None

    @staticmethod
    def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
        value = request.query.get(name)
        if value is None or value == "":
            return default
        return int(value) if value.lstrip("-").isdigit() else -1

    # --- handlers -------------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "InvalidJSON: the body must be JSON with an apikey")
        if not isinstance(body, dict) or not isinstance(body.get("apikey"), str):
            return _error(400, "InvalidValue: apikey is required")
        if body["apikey"] not in self.api_keys or (self.pin is not None and body.get("pin") != self.pin):
            return _error(401, "Unauthorized")
        return _ok({"token": self.issue_token()})

    async def _artwork_types(self, request: web.Request) -> web.Response:
        return _ok(ARTWORK_TYPES)

    async def _search(self, request: web.Request) -> web.Response:
        query = (request.query.get("query") or request.query.get("q") or "").strip()
        year, offset, limit = self._int(request, "year"), self._int(request, "offset", 0), self._int(request, "limit")
        if (year is not None and year < 0) or offset < 0 or (limit is not None and limit < 0):
            return _error(400, "InvalidValue: year, offset and limit are numbers")
        results = self.catalogue.search(query, kind=request.query.get("type") or None, year=year)
        if offset + (limit or 0) > 5000:
            return _error(400, "Max results overflow")
        page = results[offset:offset + limit if limit else None]
        links = {"prev": None, "self": str(request.url.relative()), "next": None, "total_items": len(results),
                 "page_size": limit or len(results)}
        return _ok(self._absolute(page), links=links)

    async def _remote_id(self, request: web.Request) -> web.Response:
        return _ok(self._absolute(self.catalogue.remote(request.match_info["remote_id"])))

    async def _series(self, request: web.Request) -> web.Response:
        series_id = self._id(request)
        if series_id is None:
            return _error(400, "InvalidValueType: the series id must be a number")
        record = self.catalogue.base(series_id)
        if record is None:
            raise web.HTTPNotFound()
        return _ok(self._absolute(record))

    async def _extended(self, request: web.Request) -> web.Response:
        series_id = self._id(request)
        meta, short = request.query.get("meta"), request.query.get("short", "false")
        if series_id is None or meta not in (None, "translations", "episodes") or short not in ("true", "false"):
            return _error(400, "InvalidValue: id is a number, meta translations or episodes, short true or false")
        record = self.catalogue.extended(series_id, meta=meta, short=short == "true")
        if record is None:
            raise web.HTTPNotFound()
        return _ok(self._absolute(record))

    async def _episodes(self, request: web.Request) -> web.Response:
        series_id, season_type = self._id(request), request.match_info["season_type"]
        language = request.match_info.get("language")
        page, season = self._int(request, "page", 0), self._int(request, "season")
        number, air_date = self._int(request, "episodeNumber"), request.query.get("airDate")
        if series_id is None or season_type not in SEASON_TYPES or page < 0:
            return _error(400, "InvalidValue: invalid series id, season type or page")
        if number and season is None:
            return _error(400, "episodeNumber is not null then season must be present")
        base = self.catalogue.base(series_id)
        if base is None:
            raise web.HTTPNotFound()
        if language is not None:
            if language not in self.catalogue.translations[series_id]:
                return _error(400, "InvalidValue: invalid language")
            translated = self.catalogue.translation(series_id, language) or {}
            base["name"] = translated.get("name") or base["name"]
        episodes = self.catalogue.episode_list(series_id, season_type, language)
        if season is not None:
            episodes = [e for e in episodes if e["seasonNumber"] == season]
        if number:
            episodes = [e for e in episodes if e["number"] == number]
        if air_date:
            episodes = [e for e in episodes if e.get("aired") == air_date]
        size = self.episode_page_size
        pages = max(1, math.ceil(len(episodes) / size))

        def link(target: int) -> str:
            query = {k: v for k, v in request.query.items() if k != "page"}
            return f"{self.url}{request.path}?{urlencode({**query, 'page': target})}"

        links = {"prev": link(page - 1) if page > 0 else None, "self": link(page),
                 "next": link(page + 1) if page + 1 < pages else None, "total_items": len(episodes),
                 "page_size": size}
        chunk = episodes[page * size:(page + 1) * size]
        return _ok(self._absolute({"series": base, "episodes": chunk}), links=links)

    async def _series_translation(self, request: web.Request) -> web.Response:
        series_id = self._id(request)
        if series_id is None:
            return _error(400, "InvalidValueType: the series id must be a number")
        if series_id not in self.catalogue.series:
            raise web.HTTPNotFound()
        found = self.catalogue.translation(series_id, request.match_info["language"])
        if found is None:
            return _error(404, "NotFoundException: translation not found")
        return _ok(found)

    async def _episode_translation(self, request: web.Request) -> web.Response:
        episode_id = self._id(request)
        found = self.catalogue.episode_translation(episode_id, request.match_info["language"]) if episode_id else None
        if found is None:
            return _error(404, "NotFoundException: translation not found")
        return _ok(found)

    async def _image(self, request: web.Request) -> web.Response:
        path = request.path
        if not PATH.match(path) or path not in self.catalogue.images:
            return web.Response(status=404, text="Not Found")
        if path not in self._rendered:
            self._rendered[path] = await asyncio.to_thread(render, path, self.max_image_side)
        data, content_type = self._rendered[path]
        return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "max-age=86400"})
