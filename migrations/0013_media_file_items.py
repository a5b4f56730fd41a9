"""Core: further items a media file plays (``shared.media_file_items``).

A multi-episode file (``S01E02E03``) belongs to its first episode through
``media_files.item_key``; the later episodes are listed here, so that playing any of them finds
the file. Rows go with their file.

A frozen copy of the model as it was when this migration was written.
"""

import peewee

from revenge_hookspecs.db import Model, bind_models


class Shared(Model):
    class Meta:
        schema = "shared"


class MediaFile(Shared):
    class Meta:
        table_name = "media_files"


class MediaFileItem(Shared):
    file = peewee.ForeignKeyField(MediaFile, on_delete="CASCADE")
    item_key = peewee.CharField(max_length=100, index=True)

    class Meta:
        table_name = "media_file_items"
        primary_key = peewee.CompositeKey("file", "item_key")


def up(migrator, db):
    bind_models(db, [MediaFile, MediaFileItem])
    db.create_tables([MediaFileItem])


def down(migrator, db):
    bind_models(db, [MediaFile, MediaFileItem])
    db.drop_tables([MediaFileItem])
