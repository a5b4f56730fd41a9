"""Library tables, all in the ``shared`` schema (``shared_`` table prefix on SQLite).

- ``libraries``: what an admin set up (content type, folders on a storage backend, options).
- ``media_files``: every file a scan found and a content type claimed, with the fingerprint
  (size, mtime, inode) the scanner compares against and the fingerprint last ingested; a file
  is *pending* while the two differ, which makes a scan that died half way resumable.
- ``library_items``: the item registry. Content types register every item they make; grants,
  user data, artwork and home screens go by its keys.
- ``scan_runs``: one row per scan, its progress and counts; at most one queued and one
  running per library (a partial unique index), which is the lock across instances.
- ``user_item_state``: favourites, watched, progress per user and item key, so it survives
  renames and moves of the files behind the item.
"""

from __future__ import annotations

import datetime

import peewee

from revenge_hookspecs.db import Model

from ..db.models import utcnow
from ..identity.models import User


class Shared(Model):
    class Meta:
        schema = "shared"


class LibraryRow(Shared):
    name = peewee.CharField(max_length=128, unique=True)
    content_type = peewee.CharField(max_length=64)
    paths = peewee.TextField()  # JSON list of folders on the storage backend
    storage = peewee.CharField(max_length=64, default="localfs")
    enabled = peewee.BooleanField(default=True)
    scan_on_startup = peewee.BooleanField(default=False)
    realtime = peewee.BooleanField(default=False)
    languages = peewee.TextField(default='["en"]')  # JSON
    providers = peewee.TextField(default="[]")  # JSON
    settings = peewee.TextField(default="{}")  # JSON
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "libraries"


class MediaFileRow(Shared):
    library = peewee.ForeignKeyField(LibraryRow, on_delete="CASCADE", backref="files")
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
    moved_from = peewee.TextField(null=True)  # set until the content type has heard of the move
    error = peewee.TextField(null=True)
    missing_since = peewee.DateTimeField(null=True)
    first_seen = peewee.DateTimeField(default=utcnow)
    last_seen = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "media_files"
        indexes = ((("library", "path"), True), (("library", "inode"), False))


class LibraryItem(Shared):
    key = peewee.CharField(max_length=100, primary_key=True)
    library = peewee.ForeignKeyField(LibraryRow, on_delete="CASCADE", backref="items")
    item_type = peewee.CharField(max_length=32)
    title = peewee.TextField()
    parent_key = peewee.CharField(max_length=100, null=True, index=True)
    year = peewee.IntegerField(null=True)
    sort_index = peewee.IntegerField(null=True)  # place among its siblings: season or episode number
    added_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "library_items"
        indexes = ((("library", "item_type"), False),)


class MediaFileItem(Shared):
    """A further item a file plays besides its ``item_key`` (the later episodes of ``S01E02E03``)."""

    file = peewee.ForeignKeyField(MediaFileRow, on_delete="CASCADE")
    item_key = peewee.CharField(max_length=100, index=True)

    class Meta:
        table_name = "media_file_items"
        primary_key = peewee.CompositeKey("file", "item_key")


class ScanRun(Shared):
    library = peewee.ForeignKeyField(LibraryRow, on_delete="CASCADE", backref="scans")
    mode = peewee.CharField(max_length=16)  # full | incremental | watch
    status = peewee.CharField(max_length=16, default="queued")  # queued | running | done | failed | cancelled
    paths = peewee.TextField(null=True)  # JSON list: a path-limited scan; NULL: the whole library
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
    duration_seconds = peewee.DoubleField(null=True)  # of what was last played, for resume percentages
    last_played_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "user_item_state"
        primary_key = peewee.CompositeKey("user", "item")
        indexes = ((("item",), False),)


class PlaybackSession(Shared):
    """One press of play: what is played, how (the decision), and where the player is."""

    id = peewee.CharField(max_length=32, primary_key=True)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=True)
    item = peewee.ForeignKeyField(LibraryItem, field=LibraryItem.key, column_name="item_key", on_delete="CASCADE",
                                  index=True)
    media_file = peewee.ForeignKeyField(MediaFileRow, on_delete="CASCADE")
    auth_session_id = peewee.CharField(max_length=64, null=True)
    client = peewee.CharField(max_length=128, default="")
    method = peewee.CharField(max_length=16)  # direct_play | remux | transcode
    decision = peewee.TextField()  # JSON
    media = peewee.TextField()  # JSON: the probe facts and subtitle tracks the session serves
    audio_index = peewee.IntegerField(null=True)
    state = peewee.CharField(max_length=16, default="created")  # created | playing | paused | stopped
    position_seconds = peewee.DoubleField(default=0.0)
    history_id = peewee.IntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow, index=True)
    ended_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "playback_sessions"


class WatchHistory(Shared):
    """One playback from start to stop."""

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


MODELS: list[type[peewee.Model]] = [User, LibraryRow, MediaFileRow, MediaFileItem, LibraryItem, ScanRun,
                                    UserItemState, PlaybackSession, WatchHistory]


def iso(value: datetime.datetime | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with ``Z``."""
    return None if value is None else value.replace(tzinfo=datetime.UTC).isoformat().replace("+00:00", "Z")


COUNTS = ("seen", "new", "changed", "moved", "missing", "restored", "removed", "unchanged", "errors")
"""The counters of a scan run."""
