"""The issue's "done when": a movie and an episode play from the start, from the middle and
after a seek, directly and over HLS, with subtitles; progress survives a restart of the
server; the home screen is right for two different users.
"""

from __future__ import annotations

import io

import av
import pytest

from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from tests.identity.conftest import bearer, login, make_user

from .conftest import BROWSER, EPISODE_SECONDS, MOVIE_SECONDS, PLUGINS, TV, play, registry, report
from .test_playback_streams import decode, fetch, hls_segments

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cheap_password_hashes")]


def segment_at(segments: list[tuple[float, str]], position: float) -> tuple[int, str]:
    elapsed = 0.0
    for number, (duration, url) in enumerate(segments):
        if elapsed + duration > position:
            return number, url
        elapsed += duration
    return len(segments) - 1, segments[-1][1]


def first_video_time(data: bytes) -> float:
    return decode(data)["video_times"][0]


async def play_everywhere(client, headers, key: str, duration: float, resume: float) -> None:
    """Direct and HLS, from the start, from ``resume`` and after a seek back and forth."""
    direct = await play(client, headers, key, TV)
    assert direct["method"] == "direct_play"
    assert direct["resume_position_seconds"] == pytest.approx(resume, abs=0.01)
    url = direct["urls"]["direct"]
    head = await client.head(url)
    size = int(head.headers["Content-Length"])
    # From the start: the container header; from the middle: a range a player asks after a seek.
    start = await client.get(url, headers={"Range": "bytes=0-65535"})
    assert start.status == 206 and (await start.read())[:4] == b"\x1a\x45\xdf\xa3"  # Matroska's EBML magic
    middle = await client.get(url, headers={"Range": f"bytes={size // 2}-"})
    assert middle.status == 206 and len(await middle.read()) == size - size // 2
    assert direct["subtitles"]
    await client.delete(f"/api/v1/playback/sessions/{direct['id']}", headers=headers)

    session = await play(client, headers, key, BROWSER)
    assert session["method"] == "remux"
    segments = await hls_segments(client, session)
    assert sum(d for d, _ in segments) == pytest.approx(duration, abs=0.6)
    assert first_video_time(await fetch(client, segments[0][1])) < 0.2  # from the start
    number, resume_url = segment_at(segments, max(resume, duration / 2))
    at = first_video_time(await fetch(client, resume_url))  # from the middle
    assert sum(d for d, _ in segments[:number]) == pytest.approx(at, abs=0.2)
    back, back_url = segment_at(segments, 0.5)  # a seek back to the start, then forward to the end
    assert first_video_time(await fetch(client, back_url)) < 0.2
    end = decode(await fetch(client, segments[-1][1]))
    assert end["first_is_key"] and max(end["video_times"]) > duration - 0.5
    for subtitle in session["subtitles"]:
        text = await (await client.get(subtitle["url"])).text()
        assert text.startswith("WEBVTT") and "-->" in text
    with av.open(io.BytesIO(await fetch(client, segments[0][1])), format="mpegts") as container:
        assert container.streams.video and container.streams.audio
    assert back == 0


async def test_movie_and_episode_play_everywhere_and_progress_survives_a_restart(
        aiohttp_client, client, admin, libraries, playback_config):
    items = await registry(client.app)
    await make_user(client.app, "alice", "a long user password")
    alice = bearer((await login(client, "alice", "a long user password"))["access_token"])
    grants = client.app[SERVICES].identity.grants
    for library in libraries.values():
        await grants.grant("user", await _user_id(client, "alice"), "library", str(library["id"]), "view")

    movie, episode = items["Sintel"].key, items["S01E01"].key
    await play_everywhere(client, alice, movie, MOVIE_SECONDS, resume=0.0)
    await play_everywhere(client, alice, episode, EPISODE_SECONDS, resume=0.0)

    # Watch half the movie and a third of the episode, as a player reports it.
    session = await play(client, alice, movie, BROWSER)
    await report(client, alice, session, "start", 0)
    await report(client, alice, session, "progress", 6)
    await report(client, alice, session, "stop", MOVIE_SECONDS / 2)
    session = await play(client, alice, episode, TV)
    await report(client, alice, session, "start", 0)
    await report(client, alice, session, "stop", EPISODE_SECONDS / 3)

    await client.close()
    restarted = await aiohttp_client(create_app(playback_config, plugins=PLUGINS))
    alice = bearer((await login(restarted, "alice", "a long user password"))["access_token"])
    state = await (await restarted.get(f"/api/v1/items/{movie}/state", headers=alice)).json()
    assert state["position_seconds"] == pytest.approx(MOVIE_SECONDS / 2) and not state["watched"]
    # Pressing play again offers to resume where she stopped, and plays from there.
    await play_everywhere(restarted, alice, movie, MOVIE_SECONDS, resume=MOVIE_SECONDS / 2)
    await play_everywhere(restarted, alice, episode, EPISODE_SECONDS, resume=EPISODE_SECONDS / 3)
    home = await (await restarted.get("/api/v1/home", headers=alice)).json()
    assert [i["key"] for i in home["continue_watching"]] == [episode, movie]


