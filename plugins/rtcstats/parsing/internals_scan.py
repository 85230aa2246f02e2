"""Split a large webrtc-internals dump into byte spans, so it is decoded one stats series at a time.

Used only for the dumps that orjson refuses (see internals.parse_internals): orjson decodes a whole
dump several times faster than this Python scanner and without a decoded copy of the text.

`json.loads` of a whole dump holds the bytes, their decoded copy and the parsed document at once
(about 3x the file) before any series is processed. This scanner walks only the structure that matters
- the top-level object, `PeerConnections`, each PC object and its `stats` object - and records where
each part lies. Everything is still decoded by the json module: the top level and each PC with their
big parts cut out ("skeletons"), and each stats series on its own. Syntax inside a span is therefore
checked by json; the punctuation between the spans is checked here.

The scanner only promises: when it returns, the spans are right. On anything it does not understand it
raises ScanError and the caller falls back to `json.loads` of the whole file, which then reports the
exact JSON error (or parses a shape the scanner does not cover).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

__all__ = ["PcSpans", "ScanError", "ScannedDump", "raw_line", "scan"]

_STRUCTURAL = re.compile(rb'[{}\[\]:,"]')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_WS = re.compile(rb"[ \t\r\n]*")
_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPEN = {0x7B: 0x7D, 0x5B: 0x5D}  # { -> }, [ -> ]


class ScanError(Exception):
    """The bytes are not in the shape the scanner handles (maybe not even JSON)."""


@dataclass
class PcSpans:
    """One PeerConnections member: its value span, and its `stats` members when that is an object."""

    start: int
    end: int
    is_object: bool
    stats: tuple[int, int] | None = None  # span of the stats object value
    series: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> value span


@dataclass
class ScannedDump:
    pcs_span: tuple[int, int] | None  # value span of the (last) top-level PeerConnections, if an object
    pcs: dict[str, PcSpans]


class _Scanner:
    __slots__ = ("raw", "pos")

    def __init__(self, raw: bytes):
        self.raw = raw
        self.pos = 0

    def next(self) -> tuple[int, int, int]:
        """The next structural token (kind byte, start, end); a string is one token."""
        match = _STRUCTURAL.search(self.raw, self.pos)
        if match is None:
            raise ScanError("unexpected end of data")
        start = match.start()
        kind = self.raw[start]
        if kind != _QUOTE:
            self.pos = start + 1
            return kind, start, start + 1
        end = self.raw.find(b'"', start + 1)
        if end < 0:
            raise ScanError("unterminated string")
        if self.raw[end - 1] == _BACKSLASH:  # escapes: let the regex find the real end
            rest = _STRING_REST.match(self.raw, start + 1)
            if rest is None:
                raise ScanError("unterminated string")
            end = rest.end() - 1
        self.pos = end + 1
        return _QUOTE, start, end + 1

    def gap(self, start: int, end: int) -> None:
        """Only whitespace may lie between two tokens that were both consumed here."""
        if _WS.match(self.raw, start, end).end() != end:
            raise ScanError(f"unexpected data at byte {start}")

    def skip_value(self, first: tuple[int, int, int]) -> tuple[int, tuple[int, int, int]]:
        """Consume the value that starts with token `first`; returns (value end, token after it)."""
        kind, _start, end = first
        if kind in _OPEN:
            depth = 1
            while depth:
                kind2, _s, end = self.next()
                if kind2 in (0x7B, 0x5B):
                    depth += 1
                elif kind2 in (0x7D, 0x5D):
                    depth -= 1
            after = self.next()
            self.gap(end, after[1])
            return end, after
        if kind == _QUOTE:
            after = self.next()
            self.gap(end, after[1])
            return end, after
        if kind in (0x2C, 0x7D, 0x5D):  # a bare literal (number, true, null) lies before this token
            return first[1], first
        raise ScanError(f"unexpected token at byte {first[1]}")

    def members(self, on_member) -> int:
        """Walk an object whose '{' was just consumed. `on_member(key, value_start, first_token)` must
        consume the value and return (value end, token after it). Returns the end of the object."""
        token = self.next()
        if token[0] == 0x7D:
            return token[2]
        while True:
            kind, start, end = token
            if kind != _QUOTE:
                raise ScanError(f"expected a key at byte {start}")
            try:
                key = json.loads(self.raw[start:end])
            except ValueError:
                raise ScanError(f"bad key at byte {start}") from None
            colon = self.next()
            if colon[0] != 0x3A:
                raise ScanError(f"expected ':' at byte {colon[1]}")
            self.gap(end, colon[1])
            value_start = _WS.match(self.raw, colon[2]).end()
            first = self.next()
            _value_end, after = on_member(key, value_start, first)
            if after[0] == 0x7D:
                return after[2]
            if after[0] != 0x2C:
                raise ScanError(f"expected ',' or '}}' at byte {after[1]}")
            token = self.next()
            self.gap(after[2], token[1])


def scan(raw: bytes) -> ScannedDump:
    """Spans of the parts of a webrtc-internals dump. :raises ScanError: see the module doc."""
    scanner = _Scanner(raw)
    first = scanner.next()
    if first[0] != 0x7B:
        raise ScanError("not a JSON object")
    scanner.gap(0, first[1])
    result = ScannedDump(None, {})

    def on_series(pc: PcSpans):
        def handle(key: str, value_start: int, token: tuple[int, int, int]):
            end, after = scanner.skip_value(token)
            pc.series.pop(key, None)  # duplicate key: the last one wins, as in json
            pc.series[key] = (value_start, end)
            return end, after

        return handle

    def on_pc_member(pc: PcSpans):
        def handle(key: str, value_start: int, token: tuple[int, int, int]):
            if key == "stats" and token[0] == 0x7B:
                pc.series = {}
                end = scanner.members(on_series(pc))
                pc.stats = (value_start, end)
                after = scanner.next()
                scanner.gap(end, after[1])
                return end, after
            if key == "stats":  # not an object: decoded with the PC, reported there
                pc.stats, pc.series = None, {}
            return scanner.skip_value(token)

        return handle

    def on_pc(key: str, value_start: int, token: tuple[int, int, int]):
        if token[0] == 0x7B:
            pc = PcSpans(value_start, 0, True)
            end = scanner.members(on_pc_member(pc))
            pc.end = end
            after = scanner.next()
            scanner.gap(end, after[1])
        else:
            end, after = scanner.skip_value(token)
            pc = PcSpans(value_start, end, False)
        result.pcs.pop(key, None)
        result.pcs[key] = pc
        return end, after

    def on_top(key: str, value_start: int, token: tuple[int, int, int]):
        if key == "PeerConnections":
            result.pcs = {}
            if token[0] == 0x7B:
                end = scanner.members(on_pc)
                result.pcs_span = (value_start, end)
                after = scanner.next()
                scanner.gap(end, after[1])
                return end, after
            result.pcs_span = None
        return scanner.skip_value(token)

    end = scanner.members(on_top)
    if _WS.match(raw, end).end() != len(raw):
        raise ScanError("extra data after the JSON object")
    return result


def raw_line(raw: bytes, pieces: list[tuple[int, int]], pos: int) -> int:
    """Line in `raw` of character `pos` of the text made of `pieces`: (start, end) is the slice
    raw[start:end], (-1, n) a placeholder of n characters without newlines (an error inside it is
    reported on the line where it was cut out). Exact for ASCII text, approximate otherwise."""
    offset = 0
    at = 0
    for start, end in pieces:
        length = end if start < 0 else end - start
        if start >= 0:
            at = start + min(max(pos - offset, 0), length)
        if pos < offset + length:
            break
        offset += length
    return raw.count(b"\n", 0, at) + 1
