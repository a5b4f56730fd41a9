"""Scans on real files, on SQLite and PostgreSQL: what the content type is told, and what is kept."""

from __future__ import annotations

import asyncio
import builtins
import datetime
import io
import os
import shutil

import pytest

import revenge_localfs.plugin as localfs_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from revenge_core.library.models import MediaFileItem, MediaFileRow, ScanRun
from revenge_hookspecs.types import Events
from tests.identity.conftest import make_user
from tests.library.conftest import Clips, make_clip, touch_later


async def _files(services, library, include_missing=False):
    files = await services.library.files(library_id=library.id, include_missing=include_missing)
    return {f.relative_path: f for f in files}


async def test_initial_scan_tracks_claimed_files_and_registers_their_items(services, library, clips, media):
    run = await services.library.scan_now(library.id)

    assert run["status"] == "done" and run["error"] is None
    assert run["counts"]["seen"] == 3 and run["counts"]["new"] == 3 and run["counts"]["errors"] == 0
    assert (run["total"], run["done"]) == (3, 3)
    files = await _files(services, library)
    assert sorted(files) == ["clips/alpha.mp4", "clips/beta.mkv", "gamma.mp4"]  # no .txt, no hidden file
    alpha = files["clips/alpha.mp4"]
    assert alpha.root == str(media) and alpha.path == str(media / "clips" / "alpha.mp4")
    assert alpha.local_path == str(media / "clips" / "alpha.mp4")
    assert alpha.size == (media / "clips" / "alpha.mp4").stat().st_size
    assert alpha.item_key == f"clip:{alpha.file_id}"
    item = await services.library.items.get(alpha.item_key)
    assert (item.title, item.library_id, item.year) == ("alpha", library.id, 1)
    assert (await services.library.items.get(files["clips/beta.mkv"].item_key)).year == 2
    # Batches of scan_batch_size (2), in path order.
    assert clips.handler.ingested == [["clips/alpha.mp4", "clips/beta.mkv"], ["gamma.mp4"]]
    assert len(clips.named(Events.ITEM_ADDED)) == 3
    [scanned] = clips.named(Events.LIBRARY_SCANNED)
    assert scanned.payload["run_id"] == run["id"] and scanned.payload["counts"]["new"] == 3
    progress = clips.named("library.scan.progress")
    assert [e.payload["done"] for e in progress if e.payload["total"]][-2:] == [2, 3]


async def test_an_unchanged_rescan_reads_no_file_and_ingests_nothing(services, library, clips, media, monkeypatch):
    await services.library.scan_now(library.id)
    clips.handler.ingested.clear()
    opened: list[str] = []
    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
        real = getattr(module, name)

        def spy(file, *args, _real=real, **kwargs):
            if isinstance(file, str | os.PathLike) and str(file).startswith(str(media)):
                opened.append(str(file))
            return _real(file, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)

    run = await services.library.scan_now(library.id)

    assert run["status"] == "done"
    assert run["counts"] | {"seen": 3, "unchanged": 3} == run["counts"]
    assert sum(run["counts"][k] for k in ("new", "changed", "moved", "missing", "removed", "errors")) == 0
    assert run["total"] == 0
    assert clips.handler.ingested == [] and clips.handler.moved == [] and clips.handler.removed == []
    assert opened == []


async def test_a_changed_file_is_ingested_again_and_keeps_its_id_and_item(services, library, clips, media):
    await services.library.scan_now(library.id)
    before = await _files(services, library)
    clips.handler.ingested.clear()
    make_clip(media / "clips" / "alpha.mp4", 3.0, shade=99)

    run = await services.library.scan_now(library.id)

    assert run["counts"]["changed"] == 1 and run["counts"]["unchanged"] == 2
    assert clips.handler.ingested == [["clips/alpha.mp4"]]
    after = await _files(services, library)
    assert after["clips/alpha.mp4"].file_id == before["clips/alpha.mp4"].file_id
    assert after["clips/alpha.mp4"].size == (media / "clips" / "alpha.mp4").stat().st_size
    assert (await services.library.items.get(after["clips/alpha.mp4"].item_key)).year == 3


