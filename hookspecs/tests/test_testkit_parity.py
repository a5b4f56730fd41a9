"""The test kit enforces what the server enforces, so a plugin that passes here works there.

Each test pins one rule the server applies (cache, jobs, search, events, activation, HTTP)
and that the kit used to let through or do differently. The expected messages are the
server's own.
"""

from __future__ import annotations

import asyncio
import math
import threading
import warnings

import attrs
import pytest
from aiohttp import web

from revenge_hookspecs import (
    PUBLIC,
    EventHandler,
    Events,
    HostInfo,
    Job,
    Route,
    Schedule,
    SearchDocumentType,
    SearchField,
    hookimpl,
)
from revenge_hookspecs.testing import (
    CACHE_DEFAULT_TTL,
    HarnessError,
    MemoryCache,
    PluginActivationError,
    PluginConfigError,
    PluginLoadError,
    PluginRegistrationError,
    PluginSelfCheckError,
    check_crontab,
)

# --- cache ---------------------------------------------------------------------------------------


@pytest.fixture
def cache(revenge_plugin):
    class Bare:
        pass

    return revenge_plugin(Bare(), name="notes").context.cache


@pytest.mark.parametrize("value", [object(), {1, 2}, {(1, 2): "tuple key"}, b"bytes"])
async def test_cache_values_must_be_json(cache, value):
    await cache.set("k", "kept")
    with pytest.raises(TypeError, match="cache values must be JSON-serialisable"):
        await cache.set("k", value)
    assert await cache.get("k") == "kept"


async def test_cache_reads_are_decoded_copies(cache):
    original = {"pair": (1, 2), "by_id": {7: "seven"}, "nan": math.nan}
    await cache.set("k", original)
    first = await cache.get("k")
    assert first["pair"] == [1, 2]
    assert first["by_id"] == {"7": "seven"}
    assert math.isnan(first["nan"])  # JSON as the server writes it allows NaN in the cache
    first["pair"].append(3)
    original["by_id"][8] = "eight"
    assert await cache.get("k") == {"pair": [1, 2], "by_id": {"7": "seven"}, "nan": first["nan"]}
    assert await cache.get("missing", default=(1,)) == (1,)  # a default is returned as given


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "a cache key must be a non-empty string, not ''"),
        (5, "a cache key must be a non-empty string, not 5"),
        (None, "a cache key must be a non-empty string, not None"),
        # The server adds "plugin:notes:" (13 characters) and allows 512 in all.
        ("k" * 500, "a cache key may have at most 512 characters; this one has 513"),
    ],
)
async def test_cache_keys_are_checked_with_the_server_prefix(cache, key, message):
    async def factory():
        return 1

    for call in (cache.get(key), cache.set(key, 1), cache.delete(key), cache.get_or_set(key, factory)):
        with pytest.raises(ValueError) as caught:
            await call
        assert str(caught.value) == message
    await cache.set("k" * 499, "fits")
    assert await cache.get("k" * 499) == "fits"


@pytest.mark.parametrize("ttl", [0, -1, math.nan])
async def test_cache_ttl_must_be_positive(cache, ttl):
    async def factory():
        return 1

    with pytest.raises(ValueError, match="a cache ttl must be a positive number of seconds"):
        await cache.set("k", 1, ttl=ttl)
    with pytest.raises(ValueError, match="a cache ttl must be a positive number of seconds"):
        await cache.get_or_set("k", factory, ttl=ttl)
    assert cache.keys() == []


async def test_cache_without_ttl_expires_after_the_server_default():
    now = [0.0]
    cache = MemoryCache(clock=lambda: now[0], namespace="plugin:notes")
    await cache.set("k", 1)
    assert CACHE_DEFAULT_TTL == 300
    now[0] = 299.9
    assert await cache.get("k") == 1
    now[0] = 300.0
    assert await cache.get("k") is None


async def test_cache_get_or_set_follows_the_server(cache):
    def sync_factory():
        return "plain"

    with pytest.raises(TypeError, match="can't be used in 'await' expression"):
        await cache.get_or_set("sync", sync_factory)
    assert cache.keys() == []

    async def not_json():
        return object()

    with pytest.raises(TypeError, match="JSON-serialisable"):
        await cache.get_or_set("bad", not_json)
    assert await cache.get("bad") is None

    calls = []

    async def slow():
        calls.append(1)
        await asyncio.sleep(0.01)
        return (1, 2)

    # The first caller gets a decoded copy too, and concurrent callers share one call.
    results = await asyncio.gather(*(cache.get_or_set("shared", slow, ttl=60) for _ in range(3)))
    assert results == [[1, 2]] * 3
    assert calls == [1]


