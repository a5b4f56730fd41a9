"""Fixtures shared by the core's and the built-in plugins' tests.

Real servers start once per test session, lazily, only when a test asks for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from revenge_core.config import Config, load_config
from tests.servers import PostgresServer, RedisServer, TypesenseServer

DRIVERS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis database emptied for this test."""
    redis_server.flush()
    return redis_server.url()


@pytest.fixture(scope="session")
def typesense_server() -> Iterator[TypesenseServer]:
    server = TypesenseServer()
    yield server
    server.cleanup()


@pytest.fixture
def typesense(typesense_server: TypesenseServer) -> TypesenseServer:
    """The Typesense server with no collections left from other tests."""
    typesense_server.drop_collections()
    return typesense_server


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not pick up REVENGE_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("REVENGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-revenge-config")


@pytest.fixture(params=DRIVERS)
def db_driver(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return request.param


def make_config(tmp_path: Path, driver: str = "sqlite", pg_url: str | None = None, **overrides) -> Config:
    environ = {"REVENGE_DATA_DIR": str(tmp_path / "data"), "REVENGE_DATABASE_DRIVER": driver,
               "REVENGE_SERVER_PORT": "8080"}
    if driver == "postgres":
        environ["REVENGE_DATABASE_URL"] = pg_url or ""
    return load_config(path=None, environ=environ, overrides=overrides or None)


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path, db_driver: str) -> Config:
    """A configuration on the driver under test, with its own data folder."""
    url = request.getfixturevalue("pg_url") if db_driver == "postgres" else None
    return make_config(tmp_path, db_driver, url)


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    return make_config(tmp_path, "sqlite")


@pytest.fixture
def database(config: Config):
    """The database under test with the core migrations applied."""
    from revenge_core.db.database import Database
    from revenge_core.db.migrate import core_set, upgrade

    db = Database(config)
    upgrade(db.database, core_set())
    yield db
    db.close()


@pytest.fixture
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at its lowest cost, for tests that create many accounts (never for timing tests)."""
    from revenge_core.identity import passwords

    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
