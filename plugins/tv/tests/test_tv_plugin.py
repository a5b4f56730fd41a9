"""The plugin as the server sees it: entry point, registrations, migrations, configuration."""

from __future__ import annotations

import pytest

import revenge_tv.plugin as plugin
from revenge_hookspecs.media import ContentHandler
from revenge_hookspecs.testing import PluginConfigError

TABLES = {"tv_series", "tv_series_external_ids", "tv_networks", "tv_series_networks", "tv_genres", "tv_series_genres",
          "tv_series_certifications", "tv_series_translations", "tv_seasons", "tv_episodes", "tv_episode_files",
          "tv_episode_file_links", "tv_people", "tv_series_credits", "tv_episode_credits", "tv_artwork"}


def test_the_installed_entry_point_is_this_plugin(revenge_plugin):
    assert revenge_plugin("tv").plugin is plugin


def test_the_content_type(harness):
    [content_type] = harness.registrations("content_types")
    assert (content_type.name, content_type.label, content_type.schema) == ("tv", "TV Shows", "public")
    assert content_type.item_types == {"series", "season", "episode"}
    assert isinstance(content_type.handler, ContentHandler)
    assert content_type.claims("/tv/Show/Season 01/Show - S01E01.MKV")
    assert not content_type.claims("/tv/Show/tvshow.nfo") and not content_type.claims("/tv/Show/poster.jpg")


def test_the_enrichment_job_runs_on_the_metadata_queue(harness):
    job = harness.registration("jobs", "tv.enrich")
    assert (job.queue, job.retries) == ("metadata", 3)


def test_the_search_document_types(harness):
    types = {t.name: t for t in harness.registrations("search_documents")}
    assert set(types) == {"series", "episode", "tv_person"}
    series = {f.name: f for f in types["series"].fields}
    assert series["year"].facet and series["genre"].type == "string[]" and series["network"].facet
    assert series["original_title"].searchable
    episode = {f.name: f for f in types["episode"].fields}
    assert episode["series_title"].searchable and episode["season"].type == "int"
    assert episode["resolution"].facet and episode["air_year"].facet
    person = {f.name: (f.type, f.searchable, f.facet) for f in types["tv_person"].fields}
    assert person == {"known_for": ("string[]", True, False), "roles": ("string[]", False, True),
                      "person_id": ("int", False, False)}


def test_the_migration_creates_and_drops_the_tables(harness):
    assert harness.migrations_applied == ["0001_initial", "0002_list_indexes"]
    assert set(harness.db.tables()) >= TABLES
    reverted = harness.db.run_sync(lambda: harness.migration_runner().down("0001_initial"))
    assert reverted == ["0002_list_indexes", "0001_initial"]
    assert not TABLES & set(harness.db.tables())


def test_the_migration_matches_the_models(harness):
    """The frozen copy in the migration creates every column the models use."""
    from revenge_tv.models import MODELS

    def columns(table):
        return {row[1] for row in harness.db.database.execute_sql(f'PRAGMA table_info("{table}")').fetchall()}

    for model in MODELS:
        assert columns(model._meta.table_name) == {f.column_name for f in model._meta.sorted_fields}, model


@pytest.mark.parametrize("config, key", [
    ({"match_threshold": "1.5"}, "plugins.tv.match_threshold"),
    ({"probe_timeout": "0"}, "plugins.tv.probe_timeout"),
    ({"colour": "red"}, "plugins.tv.colour"),
])
def test_config_errors_name_the_key(revenge_plugin, config, key):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(plugin, name="tv", config=config)
    assert caught.value.key == key


async def test_the_match_threshold_is_configurable(revenge_plugin, provider, tmp_path):
    from tv_testkit import Tree

    from revenge_hookspecs import MetadataProvider

    harness = revenge_plugin(plugin, name="tv", config={"match_threshold": "0.5"})
    harness.metadata.extra.append(MetadataProvider("fakedb", content_types={"tv"}, source=provider))
    tree = Tree(harness, tmp_path / "tv")
    tree.video("Completely Unrelated Title/Completely Unrelated Title - S01E01.mkv")
    await tree.ingest()
    [run] = await harness.run_jobs()
    assert run.result == "matched"  # 0.537 for "Completely Different": review at the default 0.85
