"""The home screen (continue watching, next up, recently added) and users' watch history.

Everything here is read for one user and kept to what they may see (:class:`Visibility`):
items of the libraries granted to them, plus items granted one by one; an admin sees all.
Rows are fetched in a few set-wise queries whatever the size of the user's history (a user
with 5,000 watched episodes costs the same handful of queries as one with five): the user's
state rows in one go, each candidate show's episodes in batches of shows, and item details
for everything shown at the end in one pass.

Series, seasons and episodes are recognised by their item types (``series``, ``season``,
``episode``) and linked by ``parent_key``; their order is ``sort_index`` (a season's or an
episode's number), season 0 being the specials.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
import peewee

from revenge_hookspecs.errors import NotFound

from .items import _chunks
from .models import LibraryItem, LibraryRow, UserItemState, WatchHistory, iso
from .progress import RESUME_FROM, WATCHED_AT, fraction_of, resumable

if TYPE_CHECKING:
    from .service import LibraryService

SERIES, SEASON, EPISODE = "series", "season", "episode"
SPECIALS = 0
"""The ``sort_index`` of the specials season."""
NEW_EPISODES_WINDOW = datetime.timedelta(days=7)
"""Episodes of a show count as new when added within this time before its newest one."""
SHOW_BATCH = 25
"""Shows whose episodes "next up" reads per query; usually the first batch is enough."""


@attrs.frozen
class Visibility:
    """What one user may see: libraries by id and items by key; ``None`` for all (admins)."""

    libraries: frozenset[int] | None
    items: frozenset[str] | None

    @classmethod
    def of(cls, libraries: Iterable[str] | Any, items: Iterable[str] | Any, everything: bool = False) -> Visibility:
        """From the grants' answers (sets of ids, or ``ALL`` when ``everything``)."""
        if everything:
            return cls(None, None)
        return cls(frozenset(int(i) for i in libraries if str(i).isdigit()), frozenset(str(k) for k in items))

    @property
    def everything(self) -> bool:
        return self.libraries is None or self.items is None

    @property
    def nothing(self) -> bool:
        return not self.everything and not self.libraries and not self.items

    def condition(self, item: Any = LibraryItem) -> peewee.Expression | None:
        """A WHERE condition on ``item`` (LibraryItem or an alias of it); ``None``: no restriction."""
        if self.everything:
            return None
        parts = []
        if self.libraries:
            parts.append(item.library.in_(sorted(self.libraries)))
        if self.items:
            parts.append(item.key.in_(sorted(self.items)))
        if not parts:
            return peewee.SQL("1 = 0")
        return parts[0] if len(parts) == 1 else parts[0] | parts[1]


def _where(query: Any, *conditions: peewee.Expression | None) -> Any:
    wanted = [c for c in conditions if c is not None]
    return query.where(*wanted) if wanted else query


def _as_datetime(value: Any) -> datetime.datetime | None:
    """A stored time, also when an aggregate hands it back as text (SQLite)."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value))


def _state(row: Any | None) -> dict[str, Any]:
    if row is None:
        return {"position_seconds": 0.0, "duration_seconds": None, "progress": 0.0, "watched": False,
                "favourite": False, "play_count": 0, "last_played_at": None}
    fraction = fraction_of(row.position_seconds or 0.0, row.duration_seconds)
    return {"position_seconds": row.position_seconds, "duration_seconds": row.duration_seconds,
            "progress": round(fraction or 0.0, 4), "watched": row.watched, "favourite": row.favourite,
            "play_count": row.play_count, "last_played_at": iso(row.last_played_at)}


def _rows_by_key(keys: Iterable[str]) -> dict[str, LibraryItem]:
    wanted = [k for k in dict.fromkeys(keys) if k]
    found: dict[str, LibraryItem] = {}
    for chunk in _chunks(wanted):
        found.update({row.key: row for row in LibraryItem.select().where(LibraryItem.key.in_(chunk))})
    return found


class _Details:
    """Blocking: items with their parent and grandparent, and the user's state, for what a page shows."""

    def __init__(self, user_id: int, keys: Iterable[str]):
        self.items = _rows_by_key(keys)
        self.parents = _rows_by_key(row.parent_key for row in self.items.values())
        self.grandparents = _rows_by_key(row.parent_key for row in self.parents.values())
        self.states: dict[str, UserItemState] = {}
        for chunk in _chunks(list(self.items)):
            self.states.update({row.item_key: row for row in UserItemState.select()
                                .where(UserItemState.user == user_id, UserItemState.item.in_(chunk))})

    def context(self, key: str) -> dict[str, Any]:
        """An item's own fields and its parents' (the season and show of an episode)."""
        row = self.items[key]
        parent = self.parents.get(row.parent_key) if row.parent_key else None
        grand = self.grandparents.get(parent.parent_key) if parent is not None and parent.parent_key else None
        return {"key": row.key, "type": row.item_type, "title": row.title, "year": row.year,
                "library_id": str(row.library_id), "parent_key": row.parent_key,
                "parent_title": parent.title if parent else None,
                "grandparent_key": grand.key if grand else None, "grandparent_title": grand.title if grand else None,
                "sort_index": row.sort_index, "parent_sort_index": parent.sort_index if parent else None,
                "added_at": iso(row.added_at)}

    def item(self, key: str) -> dict[str, Any]:
        return {**self.context(key), "state": _state(self.states.get(key))}


