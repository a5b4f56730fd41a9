"""Sidecar discovery (subtitles, artwork, NFO) and conversion of subtitles to WebVTT."""

from __future__ import annotations

from pathlib import Path

import pytest

from revenge_video.sidecars import (
    ArtworkFile,
    find_artwork,
    find_nfo,
    find_sidecars,
    find_subtitles,
    normalize_language,
    subtitle_to_webvtt,
)
from revenge_video.testing import make_ass, make_srt

MOVIE_FOLDER = [
    "Movie (2010).mkv", "Movie (2010).srt", "Movie (2010).en.srt", "Movie (2010).eng.forced.srt",
    "Movie (2010).de.sdh.ass", "Movie (2010).pt-BR.vtt", "Movie (2010).fr.default.ssa", "Movie (2010).sub",
    "Movie (2010).idx", "Movie (2010).English.Commentary.srt", "Other Movie (2011).en.srt", "Movie (2010).en.txt",
    "poster.jpg", "folder.jpg", "Cover.JPG", "fanart.jpg", "fanart1.jpg", "backdrop.png", "logo.png",
    "clearart.png", "banner.jpg", "disc.png", "landscape.jpg", "Movie (2010)-poster.jpg", "Movie (2010)-fanart.jpg",
    "movie.nfo", "Movie (2010).nfo", "notes.txt", "random.jpg",
]


def subtitle_rows(found) -> set[tuple]:
    return {(s.name, s.format, s.language, s.language_tag, s.forced, s.sdh, s.default, s.title) for s in found}


def test_subtitles_of_a_movie() -> None:
    found = find_subtitles("Movies/Movie (2010)/Movie (2010).mkv", MOVIE_FOLDER)
    assert subtitle_rows(found) == {
        ("Movie (2010).srt", "subrip", None, None, False, False, False, None),
        ("Movie (2010).en.srt", "subrip", "eng", "en", False, False, False, None),
        ("Movie (2010).eng.forced.srt", "subrip", "eng", "en", True, False, False, None),
        ("Movie (2010).de.sdh.ass", "ass", "ger", "de", False, True, False, None),
        ("Movie (2010).pt-BR.vtt", "webvtt", "por", "pt-BR", False, False, False, None),
        ("Movie (2010).fr.default.ssa", "ssa", "fre", "fr", False, False, True, None),
        ("Movie (2010).sub", "vobsub", None, None, False, False, False, None),
        ("Movie (2010).English.Commentary.srt", "subrip", "eng", "en", False, False, False, "Commentary"),
    }
    vobsub = next(s for s in found if s.format == "vobsub")
    assert vobsub.index_path == "Movies/Movie (2010)/Movie (2010).idx"
    assert vobsub.path == "Movies/Movie (2010)/Movie (2010).sub" and not vobsub.text_based
    assert all(s.path.startswith("Movies/Movie (2010)/") for s in found)


def test_language_only_subtitles_count_in_a_single_movie_folder() -> None:
    folder = ["movie.mkv", "eng.srt", "English.forced.srt", "de.srt", "notes.srt"]
    names = {(s.name, s.language, s.forced) for s in find_subtitles("M (2001)/movie.mkv", folder)}
    assert names == {("eng.srt", "eng", False), ("English.forced.srt", "eng", True), ("de.srt", "ger", False)}
    shared = ["a.mkv", "b.mkv", "eng.srt"]
    assert find_subtitles("Movies/a.mkv", shared) == ()


def test_subtitles_of_an_episode_do_not_take_the_neighbours() -> None:
    folder = ["Show - S01E01.mkv", "Show - S01E01.en.srt", "Show - S01E02.mkv", "Show - S01E02.en.srt",
              "Show - S01E01.HI.srt"]
    found = find_subtitles("Show/Season 1/Show - S01E01.mkv", folder)
    assert {(s.name, s.language, s.sdh) for s in found} == {("Show - S01E01.en.srt", "eng", False),
                                                            ("Show - S01E01.HI.srt", None, True)}


@pytest.mark.parametrize(("code", "expected"), [
    ("en", ("eng", "en")), ("eng", ("eng", "en")), ("de", ("ger", "de")), ("deu", ("ger", "de")),
    ("ger", ("ger", "de")), ("fra", ("fre", "fr")), ("zh-TW", ("chi", "zh-TW")), ("pt_BR", ("por", "pt-BR")),
    ("English", ("eng", "en")), ("german", ("ger", "de")), ("hi", None), ("forced", None), ("xx", None),
    ("qqq", None), ("", None), ("../etc", None),
])
def test_normalize_language(code: str, expected: tuple[str, str] | None) -> None:
    assert normalize_language(code) == expected


