"""Embedded and sidecar subtitles to WebVTT, on real files made with revenge_video.testing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from revenge_video.subtitles import SubtitleError, embedded_to_webvtt, sidecar_to_webvtt
from revenge_video.testing import Track, make_ass, make_srt, make_video

CUE = re.compile(r"^(\d{2}:\d{2}:\d{2}\.\d{3}) --> (\d{2}:\d{2}:\d{2}\.\d{3})$")


def cues(vtt: str) -> list[tuple[str, str, str]]:
    """(start, end, text) of each cue; also checks the document's shape."""
    assert vtt.startswith("WEBVTT\n\n") or vtt == "WEBVTT\n"
    found = []
    for block in vtt.split("\n\n")[1:]:
        lines = block.strip("\n").split("\n")
        if lines == [""]:
            continue
        if not CUE.match(lines[0]):  # a cue identifier
            lines = lines[1:]
        match = CUE.match(lines[0])
        assert match, block
        found.append((match.group(1), match.group(2), "\n".join(lines[1:])))
    return found


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("subtitles")
    make_video(folder / "srt.mkv", seconds=3, subtitles=(
        "eng", Track("ger", cues=[(0.5, 1.25, "Hello <b>world</b> & co"), (2.0, 2.5, "Line one\nLine two")])))
    make_video(folder / "ass.mkv", seconds=3, subtitle_codec="ass", subtitles=(
        Track("eng", cues=[(0.5, 1.25, r"{\i1}Hi{\i0} there\Nnext line"), (1.5, 2.75, r"{\pos(10,20)}Placed")]),))
    make_video(folder / "timed.mp4", seconds=3, subtitles=(Track("eng", cues=[(0.25, 1.5, "Timed <text>")]),))
    return folder


def test_embedded_subrip(media: Path) -> None:
    path = str(media / "srt.mkv")
    assert cues(embedded_to_webvtt(path, 3)) == [
        ("00:00:00.500", "00:00:01.250", "Hello world &amp; co"),
        ("00:00:02.000", "00:00:02.500", "Line one\nLine two")]
    assert cues(embedded_to_webvtt(path, 2)) == [("00:00:00.100", "00:00:02.900", "Subtitle eng")]


def test_embedded_ass_loses_override_tags(media: Path) -> None:
    assert cues(embedded_to_webvtt(str(media / "ass.mkv"), 2)) == [
        ("00:00:00.500", "00:00:01.250", "Hi there\nnext line"),
        ("00:00:01.500", "00:00:02.750", "Placed")]


def test_embedded_mov_text(media: Path) -> None:
    assert cues(embedded_to_webvtt(str(media / "timed.mp4"), 2)) == [
        ("00:00:00.250", "00:00:01.500", "Timed &lt;text&gt;")]


@pytest.mark.parametrize(("index", "message"), [(0, "no subtitle stream 0"), (1, "no subtitle stream 1"),
                                                (9, "no subtitle stream 9"), (-1, "no subtitle stream -1")])
def test_not_a_subtitle_stream(media: Path, index: int, message: str) -> None:
    with pytest.raises(SubtitleError, match=message):
        embedded_to_webvtt(str(media / "srt.mkv"), index)


def test_bitmap_subtitles_are_refused(tmp_path: Path) -> None:
    from fractions import Fraction

    import av

    path = tmp_path / "pgs.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        pgs = container.add_mux_stream("hdmv_pgs_subtitle")
        pgs.time_base = Fraction(1, 1000)
        for index in range(6):
            frame = av.VideoFrame(64, 36, "yuv420p")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        # An "end of display set" PGS segment: a real, if empty, PGS packet.
        packet = av.Packet(b"PG\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00")
        packet.stream, packet.time_base, packet.pts, packet.dts = pgs, Fraction(1, 1000), 100, 100
        container.mux(packet)
    with pytest.raises(SubtitleError, match="pictures rather than text"):
        embedded_to_webvtt(str(path), 1)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SubtitleError, match="cannot read the file"):
        embedded_to_webvtt(str(tmp_path / "missing.mkv"), 0)
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"#EXTM3U\n#EXTINF:1,\nhttp://example.invalid/x.ts\n")
    with pytest.raises(SubtitleError, match="not a media file"):
        embedded_to_webvtt(str(junk), 0)


def test_sidecars(tmp_path: Path) -> None:
    srt = make_srt(tmp_path / "a.srt", [(1.0, 2.5, "Hello"), (3.0, 4.0, "World")]).read_bytes()
    assert cues(sidecar_to_webvtt(srt, "srt")) == [("00:00:01.000", "00:00:02.500", "Hello"),
                                                   ("00:00:03.000", "00:00:04.000", "World")]
    ass = make_ass(tmp_path / "a.ass", [(0.5, 1.0, "Styled")]).read_bytes()
    assert cues(sidecar_to_webvtt(ass, "ASS")) == [("00:00:00.500", "00:00:01.000", "Styled")]
    vtt = sidecar_to_webvtt(b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAlready\n", "vtt")
    assert cues(vtt) == [("00:00:01.000", "00:00:02.000", "Already")]
    with pytest.raises(SubtitleError, match="supported"):
        sidecar_to_webvtt(srt, "sup")
