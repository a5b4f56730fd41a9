"""What the fake TheTVDB knows: a handful of series, written for these tests.

TheTVDB publishes its API description without a license, so none of its example payloads are
copied here: every record below was written for Revenge, following the shapes of the v4 spec
(``SeriesExtendedRecord``, ``EpisodeBaseRecord``, ``Character``, ``ArtworkExtendedRecord``...).
Titles, dates, people and ids are facts about the series; overviews, German titles and every
other text are our own. Ids of seasons, episodes, artwork and characters are made up.

The catalogue:

* **Breaking Bad** (TheTVDB 81189, TMDb 1396, IMDb tt0903747): five seasons in aired order (62
  episodes) and 62 specials in season 0, 124 episodes in all; a DVD order beside the aired one;
  German translations of the series and of season 1; posters, backgrounds, banner, ClearLogo,
  ClearArt, season posters; cast, creator, a guest star; ratings for US, DE and GB.
* **Better Call Saul** (273181, TMDb 60059, IMDb tt3032476): one season of 10 episodes.
* **Breaking Badly** (910001): a made-up series whose title is close to Breaking Bad's.
* **Dark** (334824, TMDb 70523, IMDb tt5753856): German original, English translations of
  the series and its 10 episodes.
* **The Nightly Ledger** (920001, made up): a daily show with an episode each weekday of
  2023 and 2024 (seasons by year, 522 episodes), more than one page of 500.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

OFFICIAL = {"id": 1, "name": "Aired Order", "type": "official", "alternateName": None}
DVD = {"id": 2, "name": "DVD Order", "type": "dvd", "alternateName": None}
ARTWORK_TYPES: list[dict[str, Any]] = [
    {"id": id_, "name": name, "recordType": record, "slug": slug, "imageFormat": fmt, "width": w, "height": h,
     "thumbWidth": tw, "thumbHeight": th}
    for id_, name, record, slug, fmt, w, h, tw, th in (
        (1, "Banner", "series", "banners", "JPG", 758, 140, 758, 140),
        (2, "Poster", "series", "posters", "JPG", 680, 1000, 340, 500),
        (3, "Background", "series", "backgrounds", "JPG", 1920, 1080, 640, 360),
        (5, "Icon", "series", "icons", "PNG", 1024, 1024, 512, 512),
        (6, "Banner", "season", "banners", "JPG", 758, 140, 758, 140),
        (7, "Poster", "season", "posters", "JPG", 680, 1000, 340, 500),
        (8, "Background", "season", "backgrounds", "JPG", 1920, 1080, 640, 360),
        (10, "Icon", "season", "icons", "PNG", 1024, 1024, 512, 512),
        (11, "16:9 Screencap", "episode", "screencap", "JPG", 640, 360, 320, 180),
        (12, "4:3 Screencap", "episode", "screencap", "JPG", 640, 480, 320, 240),
        (13, "Photo", "actor", "photo", "JPG", 300, 450, 150, 225),
        (14, "Poster", "movie", "posters", "JPG", 680, 1000, 340, 500),
        (15, "Background", "movie", "backgrounds", "JPG", 1920, 1080, 640, 360),
        (16, "Banner", "movie", "banners", "JPG", 758, 140, 758, 140),
        (18, "Icon", "movie", "icons", "PNG", 1024, 1024, 512, 512),
        (19, "Icon", "company", "icons", "PNG", 1024, 1024, 512, 512),
        (20, "Cinemagraph", "series", "cinemagraphs", "GIF", 1920, 1080, 640, 360),
        (21, "Cinemagraph", "movie", "cinemagraphs", "GIF", 1920, 1080, 640, 360),
        (22, "ClearArt", "series", "clearart", "PNG", 1000, 562, 500, 281),
        (23, "ClearLogo", "series", "clearlogo", "PNG", 800, 310, 400, 155),
        (24, "ClearArt", "movie", "clearart", "PNG", 1000, 562, 500, 281),
        (25, "ClearLogo", "movie", "clearlogo", "PNG", 800, 310, 400, 155),
        (26, "Icon", "award", "icons", "PNG", 1024, 1024, 512, 512),
        (27, "Poster", "list", "posters", "JPG", 680, 1000, 340, 500),
    )
]
"""``/artwork/types``: TheTVDB's artwork types (ids, record types, sizes)."""
_TYPES = {t["id"]: t for t in ARTWORK_TYPES}

