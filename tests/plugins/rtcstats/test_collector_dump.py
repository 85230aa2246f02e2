"""The collector's dump lines and file without a server: what is written, dropped or compacted, and the
400 of a request whose WebSocket-ness does not match the route (tests/plugins/rtcstats/test_collector.py
drives the real WebSocket)."""

from __future__ import annotations

import json
import os
import time

import pytest

from plugins.rtcstats.collector_dump import DumpWriter, message_line
from plugins.rtcstats.collector_recovery import recover
from plugins.rtcstats.parsing.rtcstats_v3 import parse_v3

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ('[39,null,{"a":1},1758602115670]', b'[39,null,{"a":1},1758602115670]\n'),
        (b'["getstats","1",{},1000]', b'["getstats","1",{},1000]\n'),
        ('[ "x" ,\n null,\r\n 1, 2]', b'["x",null,1,2]\n'),
        ('{"statsSessionId": "a"}', None),
        ("[1, 2", None),
        ("", None),
        (b"\xff\xfe", None),
        ('"a string"', None),
    ],
    ids=["as-sent", "bytes", "multi-line-compacted", "object", "cut-off", "empty", "not-utf8", "string"],
)
def test_a_message_becomes_one_line_or_is_dropped(message, line):
    assert message_line(message) == line


def test_the_written_file_is_a_v3_dump_our_parser_reads(tmp_path):
    path = tmp_path / "live.rtcstats"
    writer = DumpWriter(path, {"url": "/c", "userAgent": "UA", "fileFormat": 3})
    for message in ('[39,null,{"hardwareConcurrency":4},1758602115670]', '["custom",null,"x",5]'):
        writer.write(message_line(message))
    writer.finish(1000)
    raw = path.read_bytes()
    assert writer.size == len(raw) and writer.messages == 2
    assert json.loads(raw.rsplit(b"\n", 1)[1])[:3] == ["close", None, 1000]
    dump = parse_v3(raw)
    assert dump.user_agent == "UA" and [e.name for e in dump.client_events][-1] == "close"


def test_each_line_is_in_the_file_as_soon_as_it_is_written(tmp_path):
    """What a worker that dies mid-socket leaves behind: every line written so far, with no buffer
    of the process's own to flush (the file stays open, as during a socket)."""
    path = tmp_path / "live.rtcstats"
    writer = DumpWriter(path, {"url": "/c", "fileFormat": 3})
    header = path.read_bytes()
    assert header.startswith(b"RTCStatsDump\n") and header.endswith(b"\n")
    line = message_line('["custom",null,"x",5]')
    writer.write(line)
    assert path.read_bytes() == header + line and not writer.file.closed
    writer.discard()


def test_a_websocket_request_to_a_plain_route_and_a_plain_get_of_the_collector_are_400(client, headers):
    answer = client.get("/api/rtcstats/v1.0/quota", headers={**headers, **UPGRADE})
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": "this route is not a WebSocket endpoint",
        "errorCode": "invalid_request",
    }
    answer = client.get("/v1.0/collector", headers=headers)
    assert answer.status_code == 400
    assert "WebSocket endpoint: send GET with Upgrade: websocket" in answer.get_json()["error"]


def _spool_file(spool, name: str, body: bytes, age_s: float):
    path = spool / name
    path.write_bytes(body)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


HEAD = b'RTCStatsDump\n{"url":"/c","fileFormat":3}\n'
MESSAGE = b'[39,null,{"hardwareConcurrency":4},1758602115670]\n'


def test_recovery_finishes_and_stores_only_the_files_of_lost_sockets(tmp_path):
    """The spool as a killed worker leaves it; `store` records what the real one
    (service.store_collected, driven in test_collector.py) would receive."""
    spool = tmp_path
    cut = _spool_file(spool, "7-aa.rtcstats", HEAD + MESSAGE + b'["custom",null,{"x', 100)
    done = _spool_file(spool, "8-bb.rtcstats", HEAD + MESSAGE + b'["close",null,1000,5]', 100)
    empty = _spool_file(spool, "9-cc.rtcstats", HEAD, 100)
    live = _spool_file(spool, "7-dd.rtcstats", HEAD + MESSAGE, 1)  # written a second ago: open
    stored = {}

    def store(account_id, file, size, rtcstats_id=None):
        data = file.read()
        assert len(data) == size
        stored[account_id] = data
        return f"id-{account_id}"

    assert sorted(recover(spool, idle_seconds=10, store=store)) == ["id-7", "id-8"]
    assert stored[7] == HEAD + MESSAGE + b'["close", null, 1006, 0]'  # the partial line cut
    assert stored[8] == HEAD + MESSAGE + b'["close",null,1000,5]'  # its own close line kept
    parse_v3(stored[7])
    assert not cut.exists() and not done.exists() and not empty.exists()  # empty: deleted, no session
    assert live.exists() and sorted(p.name for p in spool.iterdir()) == ["7-dd.rtcstats"]


def test_a_file_that_fails_to_store_is_kept_for_the_next_sweep(tmp_path):
    _spool_file(tmp_path, "7-aa.rtcstats", HEAD + MESSAGE, 100)

    def down(account_id, file, size, rtcstats_id=None):
        raise ConnectionError("storage down")

    assert recover(tmp_path, idle_seconds=10, store=down) == []
    (kept,) = tmp_path.iterdir()
    old = time.time() - 100
    os.utime(kept, (old, old))  # the claim lapses after twice the idle timeout
    stored = recover(tmp_path, 10, lambda a, f, s, rtcstats_id: f"id-{a}:{f.read().count(b'close')}")
    assert stored == ["id-7:1"]
    assert list(tmp_path.iterdir()) == []


def test_the_scheduled_job_stores_a_lost_sockets_dump_as_a_session_of_its_account(app, client, new_key):
    """The job as the RQ worker runs it: real database, object storage and Redis queue."""
    from core.auth import find_account
    from core.db import db
    from plugins.rtcstats import jobs
    from plugins.rtcstats.collector import spool_dir

    key = new_key("rtcstats:read", account="acme")
    other = new_key("rtcstats:read", account="other")
    with app.app_context(), db.connection_context():
        account_id = find_account("acme").id
        spool = spool_dir()
    _spool_file(spool, f"{account_id}-aa.rtcstats", HEAD + MESSAGE, 1000)
    with app.app_context():
        assert jobs.recover_collector_dumps() == 1
        assert jobs.recover_collector_dumps() == 0  # idempotent: the file is gone
    listed = client.get("/api/rtcstats/v1.0/sessions", headers={"X-API-Key": key}).get_json()["data"]
    assert len(listed) == 1 and listed[0]["title"].startswith("collector-")
    theirs = client.get("/api/rtcstats/v1.0/sessions", headers={"X-API-Key": other}).get_json()
    assert theirs["data"] == []  # another account sees nothing of it
    gone = client.get(f"/api/rtcstats/v1.0/sessions/{listed[0]['rtcstatsId']}", headers={"X-API-Key": other})
    assert gone.status_code == 404
    assert list(spool.iterdir()) == []