def art(found, level: str) -> set[tuple[str, str, int | None]]:
    return {(a.path, a.kind, a.season) for a in found if a.level == level}


def test_movie_artwork_in_its_own_folder() -> None:
    found = find_artwork("Movie (2010)/Movie (2010).mkv", MOVIE_FOLDER, kind="movie")
    assert art(found, "movie") == {
        ("Movie (2010)/poster.jpg", "poster", None), ("Movie (2010)/folder.jpg", "poster", None),
        ("Movie (2010)/Cover.JPG", "poster", None), ("Movie (2010)/fanart.jpg", "backdrop", None),
        ("Movie (2010)/fanart1.jpg", "backdrop", None), ("Movie (2010)/backdrop.png", "backdrop", None),
        ("Movie (2010)/logo.png", "logo", None), ("Movie (2010)/clearart.png", "clearart", None),
        ("Movie (2010)/banner.jpg", "banner", None), ("Movie (2010)/disc.png", "disc", None),
        ("Movie (2010)/landscape.jpg", "thumb", None), ("Movie (2010)/Movie (2010)-poster.jpg", "poster", None),
        ("Movie (2010)/Movie (2010)-fanart.jpg", "backdrop", None),
    }
    assert {a.level for a in found} == {"movie"}


def test_movie_artwork_in_a_shared_folder_is_only_the_named_one() -> None:
    folder = ["Alpha (2001).mkv", "Beta (2002).mkv", "poster.jpg", "fanart.jpg", "Alpha (2001)-poster.jpg",
              "Alpha (2001).jpg", "Beta (2002)-fanart.jpg"]
    found = find_artwork("Movies/Alpha (2001).mkv", folder, kind="movie")
    assert art(found, "movie") == {("Movies/Alpha (2001)-poster.jpg", "poster", None),
                                   ("Movies/Alpha (2001).jpg", "poster", None)}


def test_versions_and_parts_still_count_as_one_movie() -> None:
    folder = ["Movie (2010) - 1080p.mkv", "Movie (2010) - Director's Cut.mkv", "Movie (2010) cd1.avi",
              "Movie (2010)-trailer.mkv", "poster.jpg"]
    found = find_artwork("Movie (2010)/Movie (2010) - 1080p.mkv", folder, kind="movie")
    assert art(found, "movie") == {("Movie (2010)/poster.jpg", "poster", None)}


def test_episode_artwork_in_a_season_folder() -> None:
    season_folder = ["Show - S01E01.mkv", "Show - S01E01-thumb.jpg", "Show - S01E02.mkv", "Show - S01E02-thumb.jpg",
                     "folder.jpg", "fanart.jpg", "season.nfo", "Show - S01E01.nfo"]
    show_folder = ["poster.jpg", "fanart.jpg", "banner.jpg", "logo.png", "clearart.png", "season01-poster.jpg",
                   "season01-fanart.jpg", "season02-poster.jpg", "season-specials-poster.jpg", "season-all-poster.jpg",
                   "tvshow.nfo", "Season 01"]
    sidecars = find_sidecars("Show/Season 01/Show - S01E01.mkv", season_folder, show_folder, kind="episode")
    assert art(sidecars.artwork, "episode") == {("Show/Season 01/Show - S01E01-thumb.jpg", "thumb", None)}
    assert art(sidecars.artwork, "season") == {
        ("Show/Season 01/folder.jpg", "poster", 1), ("Show/Season 01/fanart.jpg", "backdrop", 1),
        ("Show/season01-poster.jpg", "poster", 1), ("Show/season01-fanart.jpg", "backdrop", 1),
        ("Show/season02-poster.jpg", "poster", 2), ("Show/season-specials-poster.jpg", "poster", 0),
    }
    assert art(sidecars.artwork, "series") == {
        ("Show/poster.jpg", "poster", None), ("Show/fanart.jpg", "backdrop", None), ("Show/banner.jpg", "banner", None),
        ("Show/logo.png", "logo", None), ("Show/clearart.png", "clearart", None),
        ("Show/season-all-poster.jpg", "poster", None),
    }
    assert (sidecars.nfo, sidecars.season_nfo, sidecars.series_nfo) == (
        "Show/Season 01/Show - S01E01.nfo", "Show/Season 01/season.nfo", "Show/tvshow.nfo")
    assert sidecars.artwork_for("series", "banner") == (ArtworkFile("Show/banner.jpg", "banner", "series"),)