_BB_TITLES: dict[int, tuple[str, Sequence[str]]] = {
    1: ("2008-01-20", ("Pilot", "Cat's in the Bag...", "...And the Bag's in the River", "Cancer Man", "Gray Matter",
                       "Crazy Handful of Nothin'", "A No-Rough-Stuff-Type Deal")),
    2: ("2009-03-08", ("Seven Thirty-Seven", "Grilled", "Bit by a Dead Bee", "Down", "Breakage", "Peekaboo",
                       "Negro y Azul", "Better Call Saul", "4 Days Out", "Over", "Mandala", "Phoenix", "ABQ")),
    3: ("2010-03-21", ("No Más", "Caballo sin Nombre", "I.F.T.", "Green Light", "Más", "Sunset", "One Minute",
                       "I See You", "Kafkaesque", "Fly", "Abiquiu", "Half Measures", "Full Measure")),
    4: ("2011-07-17", ("Box Cutter", "Thirty-Eight Snub", "Open House", "Bullet Points", "Shotgun", "Cornered",
                       "Problem Dog", "Hermanos", "Bug", "Salud", "Crawl Space", "End Times", "Face Off")),
    5: ("2012-07-15", ("Live Free or Die", "Madrigal", "Hazard Pay", "Fifty-One", "Dead Freight", "Buyout",
                       "Say My Name", "Gliding Over All", "Blood Money", "Buried", "Confessions", "Rabid Dog",
                       "To'hajiilee", "Ozymandias", "Granite State", "Felina")),
}
_BB_SECOND_HALF = ("2013-08-11", 9)  # season 5 came back a year later, from episode 9
_BB_GERMAN_S1 = ("Der Anfang", "Die Katze im Sack", "Der Sack im Fluss", "Der Krebs-Mann", "Graue Masse",
                 "Eine Handvoll Nichts", "Ein ganz gewöhnliches Geschäft")
_BCS_TITLES = ("Uno", "Mijo", "Nacho", "Hero", "Alpine Shepherd Boy", "Five-O", "Bingo", "RICO", "Pimento", "Marco")
_DARK_TITLES = (("Geheimnisse", "Secrets"), ("Lügen", "Lies"), ("Gestern und Heute", "Past and Present"),
                ("Doppelleben", "Double Lives"), ("Wahrheiten", "Truths"), ("Sic Mundus Creatus Est", None),
                ("Kreuzwege", "Crossroads"), ("Was man sät, das wird man ernten", "As You Sow, So You Shall Reap"),
                ("Alles ist jetzt", "Everything Is Now"), ("Alpha und Omega", "Alpha and Omega"))

LAST_UPDATED = "2024-05-01 12:00:00"


class _Ids:
    """Made-up ids, the same on every run."""

    def __init__(self, start: int):
        self._next = itertools.count(start)

    def __call__(self) -> int:
        return next(self._next)


def image_path(series_id: int, folder: str, ident: int, extension: str = "jpg") -> str:
    """Where an image of the catalogue lives below the artwork host (TheTVDB's v4 layout)."""
    return f"/banners/v4/series/{series_id}/{folder}/{ident:08x}.{extension}"


def thumbnail_path(path: str) -> str:
    stem, _, extension = path.rpartition(".")
    return f"{stem}_t.{extension}"


def artwork(ids: _Ids, series_id: int, type_id: int, *, language: str | None, score: int,
            season_id: int | None = None, includes_text: bool = False) -> dict[str, Any]:
    """An ``ArtworkExtendedRecord`` of the series (or of one of its seasons)."""
    kind = _TYPES[type_id]
    ident = ids()
    folder = kind["slug"] if kind["recordType"] == "series" else f"seasons/{season_id}/{kind['slug']}"
    path = image_path(series_id, folder, ident, "png" if kind["imageFormat"] == "PNG" else "jpg")
    return {"id": ident, "image": path, "thumbnail": thumbnail_path(path), "language": language, "type": type_id,
            "score": score, "width": kind["width"], "height": kind["height"], "thumbnailWidth": kind["thumbWidth"],
            "thumbnailHeight": kind["thumbHeight"], "includesText": includes_text, "seriesId": series_id,
            "seasonId": season_id, "episodeId": None, "movieId": None, "networkId": None, "peopleId": None,
            "seriesPeopleId": None, "updatedAt": 1714564800, "status": {"id": 1, "name": "Approved"},
            "tagOptions": []}


