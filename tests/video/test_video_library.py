"""Video libraries end to end: real files with real-world names become movies and episodes.

The server runs with the built-in plugins (localfs, movies, tv, tmdb, thetvdb) against the fake
TMDb and TheTVDB of ``revenge_tmdb.testing`` and ``revenge_thetvdb.testing``; the only
difference from production is the services' addresses. TMDb answers first (priority 10);
TheTVDB (20) describes the daily show TMDb does not know. Every
media file is a real, small video written by PyAV. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import revenge_localfs.plugin as localfs_plugin
import revenge_movies.plugin as movies_plugin
import revenge_thetvdb.plugin as thetvdb_plugin
import revenge_tmdb.plugin as tmdb_plugin
import revenge_tv.plugin as tv_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from revenge_core.identity.authorizer import IDENTITY
from revenge_thetvdb.testing import FakeTheTVDB
from revenge_tmdb.testing import FakeTMDb
from revenge_video.testing import make_nfo_movie, make_srt, make_video
from tests.identity.conftest import bearer, login, make_user

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cheap_password_hashes")]

TMDB_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_driver(request: pytest.FixtureRequest) -> str:
    return request.param


def clip(path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("seconds", 1.0)
    return make_video(path, width=kwargs.pop("width", 64), height=kwargs.pop("height", 48), fps=10, **kwargs)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A movie folder and a TV folder with the names people really have on disk."""
    root = tmp_path / "media"
    movies = root / "movies"
    # Clean name, and a second version of the same movie.
    clip(movies / "The Matrix (1999)" / "The Matrix (1999).mkv", width=192, height=108, audio=("eng", "ger"))
    clip(movies / "The Matrix (1999)" / "The Matrix (1999) - 720p.mkv", width=128, height=72)
    make_srt(movies / "The Matrix (1999)" / "The Matrix (1999).en.srt",
             [(0.0, 0.5, "Wake up, Neo."), (0.5, 0.9, "Follow the white rabbit.")])
    # A scene release name.
    clip(movies / "The.Matrix.Reloaded.2003.1080p.BluRay.x264-GROUP.mkv")
    # A folder whose NFO says what it is, with a name that says nothing.
    clip(movies / "Unsorted" / "movie.mkv")
    make_nfo_movie(movies / "Unsorted" / "movie.nfo", title="Fight Club", year=1999, ids={"tmdb": "550"})
    # A sample that must not become a movie.
    clip(movies / "The Matrix (1999)" / "sample-the.matrix.mkv", seconds=0.5)
    shows = root / "tv"
    got = shows / "Game of Thrones"
    clip(got / "Season 01" / "Game of Thrones - S01E01.mkv")
    clip(got / "Season 01" / "Game.of.Thrones.S01E02E03.720p.mkv")  # one file, two episodes
    clip(got / "Season 02" / "Game of Thrones - 2x01.mkv")
    clip(shows / "The Nightly Ledger" / "The.Nightly.Ledger.2024.03.15.720p.WEB.h264-GRP.mkv")  # a daily show
    return root


@pytest.fixture
async def tmdb():
    async with FakeTMDb(api_key=TMDB_KEY) as fake:
        yield fake


@pytest.fixture
async def thetvdb():
    async with FakeTheTVDB() as fake:
        yield fake


@pytest.fixture
async def client(tmdb, thetvdb, media, aiohttp_client, config):
    # The fakes first: they are torn down last, after the server and the enrichment jobs.
    config.plugins["localfs"] = {"roots": [str(media)]}
    config.plugins["tmdb"] = {"api_key": TMDB_KEY, "base_url": tmdb.api_url, "image_base_url": tmdb.image_url}
    config.plugins["thetvdb"] = {"api_key": thetvdb.api_key, "base_url": thetvdb.api_url,
                                 "artwork_base_url": thetvdb.url}
    plugins = {"localfs": localfs_plugin, "movies": movies_plugin, "tv": tv_plugin, "tmdb": tmdb_plugin,
               "thetvdb": thetvdb_plugin}
    return await aiohttp_client(create_app(config, plugins=plugins))


@pytest.fixture
async def admin(client) -> dict[str, str]:
    await make_user(client.app, "root", "a long admin password", role="admin")
    return bearer((await login(client, "root", "a long admin password"))["access_token"])


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or check.__name__}")
        await asyncio.sleep(0.2)


