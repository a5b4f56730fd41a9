"""Plugin configs encrypted at rest.

The configs admins give plugins over the API (``plugins.<name>`` rows of
``shared.server_settings``) hold API keys and PINs. Rows stored as plain JSON are
encrypted with the server's key (``encryption.key``, or the key generated in the data
folder): the row's JSON text, sealed for the plugin-config purpose and bound to the row's
key. Like ``0006_identity_hardening``, that needs the configuration, which the server and
``revenge migrate`` pass in; without it the migration refuses rather than leave secrets
readable (it needs nothing when there is no plain row). ``down`` decrypts them again, to
the exact text they had.

A frozen copy of the model as it was when this migration was written. The encrypted form
comes from the plugin host's code, which writes it versioned (``v1:``) so it stays readable
by later versions.
"""

import json

import peewee
from playhouse.migrations import MigrationError

from revenge_core.identity.crypto import SecretBox
from revenge_core.plugins.state import is_sealed_config, seal_config, unseal_config
from revenge_hookspecs.db import Model, bind_models

PREFIX = "plugins."


class ServerSetting(Model):
    key = peewee.CharField(primary_key=True, max_length=128)
    value = peewee.TextField()  # JSON

    class Meta:
        schema = "shared"
        table_name = "server_settings"


MODELS = [ServerSetting]


def _box(migrator):
    config = getattr(migrator, "config", None)
    if config is None:
        raise MigrationError("0011_seal_plugin_configs encrypts stored plugin configs and needs the server's "
                             "configuration for the key: apply it with `revenge migrate up` or by starting "
                             "the server")
    return SecretBox.from_config(config)


def _decoded(text):
    try:
        return json.loads(text)
    except ValueError:  # not JSON (written by hand): encrypted as it is, so its secrets are too
        return None


def _rows(sealed):
    rows = ServerSetting.select().where(ServerSetting.key.startswith(PREFIX))
    return [(row.key, row.value) for row in rows if is_sealed_config(_decoded(row.value)) == sealed]


def _rewrite(migrator, rows, value_of):
    if not rows:  # nothing to do needs no key
        return
    box = _box(migrator)
    for key, text in rows:
        ServerSetting.update(value=value_of(box, key, text)).where(ServerSetting.key == key).execute()


def up(migrator, db):
    bind_models(db, MODELS)
    _rewrite(migrator, _rows(sealed=False),
             lambda box, key, text: json.dumps(seal_config(box, key, text), sort_keys=True))


def down(migrator, db):
    bind_models(db, MODELS)
    _rewrite(migrator, _rows(sealed=True), lambda box, key, text: unseal_config(box, key, json.loads(text)))
