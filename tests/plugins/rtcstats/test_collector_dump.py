"""The collector's dump lines and file without a server: what is written, dropped or compacted, and the
400 of a request whose WebSocket-ness does not match the route (tests/plugins/rtcstats/test_collector.py
drives the real WebSocket)."""

from __future__ import annotations

import json

import pytest

from plugins.rtcstats.collector_dump import DumpWriter, message_line
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
