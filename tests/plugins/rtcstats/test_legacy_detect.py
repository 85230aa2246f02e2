"""The D1 pre-scan (legacy.detect_delta_semantics) against the scan of copied lines it replaced.

detect_delta_semantics matches each line in place, within the whole file's bytes (pos/endpos), instead of
matching a copy of every line; the reference below is the scan as it was. Both must answer the same on
every dump fixture and on variants made to hit the edges of matching within the whole file: a BOM, CRLF
line ends, blank and whitespace lines, a candidate split over two lines, several candidates in one line,
pcIds with escaped quotes, a last line without a newline, and lines shuffled at random.

The main pass makes the same test of each getstats line as it reads it (_LegacyParser._watch) and runs
the pre-scan only when the convention matters before it is known: its answer (format_detail) must be the
pre-scan's on every one of these files too, and on pcIds or method names that are equal only once decoded.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from plugins.rtcstats.parsing import legacy
from plugins.rtcstats.parsing.errors import DumpFormatError
from plugins.rtcstats.parsing.legacy import _has_timestamp_only, detect_delta_semantics, parse_legacy
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
    try:
        dump = parse_legacy(raw)
    except DumpFormatError:
        return expected  # no answer of the main pass to compare (an empty file, a line that is not JSON)
    assert dump.format_detail["legacy_delta_semantics"] == expected
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
        # the same PC once decoded, not as written: the main pass tells them apart as the pre-scan does
        (_lines([["getstats", 7, FIRST[2], 6], ["getstats", "7", SECOND[2], 9]]), "v1"),
        (_lines([FIRST]) + _lines([SECOND]).replace(b'"PC_0"', b'"PC\\u005f0"'), "v1"),
        # an escaped method name is no getstats head for the pre-scan (the main pass reads a getstats line)
        (_lines([FIRST]) + _lines([SECOND]).replace(b'"getstats"', b'"get\\u0073tats"'), "v1"),
        (_lines([FIRST, SECOND]).replace(b'"getstats"', b'"get\\u0073tats"', 1), "v1"),
        # a line without a timestamp cannot decide, but it is its PC's first getstats line
        (_lines([FIRST[:3], SECOND]), "v2"),
        (_lines([FIRST, [*SECOND[:3], None]]), "v1"),
        # the report that is only a timestamp holds null; the number is written in another place
        (
            _lines(
                [FIRST, ["getstats", "PC_0", {"a": {"timestamp": None}, "b": {"x": {"timestamp": 1}}}, 9]]
            ),
            "v2",
        ),
        (_lines([FIRST, ["getstats", "PC_0", {"a": {"timestamp": None}}, 9]]), "v1"),
        # a report left out before the deciding line: the pre-scan decides there (v2 removes it, v1 not)
        (_lines([FIRST, ["getstats", "PC_0", {"b": {"x": 2}}, 8], SECOND]), "v2"),
        (_lines([FIRST, ["getstats", "PC_0", {"b": {"x": 2}}, 8], FIRST]), "v1"),
    ],
)
def test_edges_of_the_whole_file_search(raw, expected):
    assert _both(raw) == expected


@pytest.mark.parametrize("name", fixture_names("jitsi_legacy_"))
def test_the_main_pass_runs_the_pre_scan_only_when_the_convention_matters_before_it_is_known(
    name, monkeypatch
):
    raw = dump_bytes(name)
    calls = []

    def counted(data: bytes) -> str:
        calls.append(data)
        return detect_delta_semantics(data)

    monkeypatch.setattr(legacy, "detect_delta_semantics", counted)
    dump = parse_legacy(raw)
    assert dump.format_detail["legacy_delta_semantics"] == per_line_scan(raw)
    # the v2 fixtures are decided by their own lines (the second getstats line of a PC) before any line
    # leaves out a report; the v1 fixture leaves reports out from its second getstats line on
    assert len(calls) == (1 if per_line_scan(raw) == "v1" else 0)
