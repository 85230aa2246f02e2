"""SQLite writers inside one gevent worker: a transaction paused on I/O must not stall the worker.

Runs in a child process that monkey-patches like gunicorn's gevent worker. Without the per-process
writer lock, a second greenlet's write spins in SQLite's C busy handler (the worker's only thread)
while the first greenlet, holding the write lock, can never resume to commit: after busy_timeout
the second write fails with "database is locked" (CI saw this as 503s under a Redis outage).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, sys, time
    import gevent, peewee
    from core.db import bind, db, open_database, write_atomic

    database = open_database("", sys.argv[1])
    database._pragmas = [(k, 1500 if k == "busy_timeout" else v) for k, v in database._pragmas]
    bind(database)

    class Row(peewee.Model):
        value = peewee.TextField()
        class Meta:
            database = db

    with db.connection_context():
        db.create_tables([Row])

    outcome = {}

    def holder():
        with db.connection_context():
            with write_atomic():
                Row.create(value="holder")
                gevent.sleep(0.5)  # a Redis or HTTP call inside the transaction
                Row.create(value="holder-after-io")

    def writer(name, write):
        gevent.sleep(0.05)  # the holder has the lock by now
        started = time.monotonic()
        try:
            with db.connection_context():
                write(name)
            outcome[name] = ["ok", round(time.monotonic() - started, 2)]
        except peewee.OperationalError as error:
            outcome[name] = [str(error), round(time.monotonic() - started, 2)]

    def in_write_atomic(name):
        with write_atomic():
            Row.create(value=name)

    def in_deferred_atomic(name):
        with db.atomic():
            Row.select().count()
            Row.create(value=name)

    def autocommit(name):
        Row.create(value=name)

    gevent.joinall([
        gevent.spawn(holder),
        gevent.spawn(writer, "write_atomic", in_write_atomic),
        gevent.spawn(writer, "atomic", in_deferred_atomic),
        gevent.spawn(writer, "autocommit", autocommit),
    ])
    with db.connection_context():
        outcome["rows"] = sorted(r.value for r in Row.select())
    print(json.dumps(outcome))
    """
)


def test_writers_of_one_gevent_worker_wait_for_each_other_instead_of_failing(tmp_path: Path):
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("write_atomic", "atomic", "autocommit"):
        status, waited = outcome[name]
        assert status == "ok", outcome
        assert waited < 1.4, outcome  # waited for the holder's commit, not for busy_timeout
    assert outcome["rows"] == sorted(["holder", "holder-after-io", "write_atomic", "atomic", "autocommit"])
