"""The request checks of ``revenge_hookspecs.params``: what passes, and the 400 that names what did not.

The movies and TV plugins' API tests run the same rules through real routes; here they are
pinned one by one, on ``multidict.MultiDict`` (what aiohttp's ``request.query`` is).
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from typing import Any

import pytest
from multidict import MultiDict

from revenge_hookspecs import params
from revenge_hookspecs.errors import BadRequest

SORTS = ("title", "year", "added")


def q(*pairs: tuple[str, str], **single: str) -> MultiDict[str]:
    return MultiDict([*pairs, *single.items()])


def bad(call: Any, *args: Any, **kwargs: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        call(*args, **kwargs)
    assert (caught.value.status, caught.value.code) == (400, "bad_request") and caught.value.message
    return caught.value


def test_the_module_needs_no_web_framework():
    code = "import sys; sys.modules['aiohttp'] = None; import revenge_hookspecs.params"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the query string --------------------------------------------------------------------------------


def test_only_allows_the_listed_parameters():
    params.only(q(page="1", library="a"), {"page", "library", "sort"})
    params.only(q(), frozenset())
    error = bad(params.only, q(page="1", colour="red"), {"page"})
    assert error.details == {"parameter": "colour", "allowed": ["page"]}
    assert error.message == "Unknown query parameter 'colour'; allowed: page."
    error = bad(params.only, q(("x" * 100, "1")), frozenset())
    assert error.details["parameter"] == "x" * 40 and error.message.endswith("allowed: none.")


def test_one_takes_a_parameter_given_at_most_once():
    assert params.one(q(), "sort") is None
    assert params.one(q(sort="year"), "sort") == "year"
    assert params.one(q(sort=""), "sort") == ""
    error = bad(params.one, q(("sort", "title"), ("sort", "year")), "sort")
    assert (error.message, error.details) == ("Give sort once.", {"parameter": "sort"})


@pytest.mark.parametrize("raw, expected", [("1", 1), ("100", 100), ("0042", 42)])
def test_whole_reads_a_bounded_whole_number(raw, expected):
    assert params.whole(q(limit=raw), "limit", low=1, high=100) == expected


def test_whole_defaults_when_absent_or_empty():
    assert params.whole(q(), "limit", low=1, high=100, default=20) == 20
    assert params.whole(q(limit=""), "limit", low=1, high=100, default=20) == 20
    assert params.whole(q(), "limit", low=1, high=100) is None


@pytest.mark.parametrize("raw", ["0", "101", "-1", "1.5", "ten", " 5", "1" * 10, "5" + "0" * 40])
def test_whole_refuses_what_is_not_in_range(raw):
    error = bad(params.whole, q(limit=raw), "limit", low=1, high=100)
    assert error.message == "limit must be a whole number from 1 to 100."
    assert error.details == {"parameter": "limit", "value": raw[:40]}


def test_whole_takes_negative_bounds_and_refuses_repeats():
    assert params.whole(q(offset="-5"), "offset", low=-10, high=10) == -5
    assert bad(params.whole, q(("page", "1"), ("page", "2")), "page", low=1, high=9).details == {"parameter": "page"}


def test_text_is_bounded_free_text():
    assert params.text(q()) == ""
    assert params.text(q(q="heat")) == "heat"
    assert params.text(q(q="x" * params.MAX_QUERY)) == "x" * params.MAX_QUERY
    error = bad(params.text, q(q="x" * (params.MAX_QUERY + 1)))
    assert (error.message, error.details) == ("q may have at most 200 characters.", {"parameter": "q"})
    assert bad(params.text, q(term="abcd"), "term", max_length=3).details == {"parameter": "term"}


def test_libraries_are_ids_by_pattern():
    assert params.libraries(q()) == ()
    assert params.libraries(q(("library", "films"), ("library", "tv_2.hd-x"))) == ("films", "tv_2.hd-x")
    for value in ("../etc", "", "a b", "x" * 65):
        error = bad(params.libraries, q(library=value))
        assert error.details == {"parameter": "library", "value": value[:80]}
        assert error.message == "library must be a library id."


def test_names_are_repeatable_non_blank_and_bounded():
    assert params.names(q(("genre", "Drama"), ("genre", "Crime")), "genre") == ("Drama", "Crime")
    assert params.names(q(), "genre") == ()
    assert params.names(q(genre="x" * params.MAX_NAME), "genre") == ("x" * params.MAX_NAME,)
    for value in ("", "   ", "x" * (params.MAX_NAME + 1)):
        assert bad(params.names, q(genre=value), "genre").details == {"parameter": "genre"}
    error = bad(params.names, q(genre="x" * 129), "genre", max_length=128, see="/movies/genres")
    assert error.message == "genre must be a name of at most 128 characters (see /movies/genres)."
    assert bad(params.names, q(network=""), "network").message == "network must be a name of at most 255 characters."


def test_year_range_from_one_year_or_a_range():
    assert params.year_range(q()) == (None, None)
    assert params.year_range(q(year="1999")) == (1999, 1999)
    assert params.year_range(q(year_from="1980")) == (1980, None)
    assert params.year_range(q(year_to="1990")) == (None, 1990)
    assert params.year_range(q(year_from="1980", year_to="1990")) == (1980, 1990)
    assert params.year_range(q(year="1500"), years=(1000, 2000)) == (1500, 1500)


@pytest.mark.parametrize("query, parameter", [
    ({"year": "1999", "year_from": "1980"}, "year"), ({"year": "1999", "year_to": "2000"}, "year"),
    ({"year": "99"}, "year"), ({"year": "later"}, "year"), ({"year_from": "2201"}, "year_from"),
    ({"year_to": "1799"}, "year_to"),
])
def test_year_range_refuses(query, parameter):
    assert bad(params.year_range, q(**query)).details["parameter"] == parameter


def test_a_year_and_a_range_are_exclusive():
    error = bad(params.year_range, q(year="1999", year_from="1980"))
    assert (error.message, error.details) == ("Give either year or year_from/year_to.", {"parameter": "year"})


def test_sort_order_by_an_allowlisted_key():
    assert params.sort_order(q(), SORTS) == ("title", False)
    assert params.sort_order(q(sort="year", order="desc"), SORTS) == ("year", True)
    assert params.sort_order(q(order="asc"), SORTS) == ("title", False)
    assert params.sort_order(q(), {"added": 1, "name": 2}, default="added") == ("added", False)


def test_sort_order_refuses():
    error = bad(params.sort_order, q(sort="title; DROP TABLE x"), SORTS)
    assert error.message == "Unknown sort 'title; DROP TABLE x'; sort by one of title, year, added."
    assert error.details == {"parameter": "sort", "allowed": ["title", "year", "added"]}
    assert bad(params.sort_order, q(sort="x" * 100), SORTS).message.startswith(f"Unknown sort {'x' * 40!r};")
    error = bad(params.sort_order, q(order="up"), SORTS)
    assert (error.message, error.details) == ("order must be asc or desc.", {"parameter": "order"})
    assert bad(params.sort_order, q(("sort", "title"), ("sort", "year")), SORTS).details == {"parameter": "sort"}


def test_paging():
    assert params.paging(q()) == (1, params.DEFAULT_PER_PAGE)
    assert params.paging(q(page="3", per_page="100")) == (3, 100)
    assert params.paging(q(per_page="5"), max_per_page=10, default_per_page=2) == (1, 5)
    assert params.paging(q(), default_per_page=2) == (1, 2)
    for query, parameter in (({"page": "0"}, "page"), ({"page": "100001"}, "page"), ({"per_page": "101"}, "per_page"),
                             ({"per_page": "0"}, "per_page"), ({"per_page": "x"}, "per_page")):
        assert bad(params.paging, q(**query)).details["parameter"] == parameter
    error = bad(params.paging, q(per_page="11"), max_per_page=10)
    assert error.message == "per_page must be a whole number from 1 to 10."


def test_identify_query_defaults_to_the_items_title_and_year():
    assert params.identify_query(q(), title=" Heat ", year=1995) == ("Heat", 1995)
    assert params.identify_query(q(q=""), title="Heat", year=1995) == ("Heat", 1995)
    assert params.identify_query(q(year="1994"), title="Heat", year=1995) == ("Heat", 1994)
    assert params.identify_query(q(q="Blade Runner"), title="Heat", year=1995) == ("Blade Runner", None)
    assert params.identify_query(q(q="Blade Runner", year="1982"), title="Heat", year=None) == ("Blade Runner", 1982)


@pytest.mark.parametrize("query, title, parameter", [
    ({"q": "   "}, "Heat", "q"), ({}, "  ", "q"), ({"q": "x" * 201}, "Heat", "q"), ({"year": "99"}, "Heat", "year"),
    ({"page": "1"}, "Heat", "page"),
])
def test_identify_query_refuses(query, title, parameter):
    assert bad(params.identify_query, q(**query), title=title, year=None).details["parameter"] == parameter


# --- a JSON body -------------------------------------------------------------------------------------


class FakeRequest:
    def __init__(self, body: Any = None, *, has_body: bool = True):
        self.can_read_body = has_body
        self.body = body

    async def json(self) -> Any:
        return self.body


async def test_json_body_is_an_object_or_nothing():
    assert await params.json_body(FakeRequest(has_body=False)) == {}
    assert await params.json_body(FakeRequest({"replace": True})) == {"replace": True}
    for body in ([1, 2], "text", 3, None):
        with pytest.raises(BadRequest, match=r"^Send a JSON object\.$"):
            await params.json_body(FakeRequest(body))


def test_edit_fields():
    params.edit_fields({"title": "x"}, {"title", "year"})
    error = bad(params.edit_fields, {"title": "x", "folder": "/"}, {"title", "year"})
    assert error.message == "'folder' cannot be edited; editable: title, year."
    assert error.details == {"field": "folder", "allowed": ["title", "year"]}
    assert bad(params.edit_fields, {"y" * 90: 1}, {"title"}).details["field"] == "y" * 40
    assert bad(params.edit_fields, {}, {"title"}).message == "Send at least one field to edit."


def test_flag():
    assert params.flag({}, "replace") is False
    assert params.flag({}, "replace", default=True) is True
    assert params.flag({"replace": True}, "replace") is True
    for body in ({"replace": "yes"}, {"replace": 1}, {"replace": None}, {"replace": True, "other": 1}):
        error = bad(params.flag, body, "replace")
        assert (error.message, error.details) == ("The body may only hold replace (true or false).",
                                                  {"field": "replace"})
    assert params.flag_schema("replace") == {"type": "object", "properties": {"replace": {"type": "boolean"}}}


def test_provider_pick():
    pick = {"provider": "tmdb", "external_id": "603"}
    assert params.provider_pick(pick, ["tmdb"], kind="movie", item="movie") == ("tmdb", "603")
    assert params.provider_pick({"provider": "tmdb", "external_id": 603}, ["tmdb"], kind="movie",
                                item="movie") == ("tmdb", "603")
    assert params.provider_pick({"provider": "imdb", "external_id": "tt0133093"}, ("tmdb", "imdb"), kind="movie",
                                item="movie") == ("imdb", "tt0133093")
    error = bad(params.provider_pick, {**pick, "x": 1}, ["tmdb"], kind="movie", item="movie")
    assert error.message == "The body holds provider and external_id only."
    error = bad(params.provider_pick, {**pick, "provider": "nope"}, ["tmdb", "tvdb"], kind="TV", item="series")
    assert error.message == "provider must be one of the enabled TV providers: tmdb, tvdb."
    assert error.details == {"field": "provider", "allowed": ["tmdb", "tvdb"]}
    assert bad(params.provider_pick, pick, [], kind="TV", item="series").message.endswith("providers: none.")
    for external_id in (None, True, "../../etc", "", "x" * 65, 1.5):
        error = bad(params.provider_pick, {**pick, "external_id": external_id}, ["tmdb"], kind="TV", item="series")
        assert (error.message, error.details) == ("external_id must be the provider's id of the series.",
                                                  {"field": "external_id"})
    schema = params.provider_pick_schema()
    assert schema["required"] == ["provider", "external_id"] and set(schema["properties"]) == set(schema["required"])
    assert params.provider_pick_schema() is not schema


def test_text_field():
    assert params.text_field("overview", None, limit=10) is None
    assert params.text_field("overview", "  Hi  ", limit=10) == "Hi"
    assert params.text_field("overview", "   ", limit=10) is None
    assert params.text_field("title", " Heat ", limit=10, nullable=False) == "Heat"
    assert bad(params.text_field, "overview", 5, limit=10).message == "overview must be text or null."
    for value in (None, "", "  ", 5):
        error = bad(params.text_field, "title", value, limit=10, nullable=False)
        assert (error.message, error.details) == ("title must be non-empty text.", {"field": "title"})
    error = bad(params.text_field, "title", "x" * 11, limit=10)
    assert (error.message, error.details) == ("title may have at most 10 characters.", {"field": "title"})


def test_number_field():
    assert params.number_field("year", None, *params.YEARS) is None
    assert params.number_field("year", 1999, *params.YEARS) == 1999
    assert params.number_field("rating", 7.5, 0, 10, whole=False) == 7.5
    assert params.number_field("rating", 10, 0, 10, whole=False) == 10
    error = bad(params.number_field, "year", "1999", *params.YEARS)
    assert (error.message, error.details) == ("year must be a whole number from 1800 to 2200, or null.",
                                              {"field": "year"})
    for value in (True, 7.5, 1799, 2201):
        bad(params.number_field, "year", value, *params.YEARS)
    assert bad(params.number_field, "rating", 10.5, 0, 10, whole=False).message == (
        "rating must be a number from 0 to 10, or null.")
    assert bad(params.number_field, "rating", False, 0, 10, whole=False).details == {"field": "rating"}
    error = bad(params.number_field, "n", -1, 0, 1_000_000)
    assert error.message == "n must be a whole number from 0 to 1000000, or null."
    assert bad(params.number_field, "r", 2, 0, 1.5, whole=False).message == "r must be a number from 0 to 1.5, or null."


def test_date_field():
    assert params.date_field("air_date", None) is None
    assert params.date_field("air_date", "2019-10-10") == datetime.date(2019, 10, 10)
    for value in ("yesterday", "2019-13-01", "2019-10-10T00:00:00", "2019-1-1", 20191010, ""):
        error = bad(params.date_field, "air_date", value)
        assert (error.message, error.details) == ("air_date must be a date (YYYY-MM-DD) or null.",
                                                  {"field": "air_date"})


def test_language_field():
    assert params.language_field("original_language", None) is None
    assert params.language_field("original_language", "pt-BR") == "pt-BR"
    assert params.language_field("original_language", "eng") == "eng"
    for value in ("english!", "EN", "e", 5, ""):
        error = bad(params.language_field, "original_language", value)
        assert error.message == "original_language must be a language code (en, pt-BR) or null."
        assert error.details == {"field": "original_language"}


def test_names_field():
    assert params.names_field("genres", []) == []
    assert params.names_field("genres", [" Drama ", "Crime"]) == ["Drama", "Crime"]
    assert params.names_field("genres", ["x"] * params.MAX_NAMES) == ["x"] * params.MAX_NAMES
    for value in ("Drama", None, ["x"] * 51, [""], ["  "], [5], ["x" * 256]):
        error = bad(params.names_field, "genres", value)
        assert (error.message, error.details) == ("genres must be a list of at most 50 names.", {"field": "genres"})
    assert bad(params.names_field, "genres", ["x" * 129], max_length=128).details == {"field": "genres"}
    assert bad(params.names_field, "tags", ["a", "b"], max_names=1).message == "tags must be a list of at most 1 names."