async def get(client, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = await client.get(f"/api/v1{path}", headers=headers)
    assert response.status == status, f"{path}: {response.status} {await response.text()}"
    return await response.json()


async def add_library(client, admin, name: str, content_type: str, folder: Path, **extra: Any) -> dict:
    response = await client.post("/api/v1/libraries", headers=admin, json={
        "name": name, "content_type": content_type, "paths": [str(folder)], **extra})
    assert response.status == 201, await response.text()
    return await response.json()


async def scan(client, admin, library: dict, mode: str = "incremental") -> dict:
    response = await client.post(f"/api/v1/libraries/{library['id']}/scan", headers=admin, json={"mode": mode})
    assert response.status == 202, await response.text()
    run = await response.json()

    async def finished() -> dict | None:
        current = await get(client, f"/libraries/{library['id']}/scans/{run['id']}", admin)
        return current if current["status"] not in ("queued", "running") else None

    result = await eventually(finished, what=f"scan {run['id']}")
    assert result["status"] == "done", result
    return result


async def movies_by_title(client, headers) -> dict[str, dict]:
    listing = await get(client, "/movies?per_page=100", headers)
    return {m["title"]: m for m in listing["items"]}


async def test_a_real_library_scans_into_the_right_movies_and_episodes(client, admin, media, tmdb):
    movie_lib = await add_library(client, admin, "Movies", "movie", media / "movies")
    tv_lib = await add_library(client, admin, "Shows", "tv", media / "tv")
    first = await scan(client, admin, movie_lib)
    await scan(client, admin, tv_lib)
    # Five video files (the sample is a video too, which the content type then ignores).
    assert first["counts"]["new"] == 5 and first["counts"]["errors"] == 0, first

    async def all_matched() -> dict | None:
        movies = await movies_by_title(client, admin)
        matched = {t: m for t, m in movies.items() if m["match_state"] == "matched"}
        return movies if len(matched) == 3 else None

    movies = await eventually(all_matched, what="three matched movies")
    # Clean name, scene name and NFO all found their movie; the sample did not become one.
    assert set(movies) == {"The Matrix", "The Matrix Reloaded", "Fight Club"}
    matrix = await get(client, f"/movies/{movies['The Matrix']['id']}", admin)
    assert matrix["external_ids"]["tmdb"] == "603" and matrix["external_ids"]["imdb"] == "tt0133093"
    assert matrix["year"] == 1999 and matrix["certifications"]
    assert matrix["poster"] is not None and matrix["poster"]["blurhash"]
    fight_club = await get(client, f"/movies/{movies['Fight Club']['id']}", admin)
    assert fight_club["external_ids"]["tmdb"] == "550"

    # Two versions of The Matrix, with what probing found and the sidecar subtitle.
    files = await get(client, f"/movies/{movies['The Matrix']['id']}/files", admin)
    files = files["items"] if isinstance(files, dict) else files
    assert len(files) == 2
    best = max(files, key=lambda f: f["width"])
    assert (best["width"], best["height"]) == (192, 108)
    assert [t["language"] for t in best["audio_tracks"]] == ["eng", "ger"]
    assert any(t["external"] and t["language"] == "eng" for t in best["subtitle_tracks"])

    # The poster is a real image, resized on demand, behind the same access rules.
    poster = await client.get(matrix["poster"]["urls"]["w185"], headers=admin)
    assert poster.status == 200 and poster.content_type.startswith("image/")
    assert (await client.get(matrix["poster"]["urls"]["w185"])).status == 401

    # TV: the series, its seasons and the multi-episode file.
    async def series_matched() -> dict | None:
        listing = await get(client, "/tv/series", admin)
        shows = {s["title"]: s for s in listing["items"]}
        return shows if len(shows) == 2 and all(s["match_state"] == "matched" for s in shows.values()) else None

    shows = await eventually(series_matched, what="both series matched")
    series = shows["Game of Thrones"]
    seasons = await get(client, f"/tv/series/{series['id']}/seasons", admin)
    seasons = seasons["items"] if isinstance(seasons, dict) else seasons
    by_number = {s["number"]: s for s in seasons}
    season_one = await get(client, f"/tv/seasons/{by_number[1]['id']}", admin)
    numbers = sorted(e["number"] for e in season_one["episodes"])
    assert numbers[:3] == [1, 2, 3]
    titled = {e["number"]: e for e in season_one["episodes"]}
    assert titled[1]["title"] and titled[2]["title"] != titled[3]["title"]
    assert 2 in by_number

    # The daily show: TMDb does not know it, TheTVDB does; the file is the episode of its date.
    ledger = await get(client, f"/tv/series/{shows['The Nightly Ledger']['id']}", admin)
    assert ledger["match"]["provider"] == "thetvdb" and ledger["external_ids"]["tvdb"] == "920001"
    [ledger_season] = ledger["seasons"]
    [episode] = (await get(client, f"/tv/seasons/{ledger_season['id']}", admin))["episodes"]
    assert (ledger_season["number"], episode["air_date"], episode["title"]) == (2024, "2024-03-15", "March 15, 2024")

    # Search is typo tolerant on the embedded backend, and finds people too.
    found = await get(client, "/search?q=matrx&type=movie", admin)
    assert found["hits"][0]["title"] == "The Matrix", found
    people = await get(client, "/search?q=keanu%20reevs&type=movie_person", admin)
    assert people["hits"][0]["title"] == "Keanu Reeves", people
    counts = (await get(client, "/search?q=matrix&facet=type", admin))["facets"]["type"]
    assert counts["movie"] == 2, counts

    # A user granted only the TV library sees no movies at all, and a movie answers 404.
    await make_user(client.app, "alice", "a long user password", role="user")
    alice = bearer((await login(client, "alice", "a long user password"))["access_token"])
    alice_id = (await get(client, "/me", alice))["id"]
    await client.app[IDENTITY].grants.grant("user", alice_id, "library", str(tv_lib["id"]), "view")
    assert (await get(client, "/movies", alice))["total"] == 0
    await get(client, f"/movies/{movies['The Matrix']['id']}", alice, status=404)
    assert (await get(client, "/search?q=matrx", alice))["found"] == 0
    assert (await get(client, "/tv/series", alice))["total"] == 2
    await get(client, matrix["poster"]["urls"]["w185"].removeprefix("/api/v1"), alice, status=404)


async def test_moving_a_file_keeps_the_item_and_user_data_and_the_watcher_sees_new_files(client, admin, media):
    library = await add_library(client, admin, "Movies", "movie", media / "movies", realtime=True)
    await scan(client, admin, library)
    movies = await movies_by_title(client, admin)
    reloaded = movies["The Matrix Reloaded"]
    key = reloaded["key"]
    response = await client.put(f"/api/v1/items/{key}/state", headers=admin,
                                json={"favourite": True, "position_seconds": 0.5, "watched": False})
    assert response.status == 200, await response.text()

    # Rename and move the file into a tidy folder: same movie, same user data.
    tidy = media / "movies" / "The Matrix Reloaded (2003)"
    tidy.mkdir()
    shutil.move(media / "movies" / "The.Matrix.Reloaded.2003.1080p.BluRay.x264-GROUP.mkv",
                tidy / "The Matrix Reloaded (2003) - 1080p.mkv")
    result = await scan(client, admin, library)
    assert result["counts"]["moved"] == 1 and result["counts"]["new"] == 0, result
    after = await movies_by_title(client, admin)
    assert after["The Matrix Reloaded"]["id"] == reloaded["id"]
    state = await get(client, f"/items/{key}/state", admin)
    assert state["favourite"] is True and state["position_seconds"] == 0.5
    files = await get(client, f"/movies/{reloaded['id']}/files", admin)
    files = files["items"] if isinstance(files, dict) else files
    assert [f["relative_path"] for f in files] == ["The Matrix Reloaded (2003)/The Matrix Reloaded (2003) - 1080p.mkv"]

    # The watcher notices a new file without anyone asking for a scan.
    clip(media / "movies" / "Fight Club (1999)" / "Fight Club (1999).mp4")

    async def picked_up() -> bool:
        return "Fight Club" in await movies_by_title(client, admin)

    await eventually(picked_up, timeout=30, what="the watcher to add Fight Club")
    services = client.app[SERVICES]
    assert services.library is not None
