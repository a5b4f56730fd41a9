"""Playback progress rules (start, progress, stop; 5 % and 90 %; a play counted once per playback),
marking whole seasons and shows watched, and what removing an item takes with it."""

from __future__ import annotations

import math

import pytest

from revenge_core.library.models import MediaFileRow, PlaybackSession, UserItemState, WatchHistory
from revenge_core.library.progress import MAX_POSITION
from revenge_hookspecs.errors import BadRequest, NotFound
from revenge_hookspecs.media import ItemRef
from tests.library import watch_kit
from tests.library.watch_kit import World

world = watch_kit.world  # the fixture, for the tests below


async def test_start_progress_and_stop_follow_the_thresholds(world: World):
    await world.add(ItemRef("movie:1", world.movies, "Heat"))
    user, _headers = await world.user("alice")
    report = world.services.library.progress.report

    started = await report(user, "movie:1", event="start", position_seconds=0, duration_seconds=1000,
                           method="transcode", client="tv")
    assert started.history_id is not None and not started.completed and not started.counted
    assert started.state["last_played_at"] is not None and started.state["position_seconds"] == 0.0
    hid = started.history_id

    early = await report(user, "movie:1", event="progress", position_seconds=49, duration_seconds=1000, history_id=hid)
    assert early.state["position_seconds"] == 0.0  # below 5 %: nothing to resume
    middle = await report(user, "movie:1", event="progress", position_seconds=500, duration_seconds=None,
                          history_id=hid)
    assert (middle.state["position_seconds"], middle.state["watched"], middle.history_id) == (500.0, False, hid)
    assert (await world.state_row(user, "movie:1")).duration_seconds == 1000.0  # kept from the earlier report

    at_mark = await report(user, "movie:1", event="progress", position_seconds=900, duration_seconds=1000,
                           history_id=hid)
    assert not at_mark.completed and not at_mark.state["watched"]  # watched is *past* 90 %
    done = await report(user, "movie:1", event="progress", position_seconds=901, duration_seconds=1000,
                        history_id=hid)
    assert done.completed and done.counted
    assert (done.state["watched"], done.state["play_count"], done.state["position_seconds"]) == (True, 1, 0.0)
    # Further reports past the mark, and the stop, do not count the play again.
    for event, position in (("progress", 950), ("progress", 999), ("stop", 1000)):
        again = await report(user, "movie:1", event=event, position_seconds=position, duration_seconds=1000,
                             history_id=hid)
        assert again.completed and not again.counted and again.state["play_count"] == 1
        assert again.history_id == hid
    [row] = await world.history_rows(user)
    assert (row.id, row.completed, row.position_seconds, row.duration_seconds) == (hid, True, 1000.0, 1000.0)
    assert (row.method, row.client, row.ended_at is not None) == ("transcode", "tv", True)

    # A second playback is a second row and a second play.
    second = await world.play(user, "movie:1", 0.91)
    assert second != hid
    state = await world.state_row(user, "movie:1")
    assert (state.play_count, state.watched, state.position_seconds) == (2, True, 0.0)
    # Rewatching half of it leaves a position to resume, watched stays.
    await world.play(user, "movie:1", 0.5)
    state = await world.state_row(user, "movie:1")
    assert (state.play_count, state.watched, state.position_seconds) == (2, True, 500.0)
    assert [r.completed for r in await world.history_rows(user)] == [True, True, False]


async def test_positions_are_clamped_and_a_missing_duration_counts_nothing(world: World):
    await world.add(ItemRef("movie:1", world.movies, "Heat"), ItemRef("movie:2", world.movies, "Ronin"))
    user, _headers = await world.user("alice")
    report = world.services.library.progress.report

    over = await report(user, "movie:1", event="start", position_seconds=5000, duration_seconds=1000)
    assert over.counted and over.state["play_count"] == 1
    [row] = await world.history_rows(user)
    assert row.position_seconds == 1000.0

    unknown = await report(user, "movie:2", event="start", position_seconds=7000, duration_seconds=None)
    assert not unknown.completed and unknown.state["position_seconds"] == 7000.0
    assert (await world.state_row(user, "movie:2")).duration_seconds is None


