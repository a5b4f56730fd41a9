"""Library scans: files per second of an initial scan, an unchanged rescan and a rescan after
touching 1 % of the files, on a generated library of real video files.

About 16 distinct tiny clips (64x48 and up, 0.5 s, h264 / hevc / mpeg4 in mkv and mp4) are
written with ``revenge_video.testing.make_video`` and copied to realistic names, so every file
is a real, decodable, separate file:

- half movies: ``Title N (YEAR)/Title N (YEAR).mkv``, one in five a scene release lying flat in
  the library folder (``Title.N.YEAR.1080p.BluRay.x264-GRP.mkv``);
- half episodes of 50 shows: ``Show/Season 01/Show - S01E02.mkv``, ten episodes a season.

The real server is built in-process (``create_app`` with the plugins localfs, movies and tv; no
metadata provider, and ``jobs.embedded_consumer = False`` so the enrichment jobs ingest queues
only wait in the queue), a movie and a TV library are created, and each phase is timed around
``services.library.scan_now(library_id, "incremental")``. The initial scan includes probing
every file with PyAV, as real scans do. Each database runs in its own process, so the peak RSS
(``ru_maxrss``) printed is that database's run alone. The SQL statements and database-thread
round trips of each phase are counted too (per file), to show where a scan spends its time.

    .venv/bin/python bench/library_scan.py [--files 5000] [--shows 50] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import math
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ADJECTIVES = ("Silent", "Crimson", "Broken", "Hidden", "Golden", "Last", "Distant", "Frozen", "Burning", "Lost",
              "Secret", "Wild", "Dark", "Bright", "Endless", "Hollow", "Iron", "Midnight", "Scarlet", "Savage",
              "Quiet", "Restless", "Shattered", "Velvet", "Wandering")
NOUNS = ("River", "Harbor", "Empire", "Garden", "Kingdom", "Horizon", "Shadow", "Mountain", "Witness", "Storm",
         "Promise", "Frontier", "Station", "Mirror", "Island", "Circus", "Orchard", "Valley", "Tide", "Signal")
SHOW_NOUNS = ("Chronicles", "Files", "Precinct", "Academy", "Dynasty", "Hospital", "Bay", "Heights", "Legacy",
              "Agency")
CLIP_COUNT = 16
EPISODES_PER_SEASON = 10


# --- the library on disk ------------------------------------------------------------------------------


def make_clips(folder: Path, count: int = CLIP_COUNT) -> list[Path]:
    """``count`` distinct tiny real videos: a few codecs, containers, frame sizes, with and without audio."""
    from revenge_video.testing import make_video

    codecs = ("h264", "hevc", "mpeg4", "h264")
    sizes = ((64, 48), (96, 54), (128, 72), (64, 48))
    clips = []
    for i in range(count):
        extension = "mp4" if i % 4 == 3 else "mkv"
        width, height = sizes[(i // 4) % len(sizes)]
        clips.append(make_video(folder / f"clip{i:02}.{extension}", seconds=0.5, width=width, height=height,
                                fps=10, codec=codecs[i % len(codecs)], audio=("eng",) if i % 2 else (),
                                title=f"clip {i}"))
    return clips


def movie_title(n: int) -> str:
    adjective = ADJECTIVES[n % len(ADJECTIVES)]
    noun = NOUNS[(n // len(ADJECTIVES)) % len(NOUNS)]
    return f"{adjective} {noun} {n + 1}"


def show_title(k: int) -> str:
    return f"The {ADJECTIVES[k % len(ADJECTIVES)]} {SHOW_NOUNS[(k // len(ADJECTIVES)) % len(SHOW_NOUNS)]}"


def build_library(root: Path, clips: list[Path], files: int, shows: int) -> tuple[Path, Path, list[Path]]:
    """Copy the clips to ``files`` realistic names under ``root/movies`` and ``root/tv``."""
    movies, tv = root / "movies", root / "tv"
    written: list[Path] = []
    source = itertools.cycle(clips)
    movie_count = files // 2
    for n in range(movie_count):
        clip = next(source)
        title, year, extension = movie_title(n), 1950 + (n * 7) % 75, clip.suffix
        if n % 5 == 4:
            path = movies / f"{title.replace(' ', '.')}.{year}.1080p.BluRay.x264-GRP{extension}"
        else:
            path = movies / f"{title} ({year})" / f"{title} ({year}){extension}"
        written.append(path)
    episode_count = files - movie_count
    per_show = max(1, math.ceil(episode_count / shows))
    for i in range(episode_count):
        clip = next(source)
        show, index = show_title(i // per_show), i % per_show
        season, episode = index // EPISODES_PER_SEASON + 1, index % EPISODES_PER_SEASON + 1
        written.append(tv / show / f"Season {season:02}" / f"{show} - S{season:02}E{episode:02}{clip.suffix}")
    source = itertools.cycle(clips)
    for path in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(next(source), path)
    return movies, tv, written


def touch(paths: list[Path], seconds: float = 10.0) -> None:
    """Move mtimes forward, as a later write would."""
    for path in paths:
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + seconds))


# --- one database, in its own process -----------------------------------------------------------------


class Counters:
    """SQL statements and database-thread round trips, counted by wrapping the server's Database."""

    def __init__(self, db: Any):
        self.statements = itertools.count()
        self.round_trips = itertools.count()
        run, execute_sql = db.run, db.database.execute_sql

        async def counted_run(*args: Any, **kwargs: Any) -> Any:
            next(self.round_trips)
            return await run(*args, **kwargs)

        def counted_sql(*args: Any, **kwargs: Any) -> Any:
            next(self.statements)
            return execute_sql(*args, **kwargs)

        db.run = counted_run
        db.database.execute_sql = counted_sql

    def snapshot(self) -> tuple[int, int]:
        # itertools.count has no getter: reading its repr is the cheap, thread-safe way.
        return int(repr(self.statements)[6:-1]), int(repr(self.round_trips)[6:-1])


