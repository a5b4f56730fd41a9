"""Core: plugin enable/disable state shared by every running instance."""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


class PluginState(Model):
    name = peewee.CharField(primary_key=True, max_length=64)
    enabled = peewee.BooleanField()
    revision = peewee.BigIntegerField(index=True)
    updated_at = peewee.DateTimeField(default=datetime.datetime.utcnow)
    updated_by = peewee.CharField(max_length=128, default="")

    class Meta:
        schema = "shared"
        table_name = "plugin_state"


class PluginMigrationState(Model):
    name = peewee.CharField(primary_key=True, max_length=64)
    applied_at = peewee.DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        schema = "shared"
        table_name = "plugin_migration_state"


MODELS = [PluginState, PluginMigrationState]


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, MODELS)
    db.drop_tables(MODELS)
