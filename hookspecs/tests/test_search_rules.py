"""The search rules of ``revenge_hookspecs.search``, which the server and ``MemorySearch`` share.

The server's own tests (``tests/test_search.py``) run the same rules against SQLite,
PostgreSQL and Typesense; here they are pinned without a server, and through the kit.
"""

from __future__ import annotations

import pytest

from revenge_hookspecs import SearchDocumentType, SearchField, hookimpl
from revenge_hookspecs.search import (
    RESERVED_FIELDS,
    TYPE_FACET,
    Condition,
    Facet,
    build_request,
    check_facet,
    document_ids,
    facet_key,
    library_scope,
    load_all_documents,
    normalize,
    normalize_query,
    prepare_document,
    select_types,
)

MOVIE = SearchDocumentType("movie", fields=(SearchField("year", "int", facet=True),
                                            SearchField("genres", "string[]", searchable=True, facet=True),
                                            SearchField("overview", "string", searchable=True)))
PERSON = SearchDocumentType("person", fields=(SearchField("year", "int", facet=True),))
BROKEN = SearchDocumentType("broken", fields=(SearchField("library_id"),))


def request(**kwargs):
    options = {"filters": None, "facets": (), "page": 1, "per_page": 20, **kwargs}
    return build_request([MOVIE, PERSON], options.pop("query", ""), **options)


# --- text and documents --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Amélie", "amelie"), ("  The   MATRIX!! ", "the matrix"), ("Spider-Man: No_Way", "spider man no way"),
    ("?!", ""),
])
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_a_query_is_cut_to_200_characters() -> None:
    assert len(normalize_query("word " * 100)) == 200 - 1  # the trailing space is stripped


def test_a_document_is_coerced_and_keeps_its_library() -> None:
    doc = prepare_document(MOVIE, {"id": 5, "title": "Amélie", "year": 2001.0, "genres": ["Comedy", "Comedy"],
                                   "overview": "Paris", "library_id": 7, "poster": "dropped"})

    assert (doc.doc_id, doc.title_norm, doc.body, doc.library_id) == ("5", "amelie", "amelie comedy paris", "7")
    assert doc.fields == {"year": 2001, "genres": ["Comedy"], "overview": "Paris"}
    assert prepare_document(PERSON, {"id": "p1", "title": "Someone", "library_id": None}).library_id is None


