"""Jobs on the real Redis: allow-list, app context and DB in jobs, retries with backoff, schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry

from core.queue import UnknownJob, enqueue, enqueue_in, run_job, set_worker_app
from tests.core import plugin_modules
from tests.core.gadget import plugin as gadget

ATTEMPTS_KEY = "test:attempts"


def flaky(fail_times: int) -> int:
    """Fails `fail_times` times, then succeeds; counts attempts in Redis (jobs run in other processes)."""
    from core.queue import redis_connection

    attempt = redis_connection().incr(ATTEMPTS_KEY)
    if attempt <= fail_times:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


def count_accounts() -> int:
    from core.models import Account

    return Account.select().count()


@pytest.fixture
def job_app(make_app, monkeypatch):
    @plugin_modules.hookimpl
    def register_jobs():
        return {"flaky": flaky, "count_accounts": count_accounts}

    plugin_modules.install(monkeypatch, plugin_modules.plugin_module("jobs", register_jobs=register_jobs))
    app = make_app(
        {"plugins": {"jobs": {"enabled": True}}, "core": {"job_retries": 2, "job_retry_intervals": [2]}}
    )
    set_worker_app(app)
    return app


def work(app, scheduler=False):
    redis = app.extensions["mediaplane"].redis
    SimpleWorker(["default"], connection=redis).work(burst=True, with_scheduler=scheduler)


def work_until(app, job, status, seconds=8.0):
    """Run burst workers with the scheduler until `job` reaches `status` (retries wait whole seconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        work(app, scheduler=True)
        job.refresh()
        if job.get_status() == status:
            return
        time.sleep(0.25)
    raise AssertionError(f"job still {job.get_status()} after {seconds} s")


def test_unknown_job_is_refused_at_enqueue(app):
    with app.app_context(), pytest.raises(UnknownJob, match="no enabled plugin registered job 'report.nope'"):
        enqueue("report.nope")


def test_job_of_a_disabled_plugin_is_refused_by_the_worker(app):
    set_worker_app(app)
    with pytest.raises(UnknownJob, match="gadget.make_gadget"):
        run_job("gadget.make_gadget", ["x"], {})


def test_jobs_run_with_app_context_and_database(job_app, new_key):
    new_key("report:read", account="one")
    with job_app.app_context():
        job = enqueue("jobs.count_accounts")
    work(job_app)
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 1


def test_failed_job_is_retried_after_its_backoff_interval(job_app):
    with job_app.app_context():
        job = enqueue("jobs.flaky", 1)
    redis = job_app.extensions["mediaplane"].redis
    work(job_app)
    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED  # waiting for its retry interval
    registry = ScheduledJobRegistry("default", connection=redis)
    assert job.id in registry
    # RQ keeps whole seconds: a 2 s interval is still at least 1 s away when we look.
    assert registry.get_scheduled_time(job) > datetime.now(UTC)
    assert job.retries_left == 1
    work_until(job_app, job, JobStatus.FINISHED)
    assert job.return_value() == 2
    assert int(redis.get(ATTEMPTS_KEY)) == 2


def test_a_delayed_job_is_scheduled_never_early_and_then_runs(job_app):
    before = datetime.now(UTC)
    with job_app.app_context():
        job = enqueue_in(1.2, "jobs.count_accounts")
    registry = ScheduledJobRegistry("default", connection=job_app.extensions["mediaplane"].redis)
    assert job.id in registry
    # whole seconds, rounded up: not before the 1.2 s asked for
    assert registry.get_scheduled_time(job).timestamp() >= before.timestamp() + 1.2
    work(job_app)
    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED  # not due yet
    work_until(job_app, job, JobStatus.FINISHED)


def test_job_failing_every_retry_ends_failed(job_app):
    with job_app.app_context():
        job = enqueue("jobs.flaky", 99)
    work_until(job_app, job, JobStatus.FAILED, seconds=12)
    assert int(job_app.extensions["mediaplane"].redis.get(ATTEMPTS_KEY)) == 3  # first run + 2 retries


def test_jobs_queue_on_the_plugin_chosen_queue(make_app, monkeypatch):
    from core.queue import job, queue_names

    @job(queue="heavy", retries=0, timeout=5)
    def crunch():
        return "crunched"

    @plugin_modules.hookimpl
    def register_jobs():
        return {"crunch": crunch}

    plugin_modules.install(monkeypatch, plugin_modules.plugin_module("cruncher", register_jobs=register_jobs))
    app = make_app({"plugins": {"cruncher": {"enabled": True}}})
    assert "heavy" in queue_names(app) and "default" in queue_names(app)
    with app.app_context():
        rq_job = enqueue("cruncher.crunch")
    assert rq_job.origin == "heavy" and rq_job.timeout == 5
    assert Queue("heavy", connection=app.extensions["mediaplane"].redis).count == 1


def test_schedule_thread_enqueues_due_jobs(make_app, monkeypatch):
    from core.queue import ScheduleThread

    plugin_modules.install(monkeypatch, gadget)
    app = make_app({"plugins": {"gadget": {"enabled": True}}})
    thread = ScheduleThread(app, tick_seconds=0.05)
    thread.start()
    try:
        deadline = time.time() + 5
        queue = Queue("default", connection=app.extensions["mediaplane"].redis)
        # Every enabled plugin's schedules on this queue (enabling a plugin adds its own).
        expected = sorted(n for n, s in app.extensions["mediaplane"].schedules if s.queue == "default")
        while queue.count < len(expected) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        thread.stopped.set()
        thread.join(2)
    names = sorted(j.description for j in queue.jobs)
    assert names == expected
    assert {
        "gadget.make_gadget",
        "report.mark_idle_rooms",
        "report.purge_expired",
        "rtcstats.purge_uploads",
    } <= set(names)


def test_a_workers_own_key_keeps_its_ttl_while_a_job_runs(job_app):
    """The job claim lasts a few heartbeats; the worker's registration must not lapse with it,
    or another worker's maintenance drops this one from `Worker.all` for good."""
    from core.queue import MediaplaneWorker

    redis = job_app.extensions["mediaplane"].redis
    with job_app.app_context():
        job = enqueue("jobs.count_accounts")
    worker = MediaplaneWorker(["default"], connection=redis, heartbeat_seconds=1)
    worker.register_birth()
    try:
        worker.prepare_job_execution(job)
        assert job.get_status(refresh=True) == JobStatus.STARTED
        assert redis.ttl(worker.key) > 60, redis.ttl(worker.key)  # RQ's worker TTL, not 1 + 2 beats
    finally:
        worker.register_death()
