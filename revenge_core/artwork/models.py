"""``shared.artwork``: one row per image of an item from one source.

``source`` is the URL it was downloaded from, the local path it was read from, or
``sha256:<hash>`` for bytes handed over; storing the same source for the same item and kind
again finds the row. The file is content-addressed by ``sha256``: rows of equal bytes share it.
"""

from __future__ import annotations

import re

import peewee

from revenge_hookspecs.db import Model

from ..db.models import utcnow

IMAGE_ID = re.compile(r"^[0-9a-f]{24}$")


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


MODELS: list[type[peewee.Model]] = [Artwork]