def test_episode_directly_in_the_show_folder() -> None:
    folder = ["S01E01.mkv", "S01E01.jpg", "poster.jpg", "season01-poster.jpg", "tvshow.nfo"]
    sidecars = find_sidecars("Show/S01E01.mkv", folder)  # kind parsed from the name
    assert art(sidecars.artwork, "episode") == {("Show/S01E01.jpg", "thumb", None)}
    assert art(sidecars.artwork, "series") == {("Show/poster.jpg", "poster", None)}
    assert art(sidecars.artwork, "season") == {("Show/season01-poster.jpg", "poster", 1)}
    assert (sidecars.nfo, sidecars.series_nfo, sidecars.season_nfo) == (None, "Show/tvshow.nfo", None)


@pytest.mark.parametrize(("path", "folder", "expected"), [
    ("M (2001)/M (2001).mkv", ["M (2001).mkv", "M (2001).nfo", "movie.nfo"], "M (2001)/M (2001).nfo"),
    ("M (2001)/M (2001).mkv", ["M (2001).mkv", "MOVIE.NFO"], "M (2001)/MOVIE.NFO"),
    ("Movies/A (2001).mkv", ["A (2001).mkv", "B (2002).mkv", "movie.nfo"], None),
    ("A.mkv", ["A.mkv", "a.nfo"], "a.nfo"),
])
def test_movie_nfo(path: str, folder: list[str], expected: str | None) -> None:
    assert find_nfo(path, folder, kind="movie")["nfo"] == expected


def test_sidecars_of_a_movie_all_together() -> None:
    sidecars = find_sidecars("Movie (2010)/Movie (2010).mkv", MOVIE_FOLDER)
    assert sidecars.nfo == "Movie (2010)/Movie (2010).nfo"
    assert len(sidecars.subtitles) == 8 and sidecars.artwork_for("movie", "logo")[0].name == "logo.png"
    assert sidecars.series_nfo is None and sidecars.season_nfo is None


# --- WebVTT --------------------------------------------------------------------------------------------


def test_srt_to_webvtt(tmp_path: Path) -> None:
    srt = make_srt(tmp_path / "a.srt", [(1.0, 2.5, "<i>Hello</i> there\nline two"), (3.0, 4.25, "Tom & Jerry < 3")])
    vtt = subtitle_to_webvtt(srt.read_bytes(), "subrip")
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:01.000 --> 00:00:02.500\n<i>Hello</i> there\nline two" in vtt
    assert "00:00:03.000 --> 00:00:04.250\nTom &amp; Jerry &lt; 3" in vtt


def test_ass_to_webvtt(tmp_path: Path) -> None:
    ass = make_ass(tmp_path / "a.ass", [(2.0, 3.0, "{\\pos(10,10)}Moved"), (0.5, 1.5, "Hi {\\i1}there{\\i0}\nsecond")])
    text = ass.read_text() + "Comment: 0,0:00:04.00,0:00:05.00,Default,,0,0,0,,hidden note\n"
    text += "Dialogue: 0,0:00:06.00,0:00:07.00,Default,,0,0,0,,{\\p1}m 0 0 l 100 0 100 100{\\p0}\n"
    vtt = subtitle_to_webvtt(text, "ass")
    cues = vtt.split("\n\n")[1:]
    assert "00:00:00.500 --> 00:00:01.500\nHi <i>there</i>\nsecond" in cues[0]  # sorted by start
    assert "00:00:02.000 --> 00:00:03.000\nMoved" in cues[1]
    assert "hidden note" not in vtt and "m 0 0 l" not in vtt and "pos(" not in vtt


def test_webvtt_passes_through_and_bad_input_raises() -> None:
    vtt = subtitle_to_webvtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n", "vtt")
    assert "00:00:01.000 --> 00:00:02.000\nHi" in vtt
    with pytest.raises(ValueError, match="cannot convert"):
        subtitle_to_webvtt("x", "pgs")
    with pytest.raises(ValueError, match="cannot convert"):
        subtitle_to_webvtt("x", "")


def test_cp1252_srt_bytes() -> None:
    data = "1\n00:00:01,000 --> 00:00:02,000\nCaf\u00e9\n".encode("cp1252")
    assert "Caf\u00e9" in subtitle_to_webvtt(data, "srt")
