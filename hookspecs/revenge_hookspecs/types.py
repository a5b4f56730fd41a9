"""Typed registrations that plugins return from registration hooks.

Every registration is a frozen attrs class with a ``name`` that is unique within its kind
across all enabled plugins; the host rejects duplicates and says which plugins clashed.
Behaviour lives on the registered objects (usually ``async`` callables), which the host
awaits with its own timeout and error handling.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
PUBLIC = "public"
"""Permission value for a route that anyone may call without credentials."""

CORE_ROUTE_PREFIXES = ("/auth", "/me", "/admin", "/setup", "/users", "/settings", "/system", "/libraries", "/items",
                       "/images", "/search")
"""Namespaces below ``/api/v1`` that belong to the core; a plugin route inside one is refused."""


def is_core_route_path(path: str) -> bool:
    """Whether a plugin route path (below ``/api/v1``) falls in a core namespace."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in CORE_ROUTE_PREFIXES)


SCHEMAS = ("public", "shared", "qar")
"""Database schemas: content (``public``), shared services (``shared``), adult (``qar``)."""


def _valid_name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} {value!r} must match {NAME_PATTERN.pattern}"
        )


def _is_callable(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not callable(value):
        raise TypeError(f"{type(instance).__name__}.{attribute.name} must be callable")


# --- lifecycle -----------------------------------------------------------------------------


@attrs.frozen
class HostInfo:
    """What every plugin learns in ``revenge_configure``: facts about the host, no secrets.

    :param version: the version of the Revenge server.
    :param api_prefix: where API routes are mounted, ``/api/v1``.
    :param data_dir: the server's data directory (each plugin also gets its own below it).
    :param database_driver: ``sqlite`` or ``postgres``.
    :param legacy_enabled: whether the adult (QAR) module is switched on.
    """

    version: str
    api_prefix: str
    data_dir: Path
    database_driver: str
    legacy_enabled: bool = False


@attrs.frozen
class Migrations:
    """A folder of numbered migration scripts (``0001_initial.py``) that a plugin ships.

    Each script defines ``up(migrator, db)`` and optionally ``down(migrator, db)``
    (see ``playhouse.migrations``). The host applies them the first time the plugin is
    enabled and keeps their history apart from every other plugin's.
    """

    path: Path = attrs.field(converter=Path)


# --- content, metadata, integrations ------------------------------------------------------


@attrs.frozen
class ContentType:
    """A kind of media item the server can hold (movie, episode, track, ...).

    :param name: machine name, e.g. ``movie``.
    :param label: human name, e.g. ``Movies``.
    :param extensions: lower-case file extensions (without dot) this type claims in a scan.
    :param schema: database schema the type's rows live in (``public`` or ``qar``).
    :param claim: optional ``claim(path) -> bool`` that decides finer than by extension.
    :param handler: the :class:`~revenge_hookspecs.media.ContentHandler` that turns a
        library's files into items; a content type without one cannot own a library.
    :param item_types: the item types (first part of item keys) it creates, e.g.
        ``{"series", "season", "episode"}``; used to route item requests to it.
    """

    name: str = attrs.field(validator=_valid_name)
    label: str
    extensions: frozenset[str] = attrs.field(converter=frozenset, factory=frozenset)
    schema: str = attrs.field(default="public", validator=attrs.validators.in_(("public", "qar")))
    claim: Callable[[str], bool] | None = None
    handler: Any = None
    item_types: frozenset[str] = attrs.field(converter=frozenset, factory=frozenset)

    def claims(self, path: str) -> bool:
        """Whether a scan hands this file to the content type (by extension, then ``claim``)."""
        extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
        if self.extensions and extension not in self.extensions:
            return False
        return self.claim(path) if self.claim is not None else bool(self.extensions)


@attrs.frozen
class MetadataMatch:
    """One candidate a metadata provider found for a query."""

    provider: str
    external_id: str
    title: str
    year: int | None = None
    score: float = 0.0
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@runtime_checkable
class MetadataSource(Protocol):
    """What a metadata provider object offers; all methods are coroutines.

    Raise (ideally :class:`~revenge_hookspecs.media.ProviderError`) when the provider cannot
    answer, so the server moves on to the next provider; return ``[]`` or ``None`` when it
    answered but knows nothing.
    """

    async def search(self, content_type: str, query: str, *, year: int | None = None,
                     language: str | None = None,
                     external_ids: Mapping[str, str] | None = None) -> list[MetadataMatch]:
        """Candidates for a title (and year), best first, each scored with
        :func:`~revenge_hookspecs.media.match_score`. ``external_ids`` (``imdb``, ``tmdb``,
        ``tvdb``...) known from local metadata let a provider look the item up directly."""

    async def lookup(self, content_type: str, external_id: str, *,
                     language: str | None = None) -> Any:
        """Full metadata for one id as :class:`~revenge_hookspecs.media.ItemMetadata` (for a
        series including its seasons and episodes), or ``None`` when the provider does not know it."""


@attrs.frozen
class MetadataProvider:
    """A source of metadata such as TMDb or MusicBrainz.

    :param name: machine name, e.g. ``tmdb``.
    :param content_types: the content type names it can describe.
    :param source: the object that answers queries (see :class:`MetadataSource`).
    :param priority: lower runs first; the host falls back to the next on failure.
    """

    name: str = attrs.field(validator=_valid_name)
    content_types: frozenset[str] = attrs.field(converter=frozenset)
    source: MetadataSource
    priority: int = 100


@attrs.frozen
class ArrConnector:
    """A connection to an *arr application (Radarr, Sonarr, Lidarr, Whisparr, Prowlarr...).

    :param name: machine name of this connector, e.g. ``radarr``.
    :param service: which *arr it talks to.
    :param client: the object that talks to it; its ``async ping()`` is used for health.
    :param content_types: content types it manages.
    """

    name: str = attrs.field(validator=_valid_name)
    service: str
    client: Any
    content_types: frozenset[str] = attrs.field(converter=frozenset, factory=frozenset)


@attrs.frozen
class Scrobbler:
    """A service that receives what users play (Trakt, Last.fm, ListenBrainz...).

    :param name: machine name, e.g. ``trakt``.
    :param content_types: content types it accepts.
    :param client: object with ``async scrobble(user_id, event)``.
    """

    name: str = attrs.field(validator=_valid_name)
    content_types: frozenset[str] = attrs.field(converter=frozenset)
    client: Any


# --- storage --------------------------------------------------------------------------------


@attrs.frozen
class FileInfo:
    """What a storage backend knows of one file or folder, enough to detect change.

    :param path: the path as the backend names it (absolute for local storage).
    :param size: size in bytes (0 for folders).
    :param mtime: modification time, seconds since the epoch.
    :param is_dir: whether it is a folder.
    :param inode: a stable identity across renames where the backend has one.
    :param device: the device the inode belongs to.
    """

    path: str
    size: int
    mtime: float
    is_dir: bool = False
    inode: int | None = None
    device: int | None = None

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.mtime)


