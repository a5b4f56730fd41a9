"""Hook specifications: the whole contract between Revenge and its plugins.

Registration hooks are synchronous. They return one registration, an iterable of them,
or ``None``; the async behaviour lives on the registered objects. Every hook except
``revenge_configure``, ``revenge_config_schema`` and ``revenge_migrations`` receives the
plugin's own :class:`~revenge_hookspecs.context.PluginContext`.
A hook implementation may accept fewer arguments than the specification names.

Each hook below is documented in ``docs/plugins/hooks.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from .context import PluginContext
from .types import (
    ArrConnector,
    AuthProvider,
    ContentType,
    EventHandler,
    HostInfo,
    Job,
    MetadataProvider,
    Migrations,
    NotificationChannel,
    Route,
    Schedule,
    Scrobbler,
    SearchDocumentType,
    StorageBackend,
)

PROJECT = "revenge"
hookspec = pluggy.HookspecMarker(PROJECT)

# --- lifecycle ---------------------------------------------------------------------------


@hookspec(historic=True)
def revenge_configure(host: HostInfo) -> None:
    """Learn about the host once, when the plugin is registered.

    Historic: a plugin enabled while the server runs gets the same call.

    :param host: facts about the host (version, data folder, database driver).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_config_schema() -> type | None:
    """Declare the plugin's configuration as an attrs class.

    Values come from the config file section ``plugins.<name>`` and environment variables
    ``REVENGE_PLUGINS_<NAME>_<KEY>``. Invalid values put the plugin in the ``config_error``
    state with a message naming the key; the validated instance is ``context.config``.

    :return: an attrs class whose attributes all have defaults, or ``None``.

    .. versionadded:: 0.1
    """


@hookspec
def revenge_migrations() -> Migrations | None:
    """Ship database migrations; pending ones are applied whenever the plugin is enabled.

    The first enable applies them all; an upgraded plugin's new ones apply at the next
    start or enable.

    Takes no context: ``revenge migrate --plugin NAME`` asks for it without starting the
    plugin.

    :return: where the numbered migration scripts live.

    .. versionadded:: 0.1
    """


@hookspec
def revenge_startup(context: PluginContext) -> Any:
    """Start the plugin's own work; may return an awaitable, which the host awaits.

    Called at server start for enabled plugins and whenever a plugin is enabled.

    .. versionadded:: 0.1
    """


@hookspec
def revenge_shutdown(context: PluginContext) -> Any:
    """Release what ``revenge_startup`` took; may return an awaitable.

    Called at server stop and whenever a plugin is disabled.

    .. versionadded:: 0.1
    """


@hookspec
def revenge_self_check(context: PluginContext) -> Any:
    """Tell whether the plugin can work (credentials valid, folders reachable...).

    Return (or resolve to) ``True`` or ``None`` when all is well; ``False`` or a string
    saying what is wrong, or raise, to put the plugin in the ``failed_self_check`` state.

    .. versionadded:: 0.1
    """


# --- registrations -------------------------------------------------------------------------


@hookspec
def revenge_content_types(context: PluginContext) -> Iterable[ContentType] | ContentType | None:
    """Register kinds of media items (movie, episode, track...).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_metadata_providers(
    context: PluginContext,
) -> Iterable[MetadataProvider] | MetadataProvider | None:
    """Register metadata sources (TMDb, TheTVDB, MusicBrainz...).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_arr_connectors(context: PluginContext) -> Iterable[ArrConnector] | ArrConnector | None:
    """Register connections to *arr applications (Radarr, Sonarr, Lidarr...).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_scrobblers(context: PluginContext) -> Iterable[Scrobbler] | Scrobbler | None:
    """Register scrobbling services (Trakt, Last.fm, ListenBrainz...).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_storage_backends(
    context: PluginContext,
) -> Iterable[StorageBackend] | StorageBackend | None:
    """Register places media lives (local folders, network shares, object storage).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_routes(context: PluginContext) -> Iterable[Route] | Route | None:
    """Register HTTP routes under ``/api/v1``. Each declares its permission or ``public``.

    A disabled plugin's routes answer 404.

    .. versionadded:: 0.1
    """


@hookspec
def revenge_jobs(context: PluginContext) -> Iterable[Job] | Job | None:
    """Register background jobs, enqueued by name through ``context.jobs``.

    .. versionadded:: 0.1
    """


@hookspec
def revenge_schedules(context: PluginContext) -> Iterable[Schedule] | Schedule | None:
    """Register periodic runs of jobs (cron syntax).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_event_handlers(context: PluginContext) -> Iterable[EventHandler] | EventHandler | None:
    """Subscribe to events (item added, playback started or stopped, library scanned...).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_auth_providers(context: PluginContext) -> Iterable[AuthProvider] | AuthProvider | None:
    """Register ways to log in besides the built-in password (OIDC, LDAP...).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_notification_channels(
    context: PluginContext,
) -> Iterable[NotificationChannel] | NotificationChannel | None:
    """Register ways to reach people (webhooks, e-mail, push services).

    .. versionadded:: 0.1
    """


@hookspec
def revenge_search_documents(
    context: PluginContext,
) -> Iterable[SearchDocumentType] | SearchDocumentType | None:
    """Register document types for the search index.

    .. versionadded:: 0.1
    """
