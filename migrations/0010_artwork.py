"""Core: stored images of items (``shared.artwork``).

A frozen copy of the model as it was when this migration was written. One row per image of
an item from one source (a URL, a local path, or ``sha256:<hash>`` for bytes handed over);
the file itself is content-addressed on disk, so rows sharing its hash share one file.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Artwork(Model):
    id = peewee.CharField(max_length=24, primary_key=True)
    item_key = peewee.CharField(max_length=100)
    kind = peewee.CharField(max_length=16)
    source = peewee.TextField()
    language = peewee.CharField(max_length=35, null=True)
    sha256 = peewee.CharField(max_length=64, index=True)
    width = peewee.IntegerField()
    height = peewee.IntegerField()
    alpha = peewee.BooleanField(default=False)
    blurhash = peewee.CharField(max_length=64)
    mime = peewee.CharField(max_length=32)
    created = peewee.DateTimeField(default=utcnow)

    class Meta:
        schema = "shared"
        table_name = "artwork"
        indexes = ((("item_key", "kind", "source"), True), (("source",), False))


def up(migrator, db):
    bind_models(db, [Artwork])
    db.create_tables([Artwork])


def down(migrator, db):
    bind_models(db, [Artwork])
    db.drop_tables([Artwork])
