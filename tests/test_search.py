"""The search service on SQLite, PostgreSQL and Typesense, against the real engines.

Behaviour tests run four times: the database index as primary on SQLite and on
PostgreSQL, and Typesense as primary on top of each. Outages are real too: a second
Typesense server that is stopped, a closed port, and a TCP relay in front of Typesense
that the test cuts or makes hang.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from revenge_core.db.database import Database
from revenge_core.db.migrate import core_set, downgrade, upgrade
from revenge_core.plugins.registry import Registry
from revenge_core.search import SearchService
from revenge_core.search.dbindex import table_name
from revenge_hookspecs.types import SearchDocumentType, SearchField
from tests.fixtures import make_config
from tests.servers import TypesenseServer, free_port

MOVIES: list[dict[str, Any]] = [
    {"id": "1", "title": "The Matrix", "year": 1999, "rating": 8.7, "genres": ["Action", "Sci-Fi"],
     "overview": "A hacker learns that his world is a simulation.", "hd": True, "poster": "/p/1.jpg",
     "not_declared": "dropped"},
    {"id": "2", "title": "The Matrix Reloaded", "year": 2003, "rating": 7.2, "genres": ["Action", "Sci-Fi"],
     "overview": "Neo and the rebels fight on.", "hd": True, "poster": "/p/2.jpg"},
    {"id": "3", "title": "The Matrix Revolutions", "year": 2003, "rating": 6.8, "genres": ["Action", "Sci-Fi"],
     "overview": "The war for Zion ends.", "hd": False, "poster": "/p/3.jpg"},
    {"id": "4", "title": "The Lord of the Rings", "year": 2001, "rating": 8.9, "genres": ["Adventure", "Fantasy"],
     "overview": "A hobbit sets out to destroy a ring.", "hd": True, "poster": "/p/4.jpg"},
    {"id": "5", "title": "The Godfather", "year": 1972, "rating": 9.2, "genres": ["Crime", "Drama"],
     "overview": "A crime family's patriarch hands over his empire.", "hd": False, "poster": "/p/5.jpg"},
    {"id": "6", "title": "Amélie", "year": 2001, "rating": 8.3, "genres": ["Comedy", "Romance"],
     "overview": "A shy waitress in Paris changes lives.", "hd": True, "poster": "/p/6.jpg"},
    {"id": "7", "title": "Spirited Away", "year": 2001, "rating": 8.6, "genres": ["Animation", "Fantasy"],
     "overview": "A girl wanders into a world of spirits.", "hd": True, "poster": "/p/7.jpg"},
    {"id": "8", "title": "Up", "year": 2009, "rating": 8.3, "genres": ["Animation", "Adventure"],
     "overview": "An old man ties balloons to his house.", "hd": True, "poster": "/p/8.jpg"},
    {"id": "9", "title": "Lord of War", "year": 2005, "rating": 7.6, "genres": ["Crime", "Drama"],
     "overview": "An arms dealer confronts the morality of his work.", "hd": True, "poster": "/p/9.jpg"},
]
SHOWS: list[dict[str, Any]] = [
    {"id": "s1", "title": "The Wire", "year": 2002, "network": "HBO"},
    {"id": "s2", "title": "Breaking Bad", "year": 2008, "network": "AMC"},
]
BROWSE_ORDER = ["6", "9", "7", "5", "4", "1", "2", "3", "8"]  # by normalised title


def ids(answer: dict[str, Any]) -> list[str]:
    return [hit["id"] for hit in answer["hits"]]


def movie_type(catalog: list[dict[str, Any]] | None = None) -> SearchDocumentType:
    async def load_all():
        for movie in list(catalog or ()):
            yield movie

    return SearchDocumentType(
        "movie",
        fields=(
            SearchField("year", "int", facet=True),
            SearchField("rating", "float", facet=True),
            SearchField("genres", "string[]", searchable=True, facet=True),
            SearchField("overview", "string", searchable=True),
            SearchField("hd", "bool", facet=True),
            SearchField("poster"),
        ),
        load_all=load_all if catalog is not None else None,
    )


SHOW = SearchDocumentType("show", fields=(SearchField("year", "int", facet=True),
                                          SearchField("network", "string", facet=True)))


@pytest.fixture
def catalog() -> list[dict[str, Any]]:
    """What the movie plugin would load from its own tables for a reindex."""
    return [dict(movie) for movie in MOVIES]


@pytest.fixture
def registry(catalog: list[dict[str, Any]]) -> Registry:
    registry = Registry()
    registry.replace("testplugin", {"search_documents": [movie_type(catalog), SHOW]})
    return registry


@pytest.fixture(params=["database", "typesense"])
def primary(request: pytest.FixtureRequest) -> str:
    """Run once with the database index as primary and once with Typesense."""
    return request.param


def search_config(tmp_path: Path, database: Database, **search: Any):
    return make_config(tmp_path, database.driver, database.config.database.url or None, search=search)


@pytest.fixture
async def service(request: pytest.FixtureRequest, primary: str, database: Database, registry: Registry,
                  tmp_path: Path):
    config = database.config
    if primary == "typesense":
        ts = request.getfixturevalue("typesense")
        config = search_config(tmp_path, database, url=ts.url, api_key=ts.api_key)
    search = SearchService(config, database, registry)
    await search.start()
    yield search
    await search.close()


@pytest.fixture
def expected_backend(primary: str, database: Database) -> str:
    return "typesense" if primary == "typesense" else database.driver


def typesense_documents(server: TypesenseServer, doc_type: str) -> int | None:
    """How many documents Typesense itself holds for a type (None: no collection)."""
    request = urllib.request.Request(f"{server.url}/collections/revenge_{doc_type}",
                                     headers={"X-TYPESENSE-API-KEY": server.api_key})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["num_documents"]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


async def stored_in_database(database: Database, doc_type: str) -> set[str]:
    table = table_name(database.database, "search_documents")
    param = database.database.param

    def run() -> set[str]:
        cursor = database.database.execute_sql(f"SELECT doc_id FROM {table} WHERE doc_type = {param}", (doc_type,))
        return {row[0] for row in cursor.fetchall()}

    return await database.run(run)


# --- indexing -----------------------------------------------------------------------------------


async def test_index_and_search(service: SearchService, expected_backend: str, primary: str,
                                request: pytest.FixtureRequest) -> None:
    assert service.backend == expected_backend
    await service.index("movie", MOVIES)

    answer = await service.search("godfather")

    assert answer["backend"] == expected_backend
    assert answer["degraded"] is False
    assert ids(answer)[0] == "5"
    hit = answer["hits"][0]
    assert hit["type"] == "movie"
    assert hit["title"] == "The Godfather"
    assert isinstance(hit["score"], float)
    assert {k: hit[k] for k in ("year", "rating", "genres", "hd", "poster")} == {
        "year": 1972, "rating": 9.2, "genres": ["Crime", "Drama"], "hd": False, "poster": "/p/5.jpg"}
    assert "not_declared" not in (await service.search("the matrix"))["hits"][0]
    assert await stored_in_database(service.db, "movie") == {m["id"] for m in MOVIES}
    if primary == "typesense":
        assert typesense_documents(request.getfixturevalue("typesense"), "movie") == len(MOVIES)


async def test_upsert_replaces_a_document(service: SearchService, primary: str,
                                          request: pytest.FixtureRequest) -> None:
    await service.index("movie", MOVIES)
    await service.index("movie", [{"id": "5", "title": "The Conversation", "year": 1974, "genres": ["Thriller"]}])

    assert ids(await service.search("godfather")) == []
    replaced = await service.search("conversation")
    assert ids(replaced) == ["5"]
    assert replaced["hits"][0]["year"] == 1974
    assert "poster" not in replaced["hits"][0]  # the old document's fields do not linger
    assert (await service.search(""))["found"] == len(MOVIES)
    if primary == "typesense":
        assert typesense_documents(request.getfixturevalue("typesense"), "movie") == len(MOVIES)


async def test_delete(service: SearchService, primary: str, request: pytest.FixtureRequest) -> None:
    await service.index("movie", MOVIES)

    await service.delete("movie", ["1", "2", "no-such-id"])

    assert ids(await service.search("matrix")) == ["3"]
    assert (await service.search(""))["found"] == len(MOVIES) - 2
    assert await stored_in_database(service.db, "movie") == {m["id"] for m in MOVIES} - {"1", "2"}
    if primary == "typesense":
        assert typesense_documents(request.getfixturevalue("typesense"), "movie") == len(MOVIES) - 2


async def test_ids_with_odd_characters(service: SearchService) -> None:
    await service.index("movie", [{"id": "a/b?c d`", "title": "Odd One"}, {"id": 42, "title": "Numbered"}])

    assert ids(await service.search("odd one")) == ["a/b?c d`"]
    assert ids(await service.search("numbered")) == ["42"]
    await service.delete("movie", ["a/b?c d`", "42"])
    assert (await service.search(""))["found"] == 0


async def test_concurrent_searches_and_writes(service: SearchService) -> None:
    await service.index("movie", MOVIES[:5])

    results = await asyncio.gather(
        *(service.search(query) for query in ("matrx", "godfathr", "lord of the rngs") * 4),
        service.index("movie", MOVIES[5:]),
        service.delete("movie", ["2"]),
    )

    firsts = {ids(answer)[0] for answer in results[:12]}
    assert firsts == {"1", "5", "4"}
    assert (await service.search(""))["found"] == len(MOVIES) - 1


# --- finding things -----------------------------------------------------------------------------


async def test_typos_accents_and_case_still_find_the_title(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    for query, expected in [
        ("matrx", "1"),
        ("lord of the rngs", "4"),
        ("godfathr", "5"),
        ("spirted away", "7"),
        ("amelie", "6"),
        ("AMÉLIE!", "6"),
        ("up", "8"),
        ('"the matrix"', "1"),  # Typesense's operators are plain text here
        ("-matrix", "1"),
    ]:
        answer = await service.search(query)
        assert ids(answer)[:1] == [expected], (query, answer["hits"])


async def test_junk_finds_nothing(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    for query in ("xylophone", "qqqq", "zebra crossing"):
        answer = await service.search(query)
        assert (ids(answer), answer["found"]) == ([], 0), query
    assert (await service.search("?!"))["found"] == 0


async def test_exact_title_ranks_first(service: SearchService) -> None:
    # The sequels come first in storage, so the order cannot come from insertion.
    await service.index("movie", list(reversed(MOVIES)))

    assert ids(await service.search("the matrix")) == ["1", "2", "3"]
    assert ids(await service.search("matrix"))[0] == "1"
    assert ids(await service.search("the matrix reloaded"))[0] == "2"
    assert ids(await service.search("lord of war"))[0] == "9"


async def test_searchable_fields_are_searched(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    assert "1" in ids(await service.search("simulation"))
    assert set(ids(await service.search("fantasy"))) >= {"4", "7"}
    # Fields that are not searchable do not match.
    assert ids(await service.search("p 1 jpg")) == []


# --- filters, facets, pages ---------------------------------------------------------------------


async def test_filters(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    for filters, expected in [
        ({"year": 2001}, {"4", "6", "7"}),
        ({"year": [1999, 2009]}, {"1", "8"}),
        ({"genres": "Fantasy"}, {"4", "7"}),
        ({"genres": ["Crime", "Comedy"]}, {"5", "6", "9"}),
        ({"year": {"min": 2001, "max": 2003}}, {"2", "3", "4", "6", "7"}),
        ({"year": {"min": 2005}}, {"8", "9"}),
        ({"rating": {"max": 7.0}}, {"3"}),
        ({"hd": False}, {"3", "5"}),
        ({"genres": "Animation", "year": {"max": 2005}}, {"7"}),
        ({"genres": "Western"}, set()),
    ]:
        answer = await service.search("", filters=filters)
        assert (set(ids(answer)), answer["found"]) == (expected, len(expected)), filters


async def test_filters_combine_with_a_query(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    answer = await service.search("matrix", filters={"year": 2003})

    assert sorted(ids(answer)) == ["2", "3"]


async def test_facets_count_every_match_not_just_the_page(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    answer = await service.search("matrix", facets=["year", "genres", "hd"], per_page=1)

    assert answer["found"] == 3
    assert len(answer["hits"]) == 1
    assert answer["facets"] == {
        "year": {"2003": 2, "1999": 1},
        "genres": {"Action": 3, "Sci-Fi": 3},
        "hd": {"true": 2, "false": 1},
    }
    everything = await service.search("", facets=["genres"], filters={"year": 2001})
    assert everything["facets"]["genres"] == {"Fantasy": 2, "Adventure": 1, "Animation": 1, "Comedy": 1,
                                              "Romance": 1}


async def test_found_and_facets_count_every_match_of_a_broad_query(database: Database, registry: Registry) -> None:
    # More matches than the SQLite index once scored (500): found and facets were capped there.
    harbors = [{"id": f"h{n}", "title": f"The Harbor {n}", "year": 2000 + n % 3,
                "genres": ["Drama"] if n % 4 else ["Drama", "War"], "hd": n % 2 == 0} for n in range(620)]
    others = [{"id": f"o{n}", "title": f"Quiet Forest {n}", "year": 2000, "genres": ["Drama"]} for n in range(50)]
    service = SearchService(database.config, database, registry)
    await service.start()
    try:
        await service.index("movie", harbors + others)

        answer = await service.search("harbr", facets=["year", "genres", "hd", "type"], per_page=7, page=3)

        assert answer["backend"] == database.driver
        assert answer["found"] == 620
        assert len(answer["hits"]) == 7
        assert all(hit["id"].startswith("h") for hit in answer["hits"])
        assert answer["facets"] == {
            "year": {"2000": 207, "2001": 207, "2002": 206},
            "genres": {"Drama": 620, "War": 155},
            "hd": {"false": 310, "true": 310},
            "type": {"movie": 620},
        }
        last = await service.search("harbr", per_page=100, page=7)
        assert (last["found"], len(last["hits"])) == (620, 20)
        narrowed = await service.search("harbr", facets=["genres"], filters={"year": 2001}, per_page=1)
        assert narrowed["found"] == 207
        assert narrowed["facets"]["genres"] == {"Drama": 207, "War": 52}
    finally:
        await service.close()


async def test_sqlite_facets_read_only_the_matched_documents(tmp_path: Path, registry: Registry) -> None:
    """The facet queries start from the matched ids and look documents up by primary key."""
    from revenge_core.search.dbindex import SqliteIndex
    from revenge_core.search.documents import Facet

    database = Database(make_config(tmp_path, "sqlite"))
    upgrade(database.database, core_set())
    try:
        index = SqliteIndex(database)
        cte = "WITH matched AS (SELECT id, score FROM temp.revenge_search_matched)"

        def plans() -> list[str]:
            database.database.execute_sql("CREATE TEMP TABLE IF NOT EXISTS revenge_search_matched "
                                          "(id INTEGER PRIMARY KEY, score REAL NOT NULL)")
            found = []
            for facet in (Facet("year", "int"), Facet("genres", "string[]")):
                sql, params = index._facet_sql(facet)
                rows = database.database.execute_sql(f"EXPLAIN QUERY PLAN {cte} {sql}", [*params, 10]).fetchall()
                found.append(" | ".join(row[-1] for row in rows))
            sql, params = index._type_facet_sql()
            rows = database.database.execute_sql(f"EXPLAIN QUERY PLAN {cte} {sql}", [*params, 10]).fetchall()
            return [*found, " | ".join(row[-1] for row in rows)]

        for plan in await database.run(plans):
            assert "SEARCH d USING INTEGER PRIMARY KEY" in plan, plan
            assert "SCAN d" not in plan, plan
    finally:
        database.close()


async def test_pagination(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    pages = [await service.search("", doc_types=["movie"], page=page, per_page=4) for page in (1, 2, 3, 4)]

    assert [ids(p) for p in pages] == [BROWSE_ORDER[0:4], BROWSE_ORDER[4:8], BROWSE_ORDER[8:], []]
    assert [p["found"] for p in pages] == [9, 9, 9, 9]
    assert [(p["page"], p["per_page"]) for p in pages] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    second = await service.search("matrix", page=2, per_page=2)
    assert (ids(second), second["found"]) == (["3"], 3)


async def test_several_document_types(service: SearchService) -> None:
    await service.index("movie", MOVIES)
    await service.index("show", SHOWS)

    assert [(h["type"], h["id"]) for h in (await service.search("the wire"))["hits"]][:1] == [("show", "s1")]
    assert ids(await service.search("breaking bad", doc_types=["movie"])) == []
    everything = await service.search("", facets=["year"], per_page=20)
    assert everything["found"] == len(MOVIES) + len(SHOWS)
    assert everything["facets"]["year"]["2001"] == 3
    assert everything["facets"]["year"]["2002"] == 1
    # A filter on a field only shows have leaves the movies out.
    assert ids(await service.search("", filters={"network": "HBO"})) == ["s1"]
    merged = await service.search("", page=2, per_page=5)
    assert len(merged["hits"]) == 5
    assert merged["found"] == 11
    # What Typesense cannot express, the database index answers, and that is no outage.
    for answer in (await service.search("", page=30, per_page=10),
                   await service.search("", filters={"network": "H`B`O"})):
        assert (answer["hits"], answer["degraded"]) == ([], False)
    assert (await service.search("", page=30, per_page=10))["found"] == 11


# --- libraries ----------------------------------------------------------------------------------

LIBRARY_OF = {"1": "lib-a", "2": "lib-a", "3": "lib-b", "4": "lib-b", "5": "lib-a", "6": "lib-b", "7": "lib-a",
              "8": "lib-b", "9": "lib-a"}
PERSON = SearchDocumentType("person", fields=(SearchField("year", "int", facet=True),))
PEOPLE: list[dict[str, Any]] = [{"id": "p1", "title": "Keanu Reeves", "year": 1964},
                                {"id": "p2", "title": "Carrie-Anne Moss", "year": 1967}]


def in_libraries(movies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**movie, "library_id": LIBRARY_OF[movie["id"]]} for movie in movies]


def year_counts(movie_ids: set[str], people: bool) -> dict[str, int]:
    years = [m["year"] for m in MOVIES if m["id"] in movie_ids] + ([p["year"] for p in PEOPLE] if people else [])
    counts = {str(year): years.count(year) for year in set(years)}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class TestLibraries:
    """Documents carry the library they belong to; searches keep to the libraries they are given."""

    @pytest.fixture
    def registry(self, catalog: list[dict[str, Any]]) -> Registry:
        registry = Registry()
        registry.replace("testplugin", {"search_documents": [movie_type(catalog), SHOW, PERSON]})
        return registry

    @pytest.fixture
    async def indexed(self, service: SearchService) -> SearchService:
        await service.index("movie", in_libraries(MOVIES))
        await service.index("person", PEOPLE)
        return service

    async def test_hits_totals_and_facets_keep_to_the_libraries(self, indexed: SearchService,
                                                                expected_backend: str) -> None:
        in_a = {i for i, library in LIBRARY_OF.items() if library == "lib-a"}
        for kwargs, movies, people in [
            ({}, set(LIBRARY_OF), True),
            ({"library_ids": {"lib-a"}}, in_a, True),
            ({"library_ids": ["lib-a"], "include_unscoped": False}, in_a, False),
            ({"library_ids": ["lib-a", "lib-b", "lib-c"]}, set(LIBRARY_OF), True),
            ({"library_ids": []}, set(), True),
            ({"library_ids": "lib-c"}, set(), True),
            ({"include_unscoped": False}, set(LIBRARY_OF), False),
        ]:
            # One hit per page: the total and the facets must come from every match, not the page.
            answer = await indexed.search("", facets=["year"], per_page=1, **kwargs)
            assert (answer["backend"], answer["degraded"]) == (expected_backend, False)
            expected = len(movies) + (len(PEOPLE) if people else 0)
            assert answer["found"] == expected, kwargs
            assert answer["facets"] == {"year": year_counts(movies, people)}, kwargs
            everything = await indexed.search("", per_page=50, **kwargs)
            assert set(ids(everything)) == movies | ({"p1", "p2"} if people else set()), kwargs

        nothing = await indexed.search("", library_ids=[], include_unscoped=False, facets=["year"])
        assert (nothing["hits"], nothing["found"], nothing["facets"]) == ([], 0, {"year": {}})

    async def test_text_searches_keep_to_the_libraries(self, indexed: SearchService, expected_backend: str) -> None:
        scoped = await indexed.search("matrx", library_ids={"lib-a"})
        assert (ids(scoped), scoped["backend"], scoped["degraded"]) == (["1", "2"], expected_backend, False)
        assert ids(await indexed.search("matrx", library_ids={"lib-b"})) == ["3"]
        answer = await indexed.search("matrix", library_ids={"lib-b"}, facets=["genres"])
        assert (answer["found"], answer["facets"]) == (1, {"genres": {"Action": 1, "Sci-Fi": 1}})
        assert ids(await indexed.search("keanu", library_ids=[])) == ["p1"]
        assert ids(await indexed.search("keanu", library_ids=["lib-a"], include_unscoped=False)) == []
        assert ids(await indexed.search("matrix", library_ids={"lib-a"}, filters={"year": 2003})) == ["2"]

    async def test_type_facet_counts_matches_per_document_type(self, indexed: SearchService,
                                                               expected_backend: str) -> None:
        await indexed.index("show", [{**SHOWS[0], "library_id": "lib-a"}, {**SHOWS[1], "library_id": "lib-b"}])
        for kwargs, expected in [
            ({}, {"movie": 9, "person": 2, "show": 2}),
            # The libraries, the filters and the query narrow it as they narrow the hits.
            ({"library_ids": {"lib-a"}}, {"movie": 5, "person": 2, "show": 1}),
            ({"library_ids": ["lib-b"], "include_unscoped": False}, {"movie": 4, "show": 1}),
            ({"library_ids": []}, {"person": 2}),
            ({"library_ids": [], "include_unscoped": False}, {}),
            ({"filters": {"year": 2001}}, {"movie": 3}),
            ({"filters": {"year": 2001}, "library_ids": {"lib-a"}}, {"movie": 1}),
            ({"filters": {"year": {"min": 2002}}}, {"movie": 4, "show": 2}),
            ({"filters": {"year": {"min": 2002}}, "library_ids": {"lib-b"}, "include_unscoped": False},
             {"movie": 2, "show": 1}),
            ({"filters": {"year": {"max": 1970}}}, {"person": 2}),
            ({"filters": {"network": "HBO"}}, {"show": 1}),  # only shows have the field
            ({"doc_types": ["show", "person"]}, {"person": 2, "show": 2}),
            ({"query": "matrix"}, {"movie": 3}),
            ({"query": "matrx", "library_ids": {"lib-b"}}, {"movie": 1}),
        ]:
            query = kwargs.pop("query", "")
            # One hit per page: the counts come from every match, not the page.
            answer = await indexed.search(query, facets=["type"], per_page=1, **kwargs)
            assert (answer["backend"], answer["degraded"]) == (expected_backend, False), kwargs
            assert answer["facets"] == {"type": expected}, (query, kwargs)
            assert list(answer["facets"]["type"]) == list(expected), "most frequent first, ties by name"
            assert answer["found"] == sum(expected.values()), (query, kwargs)

        both = await indexed.search("", facets=["year", "type"], library_ids={"lib-b"}, include_unscoped=False)
        assert both["facets"] == {"year": {"2001": 2, "2003": 1, "2008": 1, "2009": 1},
                                  "type": {"movie": 4, "show": 1}}

    async def test_hits_carry_their_library(self, indexed: SearchService) -> None:
        [movie] = (await indexed.search("godfather"))["hits"][:1]
        assert movie["library_id"] == "lib-a"
        [person] = (await indexed.search("keanu reeves"))["hits"][:1]
        assert (person["id"], "library_id" in person) == ("p1", False)

    async def test_a_document_can_move_between_libraries(self, indexed: SearchService) -> None:
        await indexed.index("movie", [{**MOVIES[0], "library_id": "lib-b"}])
        await indexed.index("person", [{**PEOPLE[0], "library_id": "lib-a"}])

        assert ids(await indexed.search("matrx", library_ids={"lib-b"})) == ["1", "3"]
        assert ids(await indexed.search("keanu", library_ids={"lib-b"})) == []
        assert ids(await indexed.search("keanu", library_ids={"lib-a"})) == ["p1"]
        await indexed.index("person", [PEOPLE[0]])  # without one: in no library again
        assert ids(await indexed.search("keanu", library_ids={"lib-b"})) == ["p1"]

    async def test_reindex_keeps_the_library(self, service: SearchService, catalog: list[dict[str, Any]],
                                             primary: str, request: pytest.FixtureRequest) -> None:
        await service.index("movie", MOVIES)  # indexed before libraries existed
        catalog[:] = in_libraries(MOVIES)

        await service.reindex(["movie"])

        answer = await service.search("", library_ids={"lib-b"}, per_page=50)
        assert (sorted(ids(answer)), answer["degraded"]) == (["3", "4", "6", "8"], False)
        assert {hit["library_id"] for hit in answer["hits"]} == {"lib-b"}
        if primary == "typesense":
            assert typesense_documents(request.getfixturevalue("typesense"), "movie") == len(MOVIES)

    async def test_library_ids_typesense_cannot_quote_are_answered_by_the_database(
            self, indexed: SearchService) -> None:
        await indexed.index("movie", [{"id": "10", "title": "Odd Library", "library_id": "odd`one"}])

        answer = await indexed.search("odd library", library_ids={"odd`one"}, include_unscoped=False)

        assert (ids(answer), answer["degraded"]) == (["10"], False)

    async def test_bad_libraries_are_refused(self, indexed: SearchService) -> None:
        for value, message in [(5.5, "'library_id' must be text, got 5.5"), ("", "'library_id' must be text"),
                               ("x" * 256, "'library_id' is longer than 255 characters")]:
            with pytest.raises(ValueError, match=message):
                await indexed.index("movie", [{"id": "10", "title": "Bad", "library_id": value}])
        for library_ids, message in [([None], "library_ids must hold library ids"),
                                     ({"lib": 1}, "library_ids must be a collection"),
                                     (3.0, "library_ids must be a collection")]:
            with pytest.raises(ValueError, match=message):
                await indexed.search("", library_ids=library_ids)
        with pytest.raises(ValueError, match="include_unscoped must be true or false"):
            await indexed.search("", include_unscoped=None)
        await indexed.index("movie", [{"id": "10", "title": "Numbered Library", "library_id": 7}])
        # An integer id is the text "7", on documents and in searches.
        assert ids(await indexed.search("", library_ids=[7], include_unscoped=False)) == ["10"]
        assert ids(await indexed.search("", library_ids=["7"], include_unscoped=False)) == ["10"]


# --- errors -------------------------------------------------------------------------------------


async def test_unknown_types_and_fields_are_errors(service: SearchService) -> None:
    await service.index("movie", MOVIES)

    with pytest.raises(ValueError, match=r"unknown search document type 'album'.*movie, show"):
        await service.index("album", [{"id": "1", "title": "Kind of Blue"}])
    with pytest.raises(ValueError, match="unknown search document type 'album'"):
        await service.search("x", doc_types=["album"])
    with pytest.raises(ValueError, match="unknown search document type"):
        await service.delete("album", ["1"])
    with pytest.raises(ValueError, match="no such facet field in movie, show"):
        await service.search("x", filters={"director": "Coppola"})
    with pytest.raises(ValueError, match="'overview': it is not a facet field of movie"):
        await service.search("x", filters={"overview": "ring"})
    with pytest.raises(ValueError, match="no such facet field in show"):
        await service.search("x", doc_types=["show"], filters={"genres": "Drama"})
    with pytest.raises(ValueError, match="cannot count facets by 'title; drop table'"):
        await service.search("x", facets=["title; drop table"])
    # "type" is a facet, not a filter field: document types are chosen with doc_types.
    with pytest.raises(ValueError, match="cannot filter by 'type': no such facet field in movie, show"):
        await service.search("x", filters={"type": "movie"})
    with pytest.raises(ValueError, match="cannot count facets by 'Type'"):
        await service.search("x", facets=["Type"])
    with pytest.raises(ValueError, match="expected int values"):
        await service.search("x", filters={"year": "1999"})
    with pytest.raises(ValueError, match=r"ranges .* only work on int and float"):
        await service.search("x", filters={"genres": {"min": "A"}})
    with pytest.raises(ValueError, match="'min' and/or 'max'"):
        await service.search("x", filters={"year": {"from": 1990}})
    with pytest.raises(ValueError, match="per_page must be between 1 and 250"):
        await service.search("x", per_page=0)
    with pytest.raises(ValueError, match="page must be"):
        await service.search("x", page=0)
    # A bad document rejects the whole call before anything is written.
    with pytest.raises(ValueError, match="movie/10: field 'year' must be int"):
        await service.index("movie", [{"id": "10", "title": "Ok"}, {"id": "10", "title": "Bad", "year": "x"}])
    with pytest.raises(ValueError, match="needs an 'id'"):
        await service.index("movie", [{"title": "No id"}])
    assert (await service.search(""))["found"] == len(MOVIES)


async def test_reserved_field_names_are_refused(database: Database) -> None:
    registry = Registry()
    registry.replace("testplugin", {"search_documents": [
        SearchDocumentType("clip", fields=(SearchField("score", "float"),))]})
    search = SearchService(database.config, database, registry)

    with pytest.raises(ValueError, match="declares the field 'score', which is reserved"):
        await search.index("clip", [{"id": "1", "title": "A", "score": 1.0}])
    registry.replace("testplugin", {"search_documents": [
        SearchDocumentType("clip", fields=(SearchField("library_id", "string"),))]})
    with pytest.raises(ValueError, match="declares the field 'library_id', which is reserved"):
        await search.index("clip", [{"id": "1", "title": "A"}])
    registry.replace("testplugin", {"search_documents": [
        SearchDocumentType("clip", fields=(SearchField("type", "string", facet=True),))]})
    with pytest.raises(ValueError, match="declares the field 'type', which is reserved"):
        await search.search("", doc_types=["clip"], facets=["type"])
    # Searching everything leaves the broken type out instead of failing.
    assert (await search.search(""))["found"] == 0


# --- reindex ------------------------------------------------------------------------------------


async def test_reindex_rebuilds_from_load_all(service: SearchService, catalog: list[dict[str, Any]],
                                              primary: str, request: pytest.FixtureRequest) -> None:
    await service.index("movie", [{"id": "gone", "title": "Deleted Meanwhile"}, *MOVIES[:2]])
    await service.index("show", SHOWS)
    catalog[0] = {**catalog[0], "title": "The Matrix Remastered"}
    del catalog[-1]

    counts = await service.reindex()

    assert counts == {"movie": len(MOVIES) - 1, "show": len(SHOWS)}
    assert ids(await service.search("deleted meanwhile")) == []
    assert ids(await service.search("remastered")) == ["1"]
    assert "9" not in ids(await service.search("lord of war"))
    assert ids(await service.search("breaking bad")) == ["s2"]  # no load_all: kept as indexed
    answer = await service.search("", doc_types=["movie"])
    assert (answer["found"], answer["degraded"]) == (len(MOVIES) - 1, False)
    if primary == "typesense":
        server = request.getfixturevalue("typesense")
        assert typesense_documents(server, "movie") == len(MOVIES) - 1
        assert typesense_documents(server, "show") == len(SHOWS)
    assert await service.reindex(["show"]) == {"show": len(SHOWS)}
    with pytest.raises(ValueError, match="unknown search document type"):
        await service.reindex(["album"])


# --- health -------------------------------------------------------------------------------------


async def test_ping(service: SearchService, primary: str, database: Database) -> None:
    answer = await service.ping()

    if primary == "typesense":
        assert answer == {"backend": "typesense", "ok": True, "fallback": database.driver, "degraded": False,
                          "dirty": []}
    else:
        assert answer == {"backend": database.driver, "ok": True, "fallback": None, "degraded": False}


# --- Typesense outages --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock the test moves forward, so a 30 s cooldown takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TcpRelay:
    """Forwards a loopback port to a real server; a test can cut the line or make it hang.

    ``received`` counts chunks of request bytes that reached the relay, so a test can tell
    whether the client tried to talk to the server at all.
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.hanging = False
        self.received = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer, from_client=True),
                                 self._pipe(up_reader, writer, from_client=False))
        except OSError:
            pass
        finally:
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool) -> None:
        try:
            while data := await reader.read(65536):
                if from_client:
                    self.received += 1
                if self.hanging:
                    continue  # swallow the request; the client waits for an answer that never comes
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def _drop_connections(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def cut(self) -> None:
        """Connections are refused from now on."""
        assert self._server is not None
        self._server.close()
        self._drop_connections()
        await self._server.wait_closed()
        self._server = None

    def hang(self) -> None:
        """Requests are taken but never answered, as by a wedged server."""
        self.hanging = True

    async def restore(self) -> None:
        self.hanging = False
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()
        self._drop_connections()
        await asyncio.gather(*self._handlers, return_exceptions=True)


@pytest.fixture
async def relay(typesense: TypesenseServer):
    relay = TcpRelay(typesense.port)
    await relay.start()
    yield relay
    await relay.close()


async def test_fallback_when_typesense_stops(database: Database, registry: Registry, tmp_path: Path) -> None:
    server = TypesenseServer()
    search = SearchService(search_config(tmp_path, database, url=server.url, api_key=server.api_key),
                           database, registry)
    try:
        await search.start()
        await search.index("movie", MOVIES)
        assert (await search.search("matrx"))["backend"] == "typesense"
    finally:
        server.cleanup()

    answer = await search.search("matrx", facets=["year"])
    assert (answer["backend"], answer["degraded"]) == (database.driver, True)
    assert ids(answer) == ["1", "2", "3"]
    assert answer["facets"] == {"year": {"2003": 2, "1999": 1}}
    # Writes still land in the database index and do not fail the caller.
    await search.index("movie", [{"id": "10", "title": "Matrix Resurrections", "year": 2021}])
    await search.delete("movie", ["3"])
    assert ids(await search.search("matrix"))[0] == "1"
    assert set(ids(await search.search("matrix"))) == {"1", "2", "10"}
    assert search.dirty == {"movie"}
    health = await search.ping()
    assert (health["ok"], health["fallback"], health["degraded"]) == (False, database.driver, True)
    assert "typesense" in health["error"]
    await search.close()


async def test_unreachable_typesense_from_the_start(database: Database, registry: Registry,
                                                    tmp_path: Path) -> None:
    config = search_config(tmp_path, database, url=f"http://127.0.0.1:{free_port()}", api_key="k", timeout=1.0)
    search = SearchService(config, database, registry)
    await search.start()  # reported, not raised

    await search.index("movie", MOVIES)
    answer = await search.search("lord of the rngs")

    assert search.backend == "typesense"
    assert (answer["backend"], answer["degraded"], ids(answer)[:1]) == (database.driver, True, ["4"])
    assert search.dirty == {"movie"}
    await search.close()


async def test_circuit_breaker_spares_a_hanging_typesense(relay: TcpRelay, database: Database,
                                                          registry: Registry, tmp_path: Path) -> None:
    clock = FakeClock()
    config = search_config(tmp_path, database, url=relay.url, api_key=TypesenseServer.api_key, timeout=0.5)
    search = SearchService(config, database, registry, clock=clock)
    await search.start()
    await search.index("movie", MOVIES)
    assert (await search.search("matrix"))["backend"] == "typesense"
    relay.hang()

    before = relay.received
    first = await search.search("matrix")
    assert (first["degraded"], ids(first)) == (True, ["1", "2", "3"])
    assert relay.received > before  # it did ask Typesense, and gave up after search.timeout

    asked = relay.received
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(5):
        assert (await search.search("matrix"))["degraded"] is True
    assert relay.received == asked  # the open circuit kept it from asking again
    assert loop.time() - started < 0.5 * 5

    clock.advance(search.cooldown + 1)
    await search.search("matrix")
    assert relay.received > asked  # after the cooldown it tries again
    await search.close()


async def test_typesense_is_repaired_after_an_outage(relay: TcpRelay, typesense: TypesenseServer,
                                                     database: Database, registry: Registry,
                                                     tmp_path: Path) -> None:
    clock = FakeClock()
    config = search_config(tmp_path, database, url=relay.url, api_key=typesense.api_key)
    search = SearchService(config, database, registry, clock=clock)
    await search.start()
    await search.index("movie", MOVIES)
    await relay.cut()

    await search.index("movie", [{"id": "10", "title": "Matrix Resurrections", "year": 2021}])
    await search.delete("movie", ["9"])
    assert search.dirty == {"movie"}
    assert (await search.search("resurrections"))["degraded"] is True

    await relay.restore()
    clock.advance(search.cooldown + 1)
    for _ in range(100):
        answer = await search.search("resurrections")
        assert ids(answer) == ["10"]  # correct whoever answers
        if not answer["degraded"]:
            break
        await asyncio.sleep(0.05)
    assert answer["backend"] == "typesense"
    assert search.dirty == set()
    assert typesense_documents(typesense, "movie") == len(MOVIES)  # 9 - 1 + 1
    await search.close()


async def test_missing_collection_is_rebuilt_from_the_database(typesense: TypesenseServer, database: Database,
                                                               registry: Registry, tmp_path: Path) -> None:
    config = search_config(tmp_path, database, url=typesense.url, api_key=typesense.api_key)
    first = SearchService(config, database, registry)
    await first.start()
    await first.index("movie", MOVIES)
    await first.close()
    typesense.drop_collections()  # as if Typesense lost its data, or was added later

    search = SearchService(config, database, registry)
    await search.start()
    answer = await search.search("godfathr")
    assert (ids(answer)[:1], answer["degraded"]) == (["5"], True)
    for _ in range(100):
        if not (answer := await search.search("godfathr"))["degraded"]:
            break
        await asyncio.sleep(0.05)
    assert (answer["backend"], ids(answer)[:1]) == ("typesense", ["5"])
    assert typesense_documents(typesense, "movie") == len(MOVIES)
    await search.close()


# --- migration ----------------------------------------------------------------------------------


def _names(database: Database, sqlite_sql: str, postgres_sql: str) -> set[str]:
    """The first column of what the query for the database's driver returns."""
    db = database.database
    with db.connection_context():
        cursor = db.execute_sql(sqlite_sql if database.driver == "sqlite" else postgres_sql)
        return {row[0] for row in cursor.fetchall()}


def _search_objects(database: Database) -> set[str]:
    return _names(database, "SELECT name FROM sqlite_master WHERE name LIKE 'shared_search_documents%'",
                  "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = 'shared' AND starts_with(relname, 'search_documents')")


def _search_columns(database: Database) -> set[str]:
    return _names(database, "SELECT name FROM pragma_table_info('shared_search_documents')",
                  "SELECT column_name FROM information_schema.columns "
                  "WHERE table_schema = 'shared' AND table_name = 'search_documents'")


async def test_migration_up_and_down(database: Database, registry: Registry) -> None:
    if database.driver == "sqlite":
        expected = {"shared_search_documents", "shared_search_documents_fts", "shared_search_documents_ai",
                    "shared_search_documents_ad", "shared_search_documents_au", "shared_search_documents_library"}
    else:
        expected = {"search_documents", "search_documents_body_trgm", "search_documents_tsv",
                    "search_documents_fields", "search_documents_pkey", "search_documents_library"}
    assert expected <= _search_objects(database)

    reverted = downgrade(database.database, core_set(), "0002_search_index")

    assert "0002_search_index" in reverted
    assert _search_objects(database) == set()
    assert "0002_search_index" in upgrade(database.database, core_set())
    assert expected <= _search_objects(database)
    search = SearchService(database.config, database, registry)
    await search.index("movie", MOVIES)
    assert ids(await search.search("matrx"))[:1] == ["1"]
    await search.close()


async def test_library_migration_up_and_down(database: Database, registry: Registry) -> None:
    search = SearchService(database.config, database, registry)
    await search.index("movie", MOVIES[:2])
    assert "library_id" in _search_columns(database)

    # Later migrations (of other areas) are reverted first and applied again below.
    assert "0007_search_library" in downgrade(database.database, core_set(), "0007_search_library")

    assert "library_id" not in _search_columns(database)
    assert await stored_in_database(database, "movie") == {"1", "2"}  # the documents stay
    assert "0007_search_library" in upgrade(database.database, core_set())
    await search.index("movie", [{**MOVIES[0], "library_id": "lib-a"}])
    assert ids(await search.search("matrx", library_ids={"lib-a"}, include_unscoped=False)) == ["1"]
    await search.close()


def test_migrations_are_in_the_core_set() -> None:
    for name in ("0002_search_index.py", "0007_search_library.py"):
        assert (Path(core_set().directory) / name).is_file()

