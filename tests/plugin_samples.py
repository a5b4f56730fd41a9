"""Small plugins used by the host's tests: one well-behaved, and one for each way to fail."""

from __future__ import annotations

import attrs
from aiohttp import web

from revenge_hookspecs import (
    PUBLIC,
    ArrConnector,
    AuthProvider,
    ContentType,
    EventHandler,
    Events,
    Job,
    MetadataMatch,
    MetadataProvider,
    NotificationChannel,
    Route,
    Schedule,
    Scrobbler,
    SearchDocumentType,
    SearchField,
    StorageBackend,
    hookimpl,
)


@attrs.define
class GoodConfig:
    greeting: str = "hello"
    repeat: int = 1
    loud: bool = False


class NullSource:
    async def search(self, content_type, query, *, year=None, language=None):
        return [MetadataMatch(provider="good", external_id="1", title=query, year=year, score=1.0)]

    async def lookup(self, content_type, external_id, *, language=None):
        return {"id": external_id}


class Good:
    """A plugin that registers something of every kind and records what the host does."""

    def __init__(self, name: str = "good", path: str = "/good"):
        self.name = name
        self.path = path
        self.configured: list = []
        self.events: list = []
        self.jobs_run: list = []
        self.started = 0
        self.stopped = 0

    @hookimpl
    def revenge_configure(self, host):
        self.configured.append(host)

    @hookimpl
    def revenge_config_schema(self):
        return GoodConfig

    @hookimpl
    async def revenge_startup(self, context):
        self.started += 1

    @hookimpl
    async def revenge_shutdown(self, context):
        self.stopped += 1

    @hookimpl
    def revenge_self_check(self, context):
        return True

    @hookimpl
    def revenge_routes(self, context):
        async def hello(request: web.Request) -> web.Response:
            """Say hello."""
            text = " ".join([context.config.greeting] * context.config.repeat)
            return web.json_response({"message": text.upper() if context.config.loud else text})

        async def item(request: web.Request) -> web.Response:
            return web.json_response({"id": request.match_info["item_id"]})

        async def private(request: web.Request) -> web.Response:
            return web.json_response({"secret": "never without a permission"})

        async def boom(request: web.Request) -> web.Response:
            raise RuntimeError("the plugin broke")

        return [
            Route("GET", f"{self.path}/hello", hello, permission=PUBLIC, summary="Say hello"),
            Route("GET", f"{self.path}/items/{{item_id}}", item, permission=PUBLIC),
            Route("GET", f"{self.path}/private", private, permission=f"{self.name}:read"),
            Route("GET", f"{self.path}/boom", boom, permission=PUBLIC),
        ]

    @hookimpl
    def revenge_jobs(self, context):
        def work(ctx, value=None):
            self.jobs_run.append(value)

        return Job(f"{self.name}.work", work, retries=0)

    @hookimpl
    def revenge_schedules(self, context):
        return Schedule(f"{self.name}.hourly", f"{self.name}.work", "0 * * * *", {"value": "tick"})

    @hookimpl
    def revenge_event_handlers(self, context):
        async def on_any(event):
            self.events.append(event)

        return [EventHandler("*", on_any, name=f"{self.name}.all")]

    @hookimpl
    def revenge_content_types(self, context):
        return ContentType(f"{self.name}-item", "Good items", extensions={"good"})

    @hookimpl
    def revenge_metadata_providers(self, context):
        return MetadataProvider(f"{self.name}-meta", {f"{self.name}-item"}, NullSource(), priority=5)

    @hookimpl
    def revenge_arr_connectors(self, context):
        return ArrConnector(f"{self.name}-arr", "radarr", client=object())

    @hookimpl
    def revenge_scrobblers(self, context):
        return Scrobbler(f"{self.name}-scrobbler", {f"{self.name}-item"}, client=object())

    @hookimpl
    def revenge_storage_backends(self, context):
        return StorageBackend(f"{self.name}-storage", storage=object())

    @hookimpl
    def revenge_auth_providers(self, context):
        async def authenticate(credentials):
            return None

        return AuthProvider(f"{self.name}-auth", authenticate, label="Good")

    @hookimpl
    def revenge_notification_channels(self, context):
        async def send(notification):
            self.events.append(notification)

        return NotificationChannel(f"{self.name}-notify", send)

    @hookimpl
    def revenge_search_documents(self, context):
        return SearchDocumentType(f"{self.name}-doc", (SearchField("year", "int", facet=True),))


class RaisesInRoutes:
    @hookimpl
    def revenge_routes(self, context):
        raise RuntimeError("cannot build routes")


class Misspelled:
    @hookimpl
    def revenge_roues(self, context):
        return []


class BadSignature:
    @hookimpl
    def revenge_routes(self, context, request):
        return []


@attrs.define
class NeedsInt:
    count: int = 1


class BadConfig:
    @hookimpl
    def revenge_config_schema(self):
        return NeedsInt


class FailsSelfCheck:
    @hookimpl
    def revenge_self_check(self, context):
        return "the API key was rejected"


class RaisesInConfigure:
    @hookimpl
    def revenge_configure(self, host):
        raise ValueError("no thanks")


class RaisesInStartup:
    @hookimpl
    def revenge_routes(self, context):
        async def handler(request):
            return web.json_response({})

        return Route("GET", "/startup-fails", handler, permission=PUBLIC)

    @hookimpl
    async def revenge_startup(self, context):
        raise OSError("port in use")


class ReturnsWrongType:
    @hookimpl
    def revenge_routes(self, context):
        return ["/not-a-route"]


class BrokenEventHandler:
    @hookimpl
    def revenge_event_handlers(self, context):
        def explode(event):
            raise RuntimeError("handler exploded")

        return EventHandler(Events.ITEM_ADDED, explode, name="broken.explode")
