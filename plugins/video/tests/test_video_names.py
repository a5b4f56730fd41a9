"""parse_name on real-world file names: scene releases, media-server layouts, anime, extras."""

from __future__ import annotations

import datetime

import attrs
import pytest

from revenge_video.names import ParsedName, clean_title, parse_name, season_from_folder

# (relative path, expected fields); fields not listed must keep their defaults.
CASES: list[tuple[str, dict]] = [
    # movies, clean and scene
    ("The.Matrix.1999.1080p.BluRay.x264-GROUP.mkv",
     {"kind": "movie", "title": "The Matrix", "year": 1999, "screen_size": "1080p", "source": "Blu-ray",
      "release_group": "GROUP"}),
    ("The Matrix (1999).mkv", {"kind": "movie", "title": "The Matrix", "year": 1999}),
    ("Movies/The Matrix (1999).mkv", {"kind": "movie", "title": "The Matrix", "year": 1999}),
    ("Movie Name (2010)/movie.mkv", {"kind": "movie", "title": "Movie Name", "year": 2010}),
    ("Movie Name (2010)/mn-1080p.mkv", {"kind": "movie", "title": "Movie Name", "year": 2010, "screen_size": "1080p"}),
    ("Inception (2010)/Inception.2010.720p.BluRay.x264-SPARKS.mkv",
     {"kind": "movie", "title": "Inception", "year": 2010, "screen_size": "720p", "source": "Blu-ray",
      "release_group": "SPARKS"}),
    ("Movie.2010.PROPER.REPACK.720p.WEB-DL.DD5.1.H.264-FGT.mkv",
     {"kind": "movie", "title": "Movie", "year": 2010, "screen_size": "720p", "source": "Web", "release_group": "FGT"}),
    ("Avatar.The.Way.of.Water.2022.2160p.UHD.BluRay.x265.10bit.HDR.TrueHD.7.1.Atmos-GROUP.mkv",
     {"kind": "movie", "title": "Avatar The Way of Water", "year": 2022, "screen_size": "2160p",
      "source": "Ultra HD Blu-ray", "release_group": "GROUP"}),
    ("Blade Runner 2049 (2017).mkv", {"kind": "movie", "title": "Blade Runner 2049", "year": 2017}),
    ("2001 A Space Odyssey (1968).mkv", {"kind": "movie", "title": "2001 A Space Odyssey", "year": 1968}),
    ("1917 (2019).mkv", {"kind": "movie", "title": "1917", "year": 2019}),
    ("Se7en (1995).avi", {"kind": "movie", "title": "Se7en", "year": 1995, "container": "avi"}),
    ("WALL-E (2008).mp4", {"kind": "movie", "title": "WALL-E", "year": 2008, "container": "mp4"}),
    ("Amélie (2001).mkv", {"kind": "movie", "title": "Amélie", "year": 2001}),
    ("Ocean's Eleven (2001).mkv", {"kind": "movie", "title": "Ocean's Eleven", "year": 2001}),
    ("Harry Potter and the Deathly Hallows Part 2 (2011).mkv",
     {"kind": "movie", "title": "Harry Potter and the Deathly Hallows Part 2", "year": 2011}),
    # versions of one movie
    ("Movie (2010) - Director's Cut.mkv",
     {"kind": "movie", "title": "Movie", "year": 2010, "edition": "Director's Cut"}),
    ("Movie (2010)/Movie (2010) - 1080p.mkv",
     {"kind": "movie", "title": "Movie", "year": 2010, "edition": "1080p", "screen_size": "1080p"}),
    ("Movie (2010) - Extended Edition.mkv",
     {"kind": "movie", "title": "Movie", "year": 2010, "edition": "Extended Edition"}),
    ("The Matrix (1999) - Remastered.mkv",
     {"kind": "movie", "title": "The Matrix", "year": 1999, "edition": "Remastered"}),
    ("Movie.Name.2010.IMAX.1080p.mkv",
     {"kind": "movie", "title": "Movie Name", "year": 2010, "edition": "IMAX", "screen_size": "1080p"}),
    ("Avatar (2009) {tmdb-19995} {edition-Extended Cut}.mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "edition": "Extended Cut", "external_ids": {"tmdb": "19995"}}),
    ("Avatar (2009) [imdbid-tt0499549].mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "external_ids": {"imdb": "tt0499549"}}),
    # parts
    ("Movie (2010) cd1.avi", {"kind": "movie", "title": "Movie", "year": 2010, "part": 1, "container": "avi"}),
    ("Movie (2010) part2.avi", {"kind": "movie", "title": "Movie", "year": 2010, "part": 2, "container": "avi"}),
    ("Movie (2010) disc1.mkv", {"kind": "movie", "title": "Movie", "year": 2010, "part": 1}),
    ("Movie (2010) - pt1.mkv", {"kind": "movie", "title": "Movie", "year": 2010, "part": 1}),
    # extras and samples
    ("Avatar (2009)/Avatar (2009)-trailer.mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "is_extra": True, "extra_type": "trailer",
      "extra_title": "Avatar"}),
    ("Avatar (2009)/Extras/Making of.mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "is_extra": True, "extra_type": "extra",
      "extra_title": "Making of"}),
    ("Avatar (2009)/Featurettes/Visual Effects.mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "is_extra": True, "extra_type": "featurette",
      "extra_title": "Visual Effects"}),
    ("Avatar (2009)/Behind The Scenes/Motion Capture.mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "is_extra": True, "extra_type": "behind_the_scenes",
      "extra_title": "Motion Capture"}),
    ("Avatar (2009)/Trailers/Teaser.mp4",
     {"kind": "movie", "title": "Avatar", "year": 2009, "is_extra": True, "extra_type": "trailer",
      "extra_title": "Teaser", "container": "mp4"}),
    ("Avatar (2009)/Avatar (2009)-behindthescenes.mkv",
     {"kind": "movie", "title": "Avatar", "year": 2009, "is_extra": True, "extra_type": "behind_the_scenes",
      "extra_title": "Avatar"}),
    ("Avatar.2009.sample.mkv", {"kind": "movie", "title": "Avatar", "year": 2009, "is_sample": True}),
    ("Avatar (2009)/Sample/avatar-sample.mkv", {"kind": "movie", "title": "Avatar", "year": 2009, "is_sample": True}),
    ("sample-the.matrix.1999.mkv", {"kind": "movie", "title": "the matrix", "year": 1999, "is_sample": True}),
    # episodes
    ("Show Name/Season 01/S01E02.mkv", {"kind": "episode", "title": "Show Name", "season": 1, "episodes": (2,)}),
    ("Show Name/Season 1/Show Name - 1x03 - Title.mkv",
     {"kind": "episode", "title": "Show Name", "season": 1, "episodes": (3,), "episode_title": "Title"}),
    ("Show Name/Season 2/03.mkv", {"kind": "episode", "title": "Show Name", "season": 2, "episodes": (3,)}),
    ("Show Name/Season 2/Episode 3.mkv", {"kind": "episode", "title": "Show Name", "season": 2, "episodes": (3,)}),
    ("Show Name/S01E02.mkv", {"kind": "episode", "title": "Show Name", "season": 1, "episodes": (2,)}),
    ("Show Name/Season 1/Pilot.mkv", {"kind": "episode", "title": "Show Name", "season": 1, "episode_title": "Pilot"}),
    ("The.Simpsons.S35E01.1080p.WEB.h264-ETHEL.mkv",
     {"kind": "episode", "title": "The Simpsons", "season": 35, "episodes": (1,), "screen_size": "1080p",
      "source": "Web", "release_group": "ETHEL"}),
    ("Sherlock.S02.E01.mkv", {"kind": "episode", "title": "Sherlock", "season": 2, "episodes": (1,)}),
    ("Doctor Who (2005)/Season 01/Doctor Who (2005) - S01E01 - Rose.mkv",
     {"kind": "episode", "title": "Doctor Who", "year": 2005, "season": 1, "episodes": (1,), "episode_title": "Rose"}),
    ("The Office (US)/Season 2/The Office (US) - S02E01 - The Dundies.mkv",
     {"kind": "episode", "title": "The Office", "country": "US", "season": 2, "episodes": (1,),
      "episode_title": "The Dundies"}),
    ("Trailer Park Boys/Season 1/Trailer Park Boys S01E01.mkv",
     {"kind": "episode", "title": "Trailer Park Boys", "season": 1, "episodes": (1,)}),
    # multi-episode
    ("Show.Name.S01E02E03.720p.HDTV.x264-LOL.mkv",
     {"kind": "episode", "title": "Show Name", "season": 1, "episodes": (2, 3), "screen_size": "720p",
      "source": "HDTV", "release_group": "LOL"}),
    ("Show.Name.S01E02-E04.mkv", {"kind": "episode", "title": "Show Name", "season": 1, "episodes": (2, 3, 4)}),
    ("Show Name - 1x03-1x04 - Title.mkv",
     {"kind": "episode", "title": "Show Name", "season": 1, "episodes": (3, 4), "episode_title": "Title"}),
    # specials
    ("Show/Specials/Show - S00E01 - Pilot.mkv",
     {"kind": "episode", "title": "Show", "season": 0, "episodes": (1,), "episode_title": "Pilot"}),
    ("Show/Season 00/S00E02.mkv", {"kind": "episode", "title": "Show", "season": 0, "episodes": (2,)}),
    ("Show/Specials/03.mkv", {"kind": "episode", "title": "Show", "season": 0, "episodes": (3,)}),
    # daily shows
    ("Show.2024.03.15.mkv", {"kind": "episode", "title": "Show", "air_date": datetime.date(2024, 3, 15)}),
    ("Jeopardy.2024.03.15.720p.HDTV.x264-NTb.mkv",
     {"kind": "episode", "title": "Jeopardy", "air_date": datetime.date(2024, 3, 15), "screen_size": "720p",
      "source": "HDTV", "release_group": "NTb"}),
    ("The Daily Show/Season 2024/The Daily Show - 2024-03-15 - Guest.mkv",
     {"kind": "episode", "title": "The Daily Show", "season": 2024, "air_date": datetime.date(2024, 3, 15),
      "episode_title": "Guest"}),
    # anime, absolute numbering
    ("[HorribleSubs] One Piece - 1071 [1080p].mkv",
     {"kind": "episode", "title": "One Piece", "episodes": (1071,), "absolute_episode": 1071, "screen_size": "1080p",
      "release_group": "HorribleSubs"}),
    ("[SubsPlease] Jujutsu Kaisen - 24 (1080p) [ABCD1234].mkv",
     {"kind": "episode", "title": "Jujutsu Kaisen", "episodes": (24,), "absolute_episode": 24, "screen_size": "1080p",
      "release_group": "SubsPlease"}),
    ("Dragon Ball Z - 001 - Title.mkv",
     {"kind": "episode", "title": "Dragon Ball Z", "episodes": (1,), "absolute_episode": 1, "episode_title": "Title"}),
    ("Naruto Shippuden - 001-002.mkv",
     {"kind": "episode", "title": "Naruto Shippuden", "episodes": (1, 2), "absolute_episode": 1}),
    # episode extras
    ("Show/Season 1/Extras/Bloopers.mkv",
     {"kind": "episode", "title": "Show", "season": 1, "is_extra": True, "extra_type": "extra",
      "extra_title": "Bloopers", "episode_title": "Bloopers"}),
    # not video
    ("readme.txt", {"kind": "unknown", "container": None}),
    ("Movie (2010)/movie.nfo", {"kind": "unknown", "container": None}),
]

