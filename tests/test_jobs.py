"""The job queue on real storage: SQLite files and a real redis-server."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from revenge_core.config import Config
from revenge_core.jobs import JobQueue, due_schedules
from revenge_core.plugins.registry import Registry
from revenge_hookspecs.context import PluginJobs
from revenge_hookspecs.types import Job, Schedule
from tests.fixtures import make_config
from tests.job_worker import SHUTDOWN_TIMEOUT, build_queue
from tests.servers import free_port

REPO = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.01)


class Host:
    """A registry, the set of enabled plugins, and the queues built on them."""

    def __init__(self, config: Config):
        self.config = config
        self.registry = Registry()
        self.enabled: set[str] = set()
        self.queues: list[JobQueue] = []

    def plugin(self, name: str, *jobs: Job, schedules: tuple[Schedule, ...] = ()) -> None:
        self.registry.replace(name, {"jobs": list(jobs), "schedules": list(schedules)})
        self.enabled.add(name)

    def queue(self) -> JobQueue:
        queue = JobQueue(self.config, self.registry, context_for=lambda plugin: SimpleNamespace(name=plugin),
                         is_enabled=lambda plugin: plugin in self.enabled)
        self.queues.append(queue)
        return queue


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def redis_or_none(request: pytest.FixtureRequest, backend: str) -> str:
    return request.getfixturevalue("redis_url") if backend == "redis" else ""


@pytest.fixture
def host(tmp_path: Path, redis_or_none: str) -> Iterator[Host]:
    overrides = {"cache": {"url": redis_or_none}} if redis_or_none else {}
    host = Host(make_config(tmp_path, **overrides))
    yield host
    for queue in host.queues:
        queue.close()


# --- enqueueing and running -----------------------------------------------------------------


def test_a_job_runs_with_its_payload_and_its_plugins_context(host: Host, backend: str) -> None:
    calls = []
    host.plugin("mailer", Job("mailer.send", lambda context, **payload: calls.append((context.name, payload))))
    queue = host.queue()
    assert queue.backend == backend

    plugin_jobs = queue.for_plugin("other")
    assert isinstance(plugin_jobs, PluginJobs)
    job_id = plugin_jobs.enqueue("mailer.send", {"to": ["a@example.org"], "n": 1, "nested": {"x": None}})
    assert isinstance(job_id, str) and job_id
    assert queue.health()["pending"] == 1

    queue.start_consumer(workers=1)
    wait_until(lambda: calls)
    wait_until(lambda: queue.health()["succeeded"] == 1)
    assert calls == [("mailer", {"to": ["a@example.org"], "n": 1, "nested": {"x": None}})]
    health = queue.health()
    assert health == {"backend": backend, "pending": 0, "running": 0, "consumer_alive": True,
                      "succeeded": 1, "failed": 0, "retried": 0}


async def test_a_coroutine_job_runs_on_its_own_event_loop(host: Host) -> None:
    seen = []

    async def fetch(context, url):
        await asyncio.sleep(0.01)
        seen.append((context.name, url, threading.current_thread() is not threading.main_thread()))

    host.plugin("fetcher", Job("fetcher.fetch", fetch))
    queue = host.queue()
    queue.enqueue("fetcher.fetch", {"url": "http://example.org/"})
    queue.start_consumer(workers=1)
    # The test's own loop keeps running: jobs never borrow the caller's loop.
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert seen == [("fetcher", "http://example.org/", True)]


def test_a_coroutine_job_past_its_timeout_is_cancelled_and_fails(host: Host) -> None:
    ended = []

    async def stuck(context):
        try:
            await asyncio.sleep(30)
        finally:
            ended.append(time.monotonic())

    host.plugin("slow", Job("slow.stuck", stuck, retries=0, timeout=0.2))
    queue = host.queue()
    queue.start_consumer(workers=1)
    started = time.monotonic()
    queue.enqueue("slow.stuck")
    wait_until(lambda: queue.health()["failed"] == 1)
    assert ended and ended[0] - started < 5
    assert queue.health()["succeeded"] == 0


def test_a_delayed_job_waits_for_its_delay(host: Host) -> None:
    ran = []
    host.plugin("later", Job("later.run", lambda context: ran.append(time.monotonic())))
    queue = host.queue()
    queue.start_consumer(workers=1)
    queued = time.monotonic()
    queue.enqueue("later.run", delay=0.4)
    assert queue.health()["pending"] == 1
    wait_until(lambda: ran)
    assert ran[0] - queued >= 0.4


def test_unknown_and_disabled_jobs_cannot_be_queued(host: Host) -> None:
    host.plugin("mailer", Job("mailer.send", lambda context: None))
    queue = host.queue()
    with pytest.raises(ValueError, match=r"unknown job 'mailer\.nope'"):
        queue.enqueue("mailer.nope")
    host.enabled.discard("mailer")
    with pytest.raises(ValueError, match="disabled"):
        queue.enqueue("mailer.send")
    assert queue.health()["pending"] == 0


@pytest.mark.parametrize("payload", [
    {"when": datetime(2024, 1, 1)},
    {"tags": {"a", "b"}},
    {"ratio": float("nan")},
    {1: "not a keyword"},
    ["not", "a", "mapping"],
])
def test_payloads_must_be_json_mappings(host: Host, payload: object) -> None:
    host.plugin("mailer", Job("mailer.send", lambda context, **kw: None))
    queue = host.queue()
    with pytest.raises(ValueError, match=r"payload of job 'mailer\.send'"):
        queue.enqueue("mailer.send", payload)  # type: ignore[arg-type]
    assert queue.health()["pending"] == 0


def test_failures_are_retried_with_exponential_backoff(host: Host) -> None:
    attempts: list[float] = []

    def flaky(context):
        attempts.append(time.monotonic())
        raise ConnectionError("upstream down")

    host.plugin("flaky", Job("flaky.call", flaky, retries=3, retry_delay=0.1))
    queue = host.queue()
    queue.start_consumer(workers=2)
    queue.enqueue("flaky.call")
    wait_until(lambda: queue.health()["failed"] == 1)
    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    for gap, delay in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= delay
    assert gaps[0] < gaps[1] < gaps[2]
    health = queue.health()
    assert (health["retried"], health["failed"], health["succeeded"], health["pending"]) == (3, 1, 0, 0)


def test_a_job_that_recovers_counts_once_as_succeeded(host: Host) -> None:
    attempts = []

    def recovers(context):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    host.plugin("flaky", Job("flaky.once", recovers, retries=2, retry_delay=0.01))
    queue = host.queue()
    queue.start_consumer(workers=1)
    queue.enqueue("flaky.once")
    wait_until(lambda: queue.health()["succeeded"] == 1)
    health = queue.health()
    assert (len(attempts), health["retried"], health["failed"]) == (2, 1, 0)


def test_jobs_of_a_plugin_disabled_after_queueing_are_dropped(host: Host) -> None:
    ran = []
    host.plugin("gone", Job("gone.work", lambda context: ran.append("gone")))
    host.plugin("kept", Job("kept.work", lambda context: ran.append("kept")))
    queue = host.queue()
    queue.enqueue("gone.work")
    queue.enqueue("kept.work")
    host.enabled.discard("gone")
    # One worker takes jobs in order, so once the second has run the first was handled.
    queue.start_consumer(workers=1)
    wait_until(lambda: ran)
    wait_until(lambda: queue.health()["succeeded"] == 1)
    assert ran == ["kept"]
    health = queue.health()
    assert (health["pending"], health["failed"], health["retried"]) == (0, 0, 0)


# --- schedules --------------------------------------------------------------------------------


def schedule(name: str, crontab: str) -> tuple[str, Schedule]:
    return ("clock", Schedule(name, job="clock.tick", crontab=crontab))


def test_due_schedules_match_the_minute_of_a_time() -> None:
    schedules = [
        schedule("hourly", "0 * * * *"),
        schedule("office", "*/15 9-17 * * 1-5"),
        schedule("monthly", "30 4 1 * *"),
        schedule("sunday", "0 12 * * 0"),
        schedule("broken", "61 * * * *"),
        schedule("nonsense", "a b c d e"),
    ]

    def due(at: datetime) -> list[str]:
        return [item.name for _, item in due_schedules(schedules, at)]

    monday_noon = datetime(2024, 5, 6, 12, 0, 59)  # seconds do not matter
    assert due(monday_noon) == ["hourly", "office"]
    assert due(datetime(2024, 5, 6, 12, 1)) == []
    assert due(datetime(2024, 5, 6, 9, 45)) == ["office"]
    assert due(datetime(2024, 5, 6, 18, 0)) == ["hourly"]
    assert due(datetime(2024, 5, 5, 12, 0)) == ["hourly", "sunday"]
    assert due(datetime(2024, 6, 1, 4, 30)) == ["monthly"]


def test_a_schedule_fires_once_a_minute_however_many_consumers(host: Host) -> None:
    ticks = []
    host.plugin("clock", Job("clock.tick", lambda context, label: ticks.append(label)),
                schedules=(Schedule("every-minute", job="clock.tick", crontab="* * * * *",
                                    payload={"label": "each"}),
                           Schedule("at-dawn", job="clock.tick", crontab="30 4 * * *",
                                    payload={"label": "dawn"})))
    now = datetime(2024, 5, 6, 12, 0, 10)
    queues = [host.queue(), host.queue()]
    for queue in queues:
        queue.clock = lambda: now
        queue.start_consumer(workers=1)

    def settled(minute: datetime, count: int) -> None:
        wait_until(lambda: all(q._last_minute == minute for q in queues))
        wait_until(lambda: len(ticks) >= count)
        time.sleep(0.3)
        wait_until(lambda: all(q.health()["pending"] == 0 and q.health()["running"] == 0 for q in queues))

    settled(datetime(2024, 5, 6, 12, 0), 1)
    assert ticks == ["each"]

    now = datetime(2024, 5, 6, 12, 1, 5)
    settled(datetime(2024, 5, 6, 12, 1), 2)
    assert ticks == ["each", "each"]


# --- stopping ---------------------------------------------------------------------------------


def test_a_graceful_stop_lets_a_running_job_finish(host: Host) -> None:
    events = []
    host.plugin("slow", Job("slow.nap", lambda context: (events.append("start"), time.sleep(1),
                                                         events.append("end"))))
    queue = host.queue()
    queue.enqueue("slow.nap")
    queue.start_consumer(workers=1)
    wait_until(lambda: events)
    assert queue.health()["running"] == 1
    assert queue.stop_consumer(graceful=True, timeout=10) == []
    assert events == ["start", "end"]
    health = queue.health()
    assert (health["succeeded"], health["pending"], health["consumer_alive"]) == (1, 0, False)


def napping_coroutine_job(events: list[str]) -> Job:
    async def nap(context, seconds):
        events.append("start")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("end")

    return Job("slow.nap", nap, retries=3)


def assert_back_in_queue(queue: JobQueue, job_id: str) -> None:
    health = queue.health()
    assert (health["pending"], health["succeeded"], health["failed"], health["retried"]) == (1, 0, 0, 0)
    [task] = queue.huey.pending()
    assert task.id == job_id
    assert task.args == ("slow.nap", {"seconds": 30}, 0, "slow")  # the attempt is unchanged


def test_a_hard_stop_cancels_a_coroutine_job_and_queues_it_again(host: Host) -> None:
    events: list[str] = []
    host.plugin("slow", napping_coroutine_job(events))
    queue = host.queue()
    job_id = queue.enqueue("slow.nap", {"seconds": 30})
    queue.start_consumer(workers=1)
    wait_until(lambda: events)
    started = time.monotonic()
    assert queue.stop_consumer(graceful=False) == ["slow.nap"]
    assert time.monotonic() - started < 3
    assert events == ["start", "cancelled"]
    assert_back_in_queue(queue, job_id)


def test_a_graceful_stop_cancels_what_outlives_its_timeout(host: Host) -> None:
    events: list[str] = []
    host.plugin("slow", napping_coroutine_job(events))
    queue = host.queue()
    job_id = queue.enqueue("slow.nap", {"seconds": 30})
    queue.start_consumer(workers=1)
    wait_until(lambda: events)
    assert queue.stop_consumer(graceful=True, timeout=0.3) == ["slow.nap"]
    assert events == ["start", "cancelled"]
    assert_back_in_queue(queue, job_id)


def test_a_hard_stop_cuts_a_graceful_stop_short(host: Host) -> None:
    events: list[str] = []
    host.plugin("slow", napping_coroutine_job(events))
    queue = host.queue()
    job_id = queue.enqueue("slow.nap", {"seconds": 30})
    queue.start_consumer(workers=1)
    wait_until(lambda: events)
    graceful: list[list[str]] = []
    waiter = threading.Thread(target=lambda: graceful.append(queue.stop_consumer(graceful=True, timeout=30)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # the graceful stop is waiting for the job
    assert queue.stop_consumer(graceful=False) == ["slow.nap"]
    waiter.join(3)
    assert not waiter.is_alive()
    assert graceful == [["slow.nap"]]
    assert events == ["start", "cancelled"]
    assert_back_in_queue(queue, job_id)


def test_a_sync_job_cut_off_by_a_hard_stop_is_queued_again(host: Host) -> None:
    release = threading.Event()
    events = []
    host.plugin("slow", Job("slow.block", lambda context: (events.append("start"), release.wait(10))))
    queue = host.queue()
    queue.enqueue("slow.block")
    queue.start_consumer(workers=1)
    wait_until(lambda: events)
    try:
        started = time.monotonic()
        assert queue.stop_consumer(graceful=False) == ["slow.block"]
        assert time.monotonic() - started < 3
        assert queue.health()["pending"] == 1
    finally:
        release.set()


# --- the worker process -----------------------------------------------------------------------


def start_worker(tmp_path: Path, redis_url: str, seconds: float) -> tuple[subprocess.Popen, Path, str]:
    data_dir, markers = tmp_path / "worker-data", tmp_path / "markers"
    markers.mkdir()
    queue = build_queue(str(data_dir), redis_url)
    job_id = queue.enqueue("napper.nap", {"marker_dir": str(markers), "seconds": seconds})
    queue.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.job_worker", str(data_dir), redis_url],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (markers / "started").exists() or proc.poll() is not None, timeout=15)
    except AssertionError:
        proc.kill()
        raise
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    return proc, markers, job_id


def test_worker_finishes_its_job_on_sigterm_and_exits_0(tmp_path: Path, redis_or_none: str) -> None:
    proc, markers, _ = start_worker(tmp_path, redis_or_none, seconds=1.0)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=SHUTDOWN_TIMEOUT + 3)
    finally:
        proc.kill()
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert (markers / "finished").exists()
    queue = build_queue(str(tmp_path / "worker-data"), redis_or_none)
    try:
        health = queue.health()
        assert (health["pending"], health["succeeded"]) == (0, 1)
    finally:
        queue.close()


def test_worker_stops_at_once_on_a_second_signal_and_queues_the_job_again(
        tmp_path: Path, redis_or_none: str) -> None:
    proc, markers, job_id = start_worker(tmp_path, redis_or_none, seconds=30.0)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.poll() is None  # still waiting for the job
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=SHUTDOWN_TIMEOUT - 1)
    finally:
        proc.kill()
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert time.monotonic() - started < 3.5
    assert (markers / "cancelled").exists() and not (markers / "finished").exists()
    queue = build_queue(str(tmp_path / "worker-data"), redis_or_none)
    try:
        assert queue.health()["pending"] == 1
        [task] = queue.huey.pending()
        assert (task.id, task.args[0], task.args[2]) == (job_id, "napper.nap", 0)
    finally:
        queue.close()


# --- health -----------------------------------------------------------------------------------


def test_health_raises_when_redis_is_unreachable(tmp_path: Path) -> None:
    config = make_config(tmp_path, cache={"url": f"redis://127.0.0.1:{free_port()}/0"})
    queue = JobQueue(config, Registry(), context_for=lambda plugin: None, is_enabled=lambda plugin: True)
    try:
        assert queue.backend == "redis"
        with pytest.raises(Exception, match=r"(?i)connect"):
            queue.health()
    finally:
        queue.close()


def test_the_sqlite_queue_lives_in_the_data_dir(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    queue = JobQueue(config, Registry(), context_for=lambda plugin: None, is_enabled=lambda plugin: True)
    try:
        assert queue.backend == "sqlite"
        assert (config.data_dir / "jobs.db").is_file()
        assert queue.health()["consumer_alive"] is False
    finally:
        queue.close()



def test_queue_messages_are_json_not_pickle() -> None:
    """Whoever can write to the queue's storage must not be able to run code in a worker."""
    import pickle

    from huey.registry import Message

    from revenge_core.jobs import JsonSerializer

    serializer = JsonSerializer()
    eta = datetime(2026, 11, 23, 22, 0, 5)
    message = Message("id-1", "run_job", eta, 0, 0, 5, ("plugin.job", {"a": [1, "b"]}, 0, "plugin"), None)
    encoded = serializer.serialize(message)
    assert encoded.startswith(b"{") and b"plugin.job" in encoded
    assert serializer.deserialize(encoded) == message

    class Exploit:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    with pytest.raises(ValueError):
        serializer.deserialize(pickle.dumps(Exploit()))
