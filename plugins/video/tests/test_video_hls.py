"""HLS on demand: segment plans, playlists and MPEG-TS segments made independently, on real media."""

from __future__ import annotations

import itertools
import math
import os
import time
from pathlib import Path

import pytest

from revenge_video.hls import (
    TIMESTAMP_OFFSET,
    Segment,
    SegmentError,
    SubtitleRendition,
    master_playlist,
    media_playlist,
    plan_segments,
    subtitle_playlist,
    write_segment,
)
from revenge_video.playback import ClientProfile, decide
from revenge_video.probe import probe
from revenge_video.testing import Track, make_video, tone_level

BROWSER = ClientProfile(containers={"mp4"}, video_codecs={"h264"}, audio_codecs={"aac"})
FPS = 24


@pytest.fixture(scope="module")
def remux(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An h264 mkv (keyframe every 2 s, ~20 s) whose second audio track is a tone, remuxed."""
    folder = tmp_path_factory.mktemp("remux")
    path = str(make_video(folder / "movie.mkv", seconds=20, keyframe_interval=2,
                          audio=("eng", Track("ger", tone=440))))
    info = probe(path)
    decision = decide(info, BROWSER, audio_index=2)
    segments = plan_segments(path, decision, duration=info.duration_seconds)
    times = _write_all(path, decision, segments, folder)
    return {"path": path, "info": info, "decision": decision, "segments": segments, "folder": folder,
            "times": times}


@pytest.fixture(scope="module")
def transcode(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A vp9/opus webm (~12 s) transcoded to H.264 + AAC, playing its (default) silent track."""
    folder = tmp_path_factory.mktemp("transcode")
    path = str(make_video(folder / "clip.webm", seconds=12, width=320, height=180,
                          audio=("eng", Track("fre", tone=660))))
    info = probe(path)
    decision = decide(info, BROWSER)
    segments = plan_segments(path, decision, duration=info.duration_seconds)
    times = _write_all(path, decision, segments, folder)
    return {"path": path, "info": info, "decision": decision, "segments": segments, "folder": folder,
            "times": times}


def _write_all(path: str, decision, segments, folder: Path) -> dict[int, float]:
    """Write every segment, the last one first (as a player seeking to the end would), timing each."""
    times = {}
    for segment in reversed(segments):
        began = time.perf_counter()
        write_segment(path, decision, segment, str(folder / f"{segment.index}.ts"))
        times[segment.index] = time.perf_counter() - began
    return times


def _decode(path: Path) -> tuple[list, list]:
    import av

    with av.open(str(path)) as container:
        assert container.format.name == "mpegts"
        video = list(container.decode(video=0)) if container.streams.video else []
    with av.open(str(path)) as container:
        audio = list(container.decode(audio=0))
    return video, audio


def _check_segments(media: dict) -> list[float]:
    segments, duration = media["segments"], media["info"].duration_seconds
    assert segments[0].start == 0 and segments[-1].end == pytest.approx(duration)
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    assert [s.index for s in segments] == list(range(len(segments)))
    stamps: list[float] = []
    for segment in segments:
        out = media["folder"] / f"{segment.index}.ts"
        assert out.exists() and not Path(str(out) + ".part").exists()
        video, audio = _decode(out)
        assert video and audio
        assert video[0].key_frame
        times = [float(f.time) - TIMESTAMP_OFFSET for f in video]
        assert times[0] == pytest.approx(segment.start, abs=1 / FPS)
        assert times[-1] < segment.end
        audio_start = float(audio[0].time) - TIMESTAMP_OFFSET
        assert audio_start == pytest.approx(segment.start, abs=0.05)
        stamps += times
    return stamps


def _check_coverage(stamps: list[float], duration: float) -> None:
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # no frame twice, none out of order
    assert stamps[0] == pytest.approx(0, abs=1e-3)
    assert stamps[-1] >= duration - 2 / FPS
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) <= 1 / FPS + 1e-3  # no frame missing between segments
    assert len(stamps) == round(duration * FPS) or abs(len(stamps) - duration * FPS) <= 1