async def test_a_history_id_of_someone_else_or_another_item_opens_a_new_row(world: World):
    await world.add(ItemRef("movie:1", world.movies, "Heat"), ItemRef("movie:2", world.movies, "Ronin"))
    alice, _ = await world.user("alice")
    bob, _ = await world.user("bob")
    report = world.services.library.progress.report
    theirs = (await report(bob, "movie:1", event="start", position_seconds=0, duration_seconds=100)).history_id
    mine = await report(alice, "movie:1", event="progress", position_seconds=95, duration_seconds=100,
                        history_id=theirs)
    assert mine.history_id != theirs and mine.counted
    other_item = await report(alice, "movie:2", event="stop", position_seconds=10, duration_seconds=100,
                              history_id=mine.history_id)
    assert other_item.history_id not in (theirs, mine.history_id)
    [bobs] = await world.history_rows(bob)
    assert (bobs.position_seconds, bobs.completed, bobs.ended_at) == (0.0, False, None)
    assert (await world.state_row(bob, "movie:1")).play_count == 0


BAD_REPORTS = [
    ({"event": "pause"}, "event"),
    ({"position_seconds": -1}, "position_seconds"),
    ({"position_seconds": math.nan}, "position_seconds"),
    ({"position_seconds": math.inf}, "position_seconds"),
    ({"position_seconds": MAX_POSITION + 1}, "position_seconds"),
    ({"position_seconds": "10"}, "position_seconds"),
    ({"position_seconds": True}, "position_seconds"),
    ({"duration_seconds": 0}, "duration_seconds"),
    ({"duration_seconds": -5.0}, "duration_seconds"),
    ({"duration_seconds": math.inf}, "duration_seconds"),
    ({"history_id": "7"}, "history_id"),
]


async def test_bad_reports_are_refused_with_the_field_named(world: World):
    await world.add(ItemRef("movie:1", world.movies, "Heat"))
    user, _ = await world.user("alice")
    for fields, key in BAD_REPORTS:
        arguments = {"event": "progress", "position_seconds": 10, "duration_seconds": 100, **fields}
        with pytest.raises(BadRequest) as caught:
            await world.services.library.progress.report(user, "movie:1", **arguments)
        assert (caught.value.status, caught.value.code, caught.value.details["key"]) == (400, "bad_request", key)
    assert await world.history_rows() == []
    assert await world.state_row(user, "movie:1") is None


async def test_an_unknown_item_is_not_found(world: World):
    user, _ = await world.user("alice")
    with pytest.raises(NotFound) as caught:
        await world.services.library.progress.report(user, "movie:404", event="start", position_seconds=0,
                                                     duration_seconds=10)
    assert caught.value.code == "not_found"


