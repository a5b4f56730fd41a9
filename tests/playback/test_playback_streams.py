"""Pressing play: the decision per client, direct play with Range, HLS remux and transcode,
subtitles, and that no byte of a stream is reachable without the right credentials.

Every segment fetched is decoded with PyAV; the playlists must cover the whole file.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from urllib.parse import urljoin

import av
import pytest

from revenge_core.http.keys import SERVICES
from revenge_core.library.models import PlaybackSession
from revenge_video.hls import TIMESTAMP_OFFSET

from .conftest import BROWSER, MOVIE_SECONDS, PHONE, TV, play, registry, report

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cheap_password_hashes")]


def playlist_entries(text: str) -> list[tuple[float, str]]:
    """(duration, uri) of each segment of a media playlist."""
    lines = text.strip().splitlines()
    assert lines[0] == "#EXTM3U" and lines[-1] == "#EXT-X-ENDLIST", text
    entries = []
    for number, line in enumerate(lines):
        if line.startswith("#EXTINF:"):
            entries.append((float(line[8:].split(",")[0]), lines[number + 1]))
    return entries


def decode(data: bytes) -> dict:
    """What a player would get out of one MPEG-TS segment."""
    video_times, keyframes, audio_frames = [], [], 0
    with av.open(io.BytesIO(data), format="mpegts") as container:
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            if isinstance(frame, av.VideoFrame):
                video_times.append(float(frame.time) - TIMESTAMP_OFFSET)  # back on the file's timeline
                keyframes.append(frame.key_frame)
            else:
                audio_frames += 1
    return {"video_times": video_times, "first_is_key": bool(keyframes and keyframes[0]),
            "audio_frames": audio_frames}


async def fetch(client, url: str, headers: dict | None = None, status: int = 200) -> bytes:
    response = await client.get(url, headers=headers or {})
    assert response.status == status, f"{url}: {response.status} {await response.text()}"
    return await response.read()


async def hls_segments(client, session: dict, headers: dict | None = None) -> list[tuple[float, str]]:
    master_url = session["urls"]["hls"]
    master = (await fetch(client, master_url, headers)).decode()
    media_uri = next(line for line in master.splitlines() if line and not line.startswith("#"))
    media_url = urljoin(master_url, media_uri)
    entries = playlist_entries((await fetch(client, media_url, headers)).decode())
    return [(duration, urljoin(media_url, uri)) for duration, uri in entries]


# --- the decision ---------------------------------------------------------------------------------


async def test_each_client_gets_the_right_method_and_is_told_why(client, admin, libraries):
    items = await registry(client.app)
    sintel, old, big = items["Sintel"].key, items["Old Film"].key, items["Big Picture"].key
    expected = [
        (sintel, TV, "direct_play", set()),
        (sintel, BROWSER, "remux", {"container_not_supported"}),
        (old, BROWSER, "transcode", {"video_codec_not_supported"}),
        (old, TV, "transcode", {"video_codec_not_supported"}),
        (big, BROWSER, "direct_play", set()),
        (big, PHONE, "transcode", {"resolution_too_high"}),
    ]
    for key, profile, method, reasons in expected:
        session = await play(client, admin, key, profile)
        assert session["method"] == method, (key, profile, session)
        assert reasons <= set(session["reasons"]), session
        assert ("hls" in session["urls"]) == (method != "direct_play")
        await client.delete(f"/api/v1/playback/sessions/{session['id']}", headers=admin)


async def test_bad_requests_get_clear_errors_and_store_nothing(client, admin, libraries):
    items = await registry(client.app)
    key = items["Sintel"].key
    cases = [
        ({"item_key": key, "client": {**TV, "containers": ["mkv;rm -rf"]}}, 400, "client.containers"),
        ({"item_key": key, "client": {**TV, "max_width": "wide"}}, 400, "client.max_width"),
        ({"item_key": key, "client": {**TV, "teleport": True}}, 400, "client.teleport"),
        ({"item_key": key, "client": TV, "audio_index": 99}, 400, "audio_index"),
        ({"item_key": key, "client": TV, "profile": "8k"}, 400, "profile"),
        ({"item_key": "movie/../../etc", "client": TV}, 400, "item_key"),
        ({"item_key": key, "client": TV, "media_file_id": "../1"}, 400, "media_file_id"),
    ]
    for body, status, field in cases:
        response = await client.post("/api/v1/playback/sessions", headers=admin, json=body)
        error = await response.json()
        assert response.status == status, (body, error)
        assert error["code"] and error["message"], error
        assert error["details"].get("key") == field, (body, error)
    response = await client.post("/api/v1/playback/sessions", headers=admin,
                                 json={"item_key": "movie:999999", "client": TV})
    assert response.status == 404
    count = await client.app[SERVICES].library.run(lambda: PlaybackSession.select().count())
    assert count == 0


# --- direct play ----------------------------------------------------------------------------------


async def test_direct_play_honours_ranges(client, admin, libraries, media_root):
    items = await registry(client.app)
    session = await play(client, admin, items["Sintel"].key, TV)
    url = session["urls"]["direct"]
    original = (media_root / "movies" / "Sintel (2010)" / "Sintel (2010).mkv").read_bytes()
    size = len(original)

    whole = await client.get(url)
    assert whole.status == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert await whole.read() == original
    assert whole.headers["Content-Type"] == "video/x-matroska"

    for header, start, end in (("bytes=0-99", 0, 99), ("bytes=1000-", 1000, size - 1),
                               ("bytes=-500", size - 500, size - 1), (f"bytes={size - 10}-{size + 99}", size - 10,
                                                                      size - 1)):
        response = await client.get(url, headers={"Range": header})
        assert response.status == 206, header
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert await response.read() == original[start:end + 1]

    beyond = await client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    assert (await beyond.json())["code"] == "range_not_satisfiable"
    # Several ranges, another unit or a stale If-Range: the whole file, as RFC 9110 allows.
    for headers in ({"Range": "bytes=0-1,5-6"}, {"Range": "items=0-1"},
                    {"Range": "bytes=0-1", "If-Range": '"stale"'}):
        response = await client.get(url, headers=headers)
        assert response.status == 200 and len(await response.read()) == size
    matching = await client.get(url, headers={"Range": "bytes=0-1", "If-Range": whole.headers["ETag"]})
    assert matching.status == 206
    head = await client.head(url)
    assert head.status == 200 and head.headers["Content-Length"] == str(size) and await head.read() == b""


# --- HLS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("title, profile, method", [("Sintel", BROWSER, "remux"), ("Old Film", BROWSER, "transcode")])
async def test_hls_segments_decode_and_cover_the_whole_file(client, admin, libraries, title, profile, method):
    items = await registry(client.app)
    session = await play(client, admin, items[title].key, profile)
    assert session["method"] == method
    segments = await hls_segments(client, session)
    total = sum(duration for duration, _ in segments)
    assert total == pytest.approx(session["duration_seconds"], abs=0.6)
    times = []
    for _duration, url in segments:
        got = decode(await fetch(client, url))
        assert got["video_times"] and got["first_is_key"] and got["audio_frames"], (url, got)
        times += got["video_times"]
    assert min(times) < 0.2 and max(times) > session["duration_seconds"] - 0.5
    gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    assert max(gaps) < 0.5, "the segments leave a hole in the picture"


async def test_seeking_far_ahead_does_not_wait_for_what_lies_before(client, admin, libraries):
    items = await registry(client.app)
    session = await play(client, admin, items["Sintel"].key, BROWSER)
    segments = await hls_segments(client, session)
    assert len(segments) >= 3
    last_duration, last_url = segments[-1]
    started = time.perf_counter()
    got = decode(await fetch(client, last_url))
    assert time.perf_counter() - started < 20
    assert got["first_is_key"] and min(got["video_times"]) >= MOVIE_SECONDS - last_duration - 0.2
    folder = client.app[SERVICES].playback.folder / session["id"]
    produced = sorted(p.name for p in folder.iterdir())
    assert "00000.ts" not in produced, produced  # only the one asked for (and the next, if any)


async def test_the_second_audio_track_can_be_chosen(client, admin, libraries):
    items = await registry(client.app)
    tracks = (await play(client, admin, items["Sintel"].key, BROWSER))["audio_tracks"]
    assert [t["language"] for t in tracks] == ["eng", "ger"] and tracks[0]["selected"]
    german = tracks[1]["index"]
    session = await play(client, admin, items["Sintel"].key, TV, audio_index=german)
    # A plain file cannot switch tracks: the TV gets a remux carrying the German track.
    assert session["method"] == "remux" and "audio_track_selected" in session["reasons"]
    assert [t["selected"] for t in session["audio_tracks"]] == [False, True]
    segments = await hls_segments(client, session)
    with av.open(io.BytesIO(await fetch(client, segments[0][1])), format="mpegts") as container:
        assert len(container.streams.audio) == 1


async def test_every_episode_of_a_multi_episode_file_plays_it(client, admin, libraries):
    items = await registry(client.app)
    first = await play(client, admin, items["S03E01"].key, TV)
    second = await play(client, admin, items["S03E02"].key, TV)
    assert first["media_file_id"] == second["media_file_id"] and second["method"] == "direct_play"
    response = await client.get(second["urls"]["direct"], headers={"Range": "bytes=0-3"})
    assert response.status == 206 and await response.read() == b"\x1a\x45\xdf\xa3"


# --- subtitles ------------------------------------------------------------------------------------


async def test_embedded_and_sidecar_subtitles_arrive_as_webvtt(client, admin, libraries):
    items = await registry(client.app)
    session = await play(client, admin, items["Sintel"].key, BROWSER)
    by_source = {(s["source"], s["language"]): s for s in session["subtitles"]}
    assert set(by_source) == {("embedded", "eng"), ("sidecar", "fre")}, session["subtitles"]
    for subtitle in session["subtitles"]:
        response = await client.get(subtitle["url"])
        assert response.status == 200 and response.content_type == "text/vtt"
        text = await response.text()
        assert text.startswith("WEBVTT") and "-->" in text
    sidecar = await (await client.get(by_source[("sidecar", "fre")]["url"])).text()
    assert "00:00:01.000 --> 00:00:03.000" in sidecar and "Bonjour" in sidecar
    # The HLS master playlist offers both as subtitle renditions whose playlists lead to the VTT.
    master_url = session["urls"]["hls"]
    master = (await fetch(client, master_url)).decode()
    renditions = re.findall(r'#EXT-X-MEDIA:TYPE=SUBTITLES.*URI="([^"]+)"', master)
    assert len(renditions) == 2 and 'SUBTITLES="' in master
    playlist_url = urljoin(master_url, renditions[0])
    entries = playlist_entries((await fetch(client, playlist_url)).decode())
    vtt = (await fetch(client, urljoin(playlist_url, entries[0][1]))).decode()
    assert vtt.startswith("WEBVTT")
    first = session["subtitles"][0]
    for track in ("e99", "s7", "x1"):
        unknown = await client.get(first["url"].replace(f"/subtitles/{first['id']}.vtt", f"/subtitles/{track}.vtt"))
        assert unknown.status == 404, track

    episode = await play(client, admin, items["S01E01"].key, BROWSER)
    ass = [s for s in episode["subtitles"] if s["source"] == "sidecar"]
    assert ass and "Ahoy" in await (await client.get(ass[0]["url"])).text()


# --- every byte is authenticated ------------------------------------------------------------------


def _unsigned(url: str) -> str:
    return url.split("?")[0]


async def test_no_stream_without_credentials(client, admin, user, libraries):
    items = await registry(client.app)
    session = await play(client, admin, items["Sintel"].key, BROWSER)
    segments = await hls_segments(client, session)
    urls = [session["urls"]["direct"], session["urls"]["hls"], segments[0][1], session["subtitles"][0]["url"]]
    for url in urls:
        assert (await client.get(_unsigned(url))).status == 401, url  # nothing at all
        assert (await client.get(_unsigned(url), headers=admin)).status == 200, url  # the owner's header
        assert (await client.get(url)).status == 200, url  # the signed URL alone
        # Another user, even one who may see the item, gets the same 404 as for no session.
        assert (await client.get(_unsigned(url), headers=user["headers"])).status == 404, url
    direct = session["urls"]["direct"]
    tampered = direct[:-3] + ("AAA" if not direct.endswith("AAA") else "BBB")
    assert (await client.get(tampered)).status == 401
    # A signature is for its own session's paths, for reading only.
    other = await play(client, admin, items["Old Film"].key, TV)
    token = direct.split("sig=")[1]
    assert (await client.get(f"{_unsigned(other['urls']['direct'])}?sig={token}")).status == 401
    assert (await client.get(f"/api/v1/playback/sessions?sig={token}")).status == 401
    assert (await client.post(f"/api/v1/playback/sessions/{session['id']}/progress?sig={token}",
                              json={"position_seconds": 1})).status == 401
    # Ending the session ends its URLs.
    assert (await client.delete(f"/api/v1/playback/sessions/{session['id']}", headers=admin)).status == 204
    assert (await client.get(direct)).status == 404


async def test_signed_urls_expire_and_die_with_the_login(client, admin, user, libraries, monkeypatch):
    items = await registry(client.app)
    session = await play(client, user["headers"], items["Sintel"].key, TV)
    url = session["urls"]["direct"]
    assert (await client.get(url)).status == 200
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + client.app[SERVICES].config.playback
                        .signed_url_ttl_seconds + 5)
    expired = await client.get(url)
    assert expired.status == 401 and (await expired.json())["code"] == "invalid_signature"
    monkeypatch.setattr(time, "time", real_time)
    assert (await client.post("/api/v1/auth/logout", headers=user["headers"])).status in (200, 204)
    assert (await client.get(url)).status == 401


async def test_losing_access_to_the_item_stops_the_stream(client, admin, user, libraries):
    items = await registry(client.app)
    session = await play(client, user["headers"], items["Sintel"].key, TV)
    assert (await client.get(session["urls"]["direct"])).status == 200
    await client.app[SERVICES].identity.grants.revoke(user["grants"][libraries["movies"]["id"]])
    assert (await client.get(session["urls"]["direct"])).status == 404
    assert (await client.post("/api/v1/playback/sessions", headers=user["headers"],
                              json={"item_key": items["Sintel"].key, "client": TV})).status == 404


async def test_live_sessions_are_listed_for_their_owner_and_all_of_them_for_admins(client, admin, user, libraries):
    items = await registry(client.app)
    mine = await play(client, user["headers"], items["Sintel"].key, TV)
    theirs = await play(client, admin, items["Old Film"].key, TV)
    listed = await (await client.get("/api/v1/playback/sessions", headers=user["headers"])).json()
    assert [s["id"] for s in listed["items"]] == [mine["id"]]
    refused = await client.get("/api/v1/playback/sessions?all=true", headers=user["headers"])
    assert refused.status == 403 and (await refused.json())["code"] == "forbidden"
    everyone = await (await client.get("/api/v1/playback/sessions?all=true", headers=admin)).json()
    assert {s["id"] for s in everyone["items"]} == {mine["id"], theirs["id"]}


async def test_one_session_is_one_playback_in_the_history(client, admin, libraries):
    items = await registry(client.app)
    key = items["Sintel"].key
    session = await play(client, admin, key, TV)
    # A player that never says "start", then resumes after a pause with another "start".
    for event, position in (("progress", 3), ("start", 6), ("progress", 9), ("stop", 12)):
        await report(client, admin, session, event, position)
    history = await (await client.get("/api/v1/me/history", headers=admin)).json()
    assert [(h["item_key"], h["position_seconds"]) for h in history["items"]] == [(key, 12)]
    assert history["items"][0]["ended_at"] is not None


# --- limits and cleaning up -----------------------------------------------------------------------


async def test_concurrent_transcodes_are_limited(client, admin, libraries):
    client.app[SERVICES].playback.config.max_transcodes = 1
    items = await registry(client.app)
    first = await play(client, admin, items["Old Film"].key, BROWSER)
    assert first["method"] == "transcode"
    refused = await client.post("/api/v1/playback/sessions", headers=admin,
                                json={"item_key": items["Old Film"].key, "client": BROWSER})
    assert refused.status == 503 and refused.headers["Retry-After"]
    assert (await refused.json())["code"] == "transcode_limit"
    # Direct play and remux are not transcodes.
    assert (await play(client, admin, items["Sintel"].key, BROWSER))["method"] == "remux"
    await client.delete(f"/api/v1/playback/sessions/{first['id']}", headers=admin)
    # Two presses of play at the same moment cannot both take the one free slot.
    body = {"item_key": items["Old Film"].key, "client": BROWSER}
    answers = await asyncio.gather(*(client.post("/api/v1/playback/sessions", headers=admin, json=body)
                                     for _ in range(2)))
    assert sorted(r.status for r in answers) == [201, 503]


async def test_idle_sessions_are_stopped_and_their_files_removed(client, admin, libraries):
    items = await registry(client.app)
    session = await play(client, admin, items["Sintel"].key, BROWSER)
    segments = await hls_segments(client, session)
    await fetch(client, segments[1][1])
    await client.post(f"/api/v1/playback/sessions/{session['id']}/progress", headers=admin,
                      json={"event": "start", "position_seconds": 7})
    playback = client.app[SERVICES].playback
    folder = playback.folder / session["id"]
    assert folder.exists()
    import datetime

    long_ago = datetime.datetime(2000, 1, 1)
    await playback.run(lambda: PlaybackSession.update(last_seen_at=long_ago)
                       .where(PlaybackSession.id == session["id"]).execute())
    assert await playback.sweep() == [session["id"]]
    assert not folder.exists()
    assert (await client.get(session["urls"]["direct"])).status == 404
    state = await client.get(f"/api/v1/items/{items['Sintel'].key}/state", headers=admin)
    assert (await state.json())["position_seconds"] == pytest.approx(7)