class LoopLag:
    """How late the event loop wakes a task sleeping 5 ms: what a request waits while the scan
    holds the loop (name parsing, sidecar matching and anything else done on it)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.005
            await asyncio.sleep(0.005)
            self.lags.append(loop.time() - due)

    def start(self) -> None:
        self.lags = []
        self.task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> tuple[float, float]:
        """(p99, max) lag in milliseconds."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        lags = sorted(self.lags) or [0.0]
        return lags[max(0, math.ceil(len(lags) * 0.99) - 1)] * 1000, lags[-1] * 1000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def scan_database(driver: str, url: str | None, movies: str, tv: str, media: str,
                        touched: list[str]) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer

    import revenge_localfs.plugin as localfs_plugin
    import revenge_movies.plugin as movies_plugin
    import revenge_tv.plugin as tv_plugin
    from revenge_core.config import load_config
    from revenge_core.http.app import create_app
    from revenge_core.http.keys import SERVICES
    from revenge_core.logs import setup_logging

    with tempfile.TemporaryDirectory(prefix="revenge-bench-data-") as data:
        environ = {"REVENGE_DATA_DIR": data, "REVENGE_DATABASE_DRIVER": driver, "REVENGE_LOGGING_LEVEL": "WARNING",
                   "REVENGE_LOGGING_ACCESS_LOG": "false", "XDG_CONFIG_HOME": "/nonexistent-revenge-config"}
        if url:
            environ["REVENGE_DATABASE_URL"] = url
        config = load_config(path=None, environ=environ)
        config.plugins["localfs"] = {"roots": [media]}
        config.jobs.embedded_consumer = False  # enrichment jobs queue and wait: no competition
        setup_logging(config.logging)
        app = create_app(config, plugins={"localfs": localfs_plugin, "movies": movies_plugin, "tv": tv_plugin})
        phases: list[dict[str, Any]] = []
        async with TestClient(TestServer(app)) as _client:
            services = app[SERVICES]
            rss_started = current_rss_mib()
            counters = Counters(services.db)
            lag = LoopLag()
            libraries = [await services.library.create({"name": "Movies", "content_type": "movie", "paths": [movies]}),
                         await services.library.create({"name": "Shows", "content_type": "tv", "paths": [tv]})]

            async def phase(name: str) -> None:
                for library in libraries:
                    statements, trips = counters.snapshot()
                    lag.start()
                    started = time.perf_counter()
                    run = await services.library.scan_now(library.id, "incremental")
                    seconds = time.perf_counter() - started
                    lag_p99, lag_max = await lag.stop()
                    after_statements, after_trips = counters.snapshot()
                    if run["status"] != "done":
                        raise RuntimeError(f"{name} scan of {library.name} ended {run['status']}: {run['error']}")
                    phases.append({"phase": name, "library": library.content_type, "seconds": seconds,
                                   "counts": run["counts"], "statements": after_statements - statements,
                                   "round_trips": after_trips - trips, "lag_p99": lag_p99, "lag_max": lag_max})

            await phase("initial")
            await phase("unchanged")
            touch([Path(p) for p in touched])
            await phase("1% touched")
            summaries = await services.library.summaries([lib.id for lib in libraries])
            items = {lib.content_type: summaries[lib.id]["items"] for lib in libraries}
            queued = await jobs_waiting(services)
    return {"phases": phases, "items": items, "jobs_queued": queued, "rss_started_mib": rss_started,
            "peak_rss_mib": peak_rss_mib()}