async def test_marking_a_season_or_show_marks_the_episodes_below_it(world: World):
    episodes = await world.show(1, {0: 1, 1: 3, 2: 2})
    await world.show(2, {1: 2})
    user, headers = await world.user("alice")
    await world.grant(user, "library", world.shows)
    client = world.client
    await world.play(user, episodes[(1, 1)], 0.95)  # already watched: no second play from marking
    await world.play(user, episodes[(1, 2)], 0.40)

    season = await client.put("/api/v1/items/season:101/state", json={"watched": True}, headers=headers)
    assert season.status == 200
    body = await season.json()
    assert (body["item_key"], body["watched"], body["play_count"], body["episodes"]) == ("season:101", True, 0, 3)
    for number in (1, 2, 3):
        row = await world.state_row(user, episodes[(1, number)])
        assert (row.watched, row.play_count, row.position_seconds) == (True, 1, 0.0), number
    assert await world.state_row(user, episodes[(2, 1)]) is None
    assert await world.state_row(user, "episode:20101") is None  # another show
    assert len(await world.history_rows(user)) == 2  # marking is not a playback

    show = await (await client.put("/api/v1/items/series:1/state", json={"watched": True},
                                   headers=headers)).json()
    assert show["episodes"] == 6
    rows = {key: await world.state_row(user, key) for key in episodes.values()}
    assert all(row.watched for row in rows.values())
    assert rows[episodes[(1, 1)]].play_count == 1 and rows[episodes[(2, 2)]].play_count == 1

    await world.play(user, episodes[(2, 1)], 0.3)  # a rewatch in progress
    cleared = await client.put("/api/v1/items/series:1/state", json={"watched": False}, headers=headers)
    assert (await cleared.json())["watched"] is False
    for key in episodes.values():
        row = await world.state_row(user, key)
        assert (row.watched, row.position_seconds) == (False, 0.0), key
    assert (await world.state_row(user, episodes[(1, 1)])).play_count == 1  # plays stay counted

    # A single episode keeps the old rules and has no "episodes" count.
    single = await (await client.put(f"/api/v1/items/{episodes[(1, 1)]}/state", json={"watched": True},
                                     headers=headers)).json()
    assert (single["play_count"], "episodes" in single) == (2, False)


async def test_marking_reaches_only_episodes_the_caller_may_see(world: World):
    episodes = await world.show(1, {1: 3})
    user, headers = await world.user("alice")
    await world.grant(user, "item", "series:1")
    await world.grant(user, "item", episodes[(1, 2)])
    body = await (await world.client.put("/api/v1/items/series:1/state", json={"watched": True},
                                         headers=headers)).json()
    assert body["episodes"] == 1
    assert (await world.state_row(user, episodes[(1, 2)])).watched is True
    assert await world.state_row(user, episodes[(1, 1)]) is None


async def test_marking_a_long_show_works_in_chunks(world: World):
    episodes = await world.show(1, {1: 99, 2: 99, 3: 99, 4: 99, 5: 99, 6: 99})
    user, _ = await world.user("alice")
    await world.play(user, episodes[(3, 7)], 0.5)
    state = await world.services.library.items.set_state(user, "series:1", {"watched": True})
    assert state["episodes"] == 594

    def counts():
        mine = UserItemState.select().where(UserItemState.user == user, UserItemState.item.startswith("episode:"))
        return mine.count(), mine.where(UserItemState.watched == True).count()  # noqa: E712

    assert await world.services.library.run(counts) == (594, 594)
    assert (await world.state_row(user, episodes[(3, 7)])).position_seconds == 0.0
    await world.services.library.items.set_state(user, "series:1", {"watched": False})
    assert await world.services.library.run(counts) == (594, 0)


async def test_removing_an_item_removes_its_history_and_playback_sessions(world: World):
    await world.add(ItemRef("movie:1", world.movies, "Heat"), ItemRef("movie:2", world.movies, "Ronin"))
    user, _ = await world.user("alice")
    await world.play(user, "movie:1", 0.5)
    await world.play(user, "movie:2", 0.5)

    def sessions():
        media = MediaFileRow.create(library=int(world.movies), path="/x/heat.mkv", root="/x",
                                    relative_path="heat.mkv", size=1, mtime=1.0)
        for key in ("movie:1", "movie:2"):
            PlaybackSession.create(id=f"s{key[-1]}", user=user, item=key, media_file=media, method="direct_play",
                                   decision="{}", media="{}")

    await world.services.library.run(sessions)
    await world.services.library.items.remove(["movie:1"])

    def left():
        return ([r.item_key for r in WatchHistory.select()], [s.item_key for s in PlaybackSession.select()],
                [s.item_key for s in UserItemState.select()])

    assert await world.services.library.run(left) == (["movie:2"], ["movie:2"], ["movie:2"])
