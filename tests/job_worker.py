"""A `revenge worker` stand-in for tests/test_jobs.py: one plugin with a napping job.

Run as ``python -m tests.job_worker DATA_DIR [REDIS_URL]``; it consumes the queue with
:meth:`JobQueue.run_worker` and exits with its return code. The tests build the same queue
with :func:`build_queue` to enqueue work and to look at the queue afterwards.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from revenge_core.config import load_config
from revenge_core.jobs import JobQueue
from revenge_core.plugins.registry import Registry
from revenge_hookspecs.types import Job

SHUTDOWN_TIMEOUT = 5.0


async def nap(context: object, marker_dir: str, seconds: float) -> None:
    """Sleep, leaving marker files: ``started``, then ``finished`` or ``cancelled``."""
    markers = Path(marker_dir)
    (markers / "started").touch()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        (markers / "cancelled").touch()
        raise
    (markers / "finished").touch()


def build_queue(data_dir: str, redis_url: str = "") -> JobQueue:
    environ = {"REVENGE_DATA_DIR": data_dir, "REVENGE_JOBS_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)}
    if redis_url:
        environ["REVENGE_CACHE_URL"] = redis_url
    config = load_config(path=None, environ=environ)
    registry = Registry()
    registry.replace("napper", {"jobs": [Job("napper.nap", nap, retries=0)]})
    return JobQueue(config, registry, context_for=lambda plugin: plugin, is_enabled=lambda plugin: True)


if __name__ == "__main__":
    queue = build_queue(*sys.argv[1:3])
    try:
        code = queue.run_worker(workers=1)
    finally:
        queue.close()
    sys.exit(code)
