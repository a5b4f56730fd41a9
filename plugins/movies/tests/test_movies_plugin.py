"""What the movies plugin registers, its migrations, its configuration and its search documents."""

from __future__ import annotations

import pytest

import revenge_movies.plugin as plugin
from revenge_hookspecs.media import ContentHandler
from revenge_hookspecs.testing import PluginConfigError
from revenge_movies.models import MODELS

TABLES = {"movies", "movie_collections", "movie_external_ids", "movie_files", "movie_people", "movie_credits",
          "movie_genres", "movie_genre_links", "movie_studios", "movie_studio_links", "movie_certifications",
          "movie_translations", "movie_artwork"}


def test_the_installed_entry_point_is_this_plugin(revenge_plugin):
    assert revenge_plugin("movies").plugin is plugin


def test_it_registers_the_movie_content_type_with_its_handler(movies):
    content_type = movies.harness.registration("content_types", "movie")
    assert (content_type.label, content_type.item_types) == ("Movies", frozenset({"movie"}))
    assert isinstance(content_type.handler, ContentHandler)
    for path in ("/m/Heat (1995).mkv", "/m/a.MP4", "/m/x.m2ts", "/m/y.webm", "/m/z.avi", "/m/w.mpeg"):
        assert content_type.claims(path), path
    for path in ("/m/Heat (1995).nfo", "/m/poster.jpg", "/m/Heat.en.srt", "/m/noextension"):
        assert not content_type.claims(path), path


def test_the_enrich_job_retries_on_the_metadata_queue(movies):
    job = movies.harness.registration("jobs", "movies.enrich")
    assert (job.retries, job.queue) == (3, "metadata")


def test_the_search_document_declares_its_fields(movies):
    doc_type = movies.harness.registration("search_documents", "movie")
    fields = {f.name: (f.type, f.searchable, f.facet) for f in doc_type.fields}
    assert fields == {"original_title": ("string", True, False), "year": ("int", False, True),
                      "genre": ("string[]", False, True), "resolution": ("string", False, True),
                      "people": ("string[]", True, False), "collection": ("string", True, False)}
    person_type = movies.harness.registration("search_documents", "movie_person")
    fields = {f.name: (f.type, f.searchable, f.facet) for f in person_type.fields}
    assert fields == {"known_for": ("string[]", True, False), "roles": ("string[]", False, True),
                      "person_id": ("int", False, False)}


def test_migrations_create_and_drop_every_table(movies):
    harness = movies.harness
    assert harness.migrations_applied == ["0001_initial", "0002_list_indexes"]
    assert set(harness.db.tables()) >= TABLES
    assert {m._meta.table_name for m in MODELS} == TABLES
    reverted = harness.db.run_sync(lambda: harness.migration_runner().down("0001_initial"))
    assert reverted == ["0002_list_indexes", "0001_initial"]
    assert not TABLES & set(harness.db.tables())


def test_the_migration_matches_the_models(movies):
    """The frozen models of the migration and the live models describe the same columns."""
    database = movies.harness.db.database

    def columns() -> dict[str, set[tuple[str, bool]]]:
        return {table: {(c.name, c.null) for c in database.get_columns(table)} for table in TABLES}

    created = movies.harness.db.run_sync(columns)
    for model in MODELS:
        declared = {(f.column_name, f.null) for f in model._meta.sorted_fields}
        assert declared == created[model._meta.table_name], model.__name__


@pytest.mark.parametrize(("config", "key"), [
    ({"match_threshold": 0}, "plugins.movies.match_threshold"),
    ({"match_threshold": 1.5}, "plugins.movies.match_threshold"),
    ({"probe_timeout": "soon"}, "plugins.movies.probe_timeout"),
    ({"person_images": -1}, "plugins.movies.person_images"),
    ({"colour": "blue"}, "plugins.movies.colour"),
])
def test_bad_configuration_names_the_key(revenge_plugin, config, key):
    with pytest.raises(PluginConfigError) as error:
        revenge_plugin(plugin, name="movies", config=config)
    assert error.value.key == key


def test_configuration_from_environment_strings(revenge_plugin):
    harness = revenge_plugin(plugin, name="movies", config={"match_threshold": "0.9", "person_images": "0"})
    assert (harness.config.match_threshold, harness.config.person_images) == (0.9, 0)


async def test_reindex_loads_every_movie(movies):
    for name in ("Heat (1995).mkv", "Alien (1979).mkv", "Up (2009).mkv"):
        await movies.ingest(movies.video(name))
    doc_type = movies.harness.registration("search_documents", "movie")
    docs = [doc async for doc in doc_type.load_all()]
    assert sorted(d["title"] for d in docs) == ["Alien", "Heat", "Up"]
    assert all(d["library_id"] == "1" and d["resolution"] == "SD" for d in docs)
    await movies.harness.search.index("movie", docs)  # the documents pass the server's rules
    found = await movies.context.search.search("heat", doc_types=["movie"], library_ids=["1"])
    assert [hit["title"] for hit in found["hits"]] == ["Heat"]
