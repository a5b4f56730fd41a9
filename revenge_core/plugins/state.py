"""What every instance follows: admins' toggles and the revisions of plugins' stored configs.

``shared.plugin_state`` says whether a plugin is wanted. The config an admin gives a plugin
over the API is kept in ``shared.server_settings`` (key ``plugins.<name>``), and each time
it is stored, the plugin's row in ``shared.plugin_config_revision`` is bumped. The host
polls both small tables; a revision it has not applied yet makes it read the stored
config again and restart the plugin with it.
"""

from __future__ import annotations

from typing import Any

import attrs
import peewee

from revenge_hookspecs.db import Model

from ..db.models import PluginState, utcnow


class PluginConfigRevision(Model):
    """Bumped whenever an admin stores a plugin's config; instances re-apply on a change."""

    name = peewee.CharField(primary_key=True, max_length=64)
    revision = peewee.BigIntegerField(default=0)
    updated_at = peewee.DateTimeField(default=utcnow)
    updated_by = peewee.CharField(max_length=128, default="")

    class Meta:
        schema = "shared"
        table_name = "plugin_config_revision"


@attrs.frozen
class StoredState:
    """One reading of both tables: plugins with a stored toggle, and config revisions."""

    enabled: dict[str, bool]
    config_revisions: dict[str, int]


def read_stored_state(db: Any) -> StoredState:
    """Blocking; run it on a database thread."""
    db.bind([PluginState, PluginConfigRevision])
    return StoredState(
        enabled={row.name: row.enabled for row in PluginState.select(PluginState.name, PluginState.enabled)},
        config_revisions={row.name: row.revision for row in
                          PluginConfigRevision.select(PluginConfigRevision.name, PluginConfigRevision.revision)},
    )


def bump_config_revision(db: Any, name: str, actor: str = "") -> None:
    """Tell every instance that the plugin's stored config changed (blocking)."""
    db.bind([PluginConfigRevision])
    now = utcnow()
    PluginConfigRevision.insert(name=name, revision=1, updated_at=now, updated_by=actor).on_conflict(
        conflict_target=[PluginConfigRevision.name],
        update={PluginConfigRevision.revision: PluginConfigRevision.revision + 1,
                PluginConfigRevision.updated_at: now, PluginConfigRevision.updated_by: actor},
    ).execute()
