"""A worker killed with -9 mid-job: its job runs again within a minute and no child is left behind.

Real `mediaplane worker` processes on the machine's Redis, default job settings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis

from core.queue import enqueue
from tests.core import crash_worker, plugin_modules

REPO = Path(__file__).resolve().parents[2]
RERUN_WITHIN_SECONDS = 60


def start_worker(tmp_path, redis_url, name) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env.update(
        MEDIAPLANE__CORE__DATA_DIR=str(tmp_path / "data"),
        MEDIAPLANE__CORE__REDIS_URL=redis_url,
        MEDIAPLANE__PLUGINS__HOLDER__ENABLED="true",
        PYTHONPATH=str(REPO),
    )
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.crash_worker"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def holder_app(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, crash_worker.MODULE)
    return make_app({"plugins": {"holder": {"enabled": True}}})


def test_killed_workers_job_reruns_within_a_minute_and_leaves_no_orphan(holder_app, redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    workers = [start_worker(tmp_path, redis_url, "first")]
    try:
        with holder_app.app_context():
            job = enqueue("holder.hold", "crash")
        # the first run blocks inside the first worker's work horse
        wait_for(lambda: client.get("hold:crash:runs") == b"1", 60, "first run started")
        first = psutil.Process(workers[0].pid)
        children = first.children(recursive=True)
        horse_pid = int(client.lindex("hold:crash:pids", 0))
        assert horse_pid in {c.pid for c in children}
        assert len(children) >= 2, children  # the work horse and the scheduler process

        workers[0].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        workers[0].wait(timeout=10)
        workers.append(start_worker(tmp_path, redis_url, "second"))

        # no orphan: the horse and the scheduler die with their worker
        wait_for(lambda: all(gone(c.pid) for c in children), 10, "children of the killed worker exit")

        wait_for(lambda: client.get("hold:crash:done"), RERUN_WITHIN_SECONDS + 5, "the job re-ran")
        rerun_after = time.monotonic() - killed_at
        assert rerun_after <= RERUN_WITHIN_SECONDS, rerun_after
        assert client.get("hold:crash:runs") == b"2"
        assert int(client.lindex("hold:crash:pids", 1)) != horse_pid
        job.refresh()
        wait_for(lambda: job.refresh() or job.get_status() == "finished", 10, "job finished")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        client.close()
    second_children = [p for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == workers[1].pid]
    assert second_children == []