def test_remux_plan_cuts_on_keyframes(remux: dict) -> None:
    decision = remux["decision"]
    assert (decision.method, decision.video, decision.audio) == ("remux", "copy", "copy")
    assert [(s.start, s.end) for s in remux["segments"][:-1]] == [(0, 6), (6, 12), (12, 18)]
    assert remux["segments"][-1].start == 18


def test_remux_segments(remux: dict) -> None:
    stamps = _check_segments(remux)
    _check_coverage(stamps, remux["info"].duration_seconds)


def test_remux_plays_the_chosen_audio_track(remux: dict, tmp_path: Path) -> None:
    _video, audio = _decode(remux["folder"] / "1.ts")
    assert tone_level(audio) > 0.2  # the ger track: a 440 Hz tone
    default = decide(remux["info"], ClientProfile(containers={"mp4"}, video_codecs={"h264"}, audio_codecs={"aac"}))
    write_segment(remux["path"], default, remux["segments"][1], str(tmp_path / "eng.ts"))
    _video, audio = _decode(tmp_path / "eng.ts")
    assert tone_level(audio) < 0.01  # the eng track: silence


def test_transcode_segments(transcode: dict) -> None:
    decision = transcode["decision"]
    assert (decision.method, decision.video, decision.audio) == ("transcode", "transcode", "transcode")
    assert [(s.start, s.end) for s in transcode["segments"]] == [(0, 6), (6, pytest.approx(12, abs=0.05))]
    stamps = _check_segments(transcode)
    _check_coverage(stamps, transcode["info"].duration_seconds)
    import av

    with av.open(str(transcode["folder"] / "0.ts")) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 320, 180)
        assert (audio.codec_context.name, audio.sample_rate, audio.codec_context.layout.name) == (
            "aac", 48000, "stereo")
    _video, sound = _decode(transcode["folder"] / "0.ts")
    assert tone_level(sound) < 0.01


def test_transcode_plays_the_chosen_audio_track(transcode: dict, tmp_path: Path) -> None:
    decision = decide(transcode["info"], BROWSER, audio_index=2)
    write_segment(transcode["path"], decision, transcode["segments"][1], str(tmp_path / "fre.ts"))
    video, audio = _decode(tmp_path / "fre.ts")
    assert video[0].key_frame
    assert tone_level(audio) > 0.2


def test_last_segment_first_is_not_slower(remux: dict, transcode: dict) -> None:
    for media in (remux, transcode):
        times = media["times"]
        last = max(times)
        assert times[last] <= times[0] * 1.5 + 0.05  # seeking: no need to make the segments before it


def test_remux_of_an_unindexed_container(tmp_path: Path) -> None:
    """MPEG-TS has no index: keyframes come from reading the packets; its timeline starts late."""
    path = str(make_video(tmp_path / "show.ts", seconds=9, keyframe_interval=2.5))
    info = probe(path)
    decision = decide(info, BROWSER)
    assert decision.method == "remux"
    segments = plan_segments(path, decision, duration=info.duration_seconds)
    assert [s.start for s in segments] == [0, pytest.approx(7.5, abs=0.03)]  # relative to the file start
    for segment in reversed(segments):
        write_segment(path, decision, segment, str(tmp_path / f"{segment.index}.ts"))
    stamps = []
    for segment in segments:
        video, audio = _decode(tmp_path / f"{segment.index}.ts")
        assert video[0].key_frame and audio
        stamps += [float(f.time) for f in video]
    assert len(stamps) == len(set(stamps)) == round(9 * FPS)


def test_fixed_plans(transcode: dict) -> None:
    decision = transcode["decision"]
    assert [(s.start, s.end) for s in plan_segments("unused", decision, duration=13.2)] == [
        (0, 6), (6, 12), (12, 13.2)]  # a 1.2 s tail is its own segment...
    assert [(s.start, s.end) for s in plan_segments("unused", decision, duration=12.3)] == [
        (0, 6), (6, 12.3)]  # ...a 0.3 s one joins the previous
    assert plan_segments("unused", decision, duration=2, target=6) == (Segment(0, 0, 2),)
    with pytest.raises(SegmentError, match="duration"):
        plan_segments("unused", decision, duration=0)


