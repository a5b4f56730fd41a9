"""``GET /api/v1/search`` over real HTTP, on SQLite and PostgreSQL, each alone and under Typesense.

A plugin registers the document types; users, roles and grants are real (grants are made
through the admin API), so what a user may see comes from the same access check every
content route uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from revenge_core.config import Config
from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from revenge_hookspecs import SearchDocumentType, SearchField, hookimpl
from tests.fixtures import make_config
from tests.identity.conftest import bearer, login, make_user

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")

PASSWORD = "correct horse battery staple"
SEARCH = "/api/v1/search"
MOVIES: list[dict[str, Any]] = [
    {"id": "1", "title": "The Matrix", "year": 1999, "rating": 8.7, "genres": ["Action", "Sci-Fi"], "hd": True,
     "library_id": "lib-a"},
    {"id": "2", "title": "The Matrix Reloaded", "year": 2003, "rating": 7.2, "genres": ["Action", "Sci-Fi"],
     "hd": True, "library_id": "lib-a"},
    {"id": "3", "title": "The Matrix Revolutions", "year": 2003, "rating": 6.8, "genres": ["Action", "Sci-Fi"],
     "hd": False, "library_id": "lib-b"},
    {"id": "4", "title": "The Godfather", "year": 1972, "rating": 9.2, "genres": ["Crime", "Drama"], "hd": False,
     "library_id": "lib-b"},
    {"id": "5", "title": "Amélie", "year": 2001, "rating": 8.3, "genres": ["Comedy", "Romance"], "hd": True,
     "library_id": "lib-a"},
    {"id": "6", "title": "Lord of War", "year": 2005, "rating": 7.6, "genres": ["Crime", "Drama"], "hd": True,
     "library_id": "lib-b"},
]
PEOPLE: list[dict[str, Any]] = [{"id": "p1", "title": "Keanu Reeves", "year": 1964},
                                {"id": "p2", "title": "Al Pacino", "year": 1940}]
IN_A = {m["id"] for m in MOVIES if m["library_id"] == "lib-a"}
EVERYONE = {m["id"] for m in MOVIES} | {p["id"] for p in PEOPLE}
UNSCOPED = {p["id"] for p in PEOPLE}


class Catalogue:
    """What a content plugin registers: movies, which live in libraries, and people, who do not."""

    @hookimpl
    def revenge_search_documents(self, context):
        return [
            SearchDocumentType("movie", fields=(
                SearchField("year", "int", facet=True),
                SearchField("rating", "float", facet=True),
                SearchField("genres", "string[]", searchable=True, facet=True),
                SearchField("hd", "bool", facet=True),
                SearchField("overview", "string", searchable=True),
            )),
            SearchDocumentType("person", fields=(SearchField("year", "int", facet=True),)),
        ]


@pytest.fixture(params=["database", "typesense"])
def server_config(request: pytest.FixtureRequest, config: Config, tmp_path: Path) -> Config:
    """The database alone, then Typesense in front of it."""
    if request.param == "database":
        return config
    typesense = request.getfixturevalue("typesense")
    return make_config(tmp_path, config.database.driver, config.database.url or None,
                       search={"url": typesense.url, "api_key": typesense.api_key})


@pytest.fixture
async def client(aiohttp_client, server_config: Config):
    client = await aiohttp_client(create_app(server_config, plugins={"catalogue": Catalogue()}))
    search = client.app[SERVICES].search
    await search.index("movie", MOVIES)
    await search.index("person", PEOPLE)
    return client


async def account(client, username: str, role: str | None) -> tuple[int, dict[str, str]]:
    """A new user with ``role``, logged in: its id and the headers of its requests."""
    user_id = await make_user(client.app, username, PASSWORD, role=role)
    return user_id, bearer((await login(client, username, PASSWORD))["access_token"])


async def headers_of(client, username: str, role: str | None) -> dict[str, str]:
    return (await account(client, username, role))[1]


@pytest.fixture
async def admin(client) -> dict[str, str]:
    return await headers_of(client, "root", "admin")


@pytest.fixture
async def alice(client, admin: dict[str, str]) -> dict[str, str]:
    """A user granted library A (through the admin API) and nothing else."""
    user_id, headers = await account(client, "alice", "user")
    grant = {"subject_type": "user", "subject_id": user_id, "resource_type": "library", "resource_id": "lib-a",
             "permission": "view"}
    response = await client.post("/api/v1/admin/grants", headers=admin, json=grant)
    assert response.status == 201, await response.text()
    return headers


async def found(client, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    response = await client.get(f"{SEARCH}?{query}", headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


def ids(answer: dict[str, Any]) -> list[str]:
    return [hit["id"] for hit in answer["hits"]]


def year_counts(doc_ids: set[str]) -> dict[str, int]:
    years = [str(d["year"]) for d in [*MOVIES, *PEOPLE] if d["id"] in doc_ids]
    return {year: years.count(year) for year in set(years)}


# --- who sees what -------------------------------------------------------------------------------


async def test_a_user_sees_only_the_libraries_granted(client, alice: dict[str, str]) -> None:
    everything = await found(client, alice, "facet=year&facet=genres&per_page=1")

    assert everything["found"] == len(IN_A | UNSCOPED)
    assert everything["facets"]["year"] == year_counts(IN_A | UNSCOPED)
    assert everything["facets"]["genres"] == {"Action": 2, "Sci-Fi": 2, "Comedy": 1, "Romance": 1}
    listed = await found(client, alice, "per_page=50")
    assert set(ids(listed)) == IN_A | UNSCOPED
    assert {hit.get("library_id") for hit in listed["hits"]} == {"lib-a", None}

    matrix = await found(client, alice, "q=matrx&facet=year")
    assert (ids(matrix), matrix["found"], matrix["facets"]) == (["1", "2"], 2, {"year": {"1999": 1, "2003": 1}})
    assert (matrix["backend"], matrix["degraded"]) == (client.app[SERVICES].search.backend, False)
    assert (await found(client, alice, "q=godfather"))["found"] == 0  # in library B
    assert (await found(client, alice, "q=crime"))["found"] == 0
    assert (await found(client, alice, "filter.genres=Drama&facet=genres"))["facets"] == {"genres": {}}


async def test_asking_for_a_library_keeps_to_it(client, alice: dict[str, str], admin: dict[str, str]) -> None:
    assert set(ids(await found(client, alice, "library=lib-a"))) == IN_A  # people are in no library
    hidden = await found(client, alice, "library=lib-b&facet=year")
    assert (hidden["found"], hidden["facets"]) == (0, {"year": {}})  # as if it did not exist
    assert set(ids(await found(client, alice, "library=lib-a&library=lib-b"))) == IN_A
    assert ids(await found(client, admin, "library=lib-b&q=matrix")) == ["3"]
    assert (await found(client, admin, "library=lib-z"))["found"] == 0


async def test_an_admin_sees_every_library(client, admin: dict[str, str]) -> None:
    answer = await found(client, admin, "facet=year&per_page=2")

    assert (answer["backend"], answer["degraded"]) == (client.app[SERVICES].search.backend, False)
    assert answer["found"] == len(EVERYONE)
    assert answer["facets"]["year"] == year_counts(EVERYONE)
    assert set(ids(await found(client, admin, "per_page=50"))) == EVERYONE
    assert ids(await found(client, admin, "q=godfathr")) == ["4"]


async def test_a_user_without_grants_sees_only_what_is_in_no_library(client) -> None:
    bob = await headers_of(client, "bob", "user")

    answer = await found(client, bob, "facet=year")

    assert (set(ids(answer)), answer["facets"]["year"]) == (UNSCOPED, year_counts(UNSCOPED))


async def test_credentials_are_required(client) -> None:
    response = await client.get(f"{SEARCH}?q=matrix")
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"
    guest = await headers_of(client, "guest", "guest")  # browses, but holds no search:read
    response = await client.get(f"{SEARCH}?q=matrix", headers=guest)
    assert (response.status, (await response.json())["details"]) == (403, {"permission": "search:read"})


# --- the query syntax ----------------------------------------------------------------------------


async def test_typos_are_tolerated(client, admin: dict[str, str]) -> None:
    for query, first in [("matrx", "1"), ("the%20matrx", "1"), ("keanu%20reevs", "p1"), ("amelie", "5")]:
        assert ids(await found(client, admin, f"q={query}"))[:1] == [first], query


@pytest.mark.parametrize(("query", "expected"), [
    ("type=person", {"p1", "p2"}),
    ("type=movie&type=person&filter.year=1964", {"p1"}),
    ("filter.year=1999", {"1"}),
    ("filter.year=1999&filter.year=2001", {"1", "5"}),
    ("filter.year=2001..2005", {"2", "3", "5", "6"}),
    ("filter.year=2003..", {"2", "3", "6"}),
    ("filter.year=..1970", {"p2", "p1"}),
    ("filter.rating=8.5..", {"1", "4"}),
    ("filter.rating=-1..7", {"3"}),
    ("filter.genres=Comedy&filter.genres=Drama", {"4", "5", "6"}),
    ("filter.hd=false", {"3", "4"}),
    ("filter.genres=Action&filter.year=2003", {"2", "3"}),
    ("q=matrix&filter.hd=true", {"1", "2"}),
    ("q=&type=movie&filter.genres=Sci-Fi..Z", set()),  # ".." is only a range for numbers
])
async def test_filters(client, admin: dict[str, str], query: str, expected: set[str]) -> None:
    answer = await found(client, admin, f"{query}&per_page=50")
    assert (set(ids(answer)), answer["found"]) == (expected, len(expected))


async def test_facet_type_counts_matches_per_document_type(client, admin: dict[str, str],
                                                            alice: dict[str, str]) -> None:
    backend = client.app[SERVICES].search.backend
    for headers, query, expected in [
        (admin, "", {"movie": 6, "person": 2}),
        (alice, "", {"movie": 3, "person": 2}),  # library B is not hers
        (admin, "library=lib-b", {"movie": 3}),
        (alice, "library=lib-a", {"movie": 3}),
        (alice, "library=lib-b", {}),
        (admin, "filter.year=..1970", {"person": 2}),
        (admin, "filter.year=2003..", {"movie": 3}),
        (alice, "filter.year=2003..", {"movie": 1}),
        (admin, "filter.genres=Drama&library=lib-b", {"movie": 2}),
        (admin, "type=person", {"person": 2}),
        (admin, "q=matrx", {"movie": 3}),
        (alice, "q=matrx", {"movie": 2}),
    ]:
        answer = await found(client, headers, f"{query}&facet=type&facet=year&per_page=1")
        assert (answer["facets"]["type"], answer["found"]) == (expected, sum(expected.values())), query
        assert (answer["backend"], answer["degraded"]) == (backend, False)
        assert set(answer["facets"]) == {"type", "year"}


async def test_pages(client, admin: dict[str, str]) -> None:
    pages = [await found(client, admin, f"type=movie&page={page}&per_page=4") for page in (1, 2, 3)]

    assert [len(p["hits"]) for p in pages] == [4, 2, 0]
    assert {p["found"] for p in pages} == {len(MOVIES)}
    assert [(p["page"], p["per_page"]) for p in pages] == [(1, 4), (2, 4), (3, 4)]
    assert set(ids(pages[0]) + ids(pages[1])) == {m["id"] for m in MOVIES}
    assert (await found(client, admin))["per_page"] == 20


async def test_bad_queries_answer_400(client, admin: dict[str, str]) -> None:
    wrong = []
    for query, key, message in [
        ("type=album", "type", "unknown search document type 'album'; registered types: movie, person"),
        ("type=", "type", "type needs a value"),
        ("facet=overview", "facet", "cannot count facets by 'overview': it is not a facet field of movie"),
        ("facet=title", "facet", "cannot count facets by 'title': no such facet field"),
        ("type=person&facet=genres&facet=type", "facet", "cannot count facets by 'genres'"),
        ("filter.type=movie", "filter.type", "cannot filter by 'type': no such facet field"),
        ("filter.director=Nolan", "filter.director", "cannot filter by 'director': no such facet field"),
        ("type=person&filter.genres=Drama", "filter.genres", "no such facet field in person"),
        ("filter.overview=hacker", "filter.overview", "it is not a facet field of movie"),
        ("filter.year=19x9", "filter.year", "filter.year must be a whole number, got '19x9'"),
        ("filter.year=1999.5", "filter.year", "filter.year must be a whole number"),
        ("filter.rating=nan", "filter.rating", "filter.rating must be a number"),
        ("filter.rating=1e999", "filter.rating", "filter.rating must be a number"),
        ("filter.hd=yes", "filter.hd", "filter.hd must be true or false"),
        ("filter.year=..", "filter.year", "a range needs a minimum, a maximum or both"),
        ("filter.year=1999&filter.year=2000..2005", "filter.year", "either values or one range"),
        ("filter.genres=", "filter.genres", "filter.genres needs a value"),
        ("filter.=x", "filter.", "Name the field to filter by"),
        ("page=0", "page", "page must be a whole number of at least 1, got '0'"),
        ("page=-1", "page", "page must be a whole number of at least 1"),
        ("page=two", "page", "page must be a whole number of at least 1"),
        ("per_page=251", "per_page", "per_page must be a whole number between 1 and 250, got '251'"),
        ("per_page=0", "per_page", "per_page must be a whole number between 1 and 250"),
        ("q=a&q=b", "q", "Give q once"),
        ("sort=title", "sort", "Unknown query parameter 'sort'"),
        ("filters.year=1999", "filters.year", "Unknown query parameter 'filters.year'"),
    ]:
        response = await client.get(f"{SEARCH}?{query}", headers=admin)
        body = await response.json()
        if (response.status, body.get("code"), body.get("details")) != (400, "bad_request", {"key": key}) \
                or message not in body.get("message", ""):
            wrong.append(f"{query}: {response.status} {body}")
    assert wrong == []


async def test_the_route_is_documented(client) -> None:
    document = await (await client.get("/api/openapi.json")).json()

    operation = document["paths"][SEARCH]["get"]

    assert operation["x-revenge-permission"] == "search:read"
    assert "filter.FIELD=VALUE" in operation["description"]
    assert "MIN..MAX" in operation["description"]
    assert "`facet=type` counts the matches of each document type" in operation["description"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["required"][0] == "hits"
