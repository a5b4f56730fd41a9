"""parse_nfo on hand-written Kodi NFOs, URL-only NFOs, and hostile or broken input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from revenge_hookspecs.media import ArtworkInfo, Credit
from revenge_video.nfo import MAX_NFO_BYTES, NfoActor, ids_from_text, parse_nfo
from revenge_video.testing import make_nfo_episode, make_nfo_movie, make_nfo_season, make_nfo_tvshow

FIXTURES = Path(__file__).parent / "fixtures" / "nfo"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_movie() -> None:
    doc = parse_nfo(load("movie.nfo"))
    assert doc is not None and doc.kind == "movie"
    assert (doc.title, doc.original_title, doc.sort_title) == ("The Quiet Harbour", "Der stille Hafen",
                                                               "Quiet Harbour, The")
    assert (doc.year, doc.premiered, doc.runtime_minutes) == (2019, "2019-06-21", 104)
    assert doc.plot == 'A lighthouse keeper finds a letter that changes "everything" & more.'
    assert (doc.outline, doc.tagline, doc.mpaa) == ("A lighthouse keeper finds a letter.", "Some tides never turn.",
                                                    "Rated PG-13")
    assert doc.genres == ("Drama", "Mystery", "Thriller")
    assert doc.studios == ("Northwind Pictures", "Harbour Films")
    assert doc.countries == ("Germany", "Ireland")
    assert doc.tags == ("lighthouse", "sea")
    assert (doc.set_name, doc.set_overview) == ("Harbour Collection", "Films set by the sea.")
    # the bad id is dropped, <id> and <uniqueid> agree, the default is remembered
    assert doc.ids == {"tmdb": "424242", "imdb": "tt7654321"}
    assert doc.default_id == "tmdb"
    assert doc.directors == ("Cleo Director",)
    assert doc.writers == ("Ann Writer", "Bo Scribe")
    assert doc.user_rating == 8.0


def test_movie_ratings() -> None:
    doc = parse_nfo(load("movie.nfo"))
    assert doc is not None
    by_source = {r.source: r for r in doc.ratings}
    assert set(by_source) == {"themoviedb", "imdb", "metacritic"}  # 42 out of 10 is dropped
    assert by_source["imdb"].value == 7.1  # comma decimal
    assert by_source["metacritic"].out_of_ten == 6.8
    assert doc.rating is by_source["themoviedb"] and doc.rating.votes == 1200 and doc.rating.default


def test_movie_actors_and_credits() -> None:
    doc = parse_nfo(load("movie.nfo"))
    assert doc is not None
    assert doc.actors == (
        NfoActor(name="Dana Lead", role="Keeper", order=0, thumb="https://images.example.org/people/dana.jpg"),
        NfoActor(name="Eli Support", role="Postman", order=1),
    )
    credits = doc.credits()
    assert Credit(name="Dana Lead", role="actor", character="Keeper", order=0,
                  image_url="https://images.example.org/people/dana.jpg") in credits
    assert Credit(name="Cleo Director", role="director") in credits
    assert [c.name for c in credits if c.role == "writer"] == ["Ann Writer", "Bo Scribe"]


def test_movie_art() -> None:
    doc = parse_nfo(load("movie.nfo"))
    assert doc is not None
    kinds = {(a.kind, a.url.rsplit("/", 1)[-1], a.collection) for a in doc.art}
    assert kinds == {
        ("poster", "poster.jpg", False), ("logo", "logo.png", False), ("disc", "disc.png", False),
        ("thumb", "landscape.jpg", False), ("poster", "collection.jpg", True), (None, "character.png", False),
        ("backdrop", "fanart1.jpg", False), ("backdrop", "fanart2.jpg", False),
    }  # the local path is not kept
    poster = next(a for a in doc.art if a.kind == "poster" and not a.collection)
    assert poster.preview == "https://images.example.org/w500/poster.jpg"
    assert doc.fanart == ("https://images.example.org/original/fanart1.jpg",
                          "https://images.example.org/original/fanart2.jpg")
    assert "https://images.example.org/original/collection.jpg" not in doc.thumbs
    artwork = doc.artwork()
    assert ArtworkInfo(kind="logo", url="https://images.example.org/original/logo.png") in artwork
    assert all(a.url != "https://images.example.org/original/collection.jpg" for a in artwork)
    assert all(a.kind is not None for a in artwork)


def test_tvshow() -> None:
    doc = parse_nfo(load("tvshow.nfo"))
    assert doc is not None and doc.kind == "tvshow"
    assert (doc.title, doc.show_title, doc.year, doc.premiered) == ("Lantern Street", "Lantern Street", 2016,
                                                                    "2016-09-12")
    assert doc.season is None and doc.episode is None and doc.display_season is None  # counts, not numbers
    assert doc.ids == {"tvdb": "371234", "imdb": "tt1122334", "tmdb": "98765"}
    assert (doc.status, doc.mpaa, doc.studios) == ("Continuing", "TV-14", ("Channel Nine North",))
    seasons = {a.season: a.url for a in doc.art if a.season is not None}
    assert seasons == {1: "https://images.example.org/season1.jpg", 0: "https://images.example.org/specials.jpg"}
    assert doc.thumbs == ("https://images.example.org/banner.jpg", "https://images.example.org/show-poster.jpg")
    assert doc.fanart == ("https://images.example.org/fanart/original/one.jpg",)


def test_season() -> None:
    doc = parse_nfo(load("season.nfo"))
    assert doc is not None and doc.kind == "season"
    assert (doc.season, doc.title, doc.plot, doc.year) == (1, "The Early Years", "Where it all began.", 2016)
    assert doc.ids == {"tvdb": "654321"}
    assert doc.art == ()  # <art> holds a local path another server wrote: never followed


def test_episode() -> None:
    doc = parse_nfo(load("episode.nfo"))
    assert doc is not None and doc.kind == "episodedetails"
    assert (doc.title, doc.show_title, doc.season, doc.episode) == ("Moving Day", "Lantern Street", 1, 1)
    assert (doc.aired, doc.year, doc.runtime_minutes) == ("2016-09-12", 2016, 44)
    assert doc.ids == {"tvdb": "5550001", "tmdb": "1010101"} and doc.default_id == "tvdb"
    assert doc.rating is not None and (doc.rating.value, doc.rating.votes) == (7.9, 88)
    assert doc.thumbs == ("https://images.example.org/episodes/s01e01.jpg",)
    assert doc.art[0].kind == "thumb"
    assert doc.actors == (NfoActor(name="Ivo Guest", role="Mover", order=5, type="GuestStar"),)
    assert Credit(name="Ivo Guest", role="guest", character="Mover", order=5) in doc.credits()
    assert len(doc.episodes) == 1 and doc.episodes[0].title == "Moving Day"


def test_multi_episode() -> None:
    doc = parse_nfo(load("multi-episode.nfo"))
    assert doc is not None and doc.kind == "episodedetails"
    assert [(e.season, e.episode, e.title, e.aired) for e in doc.episodes] == [
        (2, 5, "The Storm (1)", "2017-10-02"), (2, 6, "The Storm (2)", "2017-10-09")]
    assert (doc.episode, doc.title, doc.ids) == (5, "The Storm (1)", {"tvdb": "5550105"})
    assert doc.episodes[1].ids == {"tvdb": "5550106"}


def test_url_only_radarr() -> None:
    doc = parse_nfo(load("radarr-url.nfo"))
    assert doc is not None
    assert (doc.kind, doc.url_only, doc.ids) == ("movie", True, {"tmdb": "424242", "imdb": "tt7654321"})
    assert doc.title is None


@pytest.mark.parametrize(("text", "kind", "ids"), [
    ("https://www.imdb.com/title/tt0944947/", "movie", {"imdb": "tt0944947"}),
    ("https://www.themoviedb.org/tv/1399-game-of-thrones", "tvshow", {"tmdb": "1399"}),
    ("https://www.thetvdb.com/?tab=series&id=121361", "tvshow", {"tvdb": "121361"}),
    ("https://thetvdb.com/dereferrer/series/121361", "tvshow", {"tvdb": "121361"}),
    ("tt0133093", "movie", {"imdb": "tt0133093"}),
])
def test_url_only_variants(text: str, kind: str, ids: dict) -> None:
    doc = parse_nfo(text)
    assert doc is not None and (doc.kind, doc.ids, doc.url_only) == (kind, ids, True)


def test_combination_nfo_takes_trailing_url_ids() -> None:
    doc = parse_nfo(load("combination.nfo"))
    assert doc is not None and doc.title == "Combined" and doc.ids == {"imdb": "tt0000042"}


def test_ids_from_text() -> None:
    assert ids_from_text("see https://www.themoviedb.org/movie/603-the-matrix") == ({"tmdb": "603"}, "movie")
    assert ids_from_text("nothing here") == ({}, None)


@pytest.mark.parametrize("text", [
    "<movie><title>Broken</title>",  # unclosed
    "<movie><title>a</title></movie><tvshow>",  # junk after the root
    "just some words, no address",
    "",
    "   \n  ",
    b"\xff\xfe\x00",
    "<musicvideo><title>Song</title></musicvideo>",  # not a video kind
    "<artist><name>U</name></artist>",
])
def test_unusable_input_gives_none_and_a_warning(text: str | bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="revenge_video.nfo"):
        assert parse_nfo(text) is None
    assert any(r.levelno == logging.WARNING and "NFO ignored" in r.getMessage() for r in caplog.records)


def test_xxe_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    attacks = [
        f'<?xml version="1.0"?>\n<!DOCTYPE movie [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        "<movie><title>&xxe;</title></movie>",
        '<?xml version="1.0"?>\n<!DOCTYPE movie [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>\n<movie><title>&c;</title></movie>',
        '<!DOCTYPE movie SYSTEM "http://127.0.0.1:9/evil.dtd"><movie><title>x</title></movie>',
    ]
    with caplog.at_level(logging.WARNING, logger="revenge_video.nfo"):
        for attack in attacks:
            assert parse_nfo(attack) is None
            assert parse_nfo(attack.encode()) is None
    assert "TOP-SECRET" not in caplog.text
    assert all("refused" in r.getMessage() for r in caplog.records)


def test_undeclared_entity_is_invalid_xml() -> None:
    assert parse_nfo("<movie><title>&nope;</title></movie>") is None


def test_two_different_roots_use_the_first(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="revenge_video.nfo"):
        doc = parse_nfo("<movie><title>x</title></movie><tvshow><title>y</title></tvshow>")
    assert doc is not None and (doc.kind, doc.title) == ("movie", "x")
    assert "using the first" in caplog.text


def test_oversized_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    padding = "<tag>x</tag>" * (MAX_NFO_BYTES // 12 + 10)
    big = f"<movie><title>Big</title>{padding}</movie>"
    assert len(big.encode()) > MAX_NFO_BYTES
    with caplog.at_level(logging.WARNING, logger="revenge_video.nfo"):
        assert parse_nfo(big) is None
        assert parse_nfo(big.encode()) is None
    assert "limit" in caplog.text
    just_under = f"<movie><title>Fits</title>{'<tag>x</tag>' * 1000}</movie>"
    fits = parse_nfo(just_under)
    assert fits is not None and fits.title == "Fits" and fits.tags == ("x",)


def test_encodings() -> None:
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><movie><title>Amélie</title></movie>'.encode("latin-1")
    assert parse_nfo(latin).title == "Amélie"  # type: ignore[union-attr]
    bom = "\ufeff<movie><title>Amélie</title></movie>".encode()
    assert parse_nfo(bom).title == "Amélie"  # type: ignore[union-attr]
    utf16 = "<movie><title>Amélie</title></movie>".encode("utf-16")
    assert parse_nfo(utf16).title == "Amélie"  # type: ignore[union-attr]


def test_namespaced_and_odd_values() -> None:
    doc = parse_nfo("<movie><title> Spaced </title><year>abc</year><runtime></runtime><premiered>2020-13-45"
                    "</premiered><director>Zack Snyder,</director><uniqueid>tt1234567</uniqueid></movie>")
    assert doc is not None
    assert (doc.title, doc.year, doc.runtime_minutes, doc.premiered) == ("Spaced", None, None, None)
    assert doc.directors == ("Zack Snyder",)
    assert doc.ids == {"unknown": "tt1234567"}


def test_writers_round_trip(tmp_path: Path) -> None:
    """The NFO writers of revenge_video.testing produce files parse_nfo reads back."""
    movie = make_nfo_movie(tmp_path / "movie.nfo", title="Round & Trip", year=2001,
                           ids={"tmdb": "1", "imdb": "tt0000001"}, plot="<b>bold</b>", genres=["Drama"],
                           actors=[("A", "B")], set_name="Set", rating=6.5,
                           posters=["https://x.example/p.jpg"], fanart=["https://x.example/f.jpg"],
                           directors=["D"], writers=["W"], runtime=90)
    doc = parse_nfo(movie.read_bytes())
    assert doc is not None
    assert (doc.title, doc.year, doc.plot, doc.set_name, doc.runtime_minutes) == ("Round & Trip", 2001, "<b>bold</b>",
                                                                                  "Set", 90)
    assert (doc.ids, doc.default_id, doc.genres) == ({"tmdb": "1", "imdb": "tt0000001"}, "tmdb", ("Drama",))
    assert doc.rating is not None and doc.rating.value == 6.5
    assert (doc.thumbs, doc.fanart) == (("https://x.example/p.jpg",), ("https://x.example/f.jpg",))
    assert (doc.directors, doc.writers, doc.actors[0].role) == (("D",), ("W",), "B")

    show = parse_nfo(make_nfo_tvshow(tmp_path / "tvshow.nfo", title="S", ids={"tvdb": "7"}).read_text())
    assert show is not None and (show.kind, show.ids) == ("tvshow", {"tvdb": "7"})
    season = parse_nfo(make_nfo_season(tmp_path / "season.nfo", season=0, title="Specials").read_text())
    assert season is not None and (season.kind, season.season) == ("season", 0)
    episodes = parse_nfo(make_nfo_episode(tmp_path / "e.nfo", title="Two", season=1, episode=[3, 4],
                                          ids={"tvdb": "9"}).read_text())
    assert episodes is not None and [(e.episode, e.title) for e in episodes.episodes] == [(3, "Two (3)"),
                                                                                          (4, "Two (4)")]
