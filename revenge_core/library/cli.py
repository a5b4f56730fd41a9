"""``revenge library list / add / scan``.

``scan`` queues a scan for the server (or ``revenge worker``) to run; with ``--wait`` it runs
it right here instead and follows its progress from ``scan_runs``: a bar on a terminal,
plain lines otherwise (logs, CI). A scan of the same library running elsewhere is waited for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, TextIO

from revenge_hookspecs.errors import ApiError

POLL_SECONDS = 0.2
BAR_WIDTH = 30


def add_parser(sub: Any) -> None:
    library = sub.add_parser("library", help="list, add and scan libraries")
    actions = library.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every library with its counts")
    listing.add_argument("--json", action="store_true")
    add = actions.add_parser("add", help="create a library")
    add.add_argument("--name", required=True)
    add.add_argument("--type", required=True, dest="content_type", help="a content type, e.g. movie")
    add.add_argument("--path", required=True, action="append", dest="paths", help="a folder (repeatable)")
    add.add_argument("--storage", default="localfs")
    add.add_argument("--language", action="append", dest="languages", help="metadata language (repeatable)")
    add.add_argument("--realtime", action="store_true", help="watch the folders for changes")
    add.add_argument("--scan-on-startup", action="store_true")
    scan = actions.add_parser("scan", help="scan a library (by name or id)")
    scan.add_argument("library")
    scan.add_argument("--full", action="store_true", help="hand every file to the content type again")
    scan.add_argument("--wait", action="store_true", help="run the scan here and show its progress")
    library.set_defaults(func=cmd_library)


def cmd_library(args: argparse.Namespace) -> int:
    from ..cli import CliError, _load

    config = _load(args)
    try:
        return asyncio.run(_run(args, config))
    except ApiError as exc:
        raise CliError(exc.message) from None


async def _run(args: argparse.Namespace, config: Any) -> int:
    from ..cli import running_host

    async with running_host(config) as (_host, services):
        library = services.library
        if args.action == "list":
            return await _list(library, args.json)
        if args.action == "add":
            body: dict[str, Any] = {"name": args.name, "content_type": args.content_type, "paths": args.paths,
                                    "storage": args.storage, "realtime": args.realtime,
                                    "scan_on_startup": args.scan_on_startup}
            if args.languages:
                body["languages"] = args.languages
            created = await library.create(body)
            print(f"library {created.id} ({created.name}) created: {created.content_type} in "
                  f"{', '.join(created.paths)}")
            return 0
        target = await _find(library, args.library)
        mode = "full" if args.full else "incremental"
        if not args.wait:
            run, created = await library.request_scan(target.id, mode, requested_by="cli")
            verb = "queued" if created else "joined (already queued or running)"
            print(f"scan {run['id']} of library {target.id} ({target.name}) {verb}; the server runs it. "
                  f"Follow it with `revenge library scan {target.id} --wait` or "
                  f"GET /api/v1/libraries/{target.id}/scans/{run['id']}")
            return 0
        return await _scan_and_follow(library, target, mode)


async def _find(library: Any, wanted: str) -> Any:
    from ..cli import CliError

    libraries = await library.list()
    found = [lib for lib in libraries if lib.id == wanted or lib.name.lower() == wanted.lower()]
    if not found:
        names = ", ".join(f"{lib.id} ({lib.name})" for lib in libraries) or "none yet; see `revenge library add`"
        raise CliError(f"no library {wanted!r}; libraries: {names}")
    return found[0]


async def _list(library: Any, as_json: bool) -> int:
    from .service import library_dict

    libraries = await library.list()
    summaries = await library.summaries(lib.id for lib in libraries)
    rows = [library_dict(lib, summaries[lib.id]) for lib in libraries]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no libraries; add one with `revenge library add --name NAME --type TYPE --path FOLDER`")
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        print(f"{row['id']:>4}  {row['name']:{width}}  {row['content_type']:10} {state:8} {row['files']:>7} files "
              f"{row['items']:>7} items  {', '.join(row['paths'])}")
    return 0


async def _scan_and_follow(library: Any, target: Any, mode: str) -> int:
    out = sys.stdout
    printer = ProgressPrinter(out, tty=out.isatty())
    started = time.monotonic()
    run, _created = await library.request_scan(target.id, mode, requested_by="cli", enqueue=False)
    scanning = asyncio.get_running_loop().create_task(library.follow(run["id"]))
    while not scanning.done():
        await asyncio.wait({scanning}, timeout=POLL_SECONDS)
        if not scanning.done():
            printer.show(await library.scan_run(run["id"]))
    run = scanning.result()
    printer.finish(run, time.monotonic() - started)
    return 0 if run["status"] == "done" else 1


def progress_line(run: dict[str, Any]) -> str:
    """One line about a scan: walking (files seen so far), or files handed to the content type."""
    if run["status"] == "queued":
        return f"scan {run['id']}: waiting for another scan of this library to finish"
    if run["total"] == 0:
        return f"scan {run['id']}: looking for files, {run['counts']['seen']} found"
    return f"scan {run['id']}: {run['done']}/{run['total']} files processed"


def summary_line(run: dict[str, Any], seconds: float) -> str:
    counts = run.get("counts", {})
    parts = ", ".join(f"{counts.get(name, 0)} {name}" for name in
                      ("seen", "new", "changed", "moved", "missing", "restored", "removed", "unchanged", "errors"))
    line = f"scan {run['id']} {run['status']} in {seconds:.1f}s: {parts}"
    if run.get("error"):
        line += f" ({run['error']})"
    return line


class ProgressPrinter:
    """A bar redrawn in place on a terminal; elsewhere, a line whenever the progress moves."""

    def __init__(self, out: TextIO, *, tty: bool):
        self.out = out
        self.tty = tty
        self._last = ""

    def show(self, run: dict[str, Any]) -> None:
        line = progress_line(run)
        if self.tty:
            total, done = run["total"], run["done"]
            filled = int(BAR_WIDTH * done / total) if total else 0
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.out.write(f"\r[{bar}] {line}\x1b[K")
            self.out.flush()
        elif line != self._last:
            print(line, file=self.out, flush=True)
        self._last = line

    def finish(self, run: dict[str, Any], seconds: float) -> None:
        if self.tty and self._last:
            self.out.write("\r\x1b[K")
        print(summary_line(run, seconds), file=self.out, flush=True)
