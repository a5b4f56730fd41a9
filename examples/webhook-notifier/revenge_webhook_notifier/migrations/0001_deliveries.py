"""Create the table of delivery attempts.

The model is a frozen copy, not an import of ``models.Delivery``: this script must keep
creating the table as it was at version 0.1 whatever the model becomes later.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models


class Delivery(Model):
    delivery_id = peewee.CharField(max_length=32, index=True)
    event = peewee.CharField(max_length=128)
    target = peewee.CharField(max_length=255)
    url_hash = peewee.CharField(max_length=16)
    attempt = peewee.IntegerField()
    status_code = peewee.IntegerField(null=True)
    ok = peewee.BooleanField()
    error = peewee.TextField(default="")
    duration_ms = peewee.IntegerField()
    attempted_at = peewee.DateTimeField(default=datetime.datetime.utcnow, index=True)

    class Meta:
        schema = "shared"
        table_name = "webhook_deliveries"


def up(migrator, db):
    bind_models(db, [Delivery])
    db.create_tables([Delivery])


def down(migrator, db):
    bind_models(db, [Delivery])
    db.drop_tables([Delivery])