@runtime_checkable
class Storage(Protocol):
    """What a storage backend object offers. Paths that escape its roots raise ``PermissionError``."""

    async def list(self, path: str) -> list[FileInfo]:
        """The entries directly inside a folder."""

    def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """Every file below a folder, recursively (folders themselves are not yielded)."""

    async def stat(self, path: str) -> FileInfo:
        """Facts about one path; ``FileNotFoundError`` when it does not exist."""

    def open(self, path: str, start: int = 0, end: int | None = None,
             chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The bytes ``start`` .. ``end`` (inclusive) of a file, in chunks."""

    def roots(self) -> list[str]:
        """The folders this backend serves."""

    # Optional: a backend may also offer these (the server checks with ``hasattr``).
    #
    # def local_path(self, path: str) -> str | None:
    #     """A path on this machine for tools that need one (PyAV, mutagen), or ``None``."""
    #
    # def watch(self, paths: list[str]) -> AsyncIterator[set[str]]:
    #     """Batches of changed paths below ``paths``, for realtime library monitoring."""


@attrs.frozen
class StorageBackend:
    """A place media lives: local folders, a NAS, object storage.

    :param name: machine name, e.g. ``localfs``.
    :param storage: the object implementing :class:`Storage`.
    """

    name: str = attrs.field(validator=_valid_name)
    storage: Storage


# --- HTTP ----------------------------------------------------------------------------------


@attrs.frozen
class Route:
    """An HTTP route a plugin adds under ``/api/v1``.

    :param method: HTTP method.
    :param path: path below ``/api/v1`` starting with ``/``; aiohttp placeholders allowed
        (``/movies/{id}``).
    :param handler: ``async handler(request) -> aiohttp.web.StreamResponse``.
    :param permission: the permission the caller needs, or :data:`PUBLIC`. Required.
    :param summary: one line for the OpenAPI document.
    :param description: longer text for the OpenAPI document.
    :param tags: OpenAPI tags; the plugin name is always added.
    :param request_schema: JSON Schema of the request body, for the OpenAPI document.
    :param response_schema: JSON Schema of a successful response body.
    """

    method: str = attrs.field(converter=str.upper, validator=attrs.validators.in_(HTTP_METHODS))
    path: str = attrs.field()
    handler: Callable[..., Awaitable[Any]] = attrs.field(validator=_is_callable)
    permission: str = attrs.field()
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = attrs.field(converter=tuple, factory=tuple)
    request_schema: Mapping[str, Any] | None = None
    response_schema: Mapping[str, Any] | None = None

    @path.validator
    def _check_path(self, attribute: attrs.Attribute, value: str) -> None:
        if not value.startswith("/") or ".." in value or "//" in value:
            raise ValueError(f"Route.path {value!r} must start with '/' and be normalised")

    @permission.validator
    def _check_permission(self, attribute: attrs.Attribute, value: str) -> None:
        if not value or not isinstance(value, str):
            raise ValueError("Route.permission is required: a permission name or 'public'")


# --- jobs -----------------------------------------------------------------------------------


@attrs.frozen
class Job:
    """Background work a plugin can enqueue by name.

    :param name: unique job name, e.g. ``webhooks.deliver``.
    :param func: ``func(context, **payload)``; may be a coroutine function.
    :param retries: how many times a failed run is retried.
    :param retry_delay: seconds before the first retry; doubles on each further retry.
    :param queue: queue name, for operators (``metadata``, ``library``, ``notification``...).
    :param priority: higher runs first where the queue supports priorities.
    :param timeout: seconds a coroutine job may run before it is cancelled and retried.
    """

    name: str = attrs.field(validator=_valid_name)
    func: Callable[..., Any] = attrs.field(validator=_is_callable)
    retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    retry_delay: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    queue: str = "default"
    priority: int = 0
    timeout: float | None = None


def job_payload(job: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload a job receives: a mapping with text keys, after one JSON round trip.

    The server's queue and the test kit both apply this rule, so a payload that passes in a
    plugin's tests passes in the server. :raises ValueError: saying what is wrong.
    """
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValueError(f"the payload of job {job!r} must be a mapping of keyword arguments, "
                         f"not {type(payload).__name__}")
    keys = [key for key in payload if not isinstance(key, str)]
    if keys:
        raise ValueError(f"the payload of job {job!r} must have text keys, got {keys[0]!r}")
    try:
        text = json.dumps(dict(payload), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the payload of job {job!r} must be JSON-serialisable: {exc}") from None
    return json.loads(text)


@attrs.frozen
class Schedule:
    """Run a job periodically.

    :param name: unique schedule name.
    :param job: the name of a :class:`Job` (of any enabled plugin).
    :param crontab: five cron fields, ``minute hour day month day_of_week``.
    :param payload: keyword arguments passed to the job.
    """

    name: str = attrs.field(validator=_valid_name)
    job: str
    crontab: str = attrs.field(default="0 * * * *")
    payload: Mapping[str, Any] = attrs.field(factory=dict)

    @crontab.validator
    def _check_crontab(self, attribute: attrs.Attribute, value: str) -> None:
        if len(value.split()) != 5:
            raise ValueError(f"Schedule.crontab {value!r} must have five fields")


# --- events ----------------------------------------------------------------------------------


class Events:
    """Names of the events the host emits. Plugins may emit their own, namespaced by plugin."""

    ITEM_ADDED = "item.added"
    ITEM_UPDATED = "item.updated"
    ITEM_REMOVED = "item.removed"
    LIBRARY_SCANNED = "library.scanned"
    PLAYBACK_STARTED = "playback.started"
    PLAYBACK_STOPPED = "playback.stopped"
    PLUGIN_ENABLED = "plugin.enabled"
    PLUGIN_DISABLED = "plugin.disabled"


@attrs.frozen
class Event:
    """Something that happened. ``payload`` is JSON-serialisable."""

    name: str
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    source: str = "core"
    occurred_at: datetime = attrs.field(factory=datetime.now)


@attrs.frozen
class EventHandler:
    """Subscribe to an event.

    :param event: event name (see :class:`Events`), or ``*`` for every event.
    :param handler: ``handler(event)``; may be a coroutine function.
    :param name: unique handler name.
    """

    event: str
    handler: Callable[[Event], Any] = attrs.field(validator=_is_callable)
    name: str = attrs.field(validator=_valid_name)


# --- auth and notifications ----------------------------------------------------------------


@attrs.frozen
class Identity:
    """Who an authentication provider says the caller is."""

    provider: str
    subject: str
    username: str
    email: str | None = None
    display_name: str | None = None
    groups: tuple[str, ...] = ()


@attrs.frozen
class Caller:
    """Who made an HTTP request, as a plugin sees it.

    :param user_id: the user.
    :param username: for display and logs.
    :param roles: the user's roles (``admin``, ``moderator``, ``user``, ``guest``, custom).
    :param scopes: what the credential may do (``read``, ``write``, ``admin``, ``legacy:read``).
    """

    user_id: int
    username: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()


@attrs.frozen
class AuthProvider:
    """A way to log in besides the built-in password (OIDC, LDAP, a reverse proxy header).

    :param name: machine name, e.g. ``oidc``.
    :param authenticate: ``async authenticate(credentials: Mapping) -> Identity | None``.
    :param label: what login screens show.
    """

    name: str = attrs.field(validator=_valid_name)
    authenticate: Callable[[Mapping[str, Any]], Awaitable[Identity | None]] = attrs.field(
        validator=_is_callable
    )
    label: str = ""


@attrs.frozen
class Notification:
    """A message for people: title, body, severity and optional structured data."""

    title: str
    body: str = ""
    severity: str = attrs.field(
        default="info", validator=attrs.validators.in_(("info", "warning", "error"))
    )
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class NotificationChannel:
    """A way to reach people: webhook, e-mail, Gotify, ntfy...

    :param name: machine name.
    :param send: ``async send(notification: Notification) -> None``; raise to report failure.
    """

    name: str = attrs.field(validator=_valid_name)
    send: Callable[[Notification], Awaitable[None]] = attrs.field(validator=_is_callable)


# --- search ----------------------------------------------------------------------------------


@attrs.frozen
class SearchField:
    """A field of a search document.

    :param name: field name.
    :param type: ``string``, ``int``, ``float``, ``bool`` or ``string[]``.
    :param searchable: whether free-text queries match it.
    :param facet: whether results can be counted and filtered by it.
    """

    name: str = attrs.field(validator=_valid_name)
    type: str = attrs.field(
        default="string",
        validator=attrs.validators.in_(("string", "int", "float", "bool", "string[]")),
    )
    searchable: bool = False
    facet: bool = False


@attrs.frozen
class SearchDocumentType:
    """A kind of document in the search index.

    :param name: document type, e.g. ``movie``.
    :param fields: the fields besides ``id`` and ``title`` (always present and searchable).
    :param load_all: ``async`` iterator yielding every document (dicts with ``id`` and
        ``title``), used by ``revenge search reindex``.
    """

    name: str = attrs.field(validator=_valid_name)
    fields: tuple[SearchField, ...] = attrs.field(converter=tuple, factory=tuple)
    load_all: Callable[[], AsyncIterator[Mapping[str, Any]]] | None = None


REGISTRATION_KINDS: dict[str, type] = {
    "content_types": ContentType,
    "metadata_providers": MetadataProvider,
    "arr_connectors": ArrConnector,
    "scrobblers": Scrobbler,
    "storage_backends": StorageBackend,
    "routes": Route,
    "jobs": Job,
    "schedules": Schedule,
    "event_handlers": EventHandler,
    "auth_providers": AuthProvider,
    "notification_channels": NotificationChannel,
    "search_documents": SearchDocumentType,
}
"""Registration hook suffix -> the type each item it returns must have."""


def registration_key(item: Any) -> str:
    """The key under which duplicates of a registration are detected."""
    if isinstance(item, Route):
        return f"{item.method} {item.path}"
    return item.name


def flatten(result: Any) -> Iterable[Any]:
    """A hook may return one registration, an iterable of them, or ``None``."""
    if result is None:
        return ()
    if isinstance(result, (list, tuple, set, frozenset)) or hasattr(result, "__next__"):
        return list(result)
    return (result,)
