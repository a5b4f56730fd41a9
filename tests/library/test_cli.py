"""``revenge library`` as a user runs it, with a content-type plugin installed like any other."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from revenge_core.library.cli import ProgressPrinter, progress_line, summary_line
from tests.library.conftest import make_clip
from tests.test_discovery import install_fake_distribution

PLUGIN = '''
"""Clips for the CLI test: every .mp4 becomes a clip item."""
from revenge_hookspecs import ContentType, hookimpl
from revenge_hookspecs.media import IngestResult, ItemRef, item_key


class Handler:
    def __init__(self, context):
        self.context = context

    async def ingest(self, library, files):
        items = [ItemRef(item_key("clip", f.file_id), library.id, f.name) for f in files]
        await self.context.library.upsert_items(items)
        return [IngestResult(f.file_id, item_key=i.key) for f, i in zip(files, items)]

    async def files_moved(self, library, moves):
        pass

    async def files_removed(self, library, files):
        await self.context.library.remove_items([f.item_key for f in files if f.item_key])

    async def refresh(self, library, item_key, *, replace=False):
        pass


@hookimpl
def revenge_content_types(context):
    return ContentType("clip", "Clips", extensions={"mp4"}, handler=Handler(context), item_types={"clip"})
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "revenge-clipscli", "0.1", {"clipscli": "revenge_clipscli"},
                              {"revenge_clipscli": PLUGIN})
    media = tmp_path / "media"
    for index, name in enumerate(("one.mp4", "two.mp4", "sub/three.mp4")):
        make_clip(media / name, 1.0, shade=40 * index)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REVENGE_")}
    environ.update({
        "PYTHONPATH": str(site), "REVENGE_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "REVENGE_LOAD_PLUGINS": "clipscli,localfs", "REVENGE_PLUGINS_LOCALFS_ROOTS": str(media),
        "REVENGE_LIBRARY_SCAN_BATCH_SIZE": "1", "REVENGE_LOGGING_LEVEL": "WARNING", "MEDIA": str(media),
    })
    return environ


def _revenge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revenge_core", "library", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_add_list_and_scan_with_wait(env: dict[str, str]) -> None:
    media = env["MEDIA"]
    added = _revenge("add", "--name", "Clips", "--type", "clip", "--path", media, env=env)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"library 1 (Clips) created: clip in {media}"

    scanned = _revenge("scan", "clips", "--wait", env=env)
    assert scanned.returncode == 0, scanned.stderr
    lines = scanned.stdout.strip().splitlines()
    assert re.fullmatch(r"scan 1 done in \d+\.\ds: 3 seen, 3 new, 0 changed, 0 moved, 0 missing, 0 restored, "
                        r"0 removed, 0 unchanged, 0 errors", lines[-1]), lines
    assert all(line.startswith("scan 1") and "\r" not in line for line in lines)  # plain lines off a terminal

    again = _revenge("scan", "1", "--wait", env=env)
    assert "3 seen, 0 new" in again.stdout and "3 unchanged" in again.stdout

    listed = _revenge("list", env=env)
    assert re.search(r"1\s+Clips\s+clip\s+enabled\s+3 files\s+3 items", listed.stdout), listed.stdout

    queued = _revenge("scan", "Clips", "--full", env=env)
    assert queued.returncode == 0 and queued.stdout.startswith("scan 3 of library 1 (Clips) queued")

    missing = _revenge("scan", "nope", env=env)
    assert missing.returncode == 1 and "no library 'nope'; libraries: 1 (Clips)" in missing.stderr
    bad = _revenge("add", "--name", "Elsewhere", "--type", "clip", "--path", "/etc", env=env)
    assert bad.returncode == 1 and "outside the folders the storage backend 'localfs' serves" in bad.stderr


def test_the_progress_bar_is_drawn_in_place_on_a_terminal() -> None:
    run = {"id": "7", "status": "running", "total": 4, "done": 1, "counts": {"seen": 4}}
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=True)
    printer.show(run)
    printer.show({**run, "done": 3})
    printer.finish({**run, "status": "done", "done": 4, "counts": {"seen": 4, "new": 4}, "error": None}, 1.25)
    text = out.getvalue()
    assert "\r[#######-----------------------] scan 7: 1/4 files processed\x1b[K" in text
    assert "\r[######################--------] scan 7: 3/4 files processed\x1b[K" in text
    assert text.endswith("\r\x1b[Kscan 7 done in 1.2s: 4 seen, 4 new, 0 changed, 0 moved, 0 missing, 0 restored, "
                         "0 removed, 0 unchanged, 0 errors\n")


def test_plain_progress_prints_a_line_only_when_it_moves() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=False)
    walking = {"id": "2", "status": "running", "total": 0, "done": 0, "counts": {"seen": 10}}
    for run in (walking, walking, {**walking, "total": 10, "done": 5}, {**walking, "status": "queued"}):
        printer.show(run)
    assert out.getvalue().splitlines() == ["scan 2: looking for files, 10 found", "scan 2: 5/10 files processed",
                                           "scan 2: waiting for another scan of this library to finish"]
    assert progress_line({**walking, "total": 3, "done": 3}) == "scan 2: 3/3 files processed"
    failed = summary_line({"id": "2", "status": "failed", "counts": {}, "error": "the content type is gone"}, 0.04)
    assert failed.startswith("scan 2 failed in 0.0s: 0 seen") and failed.endswith("(the content type is gone)")
