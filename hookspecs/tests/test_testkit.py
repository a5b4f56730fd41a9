"""The SDK test kit enables a plugin the way the server does and records what it does."""

from __future__ import annotations

import importlib.metadata
import threading
from pathlib import Path

import attrs
import peewee
import pytest
from aiohttp import web

from revenge_hookspecs import (
    PUBLIC,
    Event,
    EventHandler,
    HostInfo,
    Job,
    Migrations,
    Route,
    Schedule,
    SearchDocumentType,
    SearchField,
    hookimpl,
)
from revenge_hookspecs.db import Model
from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.testing import (
    JobFailed,
    MemoryCache,
    PluginConfigError,
    PluginHarness,
    PluginLoadError,
    PluginRegistrationError,
)

# --- small plugins --------------------------------------------------------------------------------


@attrs.define
class NotesConfig:
    enabled: bool = True
    limit: int = 10
    ratio: float = 1.0
    tags: list[str] = attrs.Factory(list)
    greeting: str = "hello"

    def validate(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be at least 1")


class Notes:
    """A plugin that uses every part of the context."""

    def __init__(self):
        self.host: HostInfo | None = None
        self.calls: list[str] = []
        self.job_payloads: list[dict] = []
        self.events: list[Event] = []
        self.flaky_failures = 0

    @hookimpl
    def revenge_configure(self, host):
        self.host = host

    @hookimpl
    def revenge_config_schema(self):
        return NotesConfig

    @hookimpl
    def revenge_routes(self, context):
        async def hello(request):
            return web.json_response({"greeting": context.config.greeting, "limit": context.config.limit})

        async def missing(request):
            raise NotFound("No note has this id.", {"id": request.match_info["id"]})

        async def broken(request):
            raise RuntimeError("kaboom")

        async def remember(request):
            body = await request.json()
            job_id = context.jobs.enqueue("notes.save", {"text": body["text"]})
            return web.json_response({"job": job_id}, status=202)

        return [
            Route("GET", "/notes/hello", hello, permission=PUBLIC),
            Route("GET", "/notes/{id}", missing, permission="notes:read"),
            Route("GET", "/notes-broken", broken, permission="notes:read"),
            Route("POST", "/notes", remember, permission="notes:write"),
        ]

    @hookimpl
    def revenge_jobs(self, context):
        async def save(ctx, text):
            assert ctx is context
            self.job_payloads.append({"text": text})
            if text == "chain":
                ctx.jobs.enqueue("notes.save", {"text": "chained"})
            return len(text)

        def flaky(ctx):
            if self.flaky_failures < 2:
                self.flaky_failures += 1
                raise ConnectionError("try again")
            return "done"

        def always_fails(ctx):
            raise ConnectionError("receiver down")

        yield Job("notes.save", save)
        yield Job("notes.flaky", flaky, retries=3, retry_delay=2)
        yield Job("notes.always_fails", always_fails, retries=1, retry_delay=1)

    @hookimpl
    def revenge_schedules(self, context):
        return Schedule("notes.nightly", job="notes.save", crontab="0 3 * * *", payload={"text": "nightly"})

    @hookimpl
    def revenge_event_handlers(self, context):
        async def on_added(event):
            self.events.append(event)

        def on_anything(event):
            self.calls.append(event.name)

        return [
            EventHandler("item.added", on_added, name="notes.on_added"),
            EventHandler("*", on_anything, name="notes.on_anything"),
        ]

    @hookimpl
    def revenge_search_documents(self, context):
        return SearchDocumentType("note", fields=[SearchField("body", searchable=True),
                                                  SearchField("tag", facet=True)])

    @hookimpl
    async def revenge_startup(self, context):
        self.calls.append("startup")

    @hookimpl
    def revenge_shutdown(self, context):
        self.calls.append("shutdown")


@pytest.fixture
def notes() -> Notes:
    return Notes()


# --- configuration ----------------------------------------------------------------------------------


def test_config_strings_are_converted_like_environment_values(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes",
                             config={"enabled": "false", "limit": "5", "ratio": "0.5", "tags": "a, b"})
    assert harness.context.config == NotesConfig(enabled=False, limit=5, ratio=0.5, tags=["a", "b"])
    assert harness.config is harness.context.config


def test_config_defaults_apply_when_the_section_is_empty(revenge_plugin, notes):
    assert revenge_plugin(notes, name="notes").context.config == NotesConfig()


@pytest.mark.parametrize(
    ("config", "key", "reason"),
    [
        ({"bogus": 1}, "plugins.notes.bogus", "unknown key"),
        ({"limit": "many"}, "plugins.notes.limit", "expected an integer"),
        ({"enabled": "maybe"}, "plugins.notes.enabled", "expected true or false"),
        ({"ratio": "fast"}, "plugins.notes.ratio", "expected a number"),
        ({"limit": 0}, "plugins.notes", "limit must be at least 1"),
    ],
)
def test_config_errors_name_the_key(revenge_plugin, notes, config, key, reason):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(notes, name="notes", config=config)
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_config_for_a_plugin_without_schema_is_rejected(revenge_plugin):
    class NoConfig:
        @hookimpl
        def revenge_jobs(self, context):
            return None

    with pytest.raises(PluginConfigError, match=r"plugins\.bare\.url: unknown key"):
        revenge_plugin(NoConfig(), name="bare", config={"url": "http://x"})
    assert revenge_plugin(NoConfig(), name="bare").context.config is None


def test_a_schema_that_is_not_attrs_is_rejected(revenge_plugin):
    class Plain:
        @hookimpl
        def revenge_config_schema(self):
            return dict

    with pytest.raises(PluginConfigError, match="not an attrs class"):
        revenge_plugin(Plain(), name="plain")


# --- registration --------------------------------------------------------------------------------------


def test_configure_receives_host_info(revenge_plugin, notes, tmp_path):
    harness = revenge_plugin(notes, name="notes")
    assert notes.host is harness.host
    assert notes.host.api_prefix == "/api/v1"
    assert notes.host.database_driver == "sqlite"
    custom = HostInfo(version="9.9.9", api_prefix="/api/v1", data_dir=tmp_path, database_driver="sqlite",
                      legacy_enabled=True)
    other = Notes()
    revenge_plugin(other, name="notes", host=custom)
    assert other.host is custom


def test_a_misspelled_hook_fails_loudly(revenge_plugin):
    class Typo:
        @hookimpl
        def revenge_route(self, context):
            return []

    with pytest.raises(PluginLoadError, match="did you mean 'revenge_routes'"):
        revenge_plugin(Typo(), name="typo")


def test_a_hook_without_hookimpl_fails_loudly(revenge_plugin):
    class Unmarked:
        def revenge_routes(self, context):
            return []

    with pytest.raises(PluginLoadError, match="revenge_routes without @hookimpl"):
        revenge_plugin(Unmarked(), name="unmarked")


def test_a_hook_with_unknown_arguments_fails(revenge_plugin):
    class WrongArgs:
        @hookimpl
        def revenge_routes(self, ctx):
            return []

    with pytest.raises(PluginLoadError, match="ctx"):
        revenge_plugin(WrongArgs(), name="wrong")


def test_a_failing_configure_is_reported(revenge_plugin):
    class Fragile:
        @hookimpl
        def revenge_configure(self, host):
            raise RuntimeError("needs a newer server")

    with pytest.raises(PluginLoadError, match="revenge_configure raised RuntimeError: needs a newer server"):
        revenge_plugin(Fragile(), name="fragile")


def test_a_bad_plugin_name_is_refused(revenge_plugin, notes):
    with pytest.raises(PluginLoadError, match="invalid plugin name"):
        revenge_plugin(notes, name="no spaces")


def test_registrations_are_collected_by_kind(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    assert [r.path for r in harness.registrations("routes")] == ["/notes/hello", "/notes/{id}", "/notes-broken",
                                                                 "/notes"]
    assert [j.name for j in harness.registrations("jobs")] == ["notes.save", "notes.flaky", "notes.always_fails"]
    assert harness.registration("schedules", "notes.nightly").job == "notes.save"
    assert harness.registration("routes", "POST /notes").permission == "notes:write"
    assert harness.registrations("storage_backends") == []
    with pytest.raises(KeyError, match="unknown registration kind"):
        harness.registrations("route")
    with pytest.raises(LookupError, match=r"registered: notes\.save"):
        harness.registration("jobs", "notes.missing")


def test_a_registration_of_the_wrong_type_is_refused(revenge_plugin):
    class WrongType:
        @hookimpl
        def revenge_jobs(self, context):
            return [Schedule("x", job="y")]

    with pytest.raises(PluginRegistrationError, match="returned Schedule, expected Job"):
        revenge_plugin(WrongType(), name="wrong")


def test_a_duplicate_registration_is_refused(revenge_plugin):
    class Twice:
        @hookimpl
        def revenge_jobs(self, context):
            return [Job("same", print), Job("same", print)]

    with pytest.raises(PluginRegistrationError) as caught:
        revenge_plugin(Twice(), name="twice")
    assert (caught.value.status, caught.value.message) == (
        "failed", "jobs 'same' is registered by both 'twice' and 'twice'")


def test_plugins_load_from_entry_points(revenge_plugin, notes, monkeypatch):
    real = importlib.metadata.entry_points
    published = importlib.metadata.EntryPoint(name="notes", value=f"{__name__}:PUBLISHED", group="revenge.plugins")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None, **kw: [published] if group == "revenge.plugins" else real(group=group, **kw))
    monkeypatch.setitem(globals(), "PUBLISHED", notes)
    harness = revenge_plugin("notes")
    assert harness.plugin is notes
    assert harness.name == "notes"
    with pytest.raises(LookupError, match="is it installed"):
        revenge_plugin("absent")


# --- lifecycle ----------------------------------------------------------------------------------------


async def test_startup_and_shutdown_are_awaited(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    async with harness:
        # As on the server, the plugin's own handlers hear that it was enabled.
        assert notes.calls == ["startup", "plugin.enabled"]
    assert notes.calls == ["startup", "plugin.enabled", "shutdown"]
    assert harness.started and harness.stopped


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (True, None),
        (None, None),
        (False, "self-check failed"),
        ("", "self-check failed"),
        (0, None),
        ("folder /x is missing", "folder /x is missing"),
    ],
)
async def test_self_check_verdicts(revenge_plugin, verdict, expected):
    class Checked:
        @hookimpl
        async def revenge_self_check(self, context):
            return verdict

    assert await revenge_plugin(Checked(), name="checked").self_check() == expected