def company(id_: int, name: str, country: str, company_type: int) -> dict[str, Any]:
    """A ``Company``; ``company_type`` 1 network, 2 studio, 3 production company."""
    type_name = {1: "Network", 2: "Studio", 3: "Production Company"}[company_type]
    return {"id": id_, "name": name, "slug": name.lower().replace(" ", "-"), "country": country,
            "primaryCompanyType": company_type, "companyType": {"companyTypeId": company_type,
                                                                "companyTypeName": type_name},
            "activeDate": None, "inactiveDate": None, "aliases": [], "nameTranslations": [],
            "overviewTranslations": [], "parentCompany": {"id": None, "name": None, "relation": {}}, "tagOptions": []}


def character(ids: _Ids, series_id: int, people_type: str, person: str, role: str | None, sort: int, *,
              episode_id: int | None = None) -> dict[str, Any]:
    """A ``Character``: a person's part (actor with the character's name, or crew)."""
    type_ids = {"Director": 1, "Writer": 2, "Actor": 3, "Guest Star": 4, "Crew": 5, "Creator": 6, "Producer": 7,
                "Host": 10, "Executive Producer": 11}
    people_id = 10_000 + sum(map(ord, person)) * 7
    return {"id": ids(), "name": role, "peopleId": people_id, "seriesId": series_id, "movieId": None,
            "episodeId": episode_id, "type": type_ids[people_type], "peopleType": people_type,
            "personName": person, "personImgURL": f"/banners/v4/person/{people_id}/photo/{people_id:08x}.jpg",
            "image": None, "isFeatured": sort < 4, "sort": sort, "url": "", "aliases": [],
            "nameTranslations": [], "overviewTranslations": [], "tagOptions": []}


def season(ids: _Ids, series_id: int, number: int, season_type: dict[str, Any], year: str | None, *,
           with_poster: bool = True) -> dict[str, Any]:
    """A ``SeasonBaseRecord`` of one season type."""
    ident = ids()
    image = image_path(series_id, f"seasons/{ident}/posters", ids()) if with_poster else None
    return {"id": ident, "seriesId": series_id, "number": number, "name": None, "type": dict(season_type),
            "image": image, "imageType": 7 if image else None, "year": year, "lastUpdated": LAST_UPDATED,
            "nameTranslations": [], "overviewTranslations": [], "companies": {}}


def episode(ids: _Ids, series_id: int, season_number: int, number: int, name: str, aired: str | None, *,
            overview: str | None = None, runtime: int | None = 47, absolute: int | None = None,
            still: bool = True, **extra: Any) -> dict[str, Any]:
    """An ``EpisodeBaseRecord`` (the translation lists are filled in by the catalogue)."""
    ident = ids()
    return {"id": ident, "seriesId": series_id, "name": name, "aired": aired, "runtime": runtime,
            "nameTranslations": [], "overview": overview, "overviewTranslations": [],
            "image": f"/banners/v4/episode/{ident}/screencap/{ident:08x}.jpg" if still else None,
            "imageType": 11 if still else None, "isMovie": 0, "seasons": None, "number": number,
            "absoluteNumber": absolute, "seasonNumber": season_number, "lastUpdated": LAST_UPDATED,
            "finaleType": None, "year": aired[:4] if aired else None,
            **{"airsAfterSeason": None, "airsBeforeSeason": None, "airsBeforeEpisode": None, **extra}}


def weekly(start: str, count: int) -> Iterator[str]:
    first = datetime.date.fromisoformat(start)
    for week in range(count):
        yield (first + datetime.timedelta(weeks=week)).isoformat()