async def test_cache_clear_empties_the_namespace(cache):
    await cache.set("a", 1)
    await cache.set("b", 2)
    assert await cache.clear() == 2
    assert cache.keys() == []


# --- jobs ----------------------------------------------------------------------------------------


class Worker:
    """Registers jobs and records how they were run."""

    def __init__(self):
        self.received: list[dict] = []
        self.threads: list[str] = []
        self.order: list[str] = []
        self.startup_job: str | None = None
        self.check_error: Exception | None = None
        self.check_result: object = None

    @hookimpl
    def revenge_jobs(self, context):
        async def record(ctx, **payload):
            self.received.append(payload)
            self.order.append(payload.get("tag", ""))
            payload.get("items", []).append("mutated")

        def sync_job(ctx):
            self.threads.append(threading.current_thread().name)
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return "no loop"
            return "loop"

        def fails(ctx):
            raise ConnectionError("down")

        return [
            Job("worker.record", record),
            Job("worker.urgent", record, priority=10),
            Job("worker.sync", sync_job),
            Job("worker.fails", fails, retries=3, retry_delay=1.5),
        ]

    @hookimpl
    def revenge_schedules(self, context):
        return [
            Schedule("worker.ok", job="worker.record", crontab="*/5 * * * 1-5", payload={"tag": "scheduled"}),
            Schedule("worker.never", job="worker.record", crontab="0 3 * * mon"),
        ]

    @hookimpl
    def revenge_self_check(self, context):
        try:
            context.jobs.enqueue("worker.record")
        except ValueError as exc:
            self.check_error = exc
        return self.check_result

    @hookimpl
    def revenge_startup(self, context):
        self.startup_job = context.jobs.enqueue("worker.record", {"tag": "startup"})


@pytest.fixture
def worker_harness(revenge_plugin):
    worker = Worker()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        harness = revenge_plugin(worker, name="worker")
    return worker, harness


@pytest.mark.parametrize(
    ("job", "payload", "delay", "message"),
    [
        ("worker.nope", None, 0, "unknown job 'worker.nope': no enabled plugin registers it"),
        ("worker.record", None, -1, "the delay of job 'worker.record' must not be negative, got -1"),
        ("worker.record", [("a", 1)], 0,
         "the payload of job 'worker.record' must be a mapping of keyword arguments, not list"),
        ("worker.record", {1: "x"}, 0, "the payload of job 'worker.record' must have text keys, got 1"),
        ("worker.record", {"x": math.nan}, 0,
         "the payload of job 'worker.record' must be JSON-serialisable: Out of range float values are not JSON "
         "compliant"),
        ("worker.record", {"x": object()}, 0, "the payload of job 'worker.record' must be JSON-serialisable"),
    ],
)
def test_enqueue_refuses_what_the_server_refuses(worker_harness, job, payload, delay, message):
    _, harness = worker_harness
    with pytest.raises(ValueError) as caught:
        harness.context.jobs.enqueue(job, payload, delay=delay)
    assert str(caught.value).startswith(message)
    assert harness.jobs.enqueued == []


async def test_jobs_get_exactly_what_json_gives_back(worker_harness):
    worker, harness = worker_harness
    sent = {"pair": (1, 2), "nested": {"by_id": {3: "x"}}, "items": ["a"]}
    harness.context.jobs.enqueue("worker.record", sent)
    [queued] = harness.jobs.pending
    assert queued.payload == {"pair": [1, 2], "nested": {"by_id": {"3": "x"}}, "items": ["a"]}
    await harness.run_jobs()
    assert worker.received == [{"pair": [1, 2], "nested": {"by_id": {"3": "x"}}, "items": ["a", "mutated"]}]
    assert queued.payload["items"] == ["a"]  # the job got its own copy
    assert sent["items"] == ["a"]


async def test_retry_delays_double_from_retry_delay(worker_harness):
    _, harness = worker_harness
    harness.context.jobs.enqueue("worker.fails")
    [run] = await harness.run_jobs(raise_errors=False)
    assert run.attempts == 4
    assert run.retry_delays == [1.5, 3.0, 6.0]


