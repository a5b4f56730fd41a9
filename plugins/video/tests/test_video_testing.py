"""The test-media generators: they write real files, and refuse what they cannot make."""

from __future__ import annotations

from pathlib import Path

import pytest

from revenge_video.testing import make_ass, make_image, make_srt, make_video, video_codecs


@pytest.mark.parametrize(("name", "size", "color", "magic"), [
    ("poster.jpg", (60, 90), "#336699", b"\xff\xd8\xff"),
    ("logo.png", (80, 20), (10, 200, 30), b"\x89PNG\r\n\x1a\n"),
    ("thumb.webp", (32, 18), (0, 0, 0), b"RIFF"),
])
def test_make_image(tmp_path: Path, name: str, size: tuple[int, int], color, magic: bytes) -> None:
    import pyvips

    path = make_image(tmp_path / "art" / name, *size, color)
    assert path.read_bytes().startswith(magic)
    image = pyvips.Image.new_from_file(str(path))
    assert (image.width, image.height, image.bands) == (*size, 3)
    assert image.max() > image.min() or color == (0, 0, 0)  # a lighter band, so it is not one flat colour


def test_make_image_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported image type"):
        make_image(tmp_path / "a.gif")
    with pytest.raises(ValueError, match="rrggbb"):
        make_image(tmp_path / "a.png", color="#12")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"path": "a.flv"}, "unsupported container"),
    ({"codec": "theora"}, "unsupported video codec"),
    ({"audio_codec": "wma"}, "unsupported audio codec"),
    ({"channels": 3}, "channel count"),
    ({"path": "a.mp4", "subtitles": ("eng",), "subtitle_codec": "ass"}, "mkv"),
    ({"width": 161}, "even"),
    ({"hdr": "HDR11"}, "unsupported hdr"),
    ({"hdr": "Dolby Vision"}, "hevc"),
])
def test_make_video_refusals(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = tmp_path / kwargs.pop("path", "a.mkv")
    with pytest.raises(ValueError, match=message):
        make_video(path, **kwargs)
    assert not path.exists()


def test_video_codecs_lists_the_basics() -> None:
    assert {"h264", "mpeg4"} <= video_codecs()


def test_subtitle_writers(tmp_path: Path) -> None:
    srt = make_srt(tmp_path / "x" / "a.srt", [(0.0, 1.5, "One"), (3661.25, 3662.0, "Two\nlines")])
    assert srt.read_text() == ("1\n00:00:00,000 --> 00:00:01,500\nOne\n\n"
                               "2\n01:01:01,250 --> 01:01:02,000\nTwo\nlines\n")
    ass = make_ass(tmp_path / "a.ass", [(1.0, 2.0, "Hi\nthere")]).read_text()
    assert "[Events]" in ass and "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hi\\Nthere" in ass
