"""The D1 pre-scan (legacy.detect_delta_semantics) against the scan of copied lines it replaced.

detect_delta_semantics matches each line in place, within the whole file's bytes (pos/endpos), instead of
matching a copy of every line; the reference below is the scan as it was. Both must answer the same on
every dump fixture and on variants made to hit the edges of matching within the whole file: a BOM, CRLF
line ends, blank and whitespace lines, a candidate split over two lines, several candidates in one line,
pcIds with escaped quotes, a last line without a newline, and lines shuffled at random.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from plugins.rtcstats.parsing.legacy import _has_timestamp_only, detect_delta_semantics
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names

_HEAD = re.compile(rb'\s*\[\s*"getstats"\s*,\s*("(?:[^"\\]|\\.)*"|-?[0-9]+)', re.IGNORECASE)
_TIMESTAMP_ONLY = re.compile(rb'\{\s*"timestamp"\s*:\s*[-+0-9.eE]+\s*\}')


def per_line_scan(raw: bytes) -> str:
    """The pre-scan as it was: every non-blank line copied, then matched for a getstats head, in order."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    seen: set[bytes] = set()
    for line in raw[start:].split(b"\n"):
        if not line.strip():
            continue
        head = _HEAD.match(line)
        if head is None:
            continue
        key = head.group(1)
        if key in seen and _TIMESTAMP_ONLY.search(line, head.end()) and _has_timestamp_only(line):
            return "v2"
        seen.add(key)
    return "v1"


def _lines(items: list) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def _both(raw: bytes) -> str:
    expected = per_line_scan(raw)
    assert detect_delta_semantics(raw) == expected
    return expected


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_gets_the_per_line_answer(name):
    raw = dump_bytes(name)
    _both(raw)
    if name.startswith("jitsi_legacy_"):
        rng = random.Random(name)
        lines = raw.split(b"\n")
        for _ in range(5):  # another order of the same lines moves the candidates and the first lines
            rng.shuffle(lines)
            _both(b"\n".join(lines))
        _both(b"\xef\xbb\xbf" + raw)
        _both(raw.replace(b"\n", b"\r\n"))


def test_the_jitsi_fixtures_hold_both_conventions():
    answers = {_both(dump_bytes(name)) for name in fixture_names("jitsi_legacy_")}
    assert answers == {"v1", "v2"}


FIRST = ["getstats", "PC_0", {"a": {"timestamp": 5, "x": 1}, "timestamp": 5}, 6]
SECOND = ["getstats", "PC_0", {"a": {"timestamp": 9}, "timestamp": 9}, 9]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_lines([FIRST, SECOND]), "v2"),
        (_lines([SECOND]), "v1"),  # a PC's first line cannot decide
        (b"\xef\xbb\xbf" + _lines([FIRST, SECOND]), "v2"),  # the BOM line is a getstats line too
        (b"\xef\xbb\xbf" + _lines([SECOND, SECOND]), "v2"),
        (b"\xef\xbb\xbf" + _lines([SECOND]), "v1"),
        (_lines([FIRST, SECOND]).replace(b"\n", b"\r\n"), "v2"),
        (b"\n  \t\n" + _lines([FIRST]) + b"\n\n \r\n" + _lines([SECOND]).rstrip(b"\n"), "v2"),  # no last \n
        # a candidate split over two lines is no candidate of either line
        (_lines([FIRST]) + b'["getstats", "PC_0", {"a": {\n"timestamp": 9}, "timestamp": 9}, 9]\n', "v1"),
        # the first of two candidates is inside a string, the second is structure
        (
            _lines([FIRST])
            + b'["getstats", "PC_0", {"n": {"t": "{\\"timestamp\\":1}", "u": "{"}, '
            + b'"a": {"timestamp": 1}}, 9]\n',
            "v2",
        ),
        # a candidate that is not a report (nested deeper) does not decide
        (_lines([FIRST, ["getstats", "PC_0", {"a": {"x": {"timestamp": 1}}, "timestamp": 9}, 9]]), "v1"),
        # pcIds told apart as written, escaped quotes and integers included
        (_lines([FIRST, ["getstats", "PC_1", SECOND[2], 9]]), "v1"),
        (_lines([["getstats", 'P"C', FIRST[2], 6], ["getstats", 'P"C', SECOND[2], 9]]), "v2"),
        (_lines([["getStats", 7, FIRST[2], 6], ["GETSTATS", 7, SECOND[2], 9]]), "v2"),
        # a getstats line without the timestamp-only report in between still counts as the PC's first
        (_lines([["getstats", "PC_0", {"b": {"y": 1}}, 5], ["x", None, {"timestamp": 1}, 6], SECOND]), "v2"),
        (b"", "v1"),
        (b'not json at all {"timestamp": 1}\n', "v1"),
    ],
)
def test_edges_of_the_whole_file_search(raw, expected):
    assert _both(raw) == expected