async def test_plain_jobs_run_in_a_worker_thread_without_a_loop(worker_harness):
    worker, harness = worker_harness
    harness.context.jobs.enqueue("worker.sync")
    [run] = await harness.run_jobs()
    assert run.result == "no loop"
    assert worker.threads != [threading.current_thread().name]


async def test_due_and_urgent_jobs_run_first(worker_harness):
    worker, harness = worker_harness
    harness.context.jobs.enqueue("worker.record", {"tag": "later"}, delay=60)
    harness.context.jobs.enqueue("worker.record", {"tag": "normal"})
    harness.context.jobs.enqueue("worker.urgent", {"tag": "urgent"})
    await harness.run_jobs()
    assert worker.order == ["urgent", "normal", "later"]


async def test_the_plugin_is_enabled_for_its_startup_but_not_its_self_check(worker_harness):
    worker, harness = worker_harness
    await harness.enable()
    assert str(worker.check_error) == "job 'worker.record' belongs to plugin 'worker', which is disabled"
    assert worker.startup_job is not None
    assert [q.id for q in harness.jobs.pending] == [worker.startup_job]
    assert harness.enabled and harness.status == "enabled"
    await harness.shutdown()


async def test_nothing_runs_or_enqueues_once_the_plugin_is_stopped(worker_harness):
    _, harness = worker_harness
    harness.context.jobs.enqueue("worker.record")
    await harness.shutdown()
    assert harness.status == "disabled" and not harness.enabled
    with pytest.raises(ValueError, match=r"unknown job 'worker\.record': no enabled plugin registers it"):
        harness.context.jobs.enqueue("worker.record")
    with pytest.raises(HarnessError, match="the server would not run its 1 queued job"):
        await harness.run_jobs()


async def test_schedules_the_server_cannot_parse_never_run(revenge_plugin):
    with pytest.warns(UserWarning, match=r"schedule 'worker\.never' would never fire on the server: mon is not"):
        harness = revenge_plugin(Worker(), name="worker")
    with pytest.raises(ValueError, match=r"schedule 'worker\.never' never fires on the server"):
        await harness.run_schedule("worker.never")
    [run] = await harness.run_schedule("worker.ok")
    assert run.payload == {"tag": "scheduled"}


@pytest.mark.parametrize(
    ("crontab", "error"),
    [
        ("0 * * * *", None),
        ("0,30 9-17/2 1,15 */3 1-5", None),
        ("0 0 * * 7", None),
        ("0 0 * * 5-1", None),
        ("61 * * * *", "61 is not a valid input"),
        ("0 24 * * *", "24 is not a valid input"),
        ("0 0 32 * *", "32 is not a valid input"),
        ("0 0 * 0 *", "0 is not a valid input"),
        ("0 0 * * 8", "8 is not a valid input"),
        ("0 3 * * mon", "mon is not a valid input"),
        ("*/0 * * * *", "slice step cannot be zero"),
        ("0 0 * * */2", "Cannot perform this kind of matching on day-of-week."),
        ("0 0 ,1 * *", " is not a valid input"),
        ("1 2 3 4", "must have five fields"),
    ],
)
def test_crontabs_are_checked_as_the_scheduler_does(crontab, error):
    if error is None:
        check_crontab(crontab)
    else:
        with pytest.raises(ValueError, match=error):
            check_crontab(crontab)


# --- events --------------------------------------------------------------------------------------


class Listener:
    def __init__(self):
        self.heard: list[str] = []

    @hookimpl
    def revenge_event_handlers(self, context):
        ready = asyncio.Event()

        async def waits(event):
            await asyncio.wait_for(ready.wait(), 2)
            self.heard.append("waits")

        async def releases(event):
            ready.set()
            self.heard.append("releases")

        def breaks(event):
            raise RuntimeError("handler bug")

        return [
            EventHandler("item.added", waits, name="listener.waits"),
            EventHandler("item.added", releases, name="listener.releases"),
            EventHandler("item.removed", breaks, name="listener.breaks"),
            EventHandler("*", lambda event: self.heard.append(event.name), name="listener.all"),
        ]


async def test_handlers_of_one_event_run_concurrently(revenge_plugin):
    listener = Listener()
    harness = revenge_plugin(listener, name="listener")
    await harness.emit("item.added")
    assert sorted(listener.heard) == ["item.added", "releases", "waits"]
    assert [name for name, _ in harness.events.deliveries] == ["listener.waits", "listener.releases", "listener.all"]


