"""The CLI as a user runs it: worker processes, reindexing and plugin migrations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_discovery import install_fake_distribution
from tests.test_serve_e2e import server

pytestmark = pytest.mark.slow

PLUGIN = '''
"""A plugin that queues work from a route and indexes documents."""
import json
import os
from pathlib import Path

import attrs
import peewee
from aiohttp import web
from revenge_hookspecs import PUBLIC, Job, Migrations, Route, SearchDocumentType, SearchField, hookimpl
from revenge_hookspecs.db import Model


class Note(Model):
    title = peewee.CharField()
    year = peewee.IntegerField()

    class Meta:
        table_name = "e2e_notes"


@attrs.define
class Config:
    marker_dir: str = ""


@hookimpl
def revenge_config_schema():
    return Config


@hookimpl
def revenge_migrations():
    return Migrations(Path(__file__).parent / "e2e_migrations")


@hookimpl
def revenge_routes(context):
    async def enqueue(request):
        job_id = context.jobs.enqueue("e2e.write", {"pid_file": "job.json"})
        return web.json_response({"job": job_id})

    async def enqueue_slow(request):
        seconds = float(request.query["seconds"])
        return web.json_response({"job": context.jobs.enqueue("e2e.slow", {"seconds": seconds})})

    return [Route("POST", "/e2e/enqueue", enqueue, permission=PUBLIC),
            Route("POST", "/e2e/slow", enqueue_slow, permission=PUBLIC)]


@hookimpl
def revenge_jobs(context):
    async def write(ctx, pid_file):
        path = Path(ctx.config.marker_dir) / pid_file
        path.write_text(json.dumps({"pid": os.getpid()}))

    async def slow(ctx, seconds):
        import asyncio

        marker = Path(ctx.config.marker_dir)
        (marker / "slow.started").write_text("")
        await asyncio.sleep(seconds)
        (marker / "slow.finished").write_text("")

    return [Job("e2e.write", write, retries=0), Job("e2e.slow", slow, retries=0)]


@hookimpl
def revenge_search_documents(context):
    async def load_all():
        context.db.bind([Note])
        rows = await context.db.run(lambda: list(Note.select().dicts()))
        for row in rows:
            yield {"id": str(row["id"]), "title": row["title"], "year": row["year"]}

    return SearchDocumentType("e2e_note", (SearchField("year", "int", facet=True),), load_all=load_all)
'''

MIGRATION = '''
import peewee
from revenge_hookspecs.db import Model, bind_models


class Note(Model):
    title = peewee.CharField()
    year = peewee.IntegerField()

    class Meta:
        table_name = "e2e_notes"


def up(migrator, db):
    bind_models(db, [Note])
    db.create_tables([Note])
    Note.insert_many([{"title": "The Matrix", "year": 1999}, {"title": "Alien", "year": 1979}]).execute()


def down(migrator, db):
    bind_models(db, [Note])
    db.drop_tables([Note])
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "revenge-e2e", "0.1", {"e2e": "revenge_e2e_plugin"},
                              {"revenge_e2e_plugin": PLUGIN})
    migrations = site / "e2e_migrations"
    migrations.mkdir()
    (migrations / "0001_notes.py").write_text(MIGRATION)
    markers = tmp_path / "markers"
    markers.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REVENGE_")}
    environ.update({
        "PYTHONPATH": str(site), "REVENGE_DATA_DIR": str(tmp_path / "data"), "REVENGE_SERVER_HOST": "127.0.0.1",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "REVENGE_LOAD_PLUGINS": "e2e,localfs",
        "REVENGE_PLUGINS_E2E_MARKER_DIR": str(markers),
    })
    return environ


def _revenge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revenge_core", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_plugin_migrations_and_reindex_from_the_cli(env: dict[str, str]) -> None:
    result = _revenge("migrate", "up", "--plugin", "e2e", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "e2e: applied 1: 0001_notes"
    result = _revenge("migrate", "status", "--plugin", "e2e", env=env)
    assert "0001_notes" in result.stdout and "pending" not in result.stdout
    result = _revenge("search", "reindex", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "e2e_note: 2 documents"
    result = _revenge("migrate", "down", "--plugin", "e2e", env=env)
    assert result.stdout.strip() == "e2e: reverted 1: 0001_notes"
    result = _revenge("migrate", "status", "--plugin", "e2e", env=env)
    assert "pending" in result.stdout


def test_worker_process_runs_jobs_queued_by_the_server_and_stops_gracefully(
        env: dict[str, str], tmp_path: Path, redis_url: str) -> None:
    env = {**env, "REVENGE_CACHE_URL": redis_url, "REVENGE_JOBS_EMBEDDED_CONSUMER": "false"}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "revenge_core", "worker", "--workers", "1"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        with server(env, tmp_path / "server.log") as base:
            request = urllib.request.Request(base + "/api/v1/e2e/enqueue", method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                assert json.loads(response.read())["job"]
            marker = Path(env["REVENGE_PLUGINS_E2E_MARKER_DIR"]) / "job.json"
            deadline = time.monotonic() + 20
            while not marker.exists():
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker did not run the job:\n" + log.read_text()[-3000:]
                time.sleep(0.05)
            assert json.loads(marker.read_text())["pid"] == worker.pid
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            pytest.fail("worker did not stop within 30 s of SIGTERM")
    assert code == 0, log.read_text()[-3000:]


def test_db_copy_moves_an_embedded_install_to_postgres(env: dict[str, str], pg_url: str) -> None:
    assert _revenge("migrate", "up", env=env).returncode == 0
    assert _revenge("migrate", "up", "--plugin", "e2e", env=env).returncode == 0
    assert _revenge("plugins", "disable", "localfs", env=env).returncode == 0

    result = _revenge("db", "copy", "--to", pg_url, env=env)
    assert result.returncode == 0, result.stderr
    assert "MISMATCH" not in result.stdout
    assert "e2e_notes" in result.stdout and "copied" in result.stdout

    on_pg = {**env, "REVENGE_DATABASE_DRIVER": "postgres", "REVENGE_DATABASE_URL": pg_url}
    status = _revenge("migrate", "status", "--plugin", "e2e", env=on_pg)
    assert "0001_notes" in status.stdout and "pending" not in status.stdout
    listing = json.loads(_revenge("plugins", "list", "--json", env=on_pg).stdout)
    assert {row["name"]: row["status"] for row in listing}["localfs"] == "disabled"
    reindex = _revenge("search", "reindex", env=on_pg)
    assert reindex.stdout.strip() == "e2e_note: 2 documents", reindex.stderr

    again = _revenge("db", "copy", "--to", pg_url, env=env)
    assert again.returncode == 1
    assert again.stderr.startswith("revenge: copy failed, the target was left unchanged:")


def _serve_with_slow_job(env: dict[str, str], tmp_path: Path, seconds: float) -> tuple[subprocess.Popen, Path]:
    from tests.servers import free_port

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "revenge_core", "serve", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(base + "/health/ready", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    request = urllib.request.Request(f"{base}/api/v1/e2e/slow?seconds={seconds}", method="POST")
    urllib.request.urlopen(request, timeout=5).close()
    marker = Path(env["REVENGE_PLUGINS_E2E_MARKER_DIR"])
    while not (marker / "slow.started").exists():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    return proc, marker


def test_first_signal_lets_a_running_job_finish(env: dict[str, str], tmp_path: Path) -> None:
    proc, marker = _serve_with_slow_job(env, tmp_path, seconds=2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert (marker / "slow.finished").exists(), "the running job was not allowed to finish"


def test_second_signal_cancels_the_running_job_and_queues_it_again(env: dict[str, str], tmp_path: Path) -> None:
    proc, marker = _serve_with_slow_job(env, tmp_path, seconds=30)
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert time.monotonic() - stopped < 8, "the second signal did not stop the server promptly"
    assert not (marker / "slow.finished").exists()
    # The cancelled job went back to the queue: the next start runs it again.
    import huey

    queue = huey.SqliteHuey("revenge", filename=str(Path(env["REVENGE_DATA_DIR"]) / "jobs.db"), results=False)
    assert queue.pending_count() == 1
