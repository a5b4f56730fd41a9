"""The item registry and what users keep per item (favourite, watched, progress).

Content types register every item they create; the registry announces them with
``item.added``, ``item.updated`` and ``item.removed``. Removing an item removes with it the
grants on it, every user's state on it (decided: user data goes with the item; a file that
disappears keeps its item for ``library.missing_grace_hours`` first, so a move or an
unplugged disk costs nobody their progress) and its artwork.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from loguru import logger

from revenge_hookspecs.errors import BadRequest, NotFound
from revenge_hookspecs.media import ItemRef, parse_item_key
from revenge_hookspecs.types import Events

from ..db.models import utcnow
from ..identity.models import Grant
from .models import LibraryItem, LibraryRow, PlaybackSession, UserItemState, WatchHistory, iso

if TYPE_CHECKING:
    from .home import Visibility
    from .service import LibraryService

CHUNK = 500
STATE_FIELDS = ("favourite", "watched", "position_seconds", "play_count")
MAX_POSITION = 7 * 86400.0


def item_ref_of(row: LibraryItem) -> ItemRef:
    return ItemRef(key=row.key, library_id=str(row.library_id), title=row.title, parent_key=row.parent_key,
                   year=row.year, added_at=row.added_at, sort_index=row.sort_index)


def _chunks(values: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class ItemRegistry:
    def __init__(self, service: LibraryService):
        self.service = service

    async def upsert(self, items: Iterable[ItemRef]) -> None:
        """Add or update items (``added_at`` is kept once set); emits item.added / item.updated."""
        refs: dict[str, ItemRef] = {}
        for item in items:
            if not isinstance(item, ItemRef):
                raise TypeError(f"upsert_items takes ItemRef, not {type(item).__name__}")
            refs[item.key] = item  # the last one of a key wins, as in one upsert per item
        if not refs:
            return
        library_ids = {int(ref.library_id) for ref in refs.values() if ref.library_id.isdigit()}
        now = utcnow()

        def write() -> tuple[list[ItemRef], list[ItemRef]]:
            added, updated = [], []
            with self.service.db.database.atomic():
                known_libraries = {i for (i,) in LibraryRow.select(LibraryRow.id)
                                   .where(LibraryRow.id.in_(list(library_ids))).tuples()} if library_ids else set()
                unknown = sorted({r.library_id for r in refs.values()
                                  if not r.library_id.isdigit() or int(r.library_id) not in known_libraries})
                if unknown:
                    raise NotFound(f"no library {unknown[0]!r}")
                existing = {}
                for chunk in _chunks(list(refs)):
                    existing.update({row.key: row for row in LibraryItem.select().where(LibraryItem.key.in_(chunk))})
                inserts = []
                for key, ref in refs.items():
                    row = existing.get(key)
                    values = {"library": int(ref.library_id), "item_type": ref.item_type, "title": ref.title,
                              "parent_key": ref.parent_key, "year": ref.year, "sort_index": ref.sort_index}
                    if row is None:
                        inserts.append({"key": key, "added_at": ref.added_at or now, "updated_at": now, **values})
                        added.append(attrs.evolve(ref, added_at=ref.added_at or now))
                    elif any(getattr(row, f if f != "library" else "library_id") != v for f, v in values.items()):
                        LibraryItem.update(updated_at=now, **values).where(LibraryItem.key == key).execute()
                        updated.append(attrs.evolve(ref, added_at=row.added_at))
                for chunk in _chunks(inserts, 100):
                    LibraryItem.insert_many(chunk).execute()
            return added, updated

        added, updated = await self.service.run(write)
        events = self.service.services.events
        for name, refs_done in ((Events.ITEM_ADDED, added), (Events.ITEM_UPDATED, updated)):
            for ref in refs_done:
                await events.emit(name, _event_payload(ref))

    async def remove(self, keys: Iterable[str]) -> list[ItemRef]:
        """Forget items with their grants, users' state and artwork; emits item.removed. Unknown keys are ignored."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            parse_item_key(key)
        if not wanted:
            return []

        def write() -> list[ItemRef]:
            self.service.db.bind([Grant])
            gone: list[ItemRef] = []
            with self.service.db.database.atomic():
                for chunk in _chunks(wanted):
                    gone += [item_ref_of(row) for row in LibraryItem.select().where(LibraryItem.key.in_(chunk))]
                    # Explicit, like the cascades of the tables, so nothing depends on foreign_keys=1.
                    UserItemState.delete().where(UserItemState.item.in_(chunk)).execute()
                    PlaybackSession.delete().where(PlaybackSession.item.in_(chunk)).execute()
                    WatchHistory.delete().where(WatchHistory.item.in_(chunk)).execute()
                    Grant.delete().where(Grant.resource_type == "item", Grant.resource_id.in_(chunk)).execute()
                    LibraryItem.delete().where(LibraryItem.key.in_(chunk)).execute()
            return gone

        gone = await self.service.run(write)
        artwork = getattr(self.service.services, "artwork", None)
        for ref in gone:
            if artwork is not None and hasattr(artwork, "remove_item"):
                try:
                    await artwork.remove_item(ref.key)
                except Exception as exc:  # the item is gone; a stray image is only disk space
                    logger.warning("could not drop the artwork of item {}: {}", ref.key, exc)
            await self.service.services.events.emit(Events.ITEM_REMOVED, _event_payload(ref))
        return gone

    async def get(self, key: str) -> ItemRef | None:
        try:
            parse_item_key(key)
        except ValueError:
            return None
        row = await self.service.run(lambda: LibraryItem.get_or_none(LibraryItem.key == key))
        return None if row is None else item_ref_of(row)

    async def library_of(self, keys: Iterable[str]) -> dict[str, str]:
        """item key -> library id, for the keys that are registered."""
        wanted = list(dict.fromkeys(keys))

        def read() -> dict[str, str]:
            out: dict[str, str] = {}
            for chunk in _chunks(wanted):
                rows = LibraryItem.select(LibraryItem.key, LibraryItem.library).where(LibraryItem.key.in_(chunk))
                out.update({key: str(library) for key, library in rows.tuples()})
            return out

        return await self.service.run(read) if wanted else {}

    # --- users' state -------------------------------------------------------------------------------

    async def state(self, user_id: int, key: str) -> dict[str, Any]:
        row = await self.service.run(lambda: UserItemState.get_or_none(UserItemState.user == user_id,
                                                                       UserItemState.item == key))
        return _state_dict(key, row)

    async def set_state(self, user_id: int, key: str, changes: Mapping[str, Any], *,
                        visibility: Visibility | None = None) -> dict[str, Any]:
        """Change a user's state on an item. ``watched: true`` counts a play and rewinds to 0;
        a position marks the item as played now.

        ``watched`` on a series or a season applies to every episode below it as well, in the
        same transaction: ``true`` counts a play on each episode not watched yet, ``false``
        clears watched and the position of all of them (marking is not a playback, so no
        history is written). The answer is the container's own state, with ``episodes``: how
        many episodes lie below it.

        :param visibility: what the user may see; episodes outside it are left alone (and not
            counted), as if they did not exist. ``None``: every episode.
        :raises BadRequest: a field is invalid."""
        values = check_state(changes)
        now = utcnow()
        container = str(key).partition(":")[0] in CONTAINER_TYPES

        def write() -> tuple[UserItemState, int | None]:
            with self.service.db.database.atomic():
                if not LibraryItem.select().where(LibraryItem.key == key).exists():
                    raise NotFound("Not found.")
                row = UserItemState.get_or_none(UserItemState.user == user_id, UserItemState.item == key)
                created = row is None
                if created:
                    row = UserItemState(user=user_id, item=key)
                if values.get("watched") is True and not row.watched:
                    if not container:  # a series or season is not played itself; its episodes are
                        row.play_count = (row.play_count or 0) + 1
                    row.position_seconds = 0.0
                    row.last_played_at = now
                if "position_seconds" in values:
                    row.last_played_at = now
                for field, value in values.items():
                    setattr(row, field, value)
                if container and values.get("watched") is False:
                    row.position_seconds = 0.0
                row.updated_at = now
                row.save(force_insert=created)
                episodes = None
                if container:
                    below = episodes_below([key], visibility.condition() if visibility else None)
                    if "watched" in values:
                        mark_watched(user_id, below, values["watched"], now)
                    episodes = len(below)
                return row, episodes

        row, episodes = await self.service.run(write)
        state = _state_dict(key, row)
        if episodes is not None:
            state["episodes"] = episodes
        return state