async def test_failing_handlers_are_counted_and_can_be_only_logged_as_on_the_server(revenge_plugin):
    listener = Listener()
    harness = revenge_plugin(listener, name="listener")
    with pytest.raises(RuntimeError, match="handler bug"):
        await harness.emit("item.removed")
    await harness.emit("item.removed", raise_errors=False)
    assert [str(e) for e in harness.runtime_errors] == ["handler bug", "handler bug"]
    assert harness.last_error == "RuntimeError: handler bug"
    assert ("ERROR", "event handler listener.breaks of plugin listener failed on item.removed") in harness.logs
    assert listener.heard == ["item.removed", "item.removed"]  # the other handler still ran
    harness.events.raise_errors = False
    await harness.context.events.emit("item.removed")
    assert len(harness.runtime_errors) == 3


async def test_a_stopped_plugin_hears_nothing(revenge_plugin):
    listener = Listener()
    harness = revenge_plugin(listener, name="listener")
    await harness.shutdown()
    await harness.emit("item.removed")
    assert listener.heard == []


async def test_enable_announces_the_plugin_to_its_own_handlers(revenge_plugin):
    listener = Listener()
    harness = revenge_plugin(listener, name="listener")
    async with harness:
        [event] = harness.events.named(Events.PLUGIN_ENABLED)
        assert (dict(event.payload), event.source) == ({"plugin": "listener"}, "core")
    assert listener.heard == ["plugin.enabled"]


# --- search --------------------------------------------------------------------------------------

MOVIE = SearchDocumentType("movie", fields=(
    SearchField("year", "int", facet=True),
    SearchField("rating", "float", facet=True),
    SearchField("genres", "string[]", searchable=True, facet=True),
    SearchField("overview", "string", searchable=True),
    SearchField("hd", "bool", facet=True),
    SearchField("poster"),
))
SHOW = SearchDocumentType("show", fields=(SearchField("year", "int", facet=True),
                                          SearchField("network", "string", facet=True)))
MOVIES = [
    {"id": "1", "title": "The Matrix", "year": 1999, "rating": 8.7, "genres": ["Action", "Sci-Fi"],
     "overview": "A hacker learns that his world is a simulation.", "hd": True, "poster": "/p/1.jpg",
     "not_declared": "dropped"},
    {"id": "2", "title": "The Matrix Reloaded", "year": 2003, "rating": 7.2, "genres": ["Action", "Sci-Fi"],
     "hd": True},
    {"id": "4", "title": "The Lord of the Rings", "year": 2001, "rating": 8.9, "genres": ["Adventure", "Fantasy"],
     "hd": True},
    {"id": 6, "title": "Amélie", "year": 2001.0, "rating": 8, "genres": ["Comedy", "Comedy"], "hd": False,
     "overview": None},
]


class Catalogue:
    def __init__(self, movies=()):
        self.movies = list(movies)

    @hookimpl
    def revenge_search_documents(self, context):
        async def load_all():
            for movie in self.movies:
                yield movie

        return [attrs.evolve(MOVIE, load_all=load_all), SHOW]


@pytest.fixture
async def search(revenge_plugin):
    harness = revenge_plugin(Catalogue(), name="catalogue")
    await harness.context.search.index("movie", MOVIES)
    await harness.context.search.index("show", [{"id": "s1", "title": "The Wire", "year": 2002, "network": "HBO"}])
    return harness.context.search


async def test_search_results_have_the_server_shape(search):
    result = await search.search("The Matrix", doc_types=["movie"], facets=["genres"])
    assert list(result) == ["hits", "found", "page", "per_page", "facets", "backend", "degraded"]
    first = result["hits"][0]
    assert first == {"year": 1999, "rating": 8.7, "genres": ["Action", "Sci-Fi"],
                     "overview": "A hacker learns that his world is a simulation.", "hd": True,
                     "poster": "/p/1.jpg", "id": "1", "type": "movie", "title": "The Matrix", "score": 2.0}
    assert (result["found"], result["page"], result["per_page"]) == (2, 1, 20)
    assert result["facets"] == {"genres": {"Action": 2, "Sci-Fi": 2}}
    assert (result["backend"], result["degraded"]) == ("memory", False)


