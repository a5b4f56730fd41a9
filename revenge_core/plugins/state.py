"""What every instance follows: admins' toggles and the revisions of plugins' stored configs.

``shared.plugin_state`` says whether a plugin is wanted. The config an admin gives a plugin
over the API is kept in ``shared.server_settings`` (key ``plugins.<name>``), and each time
it is stored, the plugin's row in ``shared.plugin_config_revision`` is bumped. The host
polls both small tables; a revision it has not applied yet makes it read the stored
config again and restart the plugin with it.

Plugin configs hold secrets (API keys, PINs), so the row is stored encrypted as a whole:
``{"$encrypted_config": "v1:..."}``, the section's JSON text sealed with the server's key
(see :mod:`revenge_core.identity.crypto`) for its own purpose and bound to the row's key, so
a value copied onto another plugin's row does not decrypt. Only the host reads and writes
these rows; a plain JSON row (written before migration ``0011_seal_plugin_configs``, or by
hand) is still read, and is encrypted the next time the config is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import peewee

from revenge_hookspecs.db import Model

from ..db.models import PluginState, utcnow

if TYPE_CHECKING:
    from ..identity.crypto import SecretBox

CONFIG_PURPOSE = "plugin-config"
SEALED_CONFIG = "$encrypted_config"


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


def is_sealed_config(stored: Any) -> bool:
    """Whether a decoded ``plugins.<name>`` row is an encrypted config."""
    return isinstance(stored, dict) and set(stored) == {SEALED_CONFIG}


def seal_config(box: SecretBox, key: str, text: str) -> dict[str, str]:
    """The stored form of a config section given as JSON ``text``, bound to the row ``key``."""
    return {SEALED_CONFIG: box.encrypt(CONFIG_PURPOSE, text, context=key)}


def unseal_config(box: SecretBox, key: str, stored: dict[str, str]) -> str:
    """The JSON text :func:`seal_config` sealed for row ``key``.

    :raises revenge_core.identity.crypto.DecryptionError: another key (the message names
        both key ids), another row, or damaged text.
    """
    return box.decrypt(CONFIG_PURPOSE, stored[SEALED_CONFIG], context=key)