@attrs.frozen
class _Episode:
    key: str
    season: int | None
    number: int | None

    @property
    def order(self) -> tuple[Any, ...]:
        return (self.season is None, self.season or 0, self.number is None, self.number or 0, self.key)

    @property
    def special(self) -> bool:
        return self.season == SPECIALS


class Home:
    """A user's home screen and history, read from the library database."""

    def __init__(self, service: LibraryService):
        self.service = service

    # --- the home screen --------------------------------------------------------------------

    async def screen(self, user_id: int, visibility: Visibility, limit: int = 12) -> dict[str, Any]:
        """``continue_watching``, ``next_up`` and ``recently_added`` (per library), ``limit`` of each."""
        def read() -> dict[str, Any]:
            if visibility.nothing:
                return {"continue_watching": [], "next_up": [], "recently_added": []}
            resume = self._continue_watching(user_id, visibility, limit)
            next_up = self._next_up(user_id, visibility, limit)
            recent = self._recently_added(visibility, limit)
            keys = [*resume, *next_up, *(key for _library, groups in recent for key, _n, _c in groups)]
            details = _Details(user_id, keys)
            shelves = []
            for library, groups in recent:
                shown = []
                for key, newest, count in groups:
                    if key not in details.items or details.items[key].library_id != library.id:
                        continue  # gone meanwhile, or a show filed in another library than its episodes
                    item = {**details.item(key), "added_at": iso(newest)}
                    if count is not None:
                        item["new_episodes"] = count
                    shown.append(item)
                if shown:
                    shelves.append({"library": {"id": str(library.id), "name": library.name,
                                                "content_type": library.content_type}, "items": shown})
            return {"continue_watching": [details.item(k) for k in resume if k in details.items],
                    "next_up": [details.item(k) for k in next_up if k in details.items],
                    "recently_added": shelves}

        return await self.service.run(read)

    @staticmethod
    def _continue_watching(user_id: int, visibility: Visibility, limit: int) -> list[str]:
        """Items stopped between :data:`RESUME_FROM` and :data:`WATCHED_AT`, last played first."""
        query = (UserItemState.select(UserItemState.item)
                 .join(LibraryItem, on=(LibraryItem.key == UserItemState.item))
                 .order_by(UserItemState.last_played_at.desc(nulls="LAST"), UserItemState.item).limit(limit))
        query = _where(query, UserItemState.user == user_id, UserItemState.duration_seconds > 0,
                       UserItemState.position_seconds >= UserItemState.duration_seconds * RESUME_FROM,
                       UserItemState.position_seconds <= UserItemState.duration_seconds * WATCHED_AT,
                       visibility.condition())
        return [key for (key,) in query.tuples()]

    @staticmethod
    def _next_up(user_id: int, visibility: Visibility, limit: int) -> list[str]:
        """For each show played, newest activity first: the episode after the furthest one watched."""
        season = LibraryItem.alias()
        played = (UserItemState.select(UserItemState.item, UserItemState.watched, UserItemState.position_seconds,
                                       UserItemState.duration_seconds, UserItemState.last_played_at,
                                       LibraryItem.parent_key, season.item_type, season.parent_key)
                  .join(LibraryItem, on=(LibraryItem.key == UserItemState.item))
                  .join_from(LibraryItem, season, peewee.JOIN.LEFT_OUTER, on=(season.key == LibraryItem.parent_key)))
        played = _where(played, UserItemState.user == user_id, LibraryItem.item_type == EPISODE,
                        (UserItemState.watched == True) | (UserItemState.position_seconds > 0),  # noqa: E712
                        visibility.condition())
        states: dict[str, tuple[bool, float, float | None]] = {}
        activity: dict[str, datetime.datetime] = {}
        oldest = datetime.datetime.min
        for key, watched, position, duration, last, parent, parent_type, grand in played.tuples():
            show = grand if parent_type == SEASON else parent if parent_type == SERIES else None
            if show is None:
                continue
            states[key] = (watched, position, duration)
            activity[show] = max(activity.get(show, oldest), _as_datetime(last) or oldest)
        shows = sorted(activity, key=lambda s: (activity[s], s), reverse=True)
        found: list[str] = []
        for batch in _chunks(shows, max(SHOW_BATCH, 2 * limit)):
            episodes = _episodes_of(batch, visibility)
            for show in batch:
                key = _next_episode(episodes.get(show, []), states)
                if key is not None:
                    found.append(key)
                    if len(found) >= limit:
                        return found
        return found

    @staticmethod
    def _recently_added(visibility: Visibility, limit: int) -> list[tuple[LibraryRow, list[tuple[str, Any, Any]]]]:
        """Per visible library: (group key, newest added_at, new episodes or None), newest first.

        A season or an episode is grouped under its show, so a show with ten new episodes
        takes one place; everything else is its own group.
        """
        libraries = LibraryRow.select().order_by(LibraryRow.name)
        if visibility.libraries is not None:
            if not visibility.libraries:
                return []
            libraries = libraries.where(LibraryRow.id.in_(sorted(visibility.libraries)))
        parent, grand = LibraryItem.alias(), LibraryItem.alias()
        group = peewee.Case(None, [(LibraryItem.item_type.in_([SEASON, EPISODE]),
                                    peewee.fn.COALESCE(grand.key, parent.key, LibraryItem.key))], LibraryItem.key)
        newest = peewee.fn.MAX(LibraryItem.added_at)
        out: list[tuple[LibraryRow, list[tuple[str, Any, Any]]]] = []
        for library in libraries:
            query = (LibraryItem.select(group.alias("group_key"), newest.alias("newest"))
                     .join(parent, peewee.JOIN.LEFT_OUTER, on=(parent.key == LibraryItem.parent_key))
                     .join_from(parent, grand, peewee.JOIN.LEFT_OUTER, on=(grand.key == parent.parent_key))
                     .where(LibraryItem.library == library.id)
                     .group_by(group).order_by(newest.desc(), group).limit(limit))
            groups = [(key, _as_datetime(when)) for key, when in query.tuples()]
            if groups:
                out.append((library, groups))
        counts = _new_episodes({key: when for _library, groups in out for key, when in groups})
        return [(library, [(key, when, counts.get(key)) for key, when in groups]) for library, groups in out]

    # --- history ----------------------------------------------------------------------------

    async def history(self, user_id: int, visibility: Visibility, limit: int = 50,
                      offset: int = 0) -> dict[str, Any]:
        """The user's playbacks, newest first, of items they may still see, with the total count."""
        def read() -> dict[str, Any]:
            if visibility.nothing:
                return {"items": [], "total": 0, "limit": limit, "offset": offset}
            query = _where(WatchHistory.select(WatchHistory)
                           .join(LibraryItem, on=(LibraryItem.key == WatchHistory.item)),
                           WatchHistory.user == user_id, visibility.condition())
            total = query.count()
            rows = list(query.order_by(WatchHistory.started_at.desc(), WatchHistory.id.desc())
                        .limit(limit).offset(offset))
            details = _Details(user_id, [row.item_key for row in rows])
            items = []
            for row in rows:
                if row.item_key not in details.items:  # removed between the two queries
                    continue
                context = details.context(row.item_key)
                items.append({
                    "id": row.id, "item_key": context.pop("key"), "item_type": context.pop("type"), **context,
                    "started_at": iso(row.started_at), "ended_at": iso(row.ended_at),
                    "position_seconds": row.position_seconds, "duration_seconds": row.duration_seconds,
                    "progress": round(fraction_of(row.position_seconds, row.duration_seconds) or 0.0, 4),
                    "completed": row.completed, "method": row.method, "client": row.client,
                })
            return {"items": items, "total": total, "limit": limit, "offset": offset}

        return await self.service.run(read)

    async def forget(self, user_id: int, history_id: int) -> None:
        """Delete one of the user's history rows. :raises NotFound: none of theirs has that id."""
        def write() -> int:
            return WatchHistory.delete().where(WatchHistory.id == history_id, WatchHistory.user == user_id).execute()

        if not await self.service.run(write):
            raise NotFound(f"There is no history entry {history_id}.")


