"""Access: the role catalogue (built-in and custom roles) and the revision stamp every
instance polls to learn that roles or policies changed.

A frozen copy of the models as they were when this migration was written.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Role(Model):
    name = peewee.CharField(primary_key=True, max_length=32)
    description = peewee.CharField(max_length=256, default="")
    builtin = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        schema = "shared"
        table_name = "roles"


class AccessRevision(Model):
    name = peewee.CharField(primary_key=True, max_length=32)
    revision = peewee.BigIntegerField(default=0)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        schema = "shared"
        table_name = "access_revision"


MODELS = [Role, AccessRevision]


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, MODELS)
    db.drop_tables(MODELS)
