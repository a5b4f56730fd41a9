"""Browsing and searching a big movie library: latency (p50/p99) and throughput of the API.

A movie library is filled straight through the movies plugin's tables (peewee ``insert_many``
in chunks): ``--items`` movies with titles from a word list, years, one to three genres
(``movie_genre_links``) and one file row each with its resolution. Every movie is registered
in the core item registry (``library_items``, through the plugin's ``context.library``) and in
the search index (``services.search.index("movie", docs)``, 1,000 documents at a time, each
with its ``library_id``), as ingest would. Each step of the load is timed.

Then, over HTTP with an admin's bearer token, from a separate client process (so the clients'
CPU is not the server's event loop):

- ``GET /api/v1/movies?per_page=50&sort=title`` (the first page, by title),
- ``GET /api/v1/movies?per_page=50&sort=year&order=desc&page=1000`` (a deep page),
- ``GET /api/v1/movies?per_page=50&genre=Drama&year_from=1990&year_to=1999``,
- ``GET /api/v1/movies/{id}`` (random movies),
- ``GET /api/v1/search?q=<a title word with a typo>&type=movie&facet=genre&facet=year``,

each ``--requests`` times one after another (p50/p99 ms) and then with ``--clients`` concurrent
clients for ``--seconds`` (requests per second). On SQLite, and with ``--postgres`` also on the
embedded PostgreSQL; PostgreSQL gets an ``ANALYZE`` after the load (what autovacuum does within
a minute), SQLite nothing (the server never analyzes it).

    .venv/bin/python bench/library_query.py [--items 100000] [--requests 100] [--clients 8]
        [--seconds 5] [--postgres]

``--items 10000`` is a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime
import itertools
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = (
    "Last", "Night", "City", "Dark", "Love", "Dead", "Man", "Woman", "Girl", "Boy", "King", "Queen", "War", "Star",
    "Blood", "House", "Road", "River", "Island", "Empire", "Ghost", "Secret", "Silent", "Lost", "Wild", "Heart",
    "Fire", "Ice", "Storm", "Shadow", "Moon", "Sun", "Sky", "Sea", "Dream", "Game", "Hunter", "Killer", "Angel",
    "Devil", "Stranger", "Mirror", "Garden", "Kingdom", "Forest", "Mountain", "Valley", "Desert", "Ocean", "Winter",
    "Summer", "Autumn", "Spring", "Midnight", "Morning", "Evening", "Golden", "Silver", "Iron", "Crimson", "Scarlet",
    "Black", "White", "Blue", "Red", "Green", "Broken", "Hidden", "Forgotten", "Eternal", "Final", "First", "Second",
    "Return", "Rise", "Fall", "Escape", "Journey", "Legend", "Story", "Tale", "Song", "Dance", "Music", "Letter",
    "Promise", "Memory", "Future", "Past", "Time", "Machine", "Planet", "Galaxy", "Space", "Station", "Signal",
    "Frontier", "Harbor", "Bridge", "Tower", "Castle", "Palace", "Prison", "School", "Hospital", "Hotel", "Train",
    "Ship", "Flight", "Highway", "Street", "Avenue", "Alley", "Circus", "Carnival", "Theater", "Window", "Door",
    "Key", "Lock", "Box", "Crown", "Sword", "Shield", "Arrow", "Bullet", "Gun", "Knife", "Poison", "Cure", "Plague",
    "Virus", "Storm", "Thunder", "Lightning", "Rain", "Snow", "Wind", "Dust", "Ashes", "Bones", "Skin", "Eyes",
    "Hands", "Voice", "Whisper", "Scream", "Silence", "Echo", "Paradise", "Heaven", "Hell", "Inferno", "Abyss",
    "Horizon", "Edge", "Border", "Line", "Circle", "Square", "Triangle", "Code", "Cipher", "Puzzle", "Maze",
    "Labyrinth", "Witness", "Detective", "Doctor", "Soldier", "Pilot", "Sailor", "Thief", "Spy", "Agent", "Rebel",
    "Outlaw", "Sheriff", "Cowboy", "Samurai", "Ninja", "Pirate", "Wizard", "Witch", "Dragon", "Wolf", "Tiger",
    "Lion", "Eagle", "Raven", "Snake", "Spider", "Butterfly", "Rose", "Lily", "Orchid", "Apple", "Cherry", "Honey",
    "Sugar", "Salt", "Wine", "Whiskey", "Coffee", "Money", "Diamond", "Gold", "Treasure", "Fortune", "Luck",
    "Chance", "Risk", "Danger", "Revenge", "Justice", "Mercy", "Glory", "Honor", "Freedom", "Liberty", "Victory",
    "Defeat", "Battle", "Siege", "Invasion", "Rebellion", "Revolution", "Republic", "Dynasty", "Legacy", "Heir",
    "Brother", "Sister", "Mother", "Father", "Daughter", "Son", "Family", "Wedding", "Funeral", "Birthday",
    "Holiday", "Vacation", "Weekend", "Tomorrow", "Yesterday", "Forever", "Never", "Always", "Nowhere", "Somewhere",
)
PATTERNS = ("{a}", "The {a}", "{a} {b}", "The {a} {b}", "{a} of the {b}", "{a} and {b}", "The {a} of {b}",
            "{a} in the {b}", "A {a} for {b}", "{a} {b} {c}")
GENRES = ("Drama", "Comedy", "Thriller", "Action", "Romance", "Horror", "Crime", "Documentary", "Adventure",
          "Science Fiction", "Family", "Mystery", "Fantasy", "Animation", "Music", "History", "War", "Western",
          "TV Movie")
GENRE_WEIGHTS = (30, 22, 14, 13, 11, 10, 8, 7, 7, 5, 5, 5, 5, 4, 3, 3, 2, 2, 2)
RESOLUTIONS = (("2160p", 3840, 2160, 10), ("1080p", 1920, 1080, 50), ("720p", 1280, 720, 25),
               ("576p", 720, 576, 5), ("480p", 640, 480, 10))
CHUNK = 500
INDEX_CHUNK = 1000
ADMIN = ("bench-admin", "a long benchmark password")


# --- the generated library -------------------------------------------------------------------------------


def generate(count: int, seed: int = 42) -> list[dict[str, Any]]:
    """``count`` movies as plain values: title, year, genres, resolution and a few more columns."""
    rng = random.Random(seed)
    now = datetime.datetime(2026, 11, 1)
    movies = []
    for n in range(count):
        a, b, c = rng.sample(WORDS, 3)
        title = rng.choice(PATTERNS).format(a=a, b=b.lower() if rng.random() < 0.1 else b, c=c)
        year = max(1920, 2025 - int(abs(rng.gauss(0, 22))))
        genres = sorted(set(rng.choices(GENRES, weights=GENRE_WEIGHTS, k=rng.randint(1, 3))))
        resolution = rng.choices(RESOLUTIONS, weights=[r[3] for r in RESOLUTIONS])[0]
        movies.append({
            "title": title, "year": year, "genres": genres, "resolution": resolution,
            "runtime": rng.randint(75, 180), "rating": round(rng.uniform(3.0, 9.0), 1), "votes": rng.randint(0, 20000),
            "release_date": datetime.date(year, rng.randint(1, 12), rng.randint(1, 28)),
            "added_at": now - datetime.timedelta(minutes=count - n),
        })
    return movies


def typo(word: str) -> str:
    """The word with one letter dropped from its middle, as a hurried user types it."""
    middle = len(word) // 2
    return (word[:middle] + word[middle + 1:]).lower()


# --- loading -------------------------------------------------------------------------------------------------


async def load(app: Any, library_id: str, specs: list[dict[str, Any]]) -> tuple[list[int], list[tuple[str, float]]]:
    """Fill the movies tables, the item registry and the search index; returns the ids and step timings."""
    from revenge_core.http.keys import HOST, SERVICES
    from revenge_hookspecs.media import ItemRef
    from revenge_movies import store
    from revenge_movies.models import Genre, Movie, MovieFile, MovieGenre
    from revenge_movies.service import MovieService, movie_key

    services = app[SERVICES]
    context = app[HOST].context_for("movies")
    MovieService(context)  # binds the models to the server's database
    db = services.db
    timings: list[tuple[str, float]] = []

    def movie_rows() -> tuple[list[int], dict[str, int]]:
        first = (Movie.select(Movie.id).order_by(Movie.id.desc()).scalar() or 0) + 1
        ids = list(range(first, first + len(specs)))
        rows = []
        for movie_id, spec in zip(ids, specs, strict=True):
            movie = Movie(id=movie_id, library_id=library_id, title=spec["title"], original_title=spec["title"],
                          year=spec["year"], release_date=spec["release_date"], runtime=spec["runtime"],
                          rating=spec["rating"], votes=spec["votes"], added_at=spec["added_at"],
                          name_key=store.name_key(spec["title"], spec["year"]))
            store.derive(movie)  # sort_key, title_norm, search_text: exactly as the plugin derives them
            rows.append(dict(movie.__data__))
        with Movie._meta.database.atomic():
            for start in range(0, len(rows), CHUNK):
                Movie.insert_many(rows[start:start + CHUNK]).execute()
            for name in GENRES:
                Genre.get_or_create(name=name)
        genres = {g.name: g.id for g in Genre.select()}
        return ids, genres

    def links_and_files(ids: list[int], genres: dict[str, int]) -> None:
        links = [{"movie": movie_id, "genre": genres[name]}
                 for movie_id, spec in zip(ids, specs, strict=True) for name in spec["genres"]]
        files = []
        for movie_id, spec in zip(ids, specs, strict=True):
            label, width, height, _ = spec["resolution"]
            name = f"{spec['title']} ({spec['year']})"
            files.append({"movie": movie_id, "file_id": f"bench-{movie_id}", "library_id": library_id,
                          "relative_path": f"{name}/{name}.mkv", "version": label, "container": "mkv",
                          "duration": spec["runtime"] * 60.0, "size": spec["runtime"] * 60 * 1_000_000,
                          "bitrate": 8_000_000, "video_codec": "h264", "width": width, "height": height,
                          "resolution": label, "audio_tracks": [], "subtitle_tracks": [], "chapters": [],
                          "added_at": spec["added_at"], "updated_at": spec["added_at"]})
        with MovieGenre._meta.database.atomic():
            for start in range(0, len(links), CHUNK * 2):
                MovieGenre.insert_many(links[start:start + CHUNK * 2]).execute()
            for start in range(0, len(files), CHUNK):
                MovieFile.insert_many(files[start:start + CHUNK]).execute()
        if db.driver == "postgres":  # explicit ids: move the sequence past them, as inserts would have
            db.database.execute_sql(
                "SELECT setval(pg_get_serial_sequence('movies', 'id'), (SELECT max(id) FROM movies))")

    started = time.perf_counter()
    ids, genres = await db.run(movie_rows)
    timings.append((f"movies rows ({len(ids)})", time.perf_counter() - started))
    started = time.perf_counter()
    await db.run(links_and_files, ids, genres)
    timings.append(("genre links + file rows", time.perf_counter() - started))

    started = time.perf_counter()
    for start in range(0, len(ids), INDEX_CHUNK):
        await context.library.upsert_items([
            ItemRef(movie_key(movie_id), library_id, spec["title"], year=spec["year"])
            for movie_id, spec in zip(ids[start:start + INDEX_CHUNK], specs[start:start + INDEX_CHUNK], strict=True)])
    timings.append(("item registry (library_items)", time.perf_counter() - started))

    started = time.perf_counter()
    for start in range(0, len(ids), INDEX_CHUNK):
        docs = [{"id": str(movie_id), "title": spec["title"], "library_id": library_id,
                 "original_title": spec["title"], "year": spec["year"], "genre": spec["genres"],
                 "resolution": spec["resolution"][0], "people": []}
                for movie_id, spec in zip(ids[start:start + INDEX_CHUNK], specs[start:start + INDEX_CHUNK],
                                          strict=True)]
        await services.search.index("movie", docs)
    timings.append((f"search index ({services.search.backend})", time.perf_counter() - started))

    if db.driver == "postgres":
        started = time.perf_counter()
        await db.run(lambda: db.database.execute_sql("ANALYZE"))
        timings.append(("ANALYZE (postgres)", time.perf_counter() - started))
    return ids, timings


# --- the clients, in their own process --------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: of 100 values, p99 is the second slowest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]


async def hammer(fetch: Any, paths: Any, deadline: float, latencies: list[float]) -> int:
    """One client: requests back to back until ``deadline``; returns how many it made."""
    done = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await fetch(next(paths))
        latencies.append(time.perf_counter() - started)
        done += 1
    return done


async def drive(base: str, headers: dict[str, str], endpoints: list[tuple[str, list[str]]], requests: int,
                clients: int, seconds: float) -> list[dict[str, Any]]:
    import aiohttp

    results = []
    connector = aiohttp.TCPConnector(limit=clients * 2)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:

        async def fetch(path: str) -> Any:
            async with session.get(path) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
                return body

        for name, paths in endpoints:
            cycle = itertools.cycle(paths)
            first = await fetch(paths[0])
            for _ in range(5):  # warm caches and connections
                await fetch(next(cycle))
            latencies = []
            for _ in range(requests):
                started = time.perf_counter()
                await fetch(next(cycle))
                latencies.append(time.perf_counter() - started)
            loaded: list[float] = []
            deadline = time.perf_counter() + seconds
            began = time.perf_counter()
            done = sum(await asyncio.gather(*(hammer(fetch, cycle, deadline, loaded) for _ in range(clients))))
            elapsed = time.perf_counter() - began
            results.append({"name": name, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                            "mean": statistics.fmean(latencies), "rps": done / elapsed,
                            "loaded_p50": percentile(loaded, 0.5) if loaded else 0.0, "first": first})
    return results


def drive_in_process(*args: Any) -> list[dict[str, Any]]:
    return asyncio.run(drive(*args))


# --- one database ------------------------------------------------------------------------------------------


async def measure(driver: str, url: str | None, specs: list[dict[str, Any]], args: argparse.Namespace,
                  pool: concurrent.futures.ProcessPoolExecutor) -> dict[str, Any]:
    import json

    from aiohttp.test_utils import TestServer

    import revenge_localfs.plugin as localfs_plugin
    import revenge_movies.plugin as movies_plugin
    from revenge_core.config import load_config
    from revenge_core.http.app import create_app
    from revenge_core.http.keys import SERVICES
    from revenge_core.identity import passwords
    from revenge_core.logs import setup_logging
    from tests.identity.conftest import bearer, make_user
    from tests.servers import free_port

    with tempfile.TemporaryDirectory(prefix="revenge-bench-") as data:
        media = Path(data) / "media" / "movies"
        media.mkdir(parents=True)
        environ = {"REVENGE_DATA_DIR": str(Path(data) / "data"), "REVENGE_DATABASE_DRIVER": driver,
                   "REVENGE_LOGGING_LEVEL": "WARNING", "REVENGE_LOGGING_ACCESS_LOG": "false",
                   "XDG_CONFIG_HOME": "/nonexistent-revenge-config"}
        if url:
            environ["REVENGE_DATABASE_URL"] = url
        config = load_config(path=None, environ=environ)
        config.plugins["localfs"] = {"roots": [str(media.parent)]}
        config.jobs.embedded_consumer = False
        setup_logging(config.logging)
        app = create_app(config, plugins={"localfs": localfs_plugin, "movies": movies_plugin})
        server = TestServer(app, host="127.0.0.1", port=free_port())
        await server.start_server()
        try:
            services = app[SERVICES]
            library = await services.library.create({"name": "Movies", "content_type": "movie",
                                                     "paths": [str(media)]})
            started = time.perf_counter()
            ids, timings = await load(app, library.id, specs)
            load_seconds = time.perf_counter() - started

            original = passwords.hash_password
            passwords.hash_password = lambda password, rounds=4: original(password, rounds)  # a fast login
            try:
                await make_user(app, *ADMIN, role="admin")
            finally:
                passwords.hash_password = original
            base = str(server.make_url("/"))
            import aiohttp

            async with aiohttp.ClientSession(base) as session, session.post(
                    "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}) as response:
                if response.status != 200:
                    raise RuntimeError(f"login failed: {response.status} {await response.text()}")
                token = (await response.json())["access_token"]

            rng = random.Random(7)
            deep = min(1000, max(1, len(ids) // 50 // 2))
            words = [w for w in WORDS if len(w) >= 6]
            endpoints = [
                ("list by title, page 1", ["/api/v1/movies?per_page=50&sort=title"]),
                (f"list by year desc, page {deep}", [f"/api/v1/movies?per_page=50&sort=year&order=desc&page={deep}"]),
                ("list genre=Drama, 1990-1999", ["/api/v1/movies?per_page=50&genre=Drama&year_from=1990&year_to=1999"]),
                ("one movie (detail)", [f"/api/v1/movies/{i}" for i in rng.sample(ids, min(len(ids), 500))]),
                ("search, typo + 2 facets", [f"/api/v1/search?q={typo(w)}&type=movie&facet=genre&facet=year"
                                             for w in rng.sample(words, min(len(words), 40))]),
            ]
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(pool, drive_in_process, base, bearer(token), endpoints,
                                                 args.requests, args.clients, args.seconds)
            for result in results:
                body = json.loads(result.pop("first"))
                result["size"] = body.get("total", body.get("found", 1 if "id" in body else None))
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            return {"load_seconds": load_seconds, "timings": timings, "results": results, "rss_mib": rss,
                    "backend": services.search.backend}
        finally:
            await server.close()


def report(driver: str, count: int, outcome: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{driver}: {count} movies loaded in {outcome['load_seconds']:.1f}s "
          f"(server RSS afterwards {outcome['rss_mib']:.0f} MiB)")
    for step, seconds in outcome["timings"]:
        print(f"  load  {step:<40} {seconds:8.1f}s")
    header = (f"  {'request':<34} {'matches':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
              f"{f'req/s ({args.clients} clients)':>20} {'p50 ms under load':>18}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in outcome["results"]:
        size = "" if r["size"] is None else r["size"]
        print(f"  {r['name']:<34} {size!s:>8} {r['p50'] * 1000:>8.1f} {r['p99'] * 1000:>8.1f} "
              f"{r['mean'] * 1000:>8.1f} {r['rps']:>20.1f} {r['loaded_p50'] * 1000:>18.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="movies in the library")
    parser.add_argument("--requests", type=int, default=100, help="sequential requests per endpoint")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the concurrent clients run")
    parser.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL")
    args = parser.parse_args()
    if args.items < 100:
        parser.error("--items must be at least 100")

    started = time.perf_counter()
    specs = generate(args.items)
    print(f"generated {len(specs)} movies in {time.perf_counter() - started:.1f}s; "
          f"{args.requests} sequential requests per endpoint, then {args.clients} clients for {args.seconds:g}s")
    setups: list[tuple[str, str | None]] = [("sqlite", None)]
    pg = None
    if args.postgres:
        from tests.servers import PostgresServer

        pg = PostgresServer()
        setups.append(("postgres", pg.create_database()))
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=1,
                                                    mp_context=multiprocessing.get_context("spawn")) as pool:
            for driver, url in setups:
                outcome = asyncio.run(measure(driver, url, specs, args, pool))
                report(driver, len(specs), outcome, args)
    finally:
        if pg is not None:
            pg.cleanup()


if __name__ == "__main__":
    main()
