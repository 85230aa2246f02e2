"""The jitsi collector's dump file, lines and recovery without a server (test_collector_jitsi.py drives
the real WebSocket)."""

from __future__ import annotations

import json
import os
import time

import pytest

from plugins.rtcstats.collector import TRY_LATER, Refused
from plugins.rtcstats.collector_jitsi import (
    JitsiDumpWriter,
    entry_line,
    entry_of,
    offered_protocol,
    stats_format,
)
from plugins.rtcstats.collector_jitsi_resume import RECONNECT_REFUSED, plain_path, resume
from plugins.rtcstats.collector_recovery import lock, recover, spool_name
from plugins.rtcstats.parsing.legacy import parse_legacy
from tests.plugins.rtcstats.test_collector_dump import _spool_file

INFO = {
    "path": "/meet.example.com/room",
    "origin": "https://meet.example.com",
    "url": "https://meet.example.com/meet.example.com/room",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.0.0 Safari/537.36",
    "clientProtocol": "3.1_STANDARD",
    "statsFormat": "chrome_standard",
    "clientType": "RTCSTATS_CLIENT",
}
NOW_MS = round(time.time() * 1000)
IDENTITY = ["identity", None, {"confID": "meet.example.com/room", "endpointId": "ab12"}, NOW_MS, 1]
CREATE = f'["create","PC_0",{{"iceServers":[],"bundlePolicy":"max-bundle"}},{NOW_MS + 5},2]'


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("3.1_STANDARD", "3.1_STANDARD"),
        ("3.1_LEGACY", "3.1_LEGACY"),
        ("rtcstats#5.0", None),
        ("chat, 3.1_STANDARD", "3.1_STANDARD"),
        ("3.0_JVB", "3.0_JVB"),
        ("1.0_JICOFO", "1.0_JICOFO"),
        ("STANDARD", None),
        (None, None),
    ],
)
def test_the_offered_jitsi_subprotocol_is_recognised(header, chosen):
    assert offered_protocol(header) == chosen


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/140.0.0.0 Safari/537.36",
            "chrome_standard",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/140.0 Safari/537.36 Edg/140.0",
            "chrome_standard",
        ),
        ("Mozilla/5.0 (Macintosh; rv:109.0) Gecko/20100101 Firefox/118.0", "firefox"),
        ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15", "safari"),
        ("react-native/0.72 (Android)", "chrome_standard"),
        ("curl/8.0", "unsupported"),
        ("", "unsupported"),
    ],
)
def test_stats_format_follows_the_browser_as_jitsis_server_names_it(user_agent, expected):
    assert stats_format(user_agent) == expected


@pytest.mark.parametrize(
    ("kind", "data", "line"),
    [
        ("identity", ["identity", None, {"a": 1}, 5, 1], b'["identity",null,{"a":1},5,1]\n'),
        ("stats-entry", '["getstats","PC_0",{},5,2]', b'["getstats","PC_0",{},5,2]\n'),
        ("stats-entry", '[\n"x", null, 1, 5]', b'["x",null,1,5]\n'),  # spread over lines: compacted
        ("stats-entry", ["x", None, 1, 5], b'["x",null,1,5]\n'),
        ("stats-entry", '{"not": "an array"}', None),
        ("stats-entry", "[1, 2", None),
        ("identity", {"confID": "x"}, None),
        ("identity", '["identity",null,{},5]', None),  # identity data is the array itself
        ("stats-entry", None, None),
    ],
)
def test_an_entry_becomes_one_line_or_is_dropped(kind, data, line):
    assert entry_line(kind, data) == line


def test_the_written_file_is_a_jitsi_dump_our_legacy_parser_reads(tmp_path):
    writer = JitsiDumpWriter(tmp_path / "1-aa.rtcstats", INFO)
    for line in (entry_line("identity", IDENTITY), entry_line("stats-entry", CREATE)):
        writer.write(line)
    writer.finish(3001)
    raw = (tmp_path / "1-aa.rtcstats").read_bytes()
    head, identity, create = raw.decode().splitlines()
    assert (
        json.loads(head)[:3] == ["connectionInfo", None, INFO]
        and abs(json.loads(head)[3] - time.time() * 1000) < 60_000
    )
    assert json.loads(identity) == IDENTITY and create == CREATE and raw.endswith(b"\n")  # no close line
    assert writer.size == len(raw) and writer.messages == 2
    dump = parse_legacy(raw)
    assert (
        dump.metadata["origin"] == INFO["origin"] and dump.metadata["conferenceId"] == "meet.example.com/room"
    )
    assert dump.metadata["userId"] == "ab12" and dump.user_agent == INFO["userAgent"]
    assert list(dump.peer_connections) == ["PC_0"]


