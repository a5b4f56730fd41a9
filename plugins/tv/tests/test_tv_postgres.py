"""The same SQL on PostgreSQL: migrations up and down, ingest, enrichment, lists, moves, removals.

The test kit's database is SQLite; here the plugin's context gets a PostgreSQL database
instead (the repository's ``pg_url`` fixture starts an embedded server). Run from the
repository root; on its own the plugin's suite skips this file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest
from playhouse.db_url import connect
from tv_testkit import LIST_INDEXES, Tree, list_plan, show_tree

import revenge_tv
from revenge_hookspecs.db import bind_models
from revenge_hookspecs.testing import migration_runner
from revenge_tv.models import MODELS, Episode, Series
from revenge_tv.service import tv_for

pytestmark = pytest.mark.postgres
MIGRATIONS = Path(revenge_tv.__file__).parent / "migrations"


class PostgresDb:
    """``context.db`` on PostgreSQL: each call on a worker thread with a connection open."""

    driver = "postgres"

    def __init__(self, database: peewee.Database):
        self.database = database

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._call, fn, *args, **kwargs)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.database.connection_context():
            return fn(*args, **kwargs)

    def bind(self, models: Any) -> None:
        bind_models(self.database, models)


@pytest.fixture
def postgres(request: pytest.FixtureRequest, harness) -> Iterator[PostgresDb]:
    try:
        url = request.getfixturevalue("pg_url")
    except pytest.FixtureLookupError:
        pytest.skip("needs the repository's embedded PostgreSQL (run the tests from the repository root)")
    database = connect(url)
    database.execute_sql("CREATE SCHEMA IF NOT EXISTS shared")
    runner = migration_runner(database, "tv", MIGRATIONS)
    runner.up()
    db = PostgresDb(database)
    tv = tv_for(harness.context)
    harness.context.db = db
    db.bind(MODELS)
    assert tv.context.db is db
    yield db
    bind_models(harness.db.database, MODELS)
    database.close()


async def test_everything_runs_on_postgresql(postgres: PostgresDb, tree: Tree, harness):
    show_tree(tree)
    tree.video("Daily Show/Daily.Show.2024.03.15.mkv")
    results = await tree.ingest()
    assert all(r.error is None for r in results), results
    runs = await harness.run_jobs()
    assert sorted(r.result for r in runs) == ["matched", "matched"]
    titles = await postgres.run(lambda: sorted(s.title for s in Series.select()))
    assert titles == ["Daily Show", "Show"]

    async with harness.client() as client:
        for sort in ("title", "year", "added", "rating", "first_air_date"):
            for order in ("asc", "desc"):
                response = await client.get("/api/v1/tv/series", params={"sort": sort, "order": order})
                assert response.status == 200, await response.text()
                assert (await response.json())["total"] == 2
        response = await client.get("/api/v1/tv/series", params={"genre": "Drama", "year_from": "2000"})
        assert [s["title"] for s in (await response.json())["items"]] == ["Show"]
        response = await client.get("/api/v1/tv/genres")
        assert (await response.json())["items"][0] == {"name": "Drama", "count": 1}
        response = await client.get("/api/v1/tv/episodes/recent")
        assert len((await response.json())["items"]) == 7
        show_id = await postgres.run(lambda: Series.get(Series.title == "Show").id)
        response = await client.get(f"/api/v1/tv/series/{show_id}")
        detail = await response.json()
        assert detail["episode_count"] == 6 and detail["match"]["state"] == "matched"
        response = await client.patch(f"/api/v1/tv/series/{show_id}", json={"title": "Renamed", "networks": ["X"]})
        assert response.status == 200 and (await response.json())["locked_fields"] == ["networks", "title"]

    daily = await postgres.run(lambda: Episode.get(Episode.air_date.is_null(False) & (Episode.season_number == 29)))
    assert (daily.number, daily.title) == (56, "March 15")

    move = tree.move("Show (2019)/Season 01/Show - 1x04.mkv", "Show (2019)/Season 01/Show - S01E05.mkv")
    await tree.handler.files_moved(tree.library, [move])
    await tree.handler.files_removed(tree.library, list(tree.files.values()))
    for model in MODELS:
        if model.__name__ in ("Series", "Season", "Episode", "EpisodeFile", "EpisodeFileLink", "Artwork"):
            assert await postgres.run(lambda model=model: model.select().count()) == 0, model
    assert await harness.search.reindex() == {"series": 0, "episode": 0, "tv_person": 0}


def test_the_migration_goes_down_on_postgresql(postgres: PostgresDb):
    runner = migration_runner(postgres.database, "tv", MIGRATIONS)
    assert runner.down("0001_initial") == ["0002_list_indexes", "0001_initial"]
    tables = set(postgres.database.get_tables(schema="public"))
    assert not {m._meta.table_name for m in MODELS} & tables


@pytest.mark.parametrize(("sort", "descending", "index"), LIST_INDEXES)
async def test_list_pages_are_read_off_an_index_on_postgresql(postgres: PostgresDb, sort, descending, index):
    plan = await postgres.run(list_plan, sort, descending)
    assert index in plan and "Sort" not in plan, plan