async def test_a_self_check_that_raises_reports_the_error(revenge_plugin):
    class Raises:
        @hookimpl
        def revenge_self_check(self, context):
            raise PermissionError("cannot read /srv")

    assert await revenge_plugin(Raises(), name="raises").self_check() == "PermissionError: cannot read /srv"


# --- routes ---------------------------------------------------------------------------------------------


async def test_routes_are_served_under_the_api_prefix(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes", config={"greeting": "bonjour", "limit": "3"})
    async with harness.client() as client:
        response = await client.get("/api/v1/notes/hello")
        assert response.status == 200
        assert await response.json() == {"greeting": "bonjour", "limit": 3}
        assert (await client.get("/notes/hello")).status == 404


async def test_route_errors_use_the_server_error_body(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    async with harness.client() as client:
        response = await client.get("/api/v1/notes/42", headers={"X-Request-ID": "req-1"})
        assert response.status == 404
        assert await response.json() == {"code": "not_found", "message": "No note has this id.",
                                         "details": {"id": "42"}, "request_id": "req-1"}
        assert response.headers["X-Request-ID"] == "req-1"
        response = await client.get("/api/v1/notes-broken")
        assert response.status == 500
        assert (await response.json())["code"] == "internal_error"
        response = await client.post("/api/v1/notes", data="{not json", headers={"Content-Type": "application/json"})
        assert response.status == 400
    assert [str(e) for e in harness.route_errors] == ["kaboom"]


# --- jobs -----------------------------------------------------------------------------------------------


async def test_enqueued_jobs_run_through_the_registered_job(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    async with harness.client() as client:
        response = await client.post("/api/v1/notes", json={"text": "buy milk"})
        assert response.status == 202
        job_id = (await response.json())["job"]
    assert notes.job_payloads == []  # queued, not run inline
    assert [(q.id, q.job, q.payload) for q in harness.jobs.pending] == [(job_id, "notes.save", {"text": "buy milk"})]
    runs = await harness.run_jobs()
    assert [(r.job, r.result, r.attempts) for r in runs] == [("notes.save", 8, 1)]
    assert notes.job_payloads == [{"text": "buy milk"}]
    assert harness.jobs.pending == []


async def test_jobs_enqueued_by_jobs_run_too(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    harness.context.jobs.enqueue("notes.save", {"text": "chain"})
    runs = await harness.run_jobs()
    assert [r.payload["text"] for r in runs] == ["chain", "chained"]


async def test_failing_jobs_are_retried_with_doubling_delays(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    harness.context.jobs.enqueue("notes.flaky")
    [run] = await harness.run_jobs()
    assert run.ok and run.result == "done"
    assert run.attempts == 3
    assert run.retry_delays == [2, 4]


async def test_a_job_failing_after_its_retries_raises(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    harness.context.jobs.enqueue("notes.always_fails")
    with pytest.raises(JobFailed, match="after 2 attempt") as caught:
        await harness.run_jobs()
    assert isinstance(caught.value.runs[0].error, ConnectionError)
    harness.context.jobs.enqueue("notes.always_fails")
    [run] = await harness.run_jobs(raise_errors=False)
    assert not run.ok and run.attempts == 2


async def test_an_unregistered_job_is_refused_when_enqueued(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    with pytest.raises(ValueError, match=r"unknown job 'notes\.nope': no enabled plugin registers it"):
        harness.context.jobs.enqueue("notes.nope")
    assert harness.jobs.pending == []


async def test_schedules_enqueue_their_job(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    runs = await harness.run_schedule("notes.nightly")
    assert [(r.job, r.payload) for r in runs] == [("notes.save", {"text": "nightly"})]


# --- events ---------------------------------------------------------------------------------------------


async def test_events_reach_the_plugins_handlers(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    await harness.emit("item.added", {"id": 7})
    await harness.emit("playback.started", {"id": 7})
    assert [(e.name, dict(e.payload), e.source) for e in notes.events] == [("item.added", {"id": 7}, "core")]
    assert notes.calls == ["item.added", "playback.started"]
    assert [name for name, _ in harness.events.deliveries] == ["notes.on_added", "notes.on_anything",
                                                               "notes.on_anything"]


async def test_events_the_plugin_emits_are_recorded_and_delivered(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    await harness.context.events.emit("item.added", {"id": 1})
    [event] = harness.events.named("item.added")
    assert event.source == "notes"
    assert notes.events == [event]


async def test_event_payloads_must_be_json(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        await harness.emit("item.added", {"path": Path("/x")})


async def test_a_failing_handler_surfaces_in_the_test(revenge_plugin):
    class Fails:
        @hookimpl
        def revenge_event_handlers(self, context):
            def boom(event):
                raise ValueError("handler bug")

            return EventHandler("item.added", boom, name="fails.boom")

    harness = revenge_plugin(Fails(), name="fails")
    with pytest.raises(ValueError, match="handler bug"):
        await harness.emit("item.added")


# --- database and migrations -----------------------------------------------------------------------------

MIGRATION = '''
import peewee
from revenge_hookspecs.db import Model, bind_models


class Note(Model):
    text = peewee.TextField()

    class Meta:
        schema = "shared"
        table_name = "notes"


def up(migrator, db):
    bind_models(db, [Note])
    db.create_tables([Note])


def down(migrator, db):
    bind_models(db, [Note])
    db.drop_tables([Note])
'''


class Note(Model):
    text = peewee.TextField()

    class Meta:
        schema = "shared"
        table_name = "notes"


@pytest.fixture
def migrating_plugin(tmp_path):
    folder = tmp_path / "notes_migrations"
    folder.mkdir()
    (folder / "0001_notes.py").write_text(MIGRATION)

    class Migrating:
        @hookimpl
        def revenge_migrations(self):
            return Migrations(folder)

    return Migrating()


async def test_migrations_are_applied_to_a_real_database(revenge_plugin, migrating_plugin):
    harness = revenge_plugin(migrating_plugin, name="notes")
    assert harness.migrations_applied == ["0001_notes"]
    assert "shared_notes" in harness.db.tables()
    assert "shared_plugin_migrations_notes" in harness.db.tables()

    def write_and_read():
        Note.create(text="kept")
        return [n.text for n in Note.select()], threading.current_thread().name

    harness.context.db.bind([Note])
    texts, thread = await harness.context.db.run(write_and_read)
    assert texts == ["kept"]
    assert thread.startswith("revenge-testkit-db")
    assert harness.db.path.is_file()


async def test_migrations_can_be_reverted(revenge_plugin, migrating_plugin):
    harness = revenge_plugin(migrating_plugin, name="notes")
    reverted = harness.db.run_sync(lambda: harness.migration_runner().down())
    assert reverted == ["0001_notes"]
    assert "shared_notes" not in harness.db.tables()


def test_a_missing_migrations_folder_fails(revenge_plugin, tmp_path):
    class Missing:
        @hookimpl
        def revenge_migrations(self):
            return Migrations(tmp_path / "nowhere")

    with pytest.raises(PluginLoadError, match="no migrations folder"):
        revenge_plugin(Missing(), name="missing")


def test_a_broken_migration_fails_and_names_it(revenge_plugin, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "0001_broken.py").write_text("def up(migrator, db):\n    db.execute_sql('CREATE TABLEX x')\n")

    class Broken:
        @hookimpl
        def revenge_migrations(self):
            return Migrations(folder)

    with pytest.raises(PluginLoadError, match="migration failed"):
        revenge_plugin(Broken(), name="broken")


# --- the other services -------------------------------------------------------------------------------------


async def test_cache_entries_expire_after_their_ttl():
    now = [1000.0]
    cache = MemoryCache(clock=lambda: now[0])
    await cache.set("a", 1, ttl=10)
    await cache.set("b", 2)
    assert await cache.get("a") == 1
    now[0] += 10
    assert await cache.get("a", "gone") == "gone"
    assert await cache.get("b") == 2
    await cache.delete("b")
    assert cache.keys() == []


async def test_cache_get_or_set_calls_the_factory_once(revenge_plugin, notes):
    cache = revenge_plugin(notes, name="notes").context.cache
    calls = []

    async def factory():
        calls.append(1)
        return "value"

    assert await cache.get_or_set("k", factory, ttl=60) == "value"
    assert await cache.get_or_set("k", factory, ttl=60) == "value"
    assert calls == [1]


async def test_search_matches_words_filters_and_counts_facets(revenge_plugin, notes):
    search = revenge_plugin(notes, name="notes").context.search
    await search.index("note", [
        {"id": 1, "title": "Shopping", "body": "buy milk and bread", "tag": "home"},
        {"id": 2, "title": "Work", "body": "buy a new laptop", "tag": "work"},
        {"id": 3, "title": "Milk run", "body": "", "tag": "home", "secret": "laptop"},
    ])
    result = await search.search("buy", facets=["tag"])
    assert [h["id"] for h in result["hits"]] == ["1", "2"]
    assert result["facets"] == {"tag": {"home": 1, "work": 1}}
    # A title match ranks above a match in another searchable field.
    assert [h["id"] for h in (await search.search("milk"))["hits"]] == ["3", "1"]
    assert (await search.search("laptop"))["found"] == 1  # "secret" is not a searchable field
    assert [h["id"] for h in (await search.search("", filters={"tag": "home"}))["hits"]] == ["3", "1"]
    await search.delete("note", ["1"])
    assert (await search.search("milk"))["found"] == 1
    with pytest.raises(ValueError, match="'title' must be text, got None"):
        await search.index("note", [{"id": 4}])


async def test_http_client_reaches_a_local_server(revenge_plugin, notes, aiohttp_server):
    seen = {}

    async def echo(request):
        seen["agent"] = request.headers["User-Agent"]
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", echo)
    server = await aiohttp_server(app)
    harness = revenge_plugin(notes, name="notes")
    async with harness.context.http_client() as session, session.get(server.make_url("/")) as response:
        assert await response.json() == {"ok": True}
    assert seen["agent"].startswith("Revenge-testkit/")


def test_logger_is_bound_to_the_plugin_and_captured(revenge_plugin, notes):
    harness = revenge_plugin(notes, name="notes")
    harness.context.logger.warning("disk {} is full", "/srv")
    assert ("WARNING", "disk /srv is full") in harness.logs
    other = revenge_plugin(Notes(), name="notes")
    assert other.logs == []  # one harness does not see another's lines


def test_data_dir_belongs_to_the_plugin_and_is_created(revenge_plugin, notes, tmp_path):
    harness = revenge_plugin(notes, name="notes")
    data_dir = harness.context.data_dir
    assert data_dir.is_dir()
    assert data_dir.name == "notes"
    assert tmp_path in data_dir.parents


def test_harness_can_be_used_without_the_fixture(notes, tmp_path):
    harness = PluginHarness(notes, "notes", {"limit": 2}, tmp_path)
    try:
        assert harness.context.config.limit == 2
    finally:
        harness.close()
    assert harness.db.closed
    with pytest.raises(RuntimeError, match="closed"):
        harness.db.run_sync(lambda: None)