async def _user_id(client, username: str) -> int:
    from revenge_core.identity.models import User

    identity = client.app[SERVICES].identity
    return await identity.run(lambda: User.get(User.username == username).id)


async def test_home_is_right_for_two_users(aiohttp_client, client, admin, libraries, playback_config):
    items = await registry(client.app)
    grants = client.app[SERVICES].identity.grants
    headers = {}
    for name in ("alice", "bob"):
        await make_user(client.app, name, f"a long password for {name}")
        headers[name] = bearer((await login(client, name, f"a long password for {name}"))["access_token"])
    alice_id, bob_id = await _user_id(client, "alice"), await _user_id(client, "bob")
    for library in libraries.values():
        await grants.grant("user", alice_id, "library", str(library["id"]), "view")
    await grants.grant("user", bob_id, "library", str(libraries["shows"]["id"]), "view")

    async def watch(who: str, key: str, fraction: float, duration: float, profile=TV) -> None:
        session = await play(client, headers[who], key, profile)
        await report(client, headers[who], session, "start", 0)
        await report(client, headers[who], session, "stop", duration * fraction)

    # Alice: half of the movie; all of season 1 → next up is season 2's first episode.
    await watch("alice", items["Sintel"].key, 0.5, MOVIE_SECONDS)
    for name in ("S01E01", "S01E02", "S01E03"):
        await watch("alice", items[name].key, 0.97, EPISODE_SECONDS)
    # Bob: the first episode, then half of the second.
    await watch("bob", items["S01E01"].key, 0.95, EPISODE_SECONDS, BROWSER)
    await watch("bob", items["S01E02"].key, 0.4, EPISODE_SECONDS)

    await client.close()
    restarted = await aiohttp_client(create_app(playback_config, plugins=PLUGINS))
    for name in ("alice", "bob"):
        headers[name] = bearer((await login(restarted, name, f"a long password for {name}"))["access_token"])
    alice = await (await restarted.get("/api/v1/home", headers=headers["alice"])).json()
    bob = await (await restarted.get("/api/v1/home", headers=headers["bob"])).json()

    assert [i["key"] for i in alice["continue_watching"]] == [items["Sintel"].key]
    assert alice["continue_watching"][0]["state"]["progress"] == pytest.approx(0.5, abs=0.01)
    assert [i["key"] for i in alice["next_up"]] == [items["S02E01"].key]
    assert {r["library"]["name"] for r in alice["recently_added"]} == {"Movies", "Shows"}

    assert [i["key"] for i in bob["continue_watching"]] == [items["S01E02"].key]
    assert bob["next_up"] == []  # his next episode is the one in progress, shown above
    assert {r["library"]["name"] for r in bob["recently_added"]} == {"Shows"}
    shown = {i["key"] for part in ("continue_watching", "next_up") for i in bob[part]}
    shown |= {i["key"] for r in bob["recently_added"] for i in r["items"]}
    assert items["Sintel"].key not in shown and items["Old Film"].key not in shown

    state = await (await restarted.get(f"/api/v1/items/{items['S01E01'].key}/state",
                                       headers=headers["bob"])).json()
    assert state["watched"] and state["play_count"] == 1 and state["position_seconds"] == 0
    history = await (await restarted.get("/api/v1/me/history", headers=headers["alice"])).json()
    assert len(history["items"]) == 4 and history["items"][0]["item_key"] == items["S01E03"].key
