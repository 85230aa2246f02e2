"""kill -9 of a real `mediaplane worker` in the middle of a delivery: after a new worker starts, the
delivery is made again with the same delivery id and succeeds (at least once). Real worker processes
on the machine's Redis, a real HTTP receiver on loopback that holds the first request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core.test_worker_crash import gone, wait_for
from tests.plugins.webhooks.common import FAST, account_headers, delivery_rows, fire_in, subscribe
from tests.plugins.webhooks.receiver import Receiver

REPO = Path(__file__).resolve().parents[3]
SETTINGS = {**FAST, "timeout_seconds": 5.0, "max_attempts": 5}


def start_worker(tmp_path, database_url, redis_url, name) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env.update(
        MEDIAPLANE__CORE__DATA_DIR=str(tmp_path / "data"),
        MEDIAPLANE__CORE__DATABASE_URL=database_url,
        MEDIAPLANE__CORE__REDIS_URL=redis_url,
        MEDIAPLANE__CORE__JOB_HEARTBEAT_SECONDS="1",
        MEDIAPLANE__CORE__JOB_RETRY_INTERVALS="1",
        PYTHONPATH=str(REPO),
    )
    for key, value in SETTINGS.items():
        env[f"MEDIAPLANE__PLUGINS__WEBHOOKS__{key.upper()}"] = (
            ",".join(value) if isinstance(value, list) else str(value)
        )
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "worker", "--queue", "webhooks"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def test_a_delivery_cut_by_kill_9_is_made_again_by_the_next_worker(
    make_app, database_url, redis_url, tmp_path, receiver
):
    app = make_app(
        {"plugins": {"webhooks": SETTINGS}, "core": {"job_heartbeat_seconds": 1, "job_retry_intervals": [1]}}
    )
    client = app.test_client()
    headers, account = account_headers(app)
    subscribe(client, headers, receiver.url)
    receiver.script = [("hold",)]  # the first attempt hangs inside the receiver until released

    workers = [start_worker(tmp_path, database_url, redis_url, "first")]
    try:
        fire_in(
            app, "participant_left", account_id=account, room_name="r", identity="bob", left_at=1767225600.0
        )
        first = receiver.wait_for(1, 60)[0]
        children = __import__("psutil").Process(workers[0].pid).children(recursive=True)
        row = delivery_rows(app)[0]
        assert row.status == "delivering" and row.attempts == 1

        workers[0].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        workers[0].wait(timeout=10)
        wait_for(lambda: all(gone(c.pid) for c in children), 10, "the killed worker's horse exits")
        workers.append(start_worker(tmp_path, database_url, redis_url, "second"))

        second = receiver.wait_for(2, 60)[1]
        redelivered_after = time.monotonic() - killed_at
        wait_for(lambda: delivery_rows(app)[0].status == "succeeded", 20, "the delivery succeeded")
    finally:
        receiver.held.set()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()

    # the same delivery (the receiver dedupes by its id), attempted anew and signed anew
    assert first["headers"]["X-Mediaplane-Delivery"] == second["headers"]["X-Mediaplane-Delivery"]
    assert json.loads(first["body"]) == json.loads(second["body"])
    assert second["headers"]["X-Mediaplane-Attempt"] == "2"
    # not before the dead attempt's lease ran out (timeout 5 s + 10 s), and not much later
    assert 10 <= redelivered_after <= 45, redelivered_after
    row = delivery_rows(app)[0]
    assert row.attempts == 2 and row.response_code == 200