CONTAINER_TYPES = ("series", "season")
"""Item types whose ``watched`` reaches the episodes below them."""
EPISODE = "episode"


def episodes_below(keys: list[str], condition: Any = None) -> list[str]:
    """Blocking: the keys of the episodes under the given items (through seasons), in a few queries.

    :param condition: a further WHERE condition on the episodes (what the user may see).
    """
    found: list[str] = []
    frontier, seen = list(keys), set(keys)
    for _depth in range(4):  # series -> season -> episode; a little slack for odd trees, never a cycle
        children: list[tuple[str, str]] = []
        for chunk in _chunks(frontier):
            children += list(LibraryItem.select(LibraryItem.key, LibraryItem.item_type)
                             .where(LibraryItem.parent_key.in_(chunk)).tuples())
        frontier = [child for child, _type in children if child not in seen]
        seen.update(frontier)
        episodes = [child for child, item_type in children if item_type == EPISODE]
        if condition is not None and episodes:
            allowed: set[str] = set()
            for chunk in _chunks(episodes):
                allowed.update(k for (k,) in LibraryItem.select(LibraryItem.key)
                               .where(LibraryItem.key.in_(chunk), condition).tuples())
            episodes = [e for e in episodes if e in allowed]
        found += episodes
        if not frontier:
            break
    return list(dict.fromkeys(found))