def _episodes_of(shows: list[str], visibility: Visibility) -> dict[str, list[_Episode]]:
    """Blocking: the visible episodes of each show, in order; two queries however many shows."""
    seasons = {key: (show, index) for key, show, index in LibraryItem
               .select(LibraryItem.key, LibraryItem.parent_key, LibraryItem.sort_index)
               .where(LibraryItem.parent_key.in_(shows), LibraryItem.item_type == SEASON).tuples()}
    parents = [*shows, *seasons]
    out: dict[str, list[_Episode]] = {}
    for chunk in _chunks(parents):
        query = _where(LibraryItem.select(LibraryItem.key, LibraryItem.parent_key, LibraryItem.sort_index),
                       LibraryItem.parent_key.in_(chunk), LibraryItem.item_type == EPISODE, visibility.condition())
        for key, parent, number in query.tuples():
            show, season = seasons.get(parent, (parent, None))
            out.setdefault(show, []).append(_Episode(key, season, number))
    for episodes in out.values():
        episodes.sort(key=lambda e: e.order)
    return out


def _next_episode(episodes: list[_Episode], states: dict[str, tuple[bool, float, float | None]]) -> str | None:
    """The episode after the furthest watched one that is not watched; ``None`` when there is none,
    or when it is half watched (it is in "continue watching" then). Specials count only in a show
    that has nothing else."""
    regular = [e for e in episodes if not e.special]
    walk = regular or episodes
    watched = [i for i, e in enumerate(walk) if states.get(e.key, (False, 0.0, None))[0]]
    start = watched[-1] + 1 if watched else 0
    for episode in walk[start:]:
        done, position, duration = states.get(episode.key, (False, 0.0, None))
        if done:
            continue
        return None if resumable(position, duration) else episode.key
    return None


