"""Core: a revision per plugin, bumped whenever an admin stores the plugin's config, so
that every instance re-applies it (the config itself stays in ``shared.server_settings``).

A frozen copy of the model as it was when this migration was written.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class PluginConfigRevision(Model):
    name = peewee.CharField(primary_key=True, max_length=64)
    revision = peewee.BigIntegerField(default=0)
    updated_at = peewee.DateTimeField(default=utcnow)
    updated_by = peewee.CharField(max_length=128, default="")

    class Meta:
        schema = "shared"
        table_name = "plugin_config_revision"


MODELS = [PluginConfigRevision]


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, MODELS)
    db.drop_tables(MODELS)
