"""Domain metrics kept in Redis (core.shared_metrics): counted in forked job work horses and other
processes, summed on /metrics; job runs by outcome, queue depth, oldest job age, failed-job registry;
a Redis outage loses counts, never the work or /metrics."""

from __future__ import annotations

import multiprocessing
import re
import time

import pytest
from rq import Worker

from core.queue import enqueue, set_worker_app
from core.shared_metrics import SharedCounter, SharedHistogram
from tests.core import plugin_modules
from tests.core.test_queue import flaky
from tests.faults import OwnRedis

HOPS = SharedCounter("mediaplane_test_hops", "Hops counted by test processes", ["colour"])
SIZES = SharedHistogram(
    "mediaplane_test_sizes", "Sizes observed by test processes", ["colour"], buckets=(1, 5)
)


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample on /metrics (None when absent)."""
    wanted = {k: str(v) for k, v in labels.items()}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == wanted:
            return float(match.group(3))
    return None


def scrape(app) -> str:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def job_app(make_app, monkeypatch):
    @plugin_modules.hookimpl
    def register_jobs():
        return {"flaky": flaky}

    plugin_modules.install(monkeypatch, plugin_modules.plugin_module("jobs", register_jobs=register_jobs))
    app = make_app(
        {"plugins": {"jobs": {"enabled": True}}, "core": {"job_retries": 2, "job_retry_intervals": [0]}}
    )
    set_worker_app(app)
    return app


def forking_work(app, job, rounds: int = 6) -> None:
    """RQ's forking Worker, as in production: every run of the job is in a work horse forked for it."""
    redis = app.extensions["mediaplane"].redis
    for _ in range(rounds):
        Worker(["default"], connection=redis).work(burst=True, with_scheduler=True)
        job.refresh()
        if job.get_status() in ("finished", "failed"):
            return
        time.sleep(1.1)  # a retry is scheduled in whole seconds
    raise AssertionError(f"job still {job.get_status()}")


def test_a_retried_job_counts_one_retry_and_one_success_from_its_horses(job_app):
    with job_app.app_context():
        job = enqueue("jobs.flaky", 1)  # raises on its first run only
    forking_work(job_app, job)
    text = scrape(job_app)
    assert sample(text, "mediaplane_job_runs_total", job="jobs.flaky", outcome="retried") == 1
    assert sample(text, "mediaplane_job_runs_total", job="jobs.flaky", outcome="ok") == 1
    assert sample(text, "mediaplane_job_runs_total", job="jobs.flaky", outcome="failed") is None
    assert sample(text, "mediaplane_queue_failed_jobs", queue="default") == 0


def test_a_job_failing_every_retry_counts_two_retries_and_one_failure(job_app):
    with job_app.app_context():
        job = enqueue("jobs.flaky", 99)
    forking_work(job_app, job)
    text = scrape(job_app)
    assert sample(text, "mediaplane_job_runs_total", job="jobs.flaky", outcome="retried") == 2
    assert sample(text, "mediaplane_job_runs_total", job="jobs.flaky", outcome="failed") == 1
    assert sample(text, "mediaplane_queue_failed_jobs", queue="default") == 1


def test_queue_depth_and_the_age_of_the_oldest_waiting_job(job_app):
    text = scrape(job_app)
    assert sample(text, "mediaplane_queue_depth", queue="default") == 0
    assert sample(text, "mediaplane_queue_oldest_job_age_seconds", queue="default") == 0
    with job_app.app_context():
        enqueue("jobs.flaky", 0)
    time.sleep(1.5)
    with job_app.app_context():
        enqueue("jobs.flaky", 0)
    text = scrape(job_app)
    assert sample(text, "mediaplane_queue_depth", queue="default") == 2
    age = sample(text, "mediaplane_queue_oldest_job_age_seconds", queue="default")
    assert 1.5 <= age < 30  # the first job's wait, not the second's


def _count_in_child(app, colour: str, values: list[float]) -> None:
    with app.app_context():
        for value in values:
            HOPS.inc(colour=colour)
            SIZES.observe(value, colour=colour)


def test_counts_of_several_processes_add_up(make_app):
    app = make_app()
    fork = multiprocessing.get_context("fork")
    children = [
        fork.Process(target=_count_in_child, args=(app, "red", [0.5, 3])),
        fork.Process(target=_count_in_child, args=(app, "red", [7])),
        fork.Process(target=_count_in_child, args=(app, "blue", [1])),
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    text = scrape(app)
    assert sample(text, "mediaplane_test_hops_total", colour="red") == 3
    assert sample(text, "mediaplane_test_hops_total", colour="blue") == 1
    # cumulative buckets: red saw 0.5 (<= 1), 3 (<= 5) and 7 (> 5)
    assert sample(text, "mediaplane_test_sizes_bucket", colour="red", le="1.0") == 1
    assert sample(text, "mediaplane_test_sizes_bucket", colour="red", le="5.0") == 2
    assert sample(text, "mediaplane_test_sizes_bucket", colour="red", le="+Inf") == 3
    assert sample(text, "mediaplane_test_sizes_count", colour="red") == 3
    assert sample(text, "mediaplane_test_sizes_sum", colour="red") == 10.5
    assert sample(text, "mediaplane_test_sizes_bucket", colour="blue", le="1.0") == 1


def test_wrong_labels_are_a_bug_not_a_silent_drop(make_app):
    app = make_app()
    with app.app_context(), pytest.raises(ValueError, match="colour"):
        HOPS.inc(shade="red")
    with app.app_context(), pytest.raises(ValueError, match="only go up"):
        HOPS.inc(-1, colour="red")


def test_redis_down_drops_counts_but_not_the_work_or_metrics(make_app):
    with OwnRedis() as server:
        app = make_app({"core": {"redis_url": server.url}})
        with app.app_context():
            HOPS.inc(colour="red")
        server.stop()
        with app.app_context():
            HOPS.inc(colour="red")  # no exception: the caller's work goes on
        response = app.test_client().get("/metrics")
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert re.search(r"^# TYPE mediaplane_test_hops(_total)? counter$", text, re.M)  # listed, no values
        assert sample(text, "mediaplane_test_hops_total", colour="red") is None
        server.start()  # a fresh server (no persistence): counting goes on from there
        with app.app_context():
            HOPS.inc(colour="red")
        assert sample(scrape(app), "mediaplane_test_hops_total", colour="red") == 1


def test_counts_kept_from_an_older_label_set_do_not_break_the_scrape(make_app):
    """An upgrade that adds a label (the collector's `protocol`) finds the old version's counts in a
    Redis that was kept: they are left out, the current ones are served."""
    from core.shared_metrics import KEY

    app = make_app()
    redis = app.extensions["mediaplane"].redis
    redis.hset(KEY + HOPS.name, '["red", "old-extra-label"]', 5)
    redis.hset(KEY + SIZES.name + ":buckets", '[["red", "x"], "1"]', 2)
    redis.hset(KEY + SIZES.name + ":sum", '["red", "x"]', 1.5)
    with app.app_context():
        HOPS.inc(colour="blue")
        SIZES.observe(3, colour="blue")
    text = scrape(app)
    assert sample(text, "mediaplane_test_hops_total", colour="blue") == 1
    assert sample(text, "mediaplane_test_sizes_count", colour="blue") == 1
    assert "old-extra-label" not in text and 'colour="red"' not in text