async def test_documents_are_coerced_and_undeclared_keys_dropped(search):
    amelie = search.documents["movie"]["6"]
    assert amelie == {"id": "6", "title": "Amélie", "year": 2001, "rating": 8.0, "genres": ["Comedy"], "hd": False}
    assert "not_declared" not in search.documents["movie"]["1"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"id": True, "title": "x"}, "search document of type 'movie' needs an 'id' (text), got True"),
        ({"id": "", "title": "x"}, "search document of type 'movie' needs an 'id' (text), got ''"),
        ({"id": "a" * 256, "title": "x"}, "'id' is longer than 255 characters"),
        ({"id": "1"}, "search document movie/1: 'title' must be text, got None"),
        ({"id": "1", "title": "x", "year": "1999"}, "field 'year' must be int, got '1999'"),
        ({"id": "1", "title": "x", "year": 1999.5}, "field 'year' must be int, got 1999.5"),
        ({"id": "1", "title": "x", "rating": math.inf}, "field 'rating' must be float, got inf"),
        ({"id": "1", "title": "x", "hd": 1}, "field 'hd' must be bool, got 1"),
        ({"id": "1", "title": "x", "genres": ["a", 1]}, "field 'genres' must be string[], got ['a', 1]"),
        ("not a mapping", "search document of type 'movie' must be a mapping, got 'not a mapping'"),
    ],
)
async def test_bad_documents_are_refused_before_anything_is_written(search, document, message):
    with pytest.raises(ValueError) as caught:
        await search.index("movie", [{"id": "new", "title": "Fine"}, document])
    assert message in str(caught.value)
    assert "new" not in search.documents["movie"]


async def test_only_registered_document_types_exist(search):
    for call in (search.index("episode", []), search.delete("episode", ["1"]),
                 search.search("", doc_types=["episode"])):
        with pytest.raises(ValueError, match="unknown search document type 'episode'; registered types: movie, show"):
            await call


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"filters": {"year": 2001}}, ["6", "4"]),
        ({"filters": {"year": [1999, 2003]}}, ["1", "2"]),
        ({"filters": {"year": {"min": 2001, "max": 2002}}}, ["6", "4", "s1"]),
        ({"filters": {"rating": {"min": 8.5}}}, ["4", "1"]),
        ({"filters": {"genres": ["Fantasy", "Comedy"]}}, ["6", "4"]),
        ({"filters": {"hd": False}}, ["6"]),
        ({"filters": {"network": "HBO"}}, ["s1"]),
        ({"doc_types": "show"}, ["s1"]),
        ({"page": 2, "per_page": 2}, ["1", "2"]),  # by normalised title
    ],
)
async def test_filters_take_values_lists_and_ranges_on_facet_fields(search, kwargs, expected):
    result = await search.search("", **kwargs)
    assert [h["id"] for h in result["hits"]] == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": {"overview": "x"}}, "cannot filter by 'overview': it is not a facet field of movie"),
        ({"filters": {"nope": 1}}, "cannot filter by 'nope': no such facet field in movie, show"),
        ({"filters": {"year": "2001"}}, "filter 'year': expected int values, got '2001'"),
        ({"filters": {"year": {"min": 1.5}}}, "filter 'year': expected int values, got 1.5"),
        ({"filters": {"genres": {"min": 1}}}, "filter 'genres': ranges"),
        ({"filters": {"year": {"low": 1}}}, "filter 'year': a range takes 'min' and/or 'max'"),
        ({"filters": {"year": {"min": None}}}, "filter 'year': a range needs 'min' or 'max'"),
        ({"filters": {"year": []}}, "filter 'year': give at least one value"),
        ({"filters": [("year", 1)]}, "filters must be a mapping of field to value"),
        ({"facets": ["overview"]}, "cannot count facets by 'overview': it is not a facet field of movie"),
        ({"per_page": 0}, "per_page must be between 1 and 250, got 0"),
        ({"per_page": 251}, "per_page must be between 1 and 250, got 251"),
        ({"page": 0}, "page must be a whole number of at least 1, got 0"),
        ({"page": True}, "page must be a whole number of at least 1, got True"),
    ],
)
async def test_searches_are_validated_as_on_the_server(search, kwargs, message):
    with pytest.raises(ValueError) as caught:
        await search.search("", **kwargs)
    assert str(caught.value).startswith(message)