def series(ids: _Ids, series_id: int, name: str, *, slug: str, first_aired: str, last_aired: str | None,
           status: str, language: str, country: str, runtime: int, score: int, network: dict[str, Any],
           overview: str, remote: Sequence[tuple[str, int, str]] = (), genres: Sequence[str] = (),
           **extra: Any) -> dict[str, Any]:
    """A ``SeriesExtendedRecord`` without episodes (the catalogue keeps those apart)."""
    status_ids = {"Continuing": 1, "Ended": 2, "Upcoming": 3}
    genre_ids = {"Drama": 1, "Crime": 2, "Thriller": 3, "Comedy": 4, "Mystery": 5, "Science Fiction": 6,
                 "Talk Show": 7, "News": 8}
    record: dict[str, Any] = {
        "id": series_id, "name": name, "slug": slug, "image": None, "firstAired": first_aired,
        "lastAired": last_aired, "nextAired": "", "score": score,
        "status": {"id": status_ids[status], "name": status, "recordType": "series", "keepUpdated": False},
        "originalCountry": country, "originalLanguage": language, "defaultSeasonType": OFFICIAL["id"],
        "isOrderRandomized": False, "lastUpdated": LAST_UPDATED, "averageRuntime": runtime, "episodes": None,
        "overview": overview, "year": first_aired[:4], "country": country, "abbreviation": None,
        "aliases": [], "artworks": [], "characters": [], "companies": [network], "contentRatings": [],
        "genres": [{"id": genre_ids[g], "name": g, "slug": g.lower().replace(" ", "-")} for g in genres],
        "lists": [], "originalNetwork": network, "latestNetwork": network, "trailers": [], "tags": [],
        "remoteIds": [{"id": value, "type": type_id, "sourceName": source} for source, type_id, value in remote],
        "seasons": [], "seasonTypes": [dict(OFFICIAL)], "airsDays": {day: False for day in (
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
        "airsTime": "21:00",
    }
    record.update(extra)
    return record


# --- the series -------------------------------------------------------------------------------------


def breaking_bad(ids: _Ids) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict[int, dict[str, str]]],
                                     dict[str, dict[str, str]]]:
    """Breaking Bad: the record, its episodes, episode translations and series translations."""
    series_id = 81189
    amc = company(18, "AMC", "usa", 1)
    record = series(
        ids, series_id, "Breaking Bad", slug="breaking-bad", first_aired="2008-01-20", last_aired="2013-09-29",
        status="Ended", language="eng", country="usa", runtime=47, score=999_000, network=amc,
        overview="A chemistry teacher with a grim diagnosis turns his skills to cooking methamphetamine "
                 "with a former student, and becomes someone his family would not recognise.",
        remote=[("IMDB", 2, "tt0903747"), ("TheMovieDB.com", 12, "1396"), ("TV Maze", 19, "169")],
        genres=("Drama", "Crime", "Thriller"), aliases=[{"language": "eng", "name": "BrBa"}],
        abbreviation="BB", airsTime="22:00")
    record["airsDays"]["sunday"] = True
    record["companies"] += [company(4471, "Sony Pictures Television", "usa", 3),
                            company(4472, "High Bridge Productions", "usa", 3)]
    record["contentRatings"] = [
        {"id": 12, "name": "TV-MA", "country": "usa", "contentType": "", "order": 6, "fullName": None,
         "description": "Mature audiences only"},
        {"id": 31, "name": "16", "country": "deu", "contentType": "", "order": 3, "fullName": None,
         "description": None},
        {"id": 44, "name": "15", "country": "gbr", "contentType": "", "order": 4, "fullName": None,
         "description": None},
    ]
    seasons = [season(ids, series_id, n, OFFICIAL, year) for n, year in
               ((0, None), (1, "2008"), (2, "2009"), (3, "2010"), (4, "2011"), (5, "2012"))]
    seasons += [season(ids, series_id, n, DVD, None, with_poster=False) for n in range(1, 6)]
    record["seasons"] = seasons
    record["seasonTypes"] = [dict(OFFICIAL), dict(DVD)]
    record["image"] = image_path(series_id, "posters", 0x5F1E0001)
    record["artworks"] = [
        {**artwork(ids, series_id, 2, language="eng", score=100_000), "image": record["image"],
         "thumbnail": thumbnail_path(record["image"])},
        artwork(ids, series_id, 2, language="eng", score=80_000),
        artwork(ids, series_id, 2, language="deu", score=60_000),
        artwork(ids, series_id, 3, language=None, score=90_000),
        artwork(ids, series_id, 3, language="eng", score=70_000, includes_text=True),
        artwork(ids, series_id, 1, language="eng", score=50_000),
        artwork(ids, series_id, 23, language="eng", score=40_000),
        artwork(ids, series_id, 22, language="eng", score=30_000),
        artwork(ids, series_id, 5, language=None, score=20_000),
        artwork(ids, series_id, 20, language=None, score=10_000),
        *(artwork(ids, series_id, 7, language="eng", score=5_000, season_id=s["id"])
          for s in seasons if s["type"]["type"] == "official" and s["number"] > 0),
    ]
    episodes, german = [], {}
    absolute = 0
    for season_number, (start, titles) in _BB_TITLES.items():
        dates = list(weekly(start, len(titles)))
        if season_number == 5:
            first, from_episode = _BB_SECOND_HALF
            dates[from_episode - 1:] = weekly(first, len(titles) - from_episode + 1)
        for number, (title, aired) in enumerate(zip(titles, dates, strict=True), start=1):
            absolute += 1
            found = episode(ids, series_id, season_number, number, title, aired, absolute=absolute,
                            runtime=58 if absolute == 1 else 47,
                            overview=f"Season {season_number}, episode {number} of Breaking Bad.")
            episodes.append(found)
            if season_number == 1:
                german[found["id"]] = {"name": _BB_GERMAN_S1[number - 1],
                                       "overview": f"Staffel 1, Folge {number} von Breaking Bad."}
    specials = [episode(ids, series_id, 0, n, f"Inside Breaking Bad: {e['name']}", e["aired"], runtime=5,
                        overview=f"Behind the scenes of \u201c{e['name']}\u201d.",
                        airsBeforeSeason=e["seasonNumber"], airsBeforeEpisode=e["number"])
                for n, e in enumerate(episodes, start=1)]
    record["characters"] = [
        character(ids, series_id, "Actor", "Bryan Cranston", "Walter White", 0),
        character(ids, series_id, "Actor", "Aaron Paul", "Jesse Pinkman", 1),
        character(ids, series_id, "Actor", "Anna Gunn", "Skyler White", 2),
        character(ids, series_id, "Actor", "Dean Norris", "Hank Schrader", 3),
        character(ids, series_id, "Actor", "Betsy Brandt", "Marie Schrader", 4),
        character(ids, series_id, "Actor", "RJ Mitte", "Walter White Jr.", 5),
        character(ids, series_id, "Creator", "Vince Gilligan", None, 0),
        character(ids, series_id, "Executive Producer", "Mark Johnson", None, 1),
        character(ids, series_id, "Crew", "Dave Porter", None, 2),
        character(ids, series_id, "Guest Star", "Raymond Cruz", "Tuco Salamanca", 20,
                  episode_id=episodes[5]["id"]),
        character(ids, series_id, "Director", "Adam Bernstein", None, 21, episode_id=episodes[1]["id"]),
    ]
    translations = {
        "eng": {"name": "Breaking Bad", "overview": record["overview"], "isPrimary": True},
        "deu": {"name": "Breaking Bad", "overview": "Ein Chemielehrer mit einer düsteren Diagnose kocht mit einem "
                "früheren Schüler Methamphetamin und wird zu jemandem, den seine Familie nicht wiedererkennt."},
        "fra": {"name": "Breaking Bad", "overview": None},
    }
    return record, [*specials, *episodes], {"deu": german}, translations


