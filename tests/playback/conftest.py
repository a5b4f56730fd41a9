"""A server with localfs, movies and tv over a small library of real, generated videos.

Every file is written by PyAV (``revenge_video.testing.make_video``) in several codecs and
containers, so each client profile meets a file it plays directly, one it needs remuxed and
one it needs transcoded. No metadata provider is enabled: items come from the file names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import revenge_localfs.plugin as localfs_plugin
import revenge_movies.plugin as movies_plugin
import revenge_tv.plugin as tv_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from revenge_core.library.models import LibraryItem
from revenge_video.testing import make_ass, make_srt, make_video
from tests.identity.conftest import bearer, login, make_user
from tests.video.test_video_library import add_library, scan

ADMIN_PASSWORD = "a long admin password"
USER_PASSWORD = "a long user password"

BROWSER = {"containers": ["mp4", "webm"], "video_codecs": ["h264", "vp9", "av1"],
           "audio_codecs": ["aac", "opus", "mp3"], "subtitle_formats": ["vtt"]}
TV = {"containers": ["mkv", "mp4"], "video_codecs": ["h264", "hevc"], "audio_codecs": ["aac", "ac3", "eac3"],
      "max_width": 3840, "max_height": 2160}
PHONE = {"containers": ["mp4"], "video_codecs": ["h264"], "audio_codecs": ["aac"], "max_width": 854,
         "max_height": 480, "max_bitrate": 2_000_000}

MOVIE_SECONDS = 24.0
EPISODE_SECONDS = 8.0


def _video(path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("width", 320)
    kwargs.setdefault("height", 180)
    kwargs.setdefault("fps", 12)
    return make_video(path, **kwargs)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once per test session: the files are only read."""
    root = tmp_path_factory.mktemp("playback-media")
    movies, shows = root / "movies", root / "tv"
    sintel = movies / "Sintel (2010)"
    _video(sintel / "Sintel (2010).mkv", seconds=MOVIE_SECONDS, keyframe_interval=2.0, audio=("eng", "ger"),
           subtitles=("eng",))
    make_srt(sintel / "Sintel (2010).fr.srt", [(1.0, 3.0, "Bonjour"), (20.0, 22.0, "Au revoir")])
    _video(movies / "Old Film (1990)" / "Old Film (1990).avi", seconds=6.0, codec="mpeg4", audio_codec="mp3")
    _video(movies / "Big Picture (2020)" / "Big Picture (2020).mp4", seconds=2.0, width=1280, height=720,
           keyframe_interval=1.0)
    show = shows / "Harbour Lights"
    for season, episode in ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2)):
        _video(show / f"Season {season:02d}" / f"Harbour Lights - S{season:02d}E{episode:02d}.mkv",
               seconds=EPISODE_SECONDS, keyframe_interval=2.0)
    make_ass(show / "Season 01" / "Harbour Lights - S01E01.en.ass", [(0.5, 2.5, "Ahoy")])
    _video(show / "Season 03" / "Harbour Lights - S03E01E02.mkv", seconds=EPISODE_SECONDS)  # two episodes, one file
    return root


@pytest.fixture
def playback_config(config, media_root, tmp_path):
    config.plugins["localfs"] = {"roots": [str(media_root)]}
    config.playback.transcode_dir = str(tmp_path / "transcode")
    return config


PLUGINS = {"localfs": localfs_plugin, "movies": movies_plugin, "tv": tv_plugin}


@pytest.fixture
async def client(aiohttp_client, playback_config):
    return await aiohttp_client(create_app(playback_config, plugins=PLUGINS))


@pytest.fixture
async def admin(client) -> dict[str, str]:
    await make_user(client.app, "root", ADMIN_PASSWORD, role="admin")
    return bearer((await login(client, "root", ADMIN_PASSWORD))["access_token"])


@pytest.fixture
async def libraries(client, admin, media_root) -> dict[str, dict]:
    movies = await add_library(client, admin, "Movies", "movie", media_root / "movies")
    shows = await add_library(client, admin, "Shows", "tv", media_root / "tv")
    await scan(client, admin, movies)
    await scan(client, admin, shows)
    return {"movies": movies, "shows": shows}


async def registry(app) -> dict[str, LibraryItem]:
    """Item title -> registry row (episodes as 'S01E02')."""
    services = app[SERVICES]
    rows = await services.library.run(lambda: list(LibraryItem.select()))
    by_key = {row.key: row for row in rows}
    named = {}
    for row in rows:
        if row.item_type == "episode":
            season = by_key[row.parent_key]
            named[f"S{season.sort_index:02d}E{row.sort_index:02d}"] = row
        else:
            named[row.title] = row
    return named


async def play(client, headers, item_key: str, profile: dict | None = None, status: int = 201, **extra) -> dict:
    response = await client.post("/api/v1/playback/sessions", headers=headers,
                                 json={"item_key": item_key, "client": profile or TV, **extra})
    assert response.status == status, await response.text()
    return await response.json()


async def report(client, headers, session: dict, event: str, position: float, status: int = 200) -> dict:
    response = await client.post(f"/api/v1/playback/sessions/{session['id']}/progress", headers=headers,
                                 json={"event": event, "position_seconds": position})
    assert response.status == status, await response.text()
    return await response.json()


@pytest.fixture
async def user(client, admin, libraries) -> dict[str, Any]:
    """A user granted both libraries."""
    user_id = await make_user(client.app, "alice", USER_PASSWORD)
    grants = client.app[SERVICES].identity.grants
    granted = {}
    for library in libraries.values():
        granted[library["id"]] = (await grants.grant("user", user_id, "library", str(library["id"]), "view"))["id"]
    tokens = await login(client, "alice", USER_PASSWORD)
    return {"id": user_id, "headers": bearer(tokens["access_token"]), "grants": granted}