async def test_facets_count_every_match_with_text_values(search):
    result = await search.search("", per_page=1, facets=["year", "hd", "rating", "network"])
    assert result["found"] == 5 and len(result["hits"]) == 1
    assert result["facets"] == {
        "year": {"2001": 2, "1999": 1, "2002": 1, "2003": 1},
        "hd": {"true": 3, "false": 1},
        "rating": {"7.2": 1, "8": 1, "8.7": 1, "8.9": 1},
        "network": {"HBO": 1},
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("AMELIE", ["6"]),  # case and accents are folded
        ("matr", ["1", "2"]),  # the start of a word, from three letters
        ("at", []),  # not a word and too short to be a prefix
        ("lord rings", ["4"]),
        ("simulation", ["1"]),  # a searchable field
        ("poster", []),  # a field that is not searchable
        ("!!!", []),  # no words at all
    ],
)
async def test_text_matches_normalised_words(search, query, expected):
    assert [h["id"] for h in (await search.search(query))["hits"]] == expected


async def test_a_type_with_a_reserved_field_is_refused(revenge_plugin):
    class Clips:
        @hookimpl
        def revenge_search_documents(self, context):
            return SearchDocumentType("clip", fields=(SearchField("score", "float"),))

    search = revenge_plugin(Clips(), name="clips").context.search
    with pytest.raises(ValueError, match="declares the field 'score', which is reserved"):
        await search.index("clip", [{"id": "1", "title": "A"}])
    assert (await search.search(""))["found"] == 0  # skipped when searching everything


async def test_reindex_reloads_from_load_all(revenge_plugin):
    catalogue = Catalogue(MOVIES[:2])
    harness = revenge_plugin(catalogue, name="catalogue")
    search = harness.context.search
    await search.index("movie", [MOVIES[2]])
    assert await search.reindex() == {"movie": 2, "show": 0}
    assert sorted(search.documents["movie"]) == ["1", "2"]


async def test_a_stopped_plugin_has_no_search_type(search, revenge_plugin):
    harness = revenge_plugin(Catalogue(), name="catalogue")
    await harness.shutdown()
    with pytest.raises(ValueError, match="unknown search document type 'movie'; registered types: none"):
        await harness.context.search.index("movie", [])


# --- activation ----------------------------------------------------------------------------------


class Raises:
    def __init__(self, hook):
        self.hook = hook

    @hookimpl
    def revenge_routes(self, context):
        if self.hook == "routes":
            raise RuntimeError("cannot build routes")

    @hookimpl
    def revenge_config_schema(self):
        if self.hook == "schema":
            raise KeyError("x")


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ("routes", "revenge_routes raised RuntimeError: cannot build routes"),
        ("schema", "revenge_config_schema raised KeyError: 'x'"),
    ],
)
def test_a_hook_that_raises_fails_the_plugin(revenge_plugin, hook, message):
    with pytest.raises(PluginActivationError) as caught:
        revenge_plugin(Raises(hook), name="raises")
    assert (caught.value.status, caught.value.message) == ("failed", message)
    assert str(caught.value) == f"plugin raises failed: {message}"
    assert caught.value.__cause__ is not None


class Returns:
    def __init__(self, routes):
        self.routes = routes

    @hookimpl
    def revenge_routes(self, context):
        return self.routes


async def _ok(request):
    return web.Response()


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ("GET /x", "revenge_routes returned str, expected Route"),
        (Route("GET", "/system/info", _ok, permission=PUBLIC), "route GET /api/v1/system/info belongs to the core"),
        ([Route("GET", "/d", _ok, permission=PUBLIC), Route("get", "/d", _ok, permission=PUBLIC)],
         "routes 'GET /d' is registered by both 'returns' and 'returns'"),
    ],
)
def test_registrations_the_server_refuses(revenge_plugin, routes, message):
    with pytest.raises(PluginRegistrationError) as caught:
        revenge_plugin(Returns(routes), name="returns")
    assert (caught.value.status, caught.value.message) == ("failed", message)


@pytest.mark.parametrize("path", ["/system/info", "/auth/login", "/me", "/admin/anything", "/users/1"])
def test_core_namespaces_are_reserved(revenge_plugin, path):
    with pytest.raises(PluginRegistrationError) as caught:
        revenge_plugin(Returns(Route("HEAD", path, _ok, permission=PUBLIC)), name="returns")
    assert caught.value.message == f"route HEAD /api/v1{path} belongs to the core"


@pytest.mark.parametrize("path", ["/authors", "/mesh", "/systems/x", "/webhooks/deliveries"])
def test_paths_that_merely_start_like_a_core_namespace_are_free(revenge_plugin, path):
    harness = revenge_plugin(Returns(Route("GET", path, _ok, permission=PUBLIC)), name="returns")
    assert harness.status == "enabled"