async def test_a_file_replaced_in_place_with_the_same_size_and_mtime_counts_as_changed(services, library, clips,
                                                                                       media):
    await services.library.scan_now(library.id)
    clips.handler.ingested.clear()
    target = media / "gamma.mp4"
    stat = target.stat()
    replacement = media / "gamma.tmp"
    shutil.copyfile(target, replacement)
    os.replace(replacement, target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_ino != stat.st_ino

    run = await services.library.scan_now(library.id)

    assert run["counts"]["changed"] == 1
    assert clips.handler.ingested == [["gamma.mp4"]]


async def test_rename_and_move_keep_the_file_its_item_and_every_users_state(client, services, library, clips,
                                                                               media):
    await services.library.scan_now(library.id)
    before = await _files(services, library)
    user_id = await make_user(client.app, "viewer", "pw-long-enough")
    alpha_key, gamma_key = before["clips/alpha.mp4"].item_key, before["gamma.mp4"].item_key
    await services.library.items.set_state(user_id, alpha_key, {"position_seconds": 0.5, "favourite": True})
    await services.library.items.set_state(user_id, gamma_key, {"watched": True})
    (media / "clips" / "alpha.mp4").rename(media / "clips" / "alpha (2020).mp4")
    (media / "archive").mkdir()
    (media / "gamma.mp4").rename(media / "archive" / "gamma.mp4")
    clips.handler.ingested.clear()

    run = await services.library.scan_now(library.id)

    assert run["counts"]["moved"] == 2
    assert run["counts"]["new"] == run["counts"]["missing"] == 0
    assert clips.handler.ingested == []  # a move changes no content
    assert sorted(pair for batch in clips.handler.moved for pair in batch) == [
        (str(media / "clips" / "alpha.mp4"), str(media / "clips" / "alpha (2020).mp4")),
        (str(media / "gamma.mp4"), str(media / "archive" / "gamma.mp4")),
    ]
    after = await _files(services, library)
    assert after["clips/alpha (2020).mp4"].file_id == before["clips/alpha.mp4"].file_id
    assert after["archive/gamma.mp4"].file_id == before["gamma.mp4"].file_id
    assert after["archive/gamma.mp4"].item_key == gamma_key
    state = await services.library.items.state(user_id, alpha_key)
    assert (state["position_seconds"], state["favourite"]) == (0.5, True)
    assert (await services.library.items.state(user_id, gamma_key))["play_count"] == 1
    # The content type heard of the move once: the next scan has nothing to tell it.
    clips.handler.moved.clear()
    assert (await services.library.scan_now(library.id))["counts"]["moved"] == 0
    assert clips.handler.moved == []


async def test_a_move_by_copy_is_recognised_by_name_and_size(services, library, clips, media):
    await services.library.scan_now(library.id)
    before = await _files(services, library)
    (media / "other").mkdir()
    shutil.copy2(media / "clips" / "beta.mkv", media / "other" / "beta.mkv")  # a new inode, like another disk
    (media / "clips" / "beta.mkv").unlink()

    run = await services.library.scan_now(library.id)

    assert (run["counts"]["moved"], run["counts"]["new"], run["counts"]["missing"]) == (1, 0, 0)
    assert (await _files(services, library))["other/beta.mkv"].file_id == before["clips/beta.mkv"].file_id


async def test_a_removed_file_keeps_its_item_for_the_grace_period(client, services, library, clips, media,
                                                                    tmp_path):
    clock = [datetime.datetime(2030, 1, 1, 12, 0)]
    services.library.clock = lambda: clock[0]
    await services.library.scan_now(library.id)
    gamma = (await _files(services, library))["gamma.mp4"]
    user_id = await make_user(client.app, "viewer", "pw-long-enough")
    await services.library.items.set_state(user_id, gamma.item_key, {"favourite": True})
    (media / "gamma.mp4").rename(tmp_path / "parked.mp4")  # unplugged, say

    run = await services.library.scan_now(library.id)
    assert run["counts"]["missing"] == 1 and run["counts"]["removed"] == 0
    assert "gamma.mp4" not in await _files(services, library)
    kept = (await _files(services, library, include_missing=True))["gamma.mp4"]
    assert kept.missing_since == clock[0]
    assert await services.library.items.get(gamma.item_key) is not None

    # Back before the grace period ends: restored, same file, same item, nothing re-ingested.
    clock[0] += datetime.timedelta(hours=71)
    (tmp_path / "parked.mp4").rename(media / "gamma.mp4")
    clips.handler.ingested.clear()
    run = await services.library.scan_now(library.id)
    assert run["counts"]["restored"] == 1 and clips.handler.ingested == []
    assert (await _files(services, library))["gamma.mp4"].file_id == gamma.file_id

    # Gone again, and this time past the grace period (72 hours): removed with its item and state.
    (media / "gamma.mp4").unlink()
    await services.library.scan_now(library.id)
    clock[0] += datetime.timedelta(hours=71)
    run = await services.library.scan_now(library.id)
    assert run["counts"]["removed"] == 0
    clock[0] += datetime.timedelta(hours=2)
    run = await services.library.scan_now(library.id)
    assert run["counts"]["removed"] == 1
    assert clips.handler.removed == [["gamma.mp4"]]
    assert "gamma.mp4" not in await _files(services, library, include_missing=True)
    assert await services.library.items.get(gamma.item_key) is None
    assert (await services.library.items.state(user_id, gamma.item_key))["favourite"] is False
    assert [e.payload["key"] for e in clips.named(Events.ITEM_REMOVED)] == [gamma.item_key]


async def test_a_crashing_handler_marks_files_and_the_scan_goes_on(services, library, clips, host):
    clips.handler.raise_on_batch = 1  # the first batch: alpha and beta
    clips.handler.fail_names = {"gamma.mp4"}

    run = await services.library.scan_now(library.id)

    assert run["status"] == "done" and run["counts"]["errors"] == 3 and run["done"] == 3
    page = await services.library.file_page(library.id, state="errors")
    errors = {f["relative_path"]: f["error"] for f in page["items"]}
    assert errors == {"clips/alpha.mp4": "the content type failed: RuntimeError: the clip decoder crashed",
                      "clips/beta.mkv": "the content type failed: RuntimeError: the clip decoder crashed",
                      "gamma.mp4": "cannot decode this clip"}
    assert host.records["clips"].runtime_errors == 1
    assert "the clip decoder crashed" in host.records["clips"].last_error

    clips.handler.raise_on_batch = None
    clips.handler.fail_names = set()
    clips.handler.ingested.clear()
    run = await services.library.scan_now(library.id)
    assert run["counts"]["errors"] == 0
    assert clips.handler.ingested_names() == ["clips/alpha.mp4", "clips/beta.mkv", "gamma.mp4"]
    assert (await services.library.file_page(library.id, state="errors"))["total"] == 0


async def test_further_items_a_file_plays_are_kept_replaced_and_checked(services, library, clips):
    async def links() -> set[tuple[str, str]]:
        rows = await services.library.run(lambda: list(MediaFileItem.select(MediaFileItem, MediaFileRow.relative_path)
                                                        .join(MediaFileRow)))
        return {(row.file.relative_path, row.item_key) for row in rows}

    clips.handler.also = {"gamma.mp4": ("clip:9001", "clip:9002")}
    await services.library.scan_now(library.id)
    assert await links() == {("gamma.mp4", "clip:9001"), ("gamma.mp4", "clip:9002")}

    # Ingesting the file again replaces its list; a malformed key is the file's error, not a crash.
    clips.handler.also = {"gamma.mp4": ("clip:9002",)}
    await services.library.scan_now(library.id, mode="full")
    assert await links() == {("gamma.mp4", "clip:9002")}
    clips.handler.also = {"gamma.mp4": ("../etc/passwd",)}
    run = await services.library.scan_now(library.id, mode="full")
    assert run["counts"]["errors"] == 1
    page = await services.library.file_page(library.id, state="errors")
    assert [f["error"] for f in page["items"]] == ["the content type returned an invalid item key '../etc/passwd'"]


async def test_a_scan_cancelled_half_way_leaves_a_consistent_library_and_the_next_one_finishes(
        services, library, clips):
    clips.handler.hold_after_batch = 1
    task = asyncio.get_running_loop().create_task(services.library.scan_now(library.id))
    await asyncio.wait_for(clips.handler.held.wait(), 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [run] = await services.library.scan_runs(library.id)
    assert run["status"] == "queued"  # it resumes, like a job cancelled at shutdown
    pending = await services.library.file_page(library.id, state="pending")
    assert pending["total"] == 3  # the held batch never reported back
    clips.handler.hold_after_batch = None
    clips.handler.ingested.clear()

    resumed = await services.library.scan_now(library.id)

    assert resumed["id"] == run["id"] and resumed["status"] == "done"
    assert clips.handler.ingested_names() == ["clips/alpha.mp4", "clips/beta.mkv", "gamma.mp4"]
    assert all(f.item_key for f in (await _files(services, library)).values())
    assert (await services.library.file_page(library.id, state="pending"))["total"] == 0


async def test_a_scan_that_died_after_one_batch_is_finished_by_the_next(services, library, clips):
    clips.handler.raise_on_batch = 2
    await services.library.scan_now(library.id)
    clips.handler.raise_on_batch = None
    clips.handler.ingested.clear()

    run = await services.library.scan_now(library.id)

    assert clips.handler.ingested == [["gamma.mp4"]]  # only what the first scan did not finish
    assert run["counts"]["errors"] == 0 and (run["total"], run["done"]) == (1, 1)


async def test_two_scan_requests_at_once_make_one_run(services, library):
    (first, created_first), (second, created_second) = await asyncio.gather(
        services.library.request_scan(library.id, enqueue=False),
        services.library.request_scan(library.id, enqueue=False))
    assert first["id"] == second["id"]
    assert sorted([created_first, created_second]) == [False, True]
    # A full scan asked for meanwhile widens the queued one.
    widened, created = await services.library.request_scan(library.id, "full", enqueue=False)
    assert (widened["id"], widened["mode"], created) == (first["id"], "full", False)


async def test_a_scan_request_joins_the_running_scan_and_a_second_scanner_waits(services, library, clips):
    clips.handler.hold_after_batch = 1
    task = asyncio.get_running_loop().create_task(services.library.scan_now(library.id))
    await asyncio.wait_for(clips.handler.held.wait(), 20)
    try:
        joined, created = await services.library.request_scan(library.id, enqueue=False)
        assert joined["status"] == "running" and not created
        # A watch scan never joins a running one: it queues behind it, and cannot start yet.
        queued, created = await services.library.request_scan(library.id, "watch", [library.paths[0]],
                                                              enqueue=False)
        assert queued["status"] == "queued" and created
        assert (await services.library.scanner.run(int(queued["id"])))["status"] == "queued"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_running_scan_without_heartbeat_is_taken_as_dead(services, library):
    stale = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(hours=1)
    dead_id = await services.library.run(lambda: ScanRun.insert(library=int(library.id), mode="incremental",
                                                                status="running", started_at=stale,
                                                                heartbeat_at=stale).execute())
    run = await services.library.scan_now(library.id)
    assert run["status"] == "done" and run["id"] != str(dead_id)
    dead = await services.library.scan_run(dead_id)
    assert dead["status"] == "failed" and "abandoned" in dead["error"]


async def test_a_folder_limited_scan_touches_nothing_else(services, library, clips, media):
    await services.library.scan_now(library.id)
    (media / "gamma.mp4").unlink()  # outside the scanned folder: not noticed
    make_clip(media / "clips" / "delta.mp4", 1.0, shade=200)
    clips.handler.ingested.clear()

    run = await services.library.scan_now(library.id, paths=[str(media / "clips")])

    assert run["counts"]["seen"] == 3 and run["counts"]["new"] == 1 and run["counts"]["missing"] == 0
    assert clips.handler.ingested == [["clips/delta.mp4"]]
    assert "gamma.mp4" in await _files(services, library)


async def test_a_move_into_the_scanned_folder_from_elsewhere_is_a_move(services, library, clips, media):
    await services.library.scan_now(library.id)
    gamma = (await _files(services, library))["gamma.mp4"]
    (media / "gamma.mp4").rename(media / "clips" / "gamma.mp4")

    run = await services.library.scan_now(library.id, paths=[str(media / "clips")])

    assert (run["counts"]["moved"], run["counts"]["new"]) == (1, 0)
    assert (await _files(services, library))["clips/gamma.mp4"].file_id == gamma.file_id


async def test_an_unreachable_folder_leaves_its_files_alone(services, clips, media, tmp_path):
    other = media / "more"
    make_clip(other / "epsilon.mp4", 1.0)
    library = await services.library.create({"name": "Two folders", "content_type": "clip",
                                             "paths": [str(media / "clips"), str(other)]})
    await services.library.scan_now(library.id)
    shutil.rmtree(other)  # an unmounted disk looks like this

    run = await services.library.scan_now(library.id)

    assert run["status"] == "done" and run["counts"]["missing"] == 0
    assert f"{other} is not reachable" in run["error"]
    assert "epsilon.mp4" in await _files(services, library)


async def test_paths_that_left_the_library_go_missing(services, library, media):
    await services.library.scan_now(library.id)
    await services.library.update(library.id, {"paths": [str(media / "clips")]})
    run = await services.library.scan_now(library.id)
    assert run["counts"]["missing"] == 1
    assert sorted(await _files(services, library)) == ["alpha.mp4", "beta.mkv"]


async def test_the_watcher_picks_up_a_new_file_within_seconds(services, clips, media):
    library = await services.library.create({"name": "Live", "content_type": "clip", "paths": [str(media)],
                                             "realtime": True})
    await services.library.scan_now(library.id)
    await _eventually(lambda: library.id in services.library.watchers.watching())
    await asyncio.sleep(0.3)  # inotify is set up by now
    make_clip(media / "clips" / "new.mp4", 1.0, shade=33)

    async def tracked() -> bool:
        return "clips/new.mp4" in await _files(services, library)

    await _eventually(tracked, timeout=15)
    runs = await services.library.scan_runs(library.id)
    assert runs[0]["mode"] == "watch" and runs[0]["paths"] == [str(media / "clips")]
    assert runs[0]["requested_by"] == "watch"

    await services.library.update(library.id, {"realtime": False})
    await _eventually(lambda: library.id not in services.library.watchers.watching())


async def test_the_scan_job_runs_on_the_job_queue(services, library):
    run, created = await services.library.request_scan(library.id)
    assert created

    async def finished() -> bool:
        return (await services.library.scan_run(run["id"]))["status"] == "done"

    await _eventually(finished, timeout=20)
    assert len(await _files(services, library)) == 3


async def test_fingerprints_are_stored_exactly(services, library, media):
    touch_later(media / "gamma.mp4", 0.123456)
    await services.library.scan_now(library.id)
    rows = await services.library.run(
        lambda: list(MediaFileRow.select().where(MediaFileRow.path.endswith("gamma.mp4"))))
    assert rows[0].mtime == (media / "gamma.mp4").stat().st_mtime
    assert rows[0].ingested_mtime == rows[0].mtime


async def _eventually(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_deleting_a_library_lets_its_content_type_forget_the_files_first(client, services, library, clips):
    await services.library.scan_now(library.id)
    files = await _files(services, library)
    user_id = await make_user(client.app, "viewer", "pw-long-enough")
    await services.library.items.set_state(user_id, files["gamma.mp4"].item_key, {"favourite": True})

    await services.library.delete(library.id)

    assert sorted(name for batch in clips.handler.removed for name in batch) == sorted(files)
    assert sorted(e.payload["key"] for e in clips.named(Events.ITEM_REMOVED)) == sorted(
        f.item_key for f in files.values())
    assert await services.library.files(include_missing=True) == []
    assert await services.library.run(lambda: ScanRun.select().count()) == 0
    assert (await services.library.items.state(user_id, files["gamma.mp4"].item_key))["favourite"] is False


async def test_a_new_instance_scans_libraries_marked_scan_on_startup(aiohttp_client, config, services, clips, media):
    library = await services.library.create({"name": "Startup", "content_type": "clip", "paths": [str(media)],
                                             "scan_on_startup": True})
    second = await aiohttp_client(create_app(config, plugins={"localfs": localfs_plugin, "clips": Clips()}))
    other = second.app[SERVICES]

    async def scanned() -> bool:
        runs = await other.library.scan_runs(library.id)
        return bool(runs) and runs[0]["status"] == "done"

    await _eventually(scanned, timeout=20)
    [run] = await other.library.scan_runs(library.id)
    assert run["requested_by"] == "startup" and run["counts"]["new"] == 3


async def test_a_handler_that_hangs_times_out_and_the_scan_goes_on(services, library, clips, host):
    services.library.settings.handler_timeout = 0.5
    clips.handler.hold_after_batch = 1

    run = await asyncio.wait_for(services.library.scan_now(library.id), 20)

    assert run["status"] == "done" and run["counts"]["errors"] == 2 and run["done"] == 3
    errors = (await services.library.file_page(library.id, state="errors"))["items"]
    assert {f["error"] for f in errors} == {"the content type failed: timed out after 0.5s"}
    assert host.records["clips"].runtime_errors == 1


async def test_without_its_content_type_a_scan_fails_and_says_why(services, library, host):
    await host.set_enabled("clips", False)

    run = await services.library.scan_now(library.id)

    assert run["status"] == "failed"
    assert run["error"] == "the content type 'clip' is not available; enable the plugin that provides it"
    await host.set_enabled("clips", True)
    assert (await services.library.scan_now(library.id))["status"] == "done"