def better_call_saul(ids: _Ids) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    series_id = 273181
    record = series(
        ids, series_id, "Better Call Saul", slug="better-call-saul", first_aired="2015-02-08",
        last_aired="2022-08-15", status="Ended", language="eng", country="usa", runtime=46, score=640_000,
        network=company(18, "AMC", "usa", 1), genres=("Drama", "Crime"),
        overview="A small-time lawyer's road to becoming a criminal's favourite attorney.",
        remote=[("IMDB", 2, "tt3032476"), ("TheMovieDB.com", 12, "60059")])
    record["seasons"] = [season(ids, series_id, 1, OFFICIAL, "2015")]
    record["image"] = image_path(series_id, "posters", ids())
    dates = list(weekly("2015-02-08", len(_BCS_TITLES)))
    episodes = [episode(ids, series_id, 1, n, title, aired, absolute=n)
                for n, (title, aired) in enumerate(zip(_BCS_TITLES, dates, strict=True), start=1)]
    return record, episodes


def breaking_badly(ids: _Ids) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    series_id = 910001
    record = series(
        ids, series_id, "Breaking Badly", slug="breaking-badly", first_aired="2019-04-02", last_aired="2019-05-07",
        status="Ended", language="eng", country="gbr", runtime=24, score=1_200,
        network=company(9001, "Channel Nowhere", "gbr", 1), genres=("Comedy",),
        overview="Two flatmates try, and fail, to fix everything in their house themselves.")
    record["seasons"] = [season(ids, series_id, 1, OFFICIAL, "2019", with_poster=False)]
    episodes = [episode(ids, series_id, 1, n, f"Part {n}", aired, runtime=24, still=False)
                for n, aired in enumerate(weekly("2019-04-02", 6), start=1)]
    return record, episodes


