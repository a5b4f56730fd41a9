"""The job queue: plugins' background work on huey, over SQLite or Redis.

Embedded, the queue lives in ``<data_dir>/jobs.db`` and its consumer runs as threads inside
the server. In production it lives on Redis (``cache.url``) and ``revenge worker`` processes
consume it; any number of servers and workers may share it.

One generic huey task carries ``(job name, payload, attempt, plugin)``; the :class:`Job` is
looked up in the registry when the run starts, so a job whose plugin was disabled or removed
meanwhile is dropped instead of run. Failures are retried with exponential backoff
(``retry_delay * 2**attempt``). Schedules are checked once per minute by every consumer's
scheduler thread; a claim in the shared storage makes each one fire once per minute however
many consumers run.

Delivery is at least once: a job cancelled at shutdown goes back to the queue (its attempt
unchanged), and a synchronous job, which cannot be interrupted, may still complete in the
thread it was abandoned in. Jobs should therefore be idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import inspect
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import huey
import huey.serializer
from huey.consumer import BaseProcess, Consumer, Worker
from huey.registry import Message
from loguru import logger

from revenge_hookspecs.types import Job, Schedule, job_payload

from .config import Config
from .plugins.registry import Registry

COUNTERS = ("succeeded", "failed", "retried")
SCHEDULER_INTERVAL = 1.0  # seconds between two looks at delayed tasks and schedules
IDLE_POLL_MAX = 1.0  # longest nap of an idle SQLite worker before it looks for work again
JOIN_GRACE = 2.0  # seconds to let worker threads wind down once no job is left to wait for
CATCH_UP = timedelta(minutes=5)  # longer scheduler stalls fire only the current minute
CLAIM_PREFIX = "revenge:jobs:schedule:"
CLAIM_TTL = timedelta(hours=1)


# --- schedules ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def parse_crontab(expression: str) -> Callable[[datetime], bool]:
    """A test for datetimes matching ``minute hour day month day_of_week``.

    Fields take ``*``, numbers, ``a-b``, ``a-b/n``, ``*/n`` and lists; day of week is 0-6 from
    Sunday (7 is Sunday too). As in huey, day and day of week must both match.

    :raises ValueError: when the expression is not five valid fields.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"crontab {expression!r} must have five fields")
    minute, hour, day, month, day_of_week = fields
    return huey.crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week,
                        strict=True)


def due_schedules(schedules: Iterable[tuple[str, Schedule]], at: datetime) -> list[tuple[str, Schedule]]:
    """The ``(plugin, schedule)`` pairs whose crontab matches the minute of ``at``.

    Seconds are ignored. A schedule with an invalid crontab is logged and skipped.
    """
    due = []
    for plugin, schedule in schedules:
        try:
            matches = parse_crontab(schedule.crontab)
        except ValueError as exc:
            logger.warning("Schedule {} of plugin {} is skipped: {}", schedule.name, plugin, exc)
            continue
        if matches(at):
            due.append((plugin, schedule))
    return due



# --- consumer plumbing ----------------------------------------------------------------------


@attrs.define(eq=False)
class _Run:
    """One job run in progress in this process."""

    id: str
    job: Job
    plugin: str
    payload: dict[str, Any]
    attempt: int
    thread: threading.Thread
    is_async: bool
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task | None = None
    cancelled: bool = False


class _Worker(Worker):
    # Naps on the queue's wake-up event rather than the stop flag, so a job enqueued by this
    # process starts at once instead of after the idle back-off.
    def __init__(self, queue: JobQueue, **kwargs: Any):
        self._queue = queue
        super().__init__(**kwargs)

    def sleep(self) -> None:
        if self.stop_flag.is_set():
            return
        if self._queue._work_ready.wait(self.delay):
            self._queue._work_ready.clear()
            self.delay = self.default_delay
        else:
            self.delay = min(self.delay * self.backoff, self.max_delay)


