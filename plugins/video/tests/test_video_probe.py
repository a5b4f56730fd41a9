"""probe() on real files generated with revenge_video.testing, and on files it must refuse."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import revenge_video.probe as probe_module
from revenge_video.probe import ProbeError, probe, probe_async, resolution_label
from revenge_video.testing import Track, make_srt, make_video, video_codecs

CODECS = video_codecs()


@pytest.mark.parametrize(("name", "codec", "container", "video_codec", "audio_codec"), [
    ("a.mkv", None, "matroska,webm", "h264", "aac"),
    ("a.mp4", None, "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
    ("a.m4v", None, "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
    ("a.mov", "mpeg4", "mov,mp4,m4a,3gp,3g2,mj2", "mpeg4", "aac"),
    ("a.webm", None, "matroska,webm", "vp9", "opus"),
    ("a.avi", None, "avi", "mpeg4", "mp3"),
    ("a.ts", None, "mpegts", "h264", "aac"),
    ("hevc.mkv", "hevc", "matroska,webm", "hevc", "aac"),
    ("av1.mkv", "av1", "matroska,webm", "av1", "aac"),
])
def test_containers_and_codecs(tmp_path: Path, name: str, codec: str | None, container: str, video_codec: str,
                               audio_codec: str) -> None:
    if codec is not None and codec not in CODECS:
        pytest.skip(f"this PyAV cannot encode {codec}")
    path = make_video(tmp_path / name, codec=codec)
    info = probe(path)
    assert info.container == container
    assert info.size == path.stat().st_size > 1000
    assert [v.codec for v in info.video] == [video_codec]
    assert [a.codec for a in info.audio] == [audio_codec]
    video = info.video[0]
    assert (video.width, video.height, video.frame_rate, video.bit_depth, video.pix_fmt) == (160, 90, 24.0, 8,
                                                                                             "yuv420p")
    assert video.hdr is None and info.hdr is None
    assert info.resolution == "SD"
    assert info.bitrate is None or info.bitrate > 0


@pytest.mark.parametrize("seconds", [1.0, 2.5])
def test_duration(tmp_path: Path, seconds: float) -> None:
    info = probe(make_video(tmp_path / "d.mkv", seconds=seconds))
    assert info.duration_seconds == pytest.approx(seconds, abs=0.1)


def test_resolution_of_a_real_720p_file(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "hd.mp4", width=1280, height=720, seconds=0.25, audio=()))
    assert (info.video[0].width, info.video[0].height, info.resolution) == (1280, 720, "720p")
    assert info.audio == ()


@pytest.mark.parametrize(("width", "height", "label"), [
    (3840, 2160, "2160p"), (4096, 1716, "2160p"), (2560, 1440, "1440p"), (1920, 1080, "1080p"),
    (1920, 800, "1080p"), (1440, 1080, "1080p"), (1280, 720, "720p"), (1280, 536, "720p"), (720, 576, "576p"),
    (720, 480, "480p"), (640, 480, "480p"), (480, 360, "SD"), (160, 90, "SD"), (0, 0, None),
])
def test_resolution_label(width: int, height: int, label: str | None) -> None:
    assert resolution_label(width, height) == label


def test_audio_tracks(tmp_path: Path) -> None:
    path = make_video(tmp_path / "a.mkv", audio=("eng", Track("ger", title="Deutsch"), Track("jpn", forced=True)),
                      audio_codec="ac3", channels=6)
    info = probe(path)
    assert [(a.language, a.title, a.default, a.forced) for a in info.audio] == [
        ("eng", None, True, False), ("ger", "Deutsch", False, False), ("jpn", None, False, True)]
    assert all((a.codec, a.channels, a.sample_rate) == ("ac3", 6, 48000) for a in info.audio)
    assert info.audio[0].channel_layout.startswith("5.1")
    assert info.audio_languages == ("eng", "ger", "jpn")
    assert [a.index for a in info.audio] == [1, 2, 3]


def test_untagged_audio_has_no_language(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "a.mkv", audio=(Track(None), "und")))
    assert [a.language for a in info.audio] == [None, None]


@pytest.mark.parametrize(("name", "codec", "expected"), [
    ("s.mkv", None, "subrip"), ("s_ass.mkv", "ass", "ass"), ("s.mp4", None, "mov_text"), ("s.webm", None, "webvtt"),
])
def test_subtitle_tracks(tmp_path: Path, name: str, codec: str | None, expected: str) -> None:
    path = make_video(tmp_path / name, subtitles=("eng", Track("fre", title="Forced", forced=True),
                                                  Track("ger", hearing_impaired=True, default=True)),
                      subtitle_codec=codec)
    info = probe(path)
    assert [s.codec for s in info.subtitles] == [expected] * 3
    assert [(s.language, s.forced, s.external) for s in info.subtitles] == [("eng", False, False),
                                                                            ("fre", True, False),
                                                                            ("ger", False, False)]
    assert info.subtitle_languages == ("eng", "fre", "ger")
    assert info.subtitles[2].default
    if name.endswith(".mkv"):
        assert info.subtitles[1].title == "Forced"
        assert info.subtitles[2].hearing_impaired


def test_avi_cannot_hold_subtitles_use_sidecars(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="make_srt"):
        make_video(tmp_path / "a.avi", subtitles=("eng",))
    srt = make_srt(tmp_path / "a.en.srt")
    assert srt.read_text().startswith("1\n00:00:00,100 --> 00:00:00,900\nHello")


@pytest.mark.parametrize(("name", "hdr", "codec", "expected", "transfer"), [
    ("h.mkv", True, None, "HDR10", "smpte2084"),
    ("h.mp4", "HDR10", None, "HDR10", "smpte2084"),
    ("hlg.mkv", "HLG", "hevc", "HLG", "arib-std-b67"),
    ("dv.mp4", "Dolby Vision", "hevc", "Dolby Vision", "smpte2084"),
    ("sdr.mkv", False, None, None, None),
])
def test_hdr(tmp_path: Path, name: str, hdr: bool | str, codec: str | None, expected: str | None,
             transfer: str | None) -> None:
    if codec is not None and codec not in CODECS:
        pytest.skip(f"this PyAV cannot encode {codec}")
    video = probe(make_video(tmp_path / name, hdr=hdr, codec=codec, audio=())).video[0]
    assert (video.hdr, video.color_transfer) == (expected, transfer)
    assert video.color_primaries == ("bt2020" if hdr else None)


def test_chapters_and_title(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "c.mkv", seconds=2.0, chapters=[(0.0, 0.5, "Opening"), (0.5, 2.0, None)],
                            title="My Movie"))
    assert [(c.start, c.end, c.title) for c in info.chapters] == [(0.0, 0.5, "Opening"), (0.5, 2.0, None)]
    assert info.title == "My Movie"
    counted = probe(make_video(tmp_path / "n.mp4", seconds=1.0, chapters=4))
    assert [c.title for c in counted.chapters] == ["Chapter 1", "Chapter 2", "Chapter 3", "Chapter 4"]
    assert counted.chapters[-1].end == pytest.approx(1.0, abs=0.01)


async def test_probe_async(tmp_path: Path) -> None:
    info = await probe_async(make_video(tmp_path / "a.mkv"))
    assert info.video and info.audio


def test_generators_are_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    for number in range(5):
        make_video(tmp_path / f"{number}.mkv", audio=("eng", "ger"), subtitles=("eng",), chapters=2)
    assert (time.perf_counter() - started) / 5 < 0.3


# --- refusals --------------------------------------------------------------------------------------


def test_truncated_file(tmp_path: Path) -> None:
    path = make_video(tmp_path / "t.mkv")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ProbeError) as caught:
        probe(path)
    assert "t.mkv" in str(caught.value) and "Traceback" not in str(caught.value)


def test_corrupt_header(tmp_path: Path) -> None:
    path = make_video(tmp_path / "c.mp4")
    data = bytearray(path.read_bytes())
    data[:4096] = os.urandom(4096)
    path.write_bytes(bytes(data))
    with pytest.raises(ProbeError, match="not a media file"):
        probe(path)


@pytest.mark.parametrize("content", [b"just some text, not a video\n" * 50, os.urandom(20_000)])
def test_not_a_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mkv"
    path.write_bytes(content)
    with pytest.raises(ProbeError):
        probe(path)


def test_playlists_cannot_make_ffmpeg_open_other_files(tmp_path: Path) -> None:
    target = make_video(tmp_path / "real.ts")
    hls = tmp_path / "playlist.mkv"
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://{target}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "concat.mkv"
    concat.write_text(f"ffconcat version 1.0\nfile '{target}'\n")
    for path in (hls, concat):
        with pytest.raises(ProbeError, match="supported container"):
            probe(path)


def test_only_regular_files(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="not a regular file"):
        probe(tmp_path)
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    with pytest.raises(ProbeError, match="not a regular file"):
        probe(fifo)
    with pytest.raises(ProbeError, match="not found"):
        probe(tmp_path / "missing.mkv")
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    with pytest.raises(ProbeError, match="empty"):
        probe(empty)
    with pytest.raises(ProbeError, match="invalid path"):
        probe("bad\x00path.mkv")


def test_protocol_looking_names_are_plain_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named like an FFmpeg URL is read as that file, never as the URL."""
    real = make_video(tmp_path / "source.mkv")
    monkeypatch.chdir(tmp_path)
    os.rename(real, tmp_path / "concat:source.mkv")
    info = probe("concat:source.mkv")
    assert info.container == "matroska,webm"


def test_a_probe_that_hangs_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_video(tmp_path / "slow.mkv")

    def stuck(*_args: object) -> None:
        time.sleep(1.5)

    monkeypatch.setattr(probe_module, "_probe_file", stuck)
    started = time.perf_counter()
    with pytest.raises(ProbeError, match=r"gave up after 0\.2 s"):
        probe(path, timeout=0.2)
    assert time.perf_counter() - started < 1.0