def dark(ids: _Ids) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict[int, dict[str, str]]],
                              dict[str, dict[str, str]]]:
    series_id = 334824
    record = series(
        ids, series_id, "Dark", slug="dark", first_aired="2017-12-01", last_aired="2020-06-27", status="Ended",
        language="deu", country="deu", runtime=55, score=410_000, network=company(213, "Netflix", "usa", 1),
        genres=("Drama", "Mystery", "Science Fiction"),
        overview="Als in einer Kleinstadt Kinder verschwinden, stoßen vier Familien auf ein Geheimnis, "
                 "das drei Generationen verbindet.",
        remote=[("IMDB", 2, "tt5753856"), ("TheMovieDB.com", 12, "70523")])
    record["seasons"] = [season(ids, series_id, 1, OFFICIAL, "2017")]
    record["image"] = image_path(series_id, "posters", ids())
    record["contentRatings"] = [{"id": 31, "name": "16", "country": "deu", "contentType": "", "order": 3,
                                 "fullName": None, "description": None}]
    episodes, english = [], {}
    for number, (german, title) in enumerate(_DARK_TITLES, start=1):
        found = episode(ids, series_id, 1, number, german, "2017-12-01", absolute=number, runtime=52,
                        overview=f"Staffel 1, Folge {number}.")
        episodes.append(found)
        if title:
            english[found["id"]] = {"name": title, "overview": f"Season 1, episode {number}."}
    translations = {
        "deu": {"name": "Dark", "overview": record["overview"], "isPrimary": True},
        "eng": {"name": "Dark", "overview": "When children go missing in a small town, four families uncover a "
                "secret that binds three generations."},
    }
    return record, episodes, {"eng": english}, translations


def nightly_ledger(ids: _Ids) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A daily show: an episode every weekday, seasons by year, episodes known by their date."""
    series_id = 920001
    record = series(
        ids, series_id, "The Nightly Ledger", slug="the-nightly-ledger", first_aired="2023-01-02",
        last_aired="2024-12-31", status="Continuing", language="eng", country="usa", runtime=22, score=3_400,
        network=company(9002, "Fictional Broadcasting Company", "usa", 1), genres=("Talk Show", "News"),
        overview="A made-up late-night round-up of the day's news, one guest a night.",
        remote=[("IMDB", 2, "tt9200010"), ("TheMovieDB.com", 12, "920001")])
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday"):
        record["airsDays"][day] = True
    record["seasons"] = [season(ids, series_id, year, OFFICIAL, str(year), with_poster=False)
                         for year in (2023, 2024)]
    episodes = []
    for year in (2023, 2024):
        day, number = datetime.date(year, 1, 1), 0
        while day.year == year:
            if day.weekday() < 5:
                number += 1
                episodes.append(episode(ids, series_id, year, number, f"{day:%B} {day.day}, {year}",
                                        day.isoformat(), runtime=22, still=False,
                                        overview="The day's news and one guest."))
            day += datetime.timedelta(days=1)
    return record, episodes
