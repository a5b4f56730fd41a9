"""Core: libraries, their files, the item registry, scan runs and users' state per item.

A frozen copy of the models as they were when this migration was written. At most one
queued and one running scan per library is enforced by a partial unique index, so two
instances (or two requests) can never run two scans of one library at once.
"""

import datetime

import peewee

from revenge_hookspecs.db import Model, bind_models, physical_table, qualified_name


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Shared(Model):
    class Meta:
        schema = "shared"


class User(Shared):
    # Only referenced (created by 0003_identity).
    class Meta:
        table_name = "users"


class LibraryRow(Shared):
    name = peewee.CharField(max_length=128, unique=True)
    content_type = peewee.CharField(max_length=64)
    paths = peewee.TextField()
    storage = peewee.CharField(max_length=64, default="localfs")
    enabled = peewee.BooleanField(default=True)
    scan_on_startup = peewee.BooleanField(default=False)
    realtime = peewee.BooleanField(default=False)
    languages = peewee.TextField(default='["en"]')
    providers = peewee.TextField(default="[]")
    settings = peewee.TextField(default="{}")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "libraries"


class MediaFileRow(Shared):
    library = peewee.ForeignKeyField(LibraryRow, on_delete="CASCADE")
    path = peewee.TextField()
    root = peewee.TextField()
    relative_path = peewee.TextField()
    size = peewee.BigIntegerField()
    mtime = peewee.DoubleField()
    inode = peewee.BigIntegerField(null=True)
    device = peewee.BigIntegerField(null=True)
    item_key = peewee.CharField(max_length=100, null=True, index=True)
    ingested_size = peewee.BigIntegerField(null=True)
    ingested_mtime = peewee.DoubleField(null=True)
    moved_from = peewee.TextField(null=True)
    error = peewee.TextField(null=True)
    missing_since = peewee.DateTimeField(null=True)
    first_seen = peewee.DateTimeField(default=utcnow)
    last_seen = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "media_files"
        indexes = ((("library", "path"), True), (("library", "inode"), False))


class LibraryItem(Shared):
    key = peewee.CharField(max_length=100, primary_key=True)
    library = peewee.ForeignKeyField(LibraryRow, on_delete="CASCADE")
    item_type = peewee.CharField(max_length=32)
    title = peewee.TextField()
    parent_key = peewee.CharField(max_length=100, null=True, index=True)
    year = peewee.IntegerField(null=True)
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "library_items"
        indexes = ((("library", "item_type"), False),)


class ScanRun(Shared):
    library = peewee.ForeignKeyField(LibraryRow, on_delete="CASCADE")
    mode = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=16, default="queued")
    paths = peewee.TextField(null=True)
    requested_by = peewee.CharField(max_length=128, default="")
    seen = peewee.IntegerField(default=0)
    new = peewee.IntegerField(default=0)
    changed = peewee.IntegerField(default=0)
    moved = peewee.IntegerField(default=0)
    missing = peewee.IntegerField(default=0)
    restored = peewee.IntegerField(default=0)
    removed = peewee.IntegerField(default=0)
    unchanged = peewee.IntegerField(default=0)
    errors = peewee.IntegerField(default=0)
    total = peewee.IntegerField(default=0)
    done = peewee.IntegerField(default=0)
    queued_at = peewee.DateTimeField(default=utcnow)
    started_at = peewee.DateTimeField(null=True)
    heartbeat_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    error = peewee.TextField(null=True)

    class Meta:
        table_name = "scan_runs"
        indexes = ((("library", "id"), False),)


class UserItemState(Shared):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    item = peewee.ForeignKeyField(LibraryItem, field=LibraryItem.key, column_name="item_key", on_delete="CASCADE")
    favourite = peewee.BooleanField(default=False)
    watched = peewee.BooleanField(default=False)
    play_count = peewee.IntegerField(default=0)
    position_seconds = peewee.DoubleField(default=0.0)
    last_played_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "user_item_state"
        primary_key = peewee.CompositeKey("user", "item")
        indexes = ((("item",), False),)


MODELS = [LibraryRow, MediaFileRow, LibraryItem, ScanRun, UserItemState]
ACTIVE_INDEX = "scan_runs_one_active"


def up(migrator, db):
    bind_models(db, [User, *MODELS])
    db.create_tables(MODELS)
    # One queued and one running scan per library at most, whichever instance asks.
    index = physical_table(db, "shared", ACTIVE_INDEX)[1]
    db.execute_sql(f'CREATE UNIQUE INDEX "{index}" ON {qualified_name(db, "shared", "scan_runs")} '
                   "(library_id, status) WHERE status IN ('queued', 'running')")


def down(migrator, db):
    bind_models(db, [User, *MODELS])
    db.drop_tables(list(reversed(MODELS)))