class _Scheduler(BaseProcess):
    process_name = "Scheduler"

    def __init__(self, huey_: huey.Huey, stop_flag: threading.Event, queue: JobQueue):
        super().__init__(huey_, stop_flag)
        self._queue = queue

    def loop(self, now: datetime | None = None) -> None:
        self._queue._scheduler_pass()


class _Consumer(Consumer):
    def __init__(self, queue: JobQueue, workers: int):
        self._queue = queue
        super().__init__(queue.huey, workers=workers, periodic=False, initial_delay=0.1, backoff=1.5,
                         max_delay=IDLE_POLL_MAX, worker_type="thread")

    def _create_worker(self) -> Worker:
        return _Worker(self._queue, huey=self.huey, stop_flag=self.stop_flag,
                       default_delay=self.default_delay, max_delay=self.max_delay,
                       backoff=self.backoff, max_tasks=self.max_tasks)

    def _create_scheduler(self) -> BaseProcess:
        return _Scheduler(self.huey, self.stop_flag, self._queue)

    def _set_signal_handlers(self) -> None:
        # The process that embeds the consumer owns its signals (see JobQueue.run_worker).
        pass

    def threads(self) -> list[threading.Thread]:
        return [thread for _, thread in self.worker_threads] + [self.scheduler]


# --- the queue ------------------------------------------------------------------------------


class PluginJobQueue:
    """The job queue as one plugin sees it (the ``PluginJobs`` protocol)."""

    def __init__(self, queue: JobQueue, plugin: str):
        self._queue = queue
        self.name = plugin

    def enqueue(self, job: str, payload: Mapping[str, Any] | None = None, *, delay: float = 0) -> str:
        """Queue a job by name; returns its id."""
        return self._queue.enqueue(job, payload, delay=delay, plugin=self.name)



CORE_OWNER = "core"
"""The owner name under which the core itself registers jobs and schedules."""