@pytest.mark.parametrize("name", ["core", "load", "disabled", "no spaces", ""])
def test_reserved_and_invalid_plugin_names_are_refused(revenge_plugin, name):
    with pytest.raises(PluginLoadError) as caught:
        revenge_plugin(Returns(None), name=name)
    assert (caught.value.status, caught.value.message) == ("load_error", f"invalid plugin name {name!r}")


def test_failing_configure_and_migrations_are_failed_not_load_errors(revenge_plugin, tmp_path):
    class Fragile:
        @hookimpl
        def revenge_configure(self, host):
            raise ValueError("no thanks")

    class NoFolder:
        @hookimpl
        def revenge_migrations(self):
            from revenge_hookspecs import Migrations

            return Migrations(tmp_path / "nowhere")

    with pytest.raises(PluginLoadError) as caught:
        revenge_plugin(Fragile(), name="fragile")
    assert (caught.value.status, caught.value.message) == ("failed", "revenge_configure raised ValueError: no thanks")
    with pytest.raises(PluginLoadError) as caught:
        revenge_plugin(NoFolder(), name="nofolder")
    assert caught.value.status == "failed"
    assert caught.value.message == (
        f"migration failed: MigrationError: nofolder: no migrations folder at {tmp_path / 'nowhere'}")


def test_a_config_section_must_be_a_mapping(revenge_plugin):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(Returns(None), name="returns", config=["url"])
    assert (caught.value.status, caught.value.message) == ("config_error", "plugins.returns: must be a mapping of keys")


class Checked:
    def __init__(self, verdict, *, crash=False):
        self.verdict = verdict
        self.crash = crash
        self.started = False

    @hookimpl
    def revenge_routes(self, context):
        async def ping(request):
            return web.json_response({"ok": True})

        return Route("GET", "/checked/ping", ping, permission=PUBLIC)

    @hookimpl
    async def revenge_self_check(self, context):
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict

    @hookimpl
    def revenge_startup(self, context):
        if self.crash:
            raise OSError("port in use")
        self.started = True


@pytest.mark.parametrize(
    ("verdict", "message"),
    [
        (False, "self-check failed"),
        ("", "self-check failed"),
        ("the API key was rejected", "the API key was rejected"),
        (PermissionError("cannot read /srv\nmore"), "PermissionError: cannot read /srv"),
    ],
)
async def test_enable_stops_at_a_failed_self_check(revenge_plugin, verdict, message):
    plugin = Checked(verdict)
    harness = revenge_plugin(plugin, name="checked")
    with pytest.raises(PluginSelfCheckError) as caught:
        await harness.enable()
    assert (caught.value.status, caught.value.message) == ("failed_self_check", message)
    assert (harness.status, harness.message) == ("failed_self_check", message)
    assert not plugin.started
    async with harness.client() as client:
        assert (await client.get("/api/v1/checked/ping")).status == 404


async def test_enable_reports_a_failing_startup(revenge_plugin):
    harness = revenge_plugin(Checked(None, crash=True), name="checked")
    with pytest.raises(PluginActivationError) as caught:
        await harness.enable()
    assert (caught.value.status, caught.value.message) == ("failed", "revenge_startup raised OSError: port in use")
    assert isinstance(caught.value.__cause__, OSError)
    assert (harness.status, harness.enabled) == ("failed", False)


async def test_enable_runs_the_self_check_before_startup(revenge_plugin):
    order = []

    class Ordered:
        @hookimpl
        def revenge_self_check(self, context):
            order.append("self_check")

        @hookimpl
        def revenge_startup(self, context):
            order.append("startup")

    async with revenge_plugin(Ordered(), name="ordered"):
        assert order == ["self_check", "startup"]


def test_context_data_dir_lives_under_the_host_data_dir(revenge_plugin, tmp_path):
    host = HostInfo(version="1", api_prefix="/api/v1", data_dir=tmp_path / "srv", database_driver="sqlite")
    harness = revenge_plugin(Returns(None), name="returns", host=host)
    assert harness.context.data_dir == tmp_path / "srv" / "plugins" / "returns"


# --- HTTP ----------------------------------------------------------------------------------------


