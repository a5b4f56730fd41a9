"""Core tables. Plugins declare their own models; see ``revenge_hookspecs.db``."""

from __future__ import annotations

import datetime

import peewee

from revenge_hookspecs.db import Model


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class PluginState(Model):
    """Whether an admin enabled or disabled a plugin; every instance follows this table."""

    name = peewee.CharField(primary_key=True, max_length=64)
    enabled = peewee.BooleanField()
    revision = peewee.BigIntegerField(index=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    updated_by = peewee.CharField(max_length=128, default="")

    class Meta:
        schema = "shared"
        table_name = "plugin_state"


class PluginMigrationState(Model):
    """Which plugins have had their migrations applied, so first enable can run them."""

    name = peewee.CharField(primary_key=True, max_length=64)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        schema = "shared"
        table_name = "plugin_migration_state"


CORE_MODELS: list[type[peewee.Model]] = [PluginState, PluginMigrationState]