def mark_watched(user_id: int, keys: list[str], watched: bool, now: Any) -> None:
    """Blocking, inside a transaction: mark items watched (a play each, rewound) or unwatched (rewound)."""
    for chunk in _chunks(keys):
        mine = UserItemState.user == user_id
        if watched:
            have = {item for (item,) in UserItemState.select(UserItemState.item)
                    .where(mine, UserItemState.item.in_(chunk)).tuples()}
            (UserItemState.update(watched=True, play_count=UserItemState.play_count + 1, position_seconds=0.0,
                                  last_played_at=now, updated_at=now)
             .where(mine, UserItemState.item.in_(chunk), UserItemState.watched == False)  # noqa: E712
             .execute())
            fresh = [{"user": user_id, "item": item, "watched": True, "play_count": 1, "position_seconds": 0.0,
                      "favourite": False, "last_played_at": now, "updated_at": now}
                     for item in chunk if item not in have]
            for rows in _chunks(fresh, 100):
                UserItemState.insert_many(rows).on_conflict_ignore().execute()
        else:
            (UserItemState.update(watched=False, position_seconds=0.0, updated_at=now)
             .where(mine, UserItemState.item.in_(chunk)).execute())


def check_state(changes: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(changes, Mapping):
        raise BadRequest("The request body must be a JSON object.")
    unknown = sorted(str(k)[:40] for k in changes if k not in STATE_FIELDS)
    if unknown:
        raise BadRequest(f"Unknown field {unknown[0]!r}; allowed: {', '.join(STATE_FIELDS)}.", {"key": unknown[0]})
    if not changes:
        raise BadRequest(f"Send at least one of: {', '.join(STATE_FIELDS)}.")
    values: dict[str, Any] = {}
    for key in ("favourite", "watched"):
        if key in changes:
            if not isinstance(changes[key], bool):
                raise BadRequest(f"{key} is true or false.", {"key": key})
            values[key] = changes[key]
    if "position_seconds" in changes:
        position = changes["position_seconds"]
        if (isinstance(position, bool) or not isinstance(position, int | float) or not math.isfinite(position)
                or not 0 <= position <= MAX_POSITION):
            raise BadRequest(f"position_seconds is a number of seconds from 0 to {MAX_POSITION:.0f}.",
                             {"key": "position_seconds"})
        values["position_seconds"] = float(position)
    if "play_count" in changes:
        count = changes["play_count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1_000_000:
            raise BadRequest("play_count is a whole number from 0 to 1000000.", {"key": "play_count"})
        values["play_count"] = count
    return values


def _state_dict(key: str, row: UserItemState | None) -> dict[str, Any]:
    if row is None:
        return {"item_key": key, "favourite": False, "watched": False, "play_count": 0, "position_seconds": 0.0,
                "duration_seconds": None, "last_played_at": None, "updated_at": None}
    return {"item_key": key, "favourite": row.favourite, "watched": row.watched, "play_count": row.play_count,
            "position_seconds": row.position_seconds, "duration_seconds": row.duration_seconds,
            "last_played_at": iso(row.last_played_at), "updated_at": iso(row.updated_at)}


def _event_payload(ref: ItemRef) -> dict[str, Any]:
    return {"key": ref.key, "item_type": ref.item_type, "library_id": ref.library_id, "title": ref.title,
            "parent_key": ref.parent_key, "year": ref.year, "sort_index": ref.sort_index}