def test_media_playlist(remux: dict) -> None:
    segments = remux["segments"]
    text = media_playlist(segments, lambda n: f"seg/{n}.ts")
    lines = text.strip().split("\n")
    assert lines[0] == "#EXTM3U" and lines[-1] == "#EXT-X-ENDLIST"
    tags = dict(line.split(":", 1) for line in lines if line.startswith("#EXT-X-") and ":" in line)
    assert tags["#EXT-X-PLAYLIST-TYPE"] == "VOD" and tags["#EXT-X-MEDIA-SEQUENCE"] == "0"
    assert int(tags["#EXT-X-VERSION"]) >= 3
    durations = [float(line[len("#EXTINF:"):].rstrip(",")) for line in lines if line.startswith("#EXTINF:")]
    uris = [line for line in lines if not line.startswith("#")]
    assert uris == [f"seg/{n}.ts" for n in range(len(segments))]
    assert sum(durations) == pytest.approx(remux["info"].duration_seconds, abs=0.005)
    assert int(tags["#EXT-X-TARGETDURATION"]) == math.ceil(max(durations))
    assert all(len(line.split(":")[1].rstrip(",").split(".")[1]) >= 3 for line in lines if "#EXTINF" in line)


def test_master_and_subtitle_playlists(transcode: dict) -> None:
    decision = transcode["decision"]
    text = master_playlist("media.m3u8", decision, [
        SubtitleRendition("English", "en", "subs/3.m3u8", default=True),
        SubtitleRendition('Fr "forced"', "fr", "subs/4.m3u8", forced=True)])
    lines = text.strip().split("\n")
    media = [line for line in lines if line.startswith("#EXT-X-MEDIA:")]
    assert media[0] == ('#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=YES,'
                        'AUTOSELECT=YES,FORCED=NO,URI="subs/3.m3u8"')
    assert 'NAME="Fr forced"' in media[1] and "FORCED=YES" in media[1]
    stream = next(line for line in lines if line.startswith("#EXT-X-STREAM-INF:"))
    assert lines[lines.index(stream) + 1] == "media.m3u8"
    assert 'CODECS="avc1.640028,mp4a.40.2"' in stream and "RESOLUTION=320x180" in stream
    assert 'SUBTITLES="subs"' in stream
    assert int(stream.split("BANDWIDTH=")[1].split(",")[0]) >= decision.bitrate
    playlist = subtitle_playlist(12.5, "subs/3.vtt").strip().split("\n")
    assert "#EXTINF:12.500," in playlist and "subs/3.vtt" in playlist and playlist[-1] == "#EXT-X-ENDLIST"
    assert "#EXT-X-TARGETDURATION:13" in playlist


def test_segment_errors(remux: dict, tmp_path: Path) -> None:
    out = str(tmp_path / "x.ts")
    with pytest.raises(SegmentError, match="cannot read the file"):
        write_segment(str(tmp_path / "missing.mkv"), remux["decision"], remux["segments"][0], out)
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"#EXTM3U\n#EXTINF:1,\nhttp://example.invalid/x.ts\n")
    with pytest.raises(SegmentError, match="not a media file"):
        write_segment(str(junk), remux["decision"], remux["segments"][0], out)
    direct = decide(remux["info"], ClientProfile(containers={"mkv"}, video_codecs={"h264"}, audio_codecs={"aac"}))
    with pytest.raises(SegmentError, match="direct-play"):
        write_segment(remux["path"], direct, remux["segments"][0], out)
    with pytest.raises(SegmentError, match="gave up"):
        write_segment(remux["path"], remux["decision"], remux["segments"][0], out, timeout=0.0001)
    time.sleep(0.2)
    assert not os.path.exists(out) and not os.path.exists(out + ".part")