DEFAULTS = {field.name: field.default for field in attrs.fields(ParsedName)}


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse_name(path: str, expected: dict) -> None:
    parsed = parse_name(path)
    expected = {"container": path.rsplit(".", 1)[-1], **expected}
    actual = attrs.asdict(parsed, recurse=False)
    for name, value in actual.items():
        want = expected.get(name, DEFAULTS[name])
        if isinstance(want, attrs.Factory):
            want = want.factory()
        assert value == want, f"{path}: {name} is {value!r}, expected {want!r}"


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 40


def test_kind_hint_forces_the_reading() -> None:
    as_movie = parse_name("Movies/Show.Name.S01E02.mkv", kind="movie")
    assert as_movie.kind == "movie" and as_movie.episodes == ()
    as_episode = parse_name("Show Name/Pilot.mkv", kind="episode")
    assert as_episode.kind == "episode" and as_episode.title == "Show Name"


def test_windows_separators_and_episode_property() -> None:
    parsed = parse_name("Show Name\\Season 3\\Show Name - S03E07.mkv")
    assert (parsed.title, parsed.season, parsed.episode) == ("Show Name", 3, 7)
    assert parsed.version is None and parse_name("Movie (2010) - 4K.mkv").version == "4K"


@pytest.mark.parametrize("path", ["", "/", "./", ".mkv"])
def test_degenerate_paths_never_raise(path: str) -> None:
    assert parse_name(path).kind in ("unknown", "movie")


@pytest.mark.parametrize(("text", "expected"), [
    ("The.Matrix", "The Matrix"),
    ("Movie_Name_Here", "Movie Name Here"),
    ("Mr. Robot", "Mr. Robot"),
    ("Doctor Who (2005)", "Doctor Who"),
    ("[Group] Show Name [1080p]", "Show Name"),
    ("  spaced   out  ", "spaced out"),
])
def test_clean_title(text: str, expected: str) -> None:
    assert clean_title(text) == expected


@pytest.mark.parametrize(("folder", "season"), [
    ("Season 01", 1), ("Season 1", 1), ("season.12", 12), ("Series 2", 2), ("Staffel 3", 3), ("Saison 4", 4),
    ("S05", 5), ("Specials", 0), ("Season 00", 0), ("Season 2024", 2024), ("Extras", None), ("Show Name", None),
])
def test_season_from_folder(folder: str, season: int | None) -> None:
    assert season_from_folder(folder) == season
