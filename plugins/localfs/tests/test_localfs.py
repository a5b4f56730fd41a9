"""revenge-localfs on real files: listing, walking, facts, byte ranges and confinement."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from pathlib import Path

import pytest

import revenge_localfs.plugin as localfs_plugin
from revenge_hookspecs import Storage
from revenge_hookspecs.testing import PluginConfigError
from revenge_localfs import LocalStorage

CONTENT = random.Random(20240601).randbytes(300_001)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """Two roots with files, a look-alike sibling, and a folder outside every root."""
    tv = tmp_path / "media" / "tv"
    movies = tmp_path / "media" / "movies"
    (tv / "Show" / "Season 1").mkdir(parents=True)
    movies.mkdir(parents=True)
    (tv / "Show" / "Season 1" / "e01.mkv").write_bytes(CONTENT)
    (tv / "Show" / "Season 1" / "e02.mkv").write_bytes(b"episode two")
    (tv / "Show" / "poster.jpg").write_bytes(b"\xff\xd8\xff poster")
    (tv / ".hidden.mkv").write_bytes(b"hidden")
    (tv / ".Trash-1000").mkdir()
    (tv / ".Trash-1000" / "deleted.mkv").write_bytes(b"deleted")
    (tv / "empty.nfo").write_bytes(b"")
    (movies / "film.mp4").write_bytes(b"a film")
    lookalike = tmp_path / "media" / "tv2"
    lookalike.mkdir()
    (lookalike / "x.mkv").write_bytes(b"not yours")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"top secret")
    (tv / "escape.txt").symlink_to(outside / "secret.txt")
    (tv / "escape_dir").symlink_to(outside, target_is_directory=True)
    (tv / "movies_link").symlink_to(movies, target_is_directory=True)
    (tv / "dangling").symlink_to(tmp_path / "nowhere")
    (tv / "Show" / "loop").symlink_to(tv / "Show", target_is_directory=True)
    os.mkfifo(tv / "pipe")
    return {"tv": tv, "movies": movies, "lookalike": lookalike, "outside": outside, "tmp": tmp_path}


@pytest.fixture
def harness(revenge_plugin, tree):
    return revenge_plugin(localfs_plugin, name="localfs",
                          config={"roots": [str(tree["tv"]), str(tree["movies"])]})


@pytest.fixture
def storage(harness) -> LocalStorage:
    return harness.registration("storage_backends", "localfs").storage


async def collect(aiter) -> list:
    return [item async for item in aiter]


async def read(storage, path, *args, **kwargs) -> bytes:
    return b"".join(await collect(storage.open(str(path), *args, **kwargs)))


# --- registration and configuration --------------------------------------------------------------


def test_registers_one_storage_backend_implementing_the_protocol(harness, tree):
    [backend] = harness.registrations("storage_backends")
    assert backend.name == "localfs"
    assert isinstance(backend.storage, Storage)
    assert backend.storage.roots() == [str(tree["tv"]), str(tree["movies"])]
    assert all(harness.registrations(kind) == [] for kind in ("routes", "jobs", "event_handlers"))


def test_the_installed_entry_point_is_this_plugin(revenge_plugin, tree):
    harness = revenge_plugin("localfs", config={"roots": str(tree["tv"])})
    assert harness.plugin is localfs_plugin
    assert harness.config.roots == [str(tree["tv"])]


def test_config_accepts_environment_strings(revenge_plugin, tree):
    harness = revenge_plugin(localfs_plugin, name="localfs",
                             config={"roots": f"{tree['tv']}, {tree['movies']}", "follow_symlinks": "false"})
    assert harness.config.roots == [str(tree["tv"]), str(tree["movies"])]
    assert harness.config.follow_symlinks is False
    assert harness.registration("storage_backends", "localfs").storage.follow_symlinks is False


def test_config_defaults_serve_nothing(revenge_plugin):
    harness = revenge_plugin(localfs_plugin, name="localfs")
    assert harness.config.roots == []
    assert harness.config.follow_symlinks is True


@pytest.mark.parametrize("root", ["media/tv", "./tv", "~/media", ""])
def test_config_rejects_relative_roots(revenge_plugin, root):
    with pytest.raises(PluginConfigError, match="not an absolute path") as caught:
        revenge_plugin(localfs_plugin, name="localfs", config={"roots": [root]})
    assert caught.value.key == "plugins.localfs"


def test_config_rejects_unknown_keys(revenge_plugin):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(localfs_plugin, name="localfs", config={"root": "/srv"})
    assert caught.value.key == "plugins.localfs.root"


def test_storage_itself_rejects_relative_roots():
    with pytest.raises(ValueError, match="absolute"):
        LocalStorage(["media"])


# --- self-check ----------------------------------------------------------------------------------


async def test_self_check_passes_for_readable_roots(harness):
    assert await harness.self_check() is None


async def test_self_check_passes_without_roots_but_warns(revenge_plugin):
    harness = revenge_plugin(localfs_plugin, name="localfs")
    assert await harness.self_check() is None
    assert any(level == "WARNING" and "no roots configured" in text for level, text in harness.logs)


async def test_self_check_names_a_missing_root(revenge_plugin, tree):
    missing = tree["tmp"] / "media" / "music"
    harness = revenge_plugin(localfs_plugin, name="localfs", config={"roots": [str(tree["tv"]), str(missing)]})
    message = await harness.self_check()
    assert message == f"root {missing} does not exist; create it or remove it from plugins.localfs.roots"


async def test_self_check_names_a_root_that_is_a_file(revenge_plugin, tree):
    file_root = tree["movies"] / "film.mp4"
    harness = revenge_plugin(localfs_plugin, name="localfs", config={"roots": [str(file_root)]})
    assert await harness.self_check() == f"root {file_root} is not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder regardless of its mode")
async def test_self_check_names_an_unreadable_root(revenge_plugin, tree):
    tree["movies"].chmod(0)
    try:
        harness = revenge_plugin(localfs_plugin, name="localfs", config={"roots": [str(tree["movies"])]})
        assert "cannot be read" in await harness.self_check()
    finally:
        tree["movies"].chmod(0o755)


async def test_self_check_reports_a_root_the_server_cannot_list(revenge_plugin, tree, monkeypatch):
    real_scandir = os.scandir

    def refuse(path="."):
        if os.fspath(path) == str(tree["movies"]):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    harness = revenge_plugin(localfs_plugin, name="localfs", config={"roots": [str(tree["tv"]), str(tree["movies"])]})
    assert await harness.self_check() == (
        f"root {tree['movies']} cannot be read by the server (uid {os.geteuid()}): Permission denied"
    )


# --- listing -------------------------------------------------------------------------------------


async def test_list_shows_visible_files_and_folders(storage, tree):
    tv = tree["tv"]
    entries = await storage.list(str(tv))
    assert [(Path(e.path).name, e.is_dir) for e in entries] == [
        ("Show", True), ("empty.nfo", False), ("movies_link", True),
    ]
    show = await storage.list(str(tv / "Show"))
    assert [(Path(e.path).name, e.is_dir, e.size) for e in show] == [
        ("Season 1", True, 0), ("loop", True, 0), ("poster.jpg", False, 10),
    ]


async def test_list_of_a_file_or_a_missing_folder_fails(storage, tree):
    with pytest.raises(NotADirectoryError):
        await storage.list(str(tree["tv"] / "empty.nfo"))
    with pytest.raises(FileNotFoundError):
        await storage.list(str(tree["tv"] / "Missing"))


async def test_listing_keeps_the_callers_path_through_symlinks(storage, tree):
    [film] = await storage.list(str(tree["tv"] / "movies_link"))
    assert film.path == str(tree["tv"] / "movies_link" / "film.mp4")
    assert film.inode == os.stat(tree["movies"] / "film.mp4").st_ino


# --- walking -------------------------------------------------------------------------------------


async def test_walk_yields_every_visible_file_once(storage, tree):
    tv = tree["tv"]
    paths = [info.path for info in await collect(storage.walk(str(tv)))]
    # Show/loop leads back to Show, already visited: it is skipped, so the walk ends.
    assert paths == [
        str(tv / "empty.nfo"),
        str(tv / "Show" / "poster.jpg"),
        str(tv / "Show" / "Season 1" / "e01.mkv"),
        str(tv / "Show" / "Season 1" / "e02.mkv"),
        str(tv / "movies_link" / "film.mp4"),
    ]
    assert all(not info.is_dir for info in await collect(storage.walk(str(tv))))


async def test_walk_does_not_follow_a_symlinked_folder_out_of_the_roots(storage, tree):
    paths = [info.path for info in await collect(storage.walk(str(tree["tv"])))]
    assert not any("secret" in p or "escape" in p for p in paths)


async def test_walk_ends_on_a_symlink_cycle_through_the_root(revenge_plugin, tree):
    (tree["tv"] / "Show" / "Season 1" / "back").symlink_to(tree["tv"], target_is_directory=True)
    harness = revenge_plugin(localfs_plugin, name="localfs", config={"roots": [str(tree["tv"])]})
    storage = harness.registration("storage_backends", "localfs").storage
    paths = [info.path for info in await collect(storage.walk(str(tree["tv"])))]
    assert len(paths) == len(set(os.path.realpath(p) for p in paths)) == 4


async def test_walk_without_follow_symlinks_skips_every_symlink(revenge_plugin, tree):
    harness = revenge_plugin(localfs_plugin, name="localfs",
                             config={"roots": [str(tree["tv"]), str(tree["movies"])], "follow_symlinks": False})
    storage = harness.registration("storage_backends", "localfs").storage
    paths = [info.path for info in await collect(storage.walk(str(tree["tv"])))]
    assert [Path(p).name for p in paths] == ["empty.nfo", "poster.jpg", "e01.mkv", "e02.mkv"]
    with pytest.raises(PermissionError, match="symlink"):
        await storage.stat(str(tree["tv"] / "movies_link" / "film.mp4"))
    assert (await storage.stat(str(tree["movies"] / "film.mp4"))).size == 6


async def test_walk_reports_unreadable_subfolders_instead_of_hiding_them(storage, tree, monkeypatch):
    season = tree["tv"] / "Show" / "Season 1"
    real_scandir = os.scandir

    def refuse(path="."):
        if os.fspath(path) == str(season):
            raise PermissionError(13, "Permission denied", str(season))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    errors = []
    paths = [i.path for i in await collect(storage.walk(str(tree["tv"]), on_error=lambda p, e: errors.append((p, e))))]
    assert str(season / "e01.mkv") not in paths
    assert [(p, type(e)) for p, e in errors] == [(str(season), PermissionError)]


async def test_walk_of_a_file_fails(storage, tree):
    with pytest.raises(NotADirectoryError):
        await collect(storage.walk(str(tree["tv"] / "empty.nfo")))


# --- facts ---------------------------------------------------------------------------------------


async def test_stat_reports_what_change_detection_needs(storage, tree):
    path = tree["tv"] / "Show" / "Season 1" / "e01.mkv"
    os.utime(path, (1_700_000_000, 1_700_000_123.5))
    info = await storage.stat(str(path))
    real = os.stat(path)
    assert info.path == str(path)
    assert info.size == len(CONTENT)
    assert info.mtime == 1_700_000_123.5
    assert info.is_dir is False
    assert (info.inode, info.device) == (real.st_ino, real.st_dev)
    folder = await storage.stat(str(tree["tv"] / "Show"))
    assert folder.is_dir and folder.size == 0


async def test_stat_sees_a_file_replaced_in_place(storage, tree):
    path = tree["tv"] / "Show" / "Season 1" / "e02.mkv"
    before = await storage.stat(str(path))
    replacement = path.with_name("e02.mkv.part")
    replacement.write_bytes(b"episode 2!!")  # same size as before
    os.replace(replacement, path)
    os.utime(path, (before.mtime, before.mtime))
    after = await storage.stat(str(path))
    assert (after.size, after.mtime) == (before.size, before.mtime)
    assert after.inode != before.inode


async def test_stat_of_a_missing_file_fails(storage, tree):
    with pytest.raises(FileNotFoundError):
        await storage.stat(str(tree["tv"] / "nope.mkv"))


async def test_stat_accepts_hidden_files_asked_for_by_path(storage, tree):
    assert (await storage.stat(str(tree["tv"] / ".hidden.mkv"))).size == 6


async def test_filesystem_calls_run_off_the_event_loop(storage, tree, monkeypatch):
    threads = set()
    for name in ("scandir", "stat", "pread", "open"):
        real = getattr(os, name)

        def spy(*args, _real=real, **kwargs):
            threads.add(threading.current_thread() is threading.main_thread())
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    episode = str(tree["tv"] / "Show" / "Season 1" / "e02.mkv")
    await storage.list(str(tree["tv"]))
    await collect(storage.walk(str(tree["tv"])))
    await storage.stat(episode)
    await read(storage, episode)
    assert threads == {False}


# --- byte ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, CONTENT[:1]),
        (1000, 1999, CONTENT[1000:2000]),
        (len(CONTENT) - 1, len(CONTENT) - 1, CONTENT[-1:]),
        (0, len(CONTENT) - 1, CONTENT),
        (0, None, CONTENT),
        (len(CONTENT) - 10, None, CONTENT[-10:]),
    ],
    ids=["first-byte", "middle", "last-byte", "whole-explicit", "whole", "tail"],
)
async def test_open_reads_inclusive_byte_ranges(storage, tree, start, end, expected):
    path = tree["tv"] / "Show" / "Season 1" / "e01.mkv"
    assert await read(storage, path, start, end) == expected


async def test_open_reads_in_chunks_of_at_most_chunk_size(storage, tree):
    path = str(tree["tv"] / "Show" / "Season 1" / "e01.mkv")
    chunks = await collect(storage.open(path, 10, 100_009, chunk_size=4096))
    assert [len(c) for c in chunks] == [4096] * 24 + [100_000 - 4096 * 24]
    assert b"".join(chunks) == CONTENT[10:100_010]


async def test_open_of_an_empty_file_yields_nothing(storage, tree):
    assert await read(storage, tree["tv"] / "empty.nfo") == b""
    with pytest.raises(ValueError):
        await read(storage, tree["tv"] / "empty.nfo", 0, 0)


@pytest.mark.parametrize(
    ("start", "end", "chunk_size"),
    [(-1, 10, 1024), (10, 9, 1024), (0, 10, 0), ("0", 10, 1024), (0, 1.5, 1024)],
    ids=["negative-start", "end-before-start", "zero-chunk", "text-start", "float-end"],
)
def test_open_rejects_impossible_arguments_at_once(storage, tree, start, end, chunk_size):
    with pytest.raises(ValueError):
        storage.open(str(tree["tv"] / "Show" / "Season 1" / "e01.mkv"), start, end, chunk_size)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, len(CONTENT)), (len(CONTENT), None), (len(CONTENT), len(CONTENT) + 5)],
    ids=["end-past-last-byte", "start-at-size", "both-past"],
)
async def test_open_rejects_ranges_beyond_the_file(storage, tree, start, end):
    with pytest.raises(ValueError, match="outside"):
        await read(storage, tree["tv"] / "Show" / "Season 1" / "e01.mkv", start, end)


async def test_open_refuses_folders_and_special_files(storage, tree):
    with pytest.raises(IsADirectoryError):
        await read(storage, tree["tv"] / "Show")
    with pytest.raises(PermissionError, match="not a regular file"):
        await read(storage, tree["tv"] / "pipe")


# --- confinement ---------------------------------------------------------------------------------


ESCAPES = {
    # name: (a file target, a folder target), relative to the tree
    "dotdot": ("{tv}/../../outside/secret.txt", "{tv}/../../outside"),
    "dotdot-inside": ("{tv}/Show/../empty.nfo", "{tv}/Show/.."),
    "absolute-elsewhere": ("{outside}/secret.txt", "{outside}"),
    "system-file": ("/etc/passwd", "/etc"),
    "symlink-out": ("{tv}/escape.txt", "{tv}/escape_dir"),
    "through-symlink-out": ("{tv}/escape_dir/secret.txt", "{tv}/escape_dir/"),
    "nul-byte": ("{tv}/empty.nfo\x00.mkv", "{tv}/Show\x00"),
    "prefix-trick": ("{lookalike}/x.mkv", "{lookalike}"),
    "relative": ("media/tv/empty.nfo", "media/tv"),
    "parent-of-root": ("{tmp}/media/tv2/x.mkv", "{tmp}/media"),
}


def _escape(template: str, tree) -> str:
    return template.format(**{k: str(v) for k, v in tree.items()})


@pytest.mark.parametrize("attempt", list(ESCAPES))
async def test_escapes_are_refused_by_stat_and_open(storage, tree, attempt, monkeypatch):
    monkeypatch.chdir(tree["tmp"])  # so that the relative attempt names a real file
    path = _escape(ESCAPES[attempt][0], tree)
    with pytest.raises(PermissionError):
        await storage.stat(path)
    with pytest.raises(PermissionError):
        await read(storage, path)


@pytest.mark.parametrize("attempt", list(ESCAPES))
async def test_escapes_are_refused_by_list_and_walk(storage, tree, attempt, monkeypatch):
    monkeypatch.chdir(tree["tmp"])
    path = _escape(ESCAPES[attempt][1], tree)
    with pytest.raises(PermissionError):
        await storage.list(path)
    with pytest.raises(PermissionError):
        await collect(storage.walk(path))


async def test_a_symlink_swapped_in_after_the_check_is_caught_on_open(storage, tree, monkeypatch):
    target = tree["tv"] / "Show" / "Season 1" / "e02.mkv"
    real_open = os.open

    def swap_then_open(path, flags, *args, **kwargs):
        # Simulate an attacker replacing the file by a symlink between the check and the open.
        os.replace(target, target.with_name("moved.mkv"))
        os.symlink(tree["outside"] / "secret.txt", target)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swap_then_open)
    with pytest.raises(OSError) as caught:
        await read(storage, target)
    assert not isinstance(caught.value, FileNotFoundError)


async def test_roots_themselves_and_symlinks_inside_them_are_allowed(storage, tree):
    assert (await storage.stat(str(tree["tv"]))).is_dir
    assert await read(storage, tree["tv"] / "movies_link" / "film.mp4") == b"a film"
    assert (await storage.stat(str(tree["tv"]) + "/")).path == str(tree["tv"])


async def test_a_storage_without_roots_refuses_everything(tree):
    storage = LocalStorage([])
    with pytest.raises(PermissionError):
        await storage.stat(str(tree["tv"]))


# --- local paths and watching --------------------------------------------------------------------


async def test_local_path_is_the_real_location_inside_the_roots(storage, tree):
    assert storage.local_path(str(tree["tv"] / "Show" / "poster.jpg")) == str(tree["tv"] / "Show" / "poster.jpg")
    linked = tree["tv"] / "movies_link" / "film.mp4"
    assert storage.local_path(str(linked)) == os.path.realpath(tree["movies"] / "film.mp4")
    for attempt in ("{tv}/escape.txt", "{tv}/../../outside/secret.txt", "/etc/passwd"):
        with pytest.raises(PermissionError):
            storage.local_path(_escape(attempt, tree))


async def _next_batch(changes, timeout: float = 10.0) -> set[str]:
    return await asyncio.wait_for(anext(changes), timeout)


async def test_watch_reports_changes_below_the_folders_as_the_caller_names_them(storage, tree):
    stop = asyncio.Event()
    changes = storage.watch([str(tree["tv"] / "Show")], debounce_ms=50, stop_event=stop)
    waiting = asyncio.ensure_future(_next_batch(changes))
    await asyncio.sleep(0.5)  # the watcher is running by now
    (tree["tv"] / "Show" / ".partial.mkv").write_bytes(b"hidden, not reported")
    (tree["tv"] / "Show" / "Season 1" / "e03.mkv").write_bytes(b"episode three")
    batch = await waiting
    assert batch == {str(tree["tv"] / "Show" / "Season 1" / "e03.mkv")}
    (tree["tv"] / "Show" / "Season 1" / "e01.mkv").unlink()
    assert str(tree["tv"] / "Show" / "Season 1" / "e01.mkv") in await _next_batch(changes)
    stop.set()
    await changes.aclose()


async def test_watch_refuses_folders_outside_the_roots(storage, tree):
    with pytest.raises(PermissionError):
        await anext(storage.watch([str(tree["outside"])]))