async def jobs_waiting(services: Any) -> int | None:
    """How many jobs wait in the queue (the enrichment the scans asked for)."""
    try:
        return int(services.jobs.health()["pending"])
    except Exception:
        return None


def scan_in_process(driver: str, url: str | None, movies: str, tv: str, media: str,
                    touched: list[str]) -> dict[str, Any]:
    return asyncio.run(scan_database(driver, url, movies, tv, media, touched))


# --- the report --------------------------------------------------------------------------------------


def report(driver: str, result: dict[str, Any]) -> None:
    print(f"\n{driver}")
    header = (f"  {'phase':<12} {'library':<7} {'files':>6} {'ingested':>8} {'errors':>6} {'wall s':>8} "
              f"{'files/s':>9} {'SQL/file':>9} {'trips/file':>10} {'loop lag p99/max ms':>20}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for row in result["phases"]:
        by_phase.setdefault(row["phase"], []).append(row)
    for name, rows in by_phase.items():
        for row in [*rows, None]:
            if row is None:
                if len(rows) < 2:
                    continue
                row = {"library": "both", "seconds": sum(r["seconds"] for r in rows),
                       "statements": sum(r["statements"] for r in rows),
                       "round_trips": sum(r["round_trips"] for r in rows),
                       "lag_p99": max(r["lag_p99"] for r in rows), "lag_max": max(r["lag_max"] for r in rows),
                       "counts": {k: sum(r["counts"][k] for r in rows) for k in rows[0]["counts"]}}
            counts = row["counts"]
            files = counts["seen"]
            ingested = counts["new"] + counts["changed"]
            print(f"  {name:<12} {row['library']:<7} {files:>6} {ingested:>8} {counts['errors']:>6} "
                  f"{row['seconds']:>8.2f} {files / row['seconds']:>9.1f} "
                  f"{row['statements'] / max(files, 1):>9.2f} {row['round_trips'] / max(files, 1):>10.2f} "
                  f"{row['lag_p99']:>11.0f} / {row['lag_max']:<6.0f}")
    items = ", ".join(f"{k}: {v}" for k, v in result["items"].items())
    print(f"  registered items: {items}; jobs waiting in the queue: {result['jobs_queued']}")
    print(f"  RSS after startup {result['rss_started_mib']:.0f} MiB, peak RSS {result['peak_rss_mib']:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="video files in the library (half movies)")
    parser.add_argument("--shows", type=int, default=50, help="TV shows the episodes spread over")
    parser.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL")
    args = parser.parse_args()
    if args.files < 2:
        parser.error("--files must be at least 2")

    with tempfile.TemporaryDirectory(prefix="revenge-bench-media-") as media_dir:
        media = Path(media_dir)
        started = time.perf_counter()
        clips = make_clips(media / "clips")
        clip_seconds = time.perf_counter() - started
        started = time.perf_counter()
        movies, tv, written = build_library(media / "library", clips, args.files, args.shows)
        size = sum(p.stat().st_size for p in written)
        movie_count = len(written) // 2
        print(f"library: {len(written)} real video files ({movie_count} movies, {len(written) - movie_count}"
              f" episodes of {args.shows} shows), {size / 2**20:.1f} MiB, copied from {len(clips)} clips "
              f"(clips {clip_seconds:.1f}s, copies {time.perf_counter() - started:.1f}s)")
        touched = [str(p) for p in written[::100]]
        print(f"the third phase touches {len(touched)} files (1 %) before rescanning")

        setups: list[tuple[str, str | None]] = [("sqlite", None)]
        pg = None
        if args.postgres:
            from tests.servers import PostgresServer

            pg = PostgresServer()
            setups.append(("postgres", pg.create_database()))
        spawn = multiprocessing.get_context("spawn")
        try:
            for driver, url in setups:
                # Its own process: a clean peak RSS, and nothing left over from the other database.
                with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                    result = pool.submit(scan_in_process, driver, url, str(movies), str(tv),
                                         str(media / "library"), touched).result()
                report(driver, result)
        finally:
            if pg is not None:
                pg.cleanup()


if __name__ == "__main__":
    main()
