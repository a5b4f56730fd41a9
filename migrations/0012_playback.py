"""Core: playback sessions, watch history, and what home screens need.

- ``library_items.sort_index``: the item's place among its siblings (a season's number in
  its series, an episode's number in its season), so "next up" can walk a show in order.
- ``user_item_state.duration_seconds``: the playing time of what the user last played of
  the item, so "continue watching" can tell 5 % from 90 % without probing again.
- ``playback_sessions``: one row per press of play, readable by every instance, so a
  segment request may land on any of them.
- ``watch_history``: one row per playback (start to stop), for history and statistics.

Frozen copies of the models as they were when this migration was written.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models, is_sqlite, qualified_name


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Shared(Model):
    class Meta:
        schema = "shared"


class User(Shared):
    class Meta:
        table_name = "users"


class LibraryItem(Shared):
    key = peewee.CharField(max_length=100, primary_key=True)

    class Meta:
        table_name = "library_items"


class MediaFile(Shared):
    class Meta:
        table_name = "media_files"


class PlaybackSession(Shared):
    id = peewee.CharField(max_length=32, primary_key=True)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=True)
    item = peewee.ForeignKeyField(LibraryItem, field=LibraryItem.key, column_name="item_key", on_delete="CASCADE",
                                  index=True)
    media_file = peewee.ForeignKeyField(MediaFile, on_delete="CASCADE")
    auth_session_id = peewee.CharField(max_length=64, null=True)
    client = peewee.CharField(max_length=128, default="")
    method = peewee.CharField(max_length=16)
    decision = peewee.TextField()
    media = peewee.TextField()
    audio_index = peewee.IntegerField(null=True)
    state = peewee.CharField(max_length=16, default="created")
    position_seconds = peewee.DoubleField(default=0.0)
    history_id = peewee.IntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow, index=True)
    ended_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "playback_sessions"


class WatchHistory(Shared):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    item = peewee.ForeignKeyField(LibraryItem, field=LibraryItem.key, column_name="item_key", on_delete="CASCADE",
                                  index=True)
    started_at = peewee.DateTimeField(default=utcnow)
    ended_at = peewee.DateTimeField(null=True)
    position_seconds = peewee.DoubleField(default=0.0)
    duration_seconds = peewee.DoubleField(null=True)
    completed = peewee.BooleanField(default=False)
    method = peewee.CharField(max_length=16, default="")
    client = peewee.CharField(max_length=128, default="")

    class Meta:
        table_name = "watch_history"
        indexes = ((("user", "started_at"), False),)


MODELS = [PlaybackSession, WatchHistory]


def up(migrator, db):
    real = "REAL" if is_sqlite(db) else "DOUBLE PRECISION"
    db.execute_sql(f"ALTER TABLE {qualified_name(db, 'shared', 'library_items')} ADD COLUMN sort_index INTEGER")
    db.execute_sql(f"ALTER TABLE {qualified_name(db, 'shared', 'user_item_state')} ADD COLUMN duration_seconds {real}")
    bind_models(db, [User, LibraryItem, MediaFile, *MODELS])  # the referenced tables too, for the FKs
    db.create_tables(MODELS)


def down(migrator, db):
    bind_models(db, [User, LibraryItem, MediaFile, *MODELS])  # the referenced tables too, for the FKs
    db.drop_tables(MODELS)
    db.execute_sql(f"ALTER TABLE {qualified_name(db, 'shared', 'user_item_state')} DROP COLUMN duration_seconds")
    db.execute_sql(f"ALTER TABLE {qualified_name(db, 'shared', 'library_items')} DROP COLUMN sort_index")