@pytest.mark.parametrize(("document", "message"), [
    ({"id": "1", "title": "x", "library_id": ""}, "search document movie/1: 'library_id' must be text, got ''"),
    ({"id": "1", "title": "x", "library_id": True}, "'library_id' must be text, got True"),
    ({"id": "1", "title": "x", "library_id": ["a"]}, "'library_id' must be text, got ['a']"),
    ({"id": "1", "title": "x", "library_id": "l" * 256}, "'library_id' is longer than 255 characters"),
])
def test_a_bad_library_id_is_refused(document: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        prepare_document(MOVIE, document)
    assert message in str(caught.value)


def test_document_ids() -> None:
    assert document_ids("a/b") == ["a/b"]
    assert document_ids([1, "1", "2"]) == ["1", "2"]


async def test_load_all_accepts_what_the_server_accepts() -> None:
    async def generator():
        yield {"id": "1"}

    async def awaitable():
        return [{"id": "2"}]

    for load_all, expected in [(generator, ["1"]), (awaitable, ["2"]), (lambda: iter([{"id": "3"}]), ["3"])]:
        kind = SearchDocumentType("movie", load_all=load_all)
        assert [d["id"] async for d in load_all_documents(kind)] == expected


# --- types ---------------------------------------------------------------------------------------


def test_library_id_is_reserved() -> None:
    assert "library_id" in RESERVED_FIELDS
    with pytest.raises(ValueError, match="declares the field 'library_id', which is reserved"):
        select_types({"broken": BROKEN}, ["broken"])


def test_type_is_reserved_so_the_type_facet_never_clashes_with_a_field() -> None:
    assert TYPE_FACET == "type" and TYPE_FACET in RESERVED_FIELDS
    clip = SearchDocumentType("clip", fields=(SearchField("type", "string", facet=True),))
    with pytest.raises(ValueError, match="search document type 'clip' declares the field 'type', which is reserved"):
        select_types({"clip": clip}, ["clip"])


def test_every_type_leaves_broken_ones_out_and_says_so() -> None:
    skipped: list[ValueError] = []
    registered = {"person": PERSON, "broken": BROKEN, "movie": MOVIE}

    assert select_types(registered, None, on_skip=skipped.append) == [MOVIE, PERSON]
    assert len(skipped) == 1 and "'broken'" in str(skipped[0])
    assert select_types(registered, "movie") == [MOVIE]
    with pytest.raises(ValueError, match="unknown search document type 'album'; registered types: broken, movie"):
        select_types(registered, ["movie", "album"])


# --- searches ------------------------------------------------------------------------------------


def test_a_search_keeps_to_its_libraries() -> None:
    everything = request()
    assert (everything.library_ids, everything.scoped) == (None, False)
    assert all(everything.in_scope(library) for library in ("a", "b", None))

    scoped = request(library_ids=["a", 7])
    assert (scoped.library_ids, scoped.scoped) == (frozenset({"a", "7"}), True)
    assert [scoped.in_scope(library) for library in ("a", "7", "b", None)] == [True, True, False, True]

    only_libraries = request(include_unscoped=False)
    assert [only_libraries.in_scope(library) for library in ("a", None)] == [True, False]
    assert only_libraries.scoped and not only_libraries.cannot_match

    assert request(library_ids="a").library_ids == frozenset({"a"})
    assert not request(library_ids=[]).cannot_match  # documents of no library still match
    assert request(library_ids=[], include_unscoped=False).cannot_match


@pytest.mark.parametrize(("library_ids", "message"), [
    ([None], "library_ids must hold library ids (text), got None"),
    ([""], "library_ids must hold library ids (text), got ''"),
    ({"a": 1}, "library_ids must be a collection of library ids"),
    (1.5, "library_ids must be a collection of library ids"),
])
def test_bad_library_ids_are_refused(library_ids, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        request(library_ids=library_ids)
    assert str(caught.value).startswith(message)
    assert library_scope(None) is None


def test_include_unscoped_is_a_flag() -> None:
    with pytest.raises(ValueError, match="include_unscoped must be true or false, got 'no'"):
        request(include_unscoped="no")


def test_type_is_a_facet_of_every_search_but_not_a_filter() -> None:
    untyped = SearchDocumentType("note")  # no fields at all, yet "type" counts
    assert check_facet([untyped], "type") == Facet("type", "string")
    assert check_facet([MOVIE], "genres") == Facet("genres", "string[]")
    searched = request(facets=["type", "year", "type"])
    assert searched.facets == (Facet("type", "string"), Facet("year", "int"))
    assert [f.by_type for f in searched.facets] == [True, False]
    assert Facet("type", "string").values("movie", {"year": 1999}) == ["movie"]
    assert Facet("genres", "string[]").values("movie", {"genres": ["Action", "Drama"]}) == ["Action", "Drama"]
    assert Facet("year", "int").values("person", {}) == []
    with pytest.raises(ValueError, match="cannot filter by 'type': no such facet field in movie, person"):
        request(filters={"type": "movie"})
    with pytest.raises(ValueError, match="cannot count facets by 'overview': it is not a facet field of movie"):
        check_facet([MOVIE], "overview")


def test_conditions_match_stored_fields() -> None:
    assert Condition("genres", "string[]", values=("Drama",)).matches({"genres": ["Crime", "Drama"]})
    assert not Condition("genres", "string[]", values=("Drama",)).matches({})
    years = Condition("year", "int", minimum=2000, maximum=2005)
    assert [years.matches({"year": y}) for y in (1999, 2000, 2005, 2006)] == [False, True, True, False]
    assert not years.matches({"year": True})


def test_facet_keys_are_spelled_alike_by_every_index() -> None:
    assert [facet_key(v, k) for v, k in [(True, "bool"), ("false", "bool"), (8.0, "float"), (7.5, "float"),
                                          (2001, "int"), ("2001", "int"), ("Drama", "string[]")]] == [
        "true", "false", "8", "7.5", "2001", "2001", "Drama"]


# --- the kit -------------------------------------------------------------------------------------


class Catalogue:
    @hookimpl
    def revenge_search_documents(self, context):
        return [MOVIE, PERSON]


@pytest.fixture
async def search(revenge_plugin):
    search = revenge_plugin(Catalogue(), name="catalogue").context.search
    await search.index("movie", [
        {"id": "1", "title": "The Matrix", "year": 1999, "genres": ["Action"], "library_id": "lib-a"},
        {"id": "2", "title": "The Matrix Reloaded", "year": 2003, "genres": ["Action"], "library_id": "lib-b"},
        {"id": "3", "title": "Amélie", "year": 2001, "genres": ["Comedy"], "library_id": "lib-a"},
    ])
    await search.index("person", [{"id": "p1", "title": "Keanu Reeves", "year": 1964}])
    return search


@pytest.mark.parametrize(("kwargs", "expected", "years"), [
    ({}, ["3", "p1", "1", "2"], {"1964": 1, "1999": 1, "2001": 1, "2003": 1}),
    ({"library_ids": {"lib-a"}}, ["3", "p1", "1"], {"1964": 1, "1999": 1, "2001": 1}),
    ({"library_ids": ["lib-a"], "include_unscoped": False}, ["3", "1"], {"1999": 1, "2001": 1}),
    ({"library_ids": []}, ["p1"], {"1964": 1}),
    ({"include_unscoped": False}, ["3", "1", "2"], {"1999": 1, "2001": 1, "2003": 1}),
    ({"library_ids": [], "include_unscoped": False}, [], {}),
])
async def test_the_kit_keeps_searches_to_their_libraries(search, kwargs, expected, years) -> None:
    result = await search.search("", facets=["year"], **kwargs)

    assert [h["id"] for h in result["hits"]] == expected
    assert (result["found"], result["facets"]) == (len(expected), {"year": years})


async def test_the_kit_stores_and_returns_the_library(search) -> None:
    assert search.documents["movie"]["1"]["library_id"] == "lib-a"
    assert "library_id" not in search.documents["person"]["p1"]
    [hit] = (await search.search("matrix", library_ids=["lib-b"], include_unscoped=False))["hits"]
    assert (hit["id"], hit["library_id"]) == ("2", "lib-b")
    with pytest.raises(ValueError, match="'library_id' must be text"):
        await search.index("movie", [{"id": "4", "title": "x", "library_id": 1.5}])


@pytest.mark.parametrize(("kwargs", "types"), [
    ({}, {"movie": 3, "person": 1}),
    ({"library_ids": {"lib-a"}}, {"movie": 2, "person": 1}),
    ({"library_ids": ["lib-b"], "include_unscoped": False}, {"movie": 1}),
    ({"library_ids": [], "include_unscoped": False}, {}),
    ({"filters": {"year": {"max": 2001}}}, {"movie": 2, "person": 1}),
    ({"filters": {"year": {"max": 2001}}, "library_ids": ["lib-a"], "include_unscoped": False}, {"movie": 2}),
    ({"filters": {"genres": "Comedy"}}, {"movie": 1}),
    ({"doc_types": "person"}, {"person": 1}),
    ({"query": "matrix"}, {"movie": 2}),
])
async def test_the_kit_counts_matches_per_document_type(search, kwargs, types) -> None:
    result = await search.search(kwargs.pop("query", ""), facets=["type"], per_page=1, **kwargs)

    assert (result["found"], result["facets"]) == (sum(types.values()), {"type": types})