def _encode(value: Any) -> Any:
    if isinstance(value, Message):
        return {"__message__": [_encode(v) for v in value]}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": {str(k): _encode(v) for k, v in value.items()}}
    if isinstance(value, bytes):
        return {"__bytes__": value.decode("latin-1")}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__message__" in value:
        return Message(*(_decode(v) for v in value["__message__"]))
    if "__datetime__" in value:
        return datetime.fromisoformat(value["__datetime__"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__bytes__" in value:
        return value["__bytes__"].encode("latin-1")
    return {k: _decode(v) for k, v in value["__dict__"].items()}


class JsonSerializer(huey.serializer.Serializer):
    """Queue messages as JSON instead of pickle.

    Whoever can write to the queue's Redis (or SQLite file) must not be able to run code in
    the workers; JSON can only ever decode to data.
    """

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(_encode(data), separators=(",", ":"), allow_nan=False).encode()

    def _deserialize(self, data: bytes) -> Any:
        return _decode(json.loads(data))


class JobQueue:
    """Plugins' background jobs and schedules on huey.

    :param config: the server configuration; ``cache.url`` moves the queue onto Redis.
    :param registry: where jobs and schedules of enabled plugins are looked up at run time.
    :param context_for: ``context_for(plugin)`` gives the context a job of that plugin gets.
    :param is_enabled: ``is_enabled(plugin)``; runs of a disabled plugin's jobs are dropped.
    """

    def __init__(self, config: Config, registry: Registry, *, context_for: Callable[[str], Any],
                 is_enabled: Callable[[str], bool]):
        self.config = config
        self.registry = registry
        # The core registers jobs too (owner "core"): always enabled, and its jobs take no context.
        self.context_for = lambda owner: None if owner == CORE_OWNER else context_for(owner)
        self.is_enabled = lambda owner: owner == CORE_OWNER or is_enabled(owner)
        # The event loop that owns plugin contexts; coroutine jobs run on it when set.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clock: Callable[[], datetime] = datetime.now
        """Local wall time that schedules are matched against; tests replace it."""
        if config.cache.url:
            self.backend = "redis"
            self.huey: huey.Huey = huey.PriorityRedisHuey("revenge", url=config.cache.url, results=False,
                                                          serializer=JsonSerializer())
        else:
            self.backend = "sqlite"
            config.data_dir.mkdir(parents=True, exist_ok=True)
            self.huey = huey.SqliteHuey("revenge", filename=str(config.data_dir / "jobs.db"), results=False,
                                        serializer=JsonSerializer())
        self._task = self.huey.task(context=True, name="run_job")(self._run_task)
        self._lock = threading.Lock()
        self._running: set[_Run] = set()
        self._cancelled: list[str] = []
        self._etas: list[datetime] = []
        self._last_minute: datetime | None = None
        self._consumer: _Consumer | None = None
        self._stopping = threading.Event()
        self._hard = threading.Event()
        self._work_ready = threading.Event()
        self._scheduler_wake = threading.Event()
        self._signals = 0

    # --- enqueueing ---

    def enqueue(self, job: str, payload: Mapping[str, Any] | None = None, *, delay: float = 0,
                plugin: str | None = None) -> str:
        """Queue a registered job by name, to run after ``delay`` seconds; returns its id.

        :param plugin: the plugin asking, for the logs.
        :raises ValueError: for an unknown job, a disabled plugin's job, a negative delay or a
            payload that is not a JSON-serialisable mapping.
        """
        found = self.registry.get("jobs", job)
        if found is None:
            raise ValueError(f"unknown job {job!r}: no enabled plugin registers it")
        owner, registered = found
        if not self.is_enabled(owner):
            raise ValueError(f"job {job!r} belongs to plugin {owner!r}, which is disabled")
        if delay < 0:
            raise ValueError(f"the delay of job {job!r} must not be negative, got {delay}")
        data = job_payload(job, payload)
        job_id = self._submit(job, data, 0, owner, delay=delay, priority=registered.priority)
        logger.debug("Queued job {} ({}){}", job, job_id, f" for plugin {plugin}" if plugin else "")
        return job_id

    def for_plugin(self, plugin: str) -> PluginJobQueue:
        """The queue handed to ``plugin`` in its context."""
        return PluginJobQueue(self, plugin)

    def _submit(self, job: str, payload: dict[str, Any], attempt: int, plugin: str, *,
                delay: float = 0, priority: int = 0, job_id: str | None = None) -> str:
        task = self._task.s(job, payload, attempt, plugin, id=job_id,
                            delay=delay if delay > 0 else None, priority=priority or None)
        if task.eta is None:
            self.huey.enqueue(task)
            self._work_ready.set()
        else:
            # Straight into the schedule: through the queue it would cost a worker round trip.
            self.huey.add_schedule(task)
            with self._lock:
                heapq.heappush(self._etas, task.eta)
            self._scheduler_wake.set()
        return task.id

    # --- running ---

    def _run_task(self, job_name: str, payload: dict[str, Any], attempt: int, plugin: str,
                  task: huey.api.Task) -> None:
        found = self.registry.get("jobs", job_name)
        owner, job = found if found is not None else (plugin, None)
        run = None
        if job is not None and self.is_enabled(owner):
            run = _Run(task.id, job, owner, payload, attempt, threading.current_thread(),
                       inspect.iscoroutinefunction(job.func))
        with self._lock:
            stopping = self._stopping.is_set()
            if run is not None and not stopping:
                self._running.add(run)
        if stopping:
            # Taken off the queue while shutting down (when plugins may be stopping too): hand
            # it back untouched and let the next consumer decide.
            self._submit(job_name, payload, attempt, plugin, priority=job.priority if job else 0,
                         job_id=task.id)
            return
        if job is None:
            logger.warning("Dropped job {} ({}): no enabled plugin registers it any more", job_name, task.id)
            return
        if run is None:
            logger.info("Dropped job {} ({}): plugin {} is disabled", job_name, task.id, owner)
            return

        error: BaseException | None = None
        started = time.monotonic()
        try:
            self._call(run)
        except (asyncio.CancelledError, Exception) as exc:
            error = exc
        finally:
            with self._lock:
                self._running.discard(run)
                cancelled = run.cancelled
        if cancelled:
            # stop_consumer has already put it back in the queue.
            return
        if error is None:
            self._count("succeeded")
            logger.info("Job {} ({}) done in {:.3f}s", job.name, run.id, time.monotonic() - started)
        else:
            self._failed(run, error)

    def _call(self, run: _Run) -> None:
        func = run.job.func
        context = self.context_for(run.plugin)
        if inspect.iscoroutinefunction(func):
            self._run_coroutine(run, lambda: func(context, **run.payload))
            return
        result = func(context, **run.payload)
        if inspect.isawaitable(result):
            self._run_coroutine(run, lambda: result)

    def _run_coroutine(self, run: _Run, start: Callable[[], Any]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            asyncio.run(self._run_async(run, start))
            return
        # The server's loop owns the cache's Redis client, HTTP sessions and event handlers
        # that a plugin's context hands out, so coroutine jobs run there, not on a loop of
        # their own; this worker thread only waits.
        asyncio.run_coroutine_threadsafe(self._run_async(run, start), loop).result()

    async def _run_async(self, run: _Run, start: Callable[[], Any]) -> None:
        with self._lock:
            run.loop = asyncio.get_running_loop()
            run.task = asyncio.current_task()
            cancelled = run.cancelled
        if cancelled:
            raise asyncio.CancelledError
        async with asyncio.timeout(run.job.timeout):
            await start()

    def _failed(self, run: _Run, error: BaseException) -> None:
        job = run.job
        if isinstance(error, TimeoutError) and job.timeout is not None:
            reason = f"timed out after {job.timeout}s"
        else:
            reason = f"{type(error).__name__}: {error}"
        if run.attempt < job.retries:
            delay = job.retry_delay * 2 ** run.attempt
            self._count("retried")
            logger.warning("Job {} ({}) failed on attempt {} of {}, retrying in {:.2f}s: {}", job.name,
                           run.id, run.attempt + 1, job.retries + 1, delay, reason)
            self._submit(job.name, run.payload, run.attempt + 1, run.plugin, delay=delay,
                         priority=job.priority, job_id=run.id)
        else:
            self._count("failed")
            logger.opt(exception=error).error("Job {} ({}) of plugin {} failed after {} attempt(s): {}",
                                              job.name, run.id, run.plugin, run.attempt + 1, reason)

    def _count(self, name: str) -> None:
        try:
            self.huey.storage.incr(name)
        except Exception as exc:
            logger.warning("Could not count a {} job: {}", name, exc)

    # --- the scheduler thread ---

    def _scheduler_pass(self) -> None:
        now = self.huey._get_timestamp()
        try:
            due = self.huey.read_schedule(now)
            for task in due:
                self.huey.enqueue(task)
            if due:
                self._work_ready.set()
        except Exception:
            logger.exception("Could not move delayed jobs to the queue")
        try:
            self._fire_schedules()
        except Exception:
            logger.exception("Could not run the job schedules")
        self._scheduler_wake.clear()
        with self._lock:
            while self._etas and self._etas[0] <= now:
                heapq.heappop(self._etas)
            wait = SCHEDULER_INTERVAL
            if self._etas:
                wait = min(wait, (self._etas[0] - self.huey._get_timestamp()).total_seconds() + 0.001)
        if wait > 0:
            self._scheduler_wake.wait(wait)

    def _fire_schedules(self) -> None:
        minute = self.clock().replace(second=0, microsecond=0)
        last = self._last_minute
        if last is not None and minute <= last:
            return
        if last is None or minute - last > CATCH_UP:
            minutes = [minute]
        else:
            # A pass that came late (busy storage, slow machine) still covers every minute.
            count = int((minute - last) / timedelta(minutes=1))
            minutes = [last + timedelta(minutes=step) for step in range(1, count + 1)]
        schedules = self.registry.items("schedules")
        if schedules:
            self._forget_claims(minute - CLAIM_TTL)
            for at in minutes:
                self._fire_schedules_at(at, schedules)
        self._last_minute = minute

    def _fire_schedules_at(self, at: datetime, schedules: list[tuple[str, Schedule]]) -> list[str]:
        fired = []
        for plugin, schedule in due_schedules(schedules, at):
            if not self.is_enabled(plugin):
                continue
            found = self.registry.get("jobs", schedule.job)
            if found is None or not self.is_enabled(found[0]):
                logger.warning("Schedule {} of plugin {} names job {}, which no enabled plugin registers",
                               schedule.name, plugin, schedule.job)
                continue
            if not self._claim(f"{CLAIM_PREFIX}{at:%Y%m%d%H%M}:{schedule.name}"):
                continue  # another consumer fired it for this minute
            try:
                self.enqueue(schedule.job, schedule.payload, plugin=plugin)
            except ValueError as exc:
                logger.warning("Schedule {} of plugin {} could not queue its job: {}", schedule.name, plugin, exc)
                continue
            fired.append(schedule.name)
            logger.info("Schedule {} queued job {}", schedule.name, schedule.job)
        return fired

    def _claim(self, key: str) -> bool:
        """True for the first consumer to claim ``key``, False for every other one."""
        if self.backend == "redis":
            ttl = int(CLAIM_TTL.total_seconds())
            return bool(self.huey.storage.conn.set(key, b"1", nx=True, ex=ttl))
        return bool(self.huey.put_if_empty(key, b"1"))

    def _forget_claims(self, before: datetime) -> None:
        if self.backend == "redis":
            return  # claims expire on their own
        storage = self.huey.storage
        storage.sql("delete from kv where queue = ? and key >= ? and key < ?",
                    (storage.name, CLAIM_PREFIX, f"{CLAIM_PREFIX}{before:%Y%m%d%H%M}"), commit=True)

    # --- consumer lifecycle ---

    def start_consumer(self, workers: int | None = None) -> None:
        """Run the consumer as threads of this process: ``workers`` job threads and a scheduler.

        No signal handler is installed: the embedding process owns its signals and calls
        :meth:`stop_consumer`.
        """
        with self._lock:
            if self._consumer is not None and not self._stopping.is_set():
                raise RuntimeError("the job consumer is already running")
            self._stopping.clear()
            self._hard.clear()
            self._cancelled = []
            self._last_minute = None
        count = workers or self.config.jobs.workers
        consumer = _Consumer(self, count)
        consumer.start()
        self._consumer = consumer
        logger.info("Job consumer started: {} worker(s) on {}", count, self.backend)

    def stop_consumer(self, graceful: bool = True, timeout: float | None = None) -> list[str]:
        """Stop the consumer and return the names of the jobs it cancelled.

        Graceful: take no new job and wait up to ``timeout`` seconds (``jobs.shutdown_timeout``
        by default) for running ones, then cancel what is left. Not graceful: cancel at once.
        Cancelled jobs go back to the queue with their attempt unchanged; coroutine jobs are
        really cancelled, synchronous ones are abandoned in their thread.

        A graceful stop blocks; a second, non-graceful call from another thread cuts it short.
        """
        consumer = self._consumer
        if consumer is None:
            return []
        self._stopping.set()
        if not graceful:
            self._hard.set()
        consumer.stop_flag.set()
        self._work_ready.set()
        self._scheduler_wake.set()
        if graceful and not self._hard_requested():
            limit = self.config.jobs.shutdown_timeout if timeout is None else timeout
            if self._busy():
                logger.info("Stopping the job consumer: waiting up to {}s for running jobs", limit)
            deadline = time.monotonic() + limit
            while self._busy() and time.monotonic() < deadline and not self._hard_requested():
                time.sleep(0.02)
            if self._hard_requested():
                logger.warning("Stopping the job consumer now: cancelling running jobs")
            elif self._busy():
                logger.warning("Jobs still running after {}s: cancelling them", limit)
        self._cancel_running()
        with self._lock:
            # Threads stuck in synchronous jobs are left behind; coroutine jobs unwind quickly.
            abandoned = {run.thread for run in self._running if not run.is_async}
        deadline = time.monotonic() + JOIN_GRACE
        for thread in consumer.threads():
            if thread not in abandoned:
                thread.join(max(deadline - time.monotonic(), 0))
        if self._consumer is consumer:
            self._consumer = None
        logger.info("Job consumer stopped")
        return list(self._cancelled)

    def _hard_requested(self) -> bool:
        return self._hard.is_set() or self._signals > 1

    def _busy(self) -> bool:
        with self._lock:
            return any(not run.cancelled for run in self._running)

    def _cancel_running(self) -> None:
        with self._lock:
            self._hard.set()
            runs = [run for run in self._running if not run.cancelled]
            for run in runs:
                run.cancelled = True
                self._cancelled.append(run.job.name)
        for run in runs:
            # Back in the queue first: if the process dies now, the job is not lost.
            self._submit(run.job.name, run.payload, run.attempt, run.plugin,
                         priority=run.job.priority, job_id=run.id)
            if run.loop is not None and run.task is not None:
                try:
                    run.loop.call_soon_threadsafe(run.task.cancel)
                except RuntimeError:
                    pass  # its loop has just closed: the job ended on its own
            logger.warning("Cancelled job {} ({}); it is back in the queue", run.job.name, run.id)

    def run_worker(self, workers: int | None = None) -> int:
        """Consume jobs in the foreground until SIGINT or SIGTERM; returns the exit code.

        The first signal stops taking jobs and lets running ones finish within
        ``jobs.shutdown_timeout``; a second one cancels them (they go back to the queue).
        """
        def on_signal(signum: int, frame: Any) -> None:
            # Only a counter: a handler that took a lock could deadlock with the main thread.
            self._signals += 1

        self._signals = 0
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {signum: signal.signal(signum, on_signal) for signum in handled}
        try:
            try:
                self.start_consumer(workers)
            except Exception as exc:
                logger.error("The job worker could not start: {}", exc)
                return 1
            logger.info("Job worker running; stop it with Ctrl+C or SIGTERM")
            next_check = time.monotonic() + 10
            while not self._signals:
                time.sleep(0.1)
                consumer = self._consumer
                if consumer is not None and time.monotonic() >= next_check:
                    consumer.check_worker_health()
                    next_check = time.monotonic() + 10
            logger.info("Stopping: running jobs may finish within {}s; signal again to stop now",
                        self.config.jobs.shutdown_timeout)
            cancelled = self.stop_consumer(graceful=True)
            if cancelled:
                logger.warning("Cancelled and queued again: {}", ", ".join(cancelled))
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # --- state ---

    def health(self) -> dict[str, Any]:
        """Queue facts for the health endpoint; raises when the storage cannot be reached.

        ``pending`` counts jobs waiting in the queue or for their delay; ``running`` counts
        this process's runs; the totals are shared by every consumer of the queue.
        """
        storage = self.huey.storage
        pending = storage.queue_size() + storage.schedule_size()
        totals = {name: storage.incr(name, 0) for name in COUNTERS}
        with self._lock:
            running = sum(1 for run in self._running if not run.cancelled)
        consumer = self._consumer
        alive = (consumer is not None and not self._stopping.is_set()
                 and all(thread.is_alive() for thread in consumer.threads()))
        return {"backend": self.backend, "pending": pending, "running": running,
                "consumer_alive": alive, **totals}

    def close(self) -> None:
        """Stop the consumer if it still runs (cancelling its jobs) and release the storage."""
        if self._consumer is not None:
            self.stop_consumer(graceful=False)
        storage = self.huey.storage
        if self.backend == "redis":
            storage.pool.disconnect()
        else:
            storage.close()