class Web:
    @hookimpl
    def revenge_routes(self, context):
        async def item(request):
            return web.json_response({"id": request.match_info["id"]})

        def not_async(request):
            return web.json_response({"sync": True})

        async def size(request):
            return web.json_response({"bytes": len(await request.read())})

        async def echo(request):
            return web.json_response(await request.json())

        async def probe(request):
            return web.Response(headers={"X-Probe": request.method})

        return [
            Route("GET", "/web/{id}", item, permission=PUBLIC),
            Route("GET", "/web-sync", not_async, permission=PUBLIC),
            Route("POST", "/web-size", size, permission=PUBLIC),
            Route("POST", "/web-echo", echo, permission=PUBLIC),
            Route("HEAD", "/web-probe", probe, permission=PUBLIC),
            Route("OPTIONS", "/web-probe", probe, permission=PUBLIC),
        ]


@pytest.fixture
async def web_client(revenge_plugin):
    harness = revenge_plugin(Web(), name="web")
    async with harness.client() as client:
        yield harness, client


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "message", "allow"),
    [
        ("GET", "/api/v1/nothing", 404, "not_found", "Nothing lives at this address.", None),
        ("DELETE", "/api/v1/web/1", 405, "method_not_allowed", "This address does not accept that method.", "GET"),
        ("PUT", "/api/v1/web-probe", 405, "method_not_allowed", "This address does not accept that method.",
         "HEAD,OPTIONS"),
    ],
)
async def test_routing_errors_have_the_server_codes(web_client, method, path, status, code, message, allow):
    _, client = web_client
    response = await client.request(method, path)
    assert response.status == status
    body = await response.json()
    assert (body["code"], body["message"]) == (code, message)
    assert response.headers.get("Allow") == allow


async def test_head_and_options_routes_are_served(web_client):
    _, client = web_client
    for method in ("HEAD", "OPTIONS"):
        response = await client.request(method, "/api/v1/web-probe")
        assert response.status == 200 and response.headers["X-Probe"] == method
    assert (await client.head("/api/v1/web/1")).status == 405  # a GET route does not answer HEAD


async def test_a_handler_that_is_not_a_coroutine_fails_as_on_the_server(web_client):
    harness, client = web_client
    response = await client.get("/api/v1/web-sync")
    assert response.status == 500
    assert (await response.json())["code"] == "internal_error"
    assert isinstance(harness.route_errors[0], TypeError)


async def test_request_bodies_up_to_16_mib_are_accepted(web_client):
    _, client = web_client
    response = await client.post("/api/v1/web-size", data=b"x" * (2 * 1024 * 1024))
    assert (response.status, (await response.json())["bytes"]) == (200, 2 * 1024 * 1024)
    response = await client.post("/api/v1/web-size", data=b"x" * (16 * 1024 * 1024 + 1))
    assert (response.status, (await response.json())["code"]) == (413, "payload_too_large")


async def test_request_ids_are_kept_when_well_formed(web_client):
    _, client = web_client
    response = await client.get("/api/v1/web/1", headers={"X-Request-ID": "abc-1"})
    assert response.headers["X-Request-ID"] == "abc-1"
    response = await client.get("/api/v1/nothing", headers={"X-Request-ID": "not valid!"})
    generated = response.headers["X-Request-ID"]
    assert generated != "not valid!" and (await response.json())["request_id"] == generated


async def test_handler_errors_count_as_runtime_errors(web_client):
    harness, client = web_client
    response = await client.post("/api/v1/web-echo", data="{nope", headers={"Content-Type": "application/json"})
    assert (response.status, (await response.json())["code"]) == (400, "invalid_json")
    assert harness.route_errors == []  # not a 500
    assert harness.last_error.startswith("JSONDecodeError")


async def test_a_stopped_plugin_answers_404(web_client):
    harness, client = web_client
    assert (await client.get("/api/v1/web/1")).status == 200
    await harness.shutdown()
    response = await client.get("/api/v1/web/1")
    assert (response.status, (await response.json())["code"]) == (404, "not_found")


async def test_the_kits_access_stand_in_hides_what_only_excludes(revenge_plugin):
    from aiohttp import web

    class Shelf:
        @hookimpl
        def revenge_routes(self, context):
            async def shelf(request):
                await context.access.require(request, "view", "library", request.match_info["lib"])
                return web.json_response({"caller": context.access.caller(request).username})

            return Route("GET", "/shelf/{lib}", shelf, permission="library:view")

    harness = revenge_plugin(Shelf(), name="shelf")
    async with harness.client() as client:
        assert (await client.get("/api/v1/shelf/films")).status == 200
        harness.access.only(libraries=["films"])
        assert (await client.get("/api/v1/shelf/films")).status == 200
        assert (await client.get("/api/v1/shelf/music")).status == 404
        assert await harness.access.visible_library_ids(None) == frozenset({"films"})
