"""End to end: real `revenge serve` processes, the CLI, and real PostgreSQL/Redis/Typesense."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow

# The example plugin as a stranger installs it; its route needs a permission, so 401 while
# enabled (no credentials) and 404 once disabled.
PLUGIN = "webhook_notifier"
PLUGIN_ROUTE = "/api/v1/webhooks/deliveries"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVENGE_")}
    env.update({"REVENGE_DATA_DIR": str(tmp_path / "data"), "REVENGE_SERVER_HOST": "127.0.0.1",
                "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "REVENGE_LOGGING_LEVEL": "INFO",
                # The example plugin's self-check wants somewhere to deliver to.
                "REVENGE_PLUGINS_WEBHOOK_NOTIFIER_URLS": "http://127.0.0.1:9/revenge-hook"})
    env.update(extra)
    return env


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _revenge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revenge_core", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "revenge_core", "serve", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if _get(base + "/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                assert proc.wait(30) == 0, log.read_text()[-3000:]
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail("server did not stop within 30 s of SIGTERM")


def _wait_status(url: str, expected: int, within: float) -> float:
    started = time.monotonic()
    while True:
        status = _get(url)[0]
        if status == expected:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            pytest.fail(f"{url} answered {status}, not {expected}, after {within} s")
        time.sleep(0.05)


def test_embedded_server_is_ready_and_plugins_toggle_across_instances(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with server(env, tmp_path / "a.log") as a, server(env, tmp_path / "b.log") as b:
        status, body = _get(a + "/health/ready")
        assert status == 200
        assert body["checks"]["database"]["driver"] == "sqlite"

        listing = _revenge("plugins", "list", "--json", env=env)
        assert listing.returncode == 0, listing.stderr
        plugins = {row["name"]: row for row in json.loads(listing.stdout)}
        assert plugins["localfs"]["status"] == "enabled"
        assert plugins[PLUGIN]["status"] == "enabled"

        assert _get(a + PLUGIN_ROUTE)[0] == 401
        assert _get(b + PLUGIN_ROUTE)[0] == 401
        result = _revenge("plugins", "disable", PLUGIN, env=env)
        assert result.returncode == 0, result.stderr
        assert _wait_status(b + PLUGIN_ROUTE, 404, within=2.0) <= 2.0
        assert _wait_status(a + PLUGIN_ROUTE, 404, within=2.0) <= 2.0

        listing = _revenge("plugins", "list", "--json", env=env)
        plugins = {row["name"]: row for row in json.loads(listing.stdout)}
        assert plugins[PLUGIN]["status"] == "disabled"

        assert _revenge("plugins", "enable", PLUGIN, env=env).returncode == 0
        _wait_status(b + PLUGIN_ROUTE, 401, within=2.0)
        _wait_status(a + PLUGIN_ROUTE, 401, within=2.0)

        migrations = _revenge("migrate", "status", env=env)
        assert migrations.returncode == 0, migrations.stderr
        assert "0001_core_plugin_state" in migrations.stdout and "pending" not in migrations.stdout


def test_production_mode_runs_on_postgres_redis_and_typesense(tmp_path: Path, pg_url: str, redis_url: str,
                                                               typesense) -> None:
    env = _env(tmp_path, REVENGE_DATABASE_DRIVER="postgres", REVENGE_DATABASE_URL=pg_url,
               REVENGE_CACHE_URL=redis_url, REVENGE_SEARCH_URL=typesense.url,
               REVENGE_SEARCH_API_KEY=typesense.api_key)
    with server(env, tmp_path / "a.log") as a, server(env, tmp_path / "b.log") as b:
        status, body = _get(a + "/health/ready")
        assert status == 200, body
        checks = body["checks"]
        assert checks["database"]["driver"] == "postgres"
        assert checks["cache"]["backend"] == "redis"
        assert checks["search"]["backend"] == "typesense"
        assert checks["jobs"]["backend"] == "redis"

        assert _revenge("plugins", "disable", PLUGIN, env=env).returncode == 0
        _wait_status(b + PLUGIN_ROUTE, 404, within=2.0)
        _wait_status(a + PLUGIN_ROUTE, 404, within=2.0)
