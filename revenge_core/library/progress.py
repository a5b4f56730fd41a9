"""Playback progress: what a player's reports do to a user's state and watch history.

A playback reports ``start``, then ``progress`` now and then, then ``stop``. The rules:

- ``start`` opens a :class:`~.models.WatchHistory` row (who, what, when, how, on which
  client); ``progress`` and ``stop`` update it (``stop`` also closes it). A report without a
  usable row (none given, or not this user's row for this item, say because the user deleted
  it from their history mid-playback) opens a new one, so callers keep the id they get back.
- Every report updates the user's state on the item: played now, the duration, the position.
- Past :data:`WATCHED_AT` of the duration the item counts as watched: one more play, position
  back to 0 (nothing to resume) and the history row marked ``completed``. The flag on the row
  makes that happen once per playback, however many reports arrive past the mark; the claim is
  a conditional UPDATE, so two reports racing each other count one play.
- Below :data:`RESUME_FROM` the position is stored as 0: a few seconds in is not worth resuming.
- A position past the duration is taken as the duration (players overshoot by a frame or two).

Without any known duration, positions are stored as given and nothing counts as watched.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import attrs

from revenge_hookspecs.errors import BadRequest, NotFound

from ..db.models import utcnow
from .items import MAX_POSITION, _state_dict
from .models import LibraryItem, UserItemState, WatchHistory

if TYPE_CHECKING:
    from .service import LibraryService

WATCHED_AT = 0.90
"""From this share of the duration on, a playback counts as watched."""
RESUME_FROM = 0.05
"""Below this share of the duration, there is nothing to resume."""
EVENTS = ("start", "progress", "stop")
METHOD_MAX = 16
CLIENT_MAX = 128


@attrs.frozen
class ProgressResult:
    """What a report did.

    :param state: the user's state on the item afterwards (as ``GET /items/{key}/state`` shows it).
    :param history_id: the playback's history row; pass it with the next report.
    :param completed: the playback reached :data:`WATCHED_AT` (with this report or an earlier one).
    :param counted: this very report counted the play (true once per playback), e.g. to announce it.
    """

    state: dict[str, Any]
    history_id: int | None
    completed: bool
    counted: bool = False


def seconds(value: object, key: str, *, positive: bool = False) -> float:
    """A number of seconds from a report. :raises BadRequest: not finite, negative or over 7 days."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not 0 <= value <= MAX_POSITION or (positive and value == 0)):
        low = "above 0" if positive else "from 0"
        raise BadRequest(f"{key} is a number of seconds {low} to {MAX_POSITION:.0f}.", {"key": key})
    return float(value)


def fraction_of(position: float, duration: float | None) -> float | None:
    """How far into the item ``position`` is (0..1), or ``None`` without a duration."""
    if not duration or duration <= 0:
        return None
    return min(max(position / duration, 0.0), 1.0)


def resumable(position: float | None, duration: float | None) -> bool:
    """Whether a stored position is one to resume from: what "continue watching" lists."""
    fraction = fraction_of(position or 0.0, duration)
    return fraction is not None and RESUME_FROM <= fraction <= WATCHED_AT


class Progress:
    """Turns playback reports into users' state and watch history (``services.library.progress``)."""

    def __init__(self, service: LibraryService):
        self.service = service

    async def report(self, user_id: int, key: str, *, event: Literal["start", "progress", "stop"],
                     position_seconds: float, duration_seconds: float | None,
                     history_id: int | None = None, method: str = "", client: str = "") -> ProgressResult:
        """Apply one playback report (see the module's rules).

        :param history_id: the row a previous report of this playback returned; ignored for ``start``.
        :raises BadRequest: an unknown event or a bad number. :raises NotFound: no such item.
        """
        if event not in EVENTS:
            raise BadRequest(f"event is one of: {', '.join(EVENTS)}.", {"key": "event", "allowed": list(EVENTS)})
        position = seconds(position_seconds, "position_seconds")
        duration = None if duration_seconds is None else seconds(duration_seconds, "duration_seconds", positive=True)
        if history_id is not None and (isinstance(history_id, bool) or not isinstance(history_id, int)):
            raise BadRequest("history_id is a whole number.", {"key": "history_id"})
        method, client = str(method or "")[:METHOD_MAX], str(client or "")[:CLIENT_MAX]
        now = utcnow()

        def write() -> ProgressResult:
            with self.service.db.database.atomic():
                if not LibraryItem.select().where(LibraryItem.key == key).exists():
                    raise NotFound(f"There is no item {key}.")
                mine = (UserItemState.user == user_id) & (UserItemState.item == key)
                # Insert-or-nothing, then update: two first reports at once cannot collide on the key.
                UserItemState.insert(user=user_id, item=key, updated_at=now).on_conflict_ignore().execute()
                state = UserItemState.get(mine)
                history = None
                if event != "start" and history_id is not None:
                    history = WatchHistory.get_or_none(WatchHistory.id == history_id, WatchHistory.user == user_id,
                                                       WatchHistory.item == key)
                known = duration or (history.duration_seconds if history else None) or state.duration_seconds
                played = min(position, known) if known else position
                fraction = fraction_of(played, known)
                if history is None:
                    history = WatchHistory.create(user=user_id, item=key, started_at=now, method=method,
                                                  client=client, duration_seconds=known, position_seconds=played)
                changes: dict[Any, Any] = {WatchHistory.position_seconds: played,
                                           WatchHistory.duration_seconds: known}
                if event == "stop":
                    changes[WatchHistory.ended_at] = now
                WatchHistory.update(changes).where(WatchHistory.id == history.id).execute()

                update: dict[Any, Any] = {UserItemState.last_played_at: now, UserItemState.updated_at: now,
                                          UserItemState.duration_seconds: known}
                counted = False
                completed = history.completed
                if fraction is not None and fraction > WATCHED_AT:
                    counted = bool(WatchHistory.update(completed=True)
                                   .where(WatchHistory.id == history.id,
                                          WatchHistory.completed == False)  # noqa: E712
                                   .execute())
                    completed = True
                    if counted:
                        update[UserItemState.watched] = True
                        update[UserItemState.play_count] = UserItemState.play_count + 1
                    update[UserItemState.position_seconds] = 0.0
                elif fraction is not None and fraction < RESUME_FROM:
                    update[UserItemState.position_seconds] = 0.0
                else:
                    update[UserItemState.position_seconds] = played
                UserItemState.update(update).where(mine).execute()
                state = UserItemState.get(mine)
                return ProgressResult(_state_dict(key, state), history.id, completed, counted)

        return await self.service.run(write)


__all__ = ["EVENTS", "RESUME_FROM", "WATCHED_AT", "Progress", "ProgressResult", "fraction_of", "resumable",
           "seconds"]