def test_recovery_cuts_a_lost_jitsi_dump_to_its_whole_lines_without_a_close_line(tmp_path):
    """A jitsi spool file as a killed worker leaves it (its format has no close line to add)."""
    head = json.dumps(["connectionInfo", None, INFO, NOW_MS]).encode() + b"\n"
    whole = entry_line("identity", IDENTITY) + CREATE.encode() + b"\n"
    cut = _spool_file(tmp_path, "7-aa.rtcstats", head + whole + b'["getstats","PC_0",{"x', 100)
    done = _spool_file(tmp_path, "8-bb.rtcstats", head + whole, 100)  # finished, storing failed
    empty = _spool_file(tmp_path, "9-cc.rtcstats", head, 100)  # only the connectionInfo line
    stored = {}

    def store(account_id, file, size, rtcstats_id=None):
        stored[account_id] = file.read()
        assert len(stored[account_id]) == size
        return f"id-{account_id}"

    assert sorted(recover(tmp_path, idle_seconds=10, store=store)) == ["id-7", "id-8"]
    assert stored[7] == head + whole and stored[8] == head + whole
    assert list(parse_legacy(stored[7]).peer_connections) == ["PC_0"]
    assert not cut.exists() and not done.exists() and not empty.exists() and not list(tmp_path.iterdir())


# -- a session whose socket broke, kept for its client's reconnect (collector_jitsi_resume.py) -----------

HEAD = json.dumps(["connectionInfo", None, INFO, NOW_MS]).encode() + b"\n"
ENTRIES = entry_line("identity", IDENTITY) + CREATE.encode() + b"\n"


def _store_into(stored: dict):
    def store(account_id, file, size, rtcstats_id=None):
        stored[account_id] = file.read()
        return f"id-{account_id}"

    return store


def test_recovery_leaves_a_resumable_jitsi_file_alone_for_the_reconnect_window(tmp_path):
    name = spool_name(7, "aa" * 16, "sess-1")
    assert name == f"7-{'aa' * 16}.sess-1.rtcstats"
    path = _spool_file(tmp_path, name, HEAD + ENTRIES, 100)  # past twice the idle timeout (20 s)
    stored = {}
    assert recover(tmp_path, idle_seconds=10, store=_store_into(stored), resume_seconds=300) == []
    assert path.exists()
    assert recover(tmp_path, idle_seconds=10, store=_store_into(stored), resume_seconds=60) == ["id-7"]
    assert stored[7] == HEAD + ENTRIES and not path.exists()


def test_recovery_leaves_a_file_a_socket_holds_locked(tmp_path):
    path = _spool_file(tmp_path, spool_name(7, "bb" * 16, "held"), HEAD + ENTRIES, 1000)
    with open(path, "rb") as holder:
        assert lock(holder)
        assert recover(tmp_path, idle_seconds=10, store=_store_into({}), resume_seconds=60) == []
    assert path.exists()


def test_a_reconnect_resumes_the_accounts_file_after_its_last_sequence_number(tmp_path):
    # A worker killed mid-write: the half line is cut, the last whole line's sequence number is 2.
    path = _spool_file(
        tmp_path, spool_name(7, "cc" * 16, "s-1"), HEAD + ENTRIES + b'["getstats","PC_0",{"x', 5
    )
    resumed = resume(tmp_path, 7, "s-1", window=60)
    try:
        assert (resumed.path, resumed.last_sequence, resumed.messages) == (path, 2, 2)
        assert path.read_bytes() == HEAD + ENTRIES
        assert resumed.file.tell() == len(HEAD + ENTRIES)
        with pytest.raises(Refused) as held:  # while this socket holds it
            resume(tmp_path, 7, "s-1", window=60)
        assert held.value.code == TRY_LATER
    finally:
        resumed.file.close()
    with pytest.raises(Refused) as other:  # another account's statsSessionId
        resume(tmp_path, 8, "s-1", window=60)
    assert other.value.code == RECONNECT_REFUSED
    then = time.time() - 5
    os.utime(path, (then, then))  # the resume above touched it: left since
    with pytest.raises(Refused) as late:  # untouched for longer than the window
        resume(tmp_path, 7, "s-1", window=1)
    assert late.value.code == RECONNECT_REFUSED
    assert plain_path(path).name == f"7-{'cc' * 16}.rtcstats"  # an ended session: no reconnect finds it


def test_entries_carry_the_clients_sequence_number_when_they_have_one():
    assert entry_of("identity", IDENTITY)[1] == 1
    assert entry_of("stats-entry", CREATE)[1] == 2
    assert entry_of("stats-entry", '["getstats","PC_0",{},1765100000000]')[1] is None
    assert entry_of("stats-entry", '["getstats","PC_0",{},1765100000000,true]')[1] is None
