"""Cold start: from launching `revenge serve` to /health/ready answering 200.

Every installed plugin is loaded (the built-in ones and the example). Each run uses a fresh
data folder, so it includes creating the database and applying every migration; a second
figure restarts on the same folder (what a user sees after the first start).

    .venv/bin/python bench/cold_start.py [--runs 5] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import PostgresServer, free_port


def start_once(env: dict[str, str]) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "revenge_core", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("REVENGE_")}
    base.update({"REVENGE_SERVER_HOST": "127.0.0.1", "REVENGE_LOGGING_LEVEL": "WARNING"})
    setups = [("sqlite", {})]
    pg = None
    if args.postgres:
        pg = PostgresServer()
        setups.append(("postgres", {"REVENGE_DATABASE_DRIVER": "postgres"}))
    for name, extra in setups:
        fresh, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as data:
                env = {**base, **extra, "REVENGE_DATA_DIR": data}
                if pg is not None and name == "postgres":
                    env["REVENGE_DATABASE_URL"] = pg.create_database()
                fresh.append(start_once(env))
                warm.append(start_once(env))
        print(f"{name:8} fresh data folder: median {statistics.median(fresh):.3f}s "
              f"(min {min(fresh):.3f}s, max {max(fresh):.3f}s, n={len(fresh)})")
        print(f"{name:8} existing data:     median {statistics.median(warm):.3f}s "
              f"(min {min(warm):.3f}s, max {max(warm):.3f}s, n={len(warm)})")
    if pg is not None:
        pg.cleanup()


if __name__ == "__main__":
    main()
