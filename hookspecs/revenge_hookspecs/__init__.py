"""The Revenge plugin SDK.

A plugin is a module (or object) with functions marked ``@hookimpl``, published under the
``revenge.plugins`` entry-point group. See ``docs/plugins/`` for the guide and every hook.
"""

import pluggy

from . import db, errors, media, specs
from .context import (
    PluginAccess,
    PluginArtwork,
    PluginCache,
    PluginContext,
    PluginDatabase,
    PluginEvents,
    PluginJobs,
    PluginLibrary,
    PluginMetadata,
    PluginSearch,
)
from .types import (
    PUBLIC,
    REGISTRATION_KINDS,
    ArrConnector,
    AuthProvider,
    Caller,
    ContentType,
    Event,
    EventHandler,
    Events,
    FileInfo,
    HostInfo,
    Identity,
    Job,
    MetadataMatch,
    MetadataProvider,
    MetadataSource,
    Migrations,
    Notification,
    NotificationChannel,
    Route,
    Schedule,
    Scrobbler,
    SearchDocumentType,
    SearchField,
    Storage,
    StorageBackend,
)

PROJECT = specs.PROJECT
ENTRY_POINT_GROUP = "revenge.plugins"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = specs.hookspec

__version__ = "0.1.0"

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT",
    "PUBLIC",
    "REGISTRATION_KINDS",
    "ArrConnector",
    "AuthProvider",
    "Caller",
    "ContentType",
    "Event",
    "EventHandler",
    "Events",
    "FileInfo",
    "HostInfo",
    "Identity",
    "Job",
    "MetadataMatch",
    "MetadataProvider",
    "MetadataSource",
    "Migrations",
    "Notification",
    "NotificationChannel",
    "PluginAccess",
    "PluginArtwork",
    "PluginCache",
    "PluginContext",
    "PluginDatabase",
    "PluginEvents",
    "PluginJobs",
    "PluginLibrary",
    "PluginMetadata",
    "PluginSearch",
    "Route",
    "Schedule",
    "Scrobbler",
    "SearchDocumentType",
    "SearchField",
    "Storage",
    "StorageBackend",
    "db",
    "errors",
    "hookimpl",
    "hookspec",
    "media",
    "specs",
]