def _new_episodes(groups: dict[str, datetime.datetime | None]) -> dict[str, int]:
    """Blocking: for groups that are shows or seasons, their episodes added in the window before their newest."""
    containers = [key for key in groups if key.partition(":")[0] in (SERIES, SEASON)]
    if not containers:
        return {}
    owner = {key: key for key in containers}
    for chunk in _chunks(containers):
        owner.update({key: show for key, show in LibraryItem.select(LibraryItem.key, LibraryItem.parent_key)
                      .where(LibraryItem.parent_key.in_(chunk), LibraryItem.item_type == SEASON).tuples()})
    starts = [when - NEW_EPISODES_WINDOW for when in (groups[c] for c in containers) if when is not None]
    counts = dict.fromkeys(containers, 0)
    for chunk in _chunks(list(owner)):
        query = LibraryItem.select(LibraryItem.parent_key, LibraryItem.added_at).where(
            LibraryItem.parent_key.in_(chunk), LibraryItem.item_type == EPISODE)
        if starts:
            query = query.where(LibraryItem.added_at >= min(starts))
        for parent, added in query.tuples():
            container = owner[parent]
            newest = groups.get(container)
            if newest is None or _as_datetime(added) >= newest - NEW_EPISODES_WINDOW:
                counts[container] += 1
    return counts


__all__ = ["NEW_EPISODES_WINDOW", "SPECIALS", "Home", "Visibility"]
