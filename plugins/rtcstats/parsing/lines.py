"""Helpers shared by the JSON-lines dump formats (rtcstats v3 and legacy rtcstats).

The whole API:

* `read_json_lines(raw, warnings, *, start=0, first_line_no=1)` -> iterator of (line number, JSON value)
  for every non-blank line (orjson first, the stdlib decoder for what orjson refuses); DumpFormatError
  (naming the line) for a line that is not UTF-8 JSON. A cut-off final line is skipped with a warning
  (see the function). `decode_refused(...)`: its rules for a line orjson refused, for a parser that runs
  its own loop of lines (legacy: no generator step per line).
* `as_number(value)` -> float, or None unless `value` is a finite JSON number (booleans are not numbers).
* `STATE_EVENTS`, `normalize_state(value)`: unquote/canonicalise the value of a state-change event
  (`"\\"connected\\""`, `ICEConnectionStateConnected`, `SignalingStateHaveLocalOffer` -> `connected`,
  `have-local-offer`); values that are not a known state name are returned unchanged.
* `is_client_method(name)`: navigator.* / MediaStreamTrack.* / HTMLMediaElement.* (dump-facts.md D2).
* `event_name(raw_name)`: `parsed_dump.normalize_event_name`, cached for the names a dump repeats.
* `make_event(raw_name, value, extra, time)` -> parsed_dump.Event with the normalised name and, for state
  events, the normalised value.
* `add_event(dump, pc_id, event)`: file the event under the client (pc_id None or a client method, even
  with a pcId such as Chrome's "<rid>-0") or under the peer connection `pc_id` (created on first use, so
  only ids with a non-client event become PCs). The client `create` event fills user_agent_data, device
  and (if still unset) user_agent; a PC's first `create` event sets its configuration.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson

from plugins.rtcstats.parsed_dump import CLIENT_EVENT_PREFIXES, Dump, Event, normalize_event_name
from plugins.rtcstats.parsing.errors import DumpFormatError

__all__ = [
    "STATE_EVENTS",
    "BLANK",
    "CUT_OFF",
    "add_event",
    "as_number",
    "event_name",
    "is_client_method",
    "make_event",
    "decode_refused",
    "normalize_state",
    "read_json_lines",
]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# JSON proper: NaN/Infinity (which Python would accept) are rejected, as JSON.parse does.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)

# Lines are decoded by orjson first, several times faster than the stdlib scanner. It refuses blank lines,
# a BOM, lone surrogates, NaN/Infinity, numbers beyond the float range and nesting past 1024; the stdlib
# decoder then reads the line (or names the error) exactly as before. One difference stays: an integer
# beyond 64 bits is a float, as in JavaScript's JSON.parse (that of the browser that wrote the dump).
_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError


def _is_cut_off(line: bytes) -> bool:
    """True when `line` ends inside a JSON string, array or object: a prefix of JSON, not a corrupt line."""
    depth = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return in_string or depth > 0


def read_json_lines(
    raw: bytes, warnings: list[str], *, start: int = 0, first_line_no: int = 1
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line of `raw` from byte offset `start`.

    `first_line_no` is the number of the line that begins at `start` (line numbers count every physical
    line, blank ones too). "\\n" and "\\r\\n" line ends are accepted and the last line needs none.

    Truncation policy: when the last non-blank line is not valid JSON *and* ends inside an unclosed
    string, array or object (the writer or the upload was cut off mid-line), it is skipped and a warning
    naming the line is appended to `warnings`; everything before it is kept. Any other line that is not
    UTF-8 JSON (including a final line that is complete but corrupt) raises DumpFormatError(line=n).
    """
    size = len(raw)
    pos = start
    line_no = first_line_no
    while pos < size:
        end = raw.find(b"\n", pos)
        if end == -1:
            end = size
        number = line_no
        line_no += 1
        chunk = raw[pos:end]
        pos = end + 1
        try:
            value = _loads(chunk)
        except _OrjsonError:  # what orjson refuses, the stdlib decoder accepts or explains
            value = decode_refused(raw, chunk, pos, number, warnings)
            if value is BLANK:
                continue
            if value is CUT_OFF:
                return
        yield number, value


# What decode_refused answers for a line that holds no value: a blank line, or a cut-off last line.
BLANK = object()
CUT_OFF = object()


def decode_refused(raw: bytes, chunk: bytes, after: int, number: int, warnings: list[str]) -> Any:
    """The value of line `number` (bytes `chunk` of `raw`; the next line begins at offset `after`) that
    orjson refused, read by the stdlib decoder; BLANK for a blank line; CUT_OFF (and a warning) for a cut-off
    last line (see read_json_lines). A line that is not UTF-8 JSON raises DumpFormatError(line=number)."""
    if not chunk.strip():
        return BLANK
    try:
        text = chunk.decode("utf-8")
        if number == 1:
            text = text.removeprefix("\ufeff")
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        if not raw[after:].strip() and _is_cut_off(chunk):
            warnings.append(f"line {number}: the last line is cut off (incomplete JSON); it was skipped")
            return CUT_OFF
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        if isinstance(err, UnicodeDecodeError):
            reason = "not UTF-8 text"
        raise DumpFormatError(f"the line is not valid JSON: {reason:.200}", line=number) from None


def as_number(value: Any) -> float | None:
    """`value` as a float when it is a finite JSON number (not a boolean, not a numeric string), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        return None
    return number if math.isfinite(number) else None


# Events whose value is a state name (normalised event names, see parsed_dump.normalize_event_name).
STATE_EVENTS = frozenset(
    {
        "signalingstatechange",
        "iceconnectionstatechange",
        "legacyiceconnectionstatechange",
        "connectionstatechange",
        "icegatheringstatechange",
        "dtlsstatechange",
    }
)

_KNOWN_STATES = frozenset(
    {
        # RTCIceConnectionState / RTCPeerConnectionState / RTCDtlsTransportState
        "new",
        "checking",
        "connecting",
        "connected",
        "completed",
        "disconnected",
        "failed",
        "closed",
        # RTCSignalingState
        "stable",
        "have-local-offer",
        "have-remote-offer",
        "have-local-pranswer",
        "have-remote-pranswer",
        # RTCIceGatheringState
        "gathering",
        "complete",
    }
)

# Prefixes of old Chrome's enum names (lower-cased), longest first.
_STATE_PREFIXES = (
    "peerconnectionstate",
    "iceconnectionstate",
    "icegatheringstate",
    "connectionstate",
    "signalingstate",
    "gatheringstate",
    "dtlsstate",
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalize_state(value: Any) -> Any:
    """The canonical state name of a state-change value, or `value` unchanged when it is not one.

    '"connected"' (JSON-quoted, Chrome's writer) -> 'connected'; 'ICEConnectionStateConnected',
    'kICEConnectionStateConnected' -> 'connected'; 'SignalingStateHaveLocalOffer' -> 'have-local-offer';
    'Checking' -> 'checking'. Anything else (not a string, or not a known state) is returned as given.
    """
    if type(value) is str and len(value) <= _CACHED_LENGTH:
        return _normalize_state_text(value)
    if not isinstance(value, str):
        return value
    return _normalize_state_uncached(value)


def _normalize_state_uncached(value: str) -> Any:
    text = value.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            inner = json.loads(text)
        except ValueError:
            inner = None
        if isinstance(inner, str):
            text = inner.strip()
    if len(text) > 1 and text[0] == "k" and text[1].isupper():
        text = text[1:]
    lowered = text.lower()
    for prefix in _STATE_PREFIXES:
        if lowered.startswith(prefix) and len(lowered) > len(prefix):
            text = text[len(prefix) :]
            break
    canonical = _CAMEL_BOUNDARY.sub("-", text).lower().replace("_", "-")
    return canonical if canonical in _KNOWN_STATES else value


def is_client_method(name: str) -> bool:
    """True for client-level methods (navigator.*, MediaStreamTrack.*, HTMLMediaElement.*), any case."""
    if type(name) is str:
        known = _CLIENT_METHODS.get(name)
        if known is not None:
            return known
        if len(name) <= _CACHED_LENGTH:
            return _remember(_CLIENT_METHODS, name, name.lower().startswith(CLIENT_EVENT_PREFIXES))
    return str(name).lower().startswith(CLIENT_EVENT_PREFIXES)


# A dump names a few dozen methods and states over thousands of lines: their normal forms are cached,
# for short strings only and a bounded number of them, since the names come from the file. Plain dicts
# filled up to the bound, not lru_caches: a hit is one dict lookup (compiled: in C) instead of a call
# through the cache wrapper, and the answers are the same (the functions are pure).
_CACHED_LENGTH = 100
_CACHE_SIZE = 1024
_CLIENT_METHODS: dict[str, bool] = {}
_EVENT_NAMES: dict[str, str] = {}


@functools.lru_cache(maxsize=1024)
def _normalize_state_text(value: str) -> Any:
    return _normalize_state_uncached(value)


def _remember(cache: dict, key: str, answer: Any) -> Any:
    if len(cache) < _CACHE_SIZE:
        cache[key] = answer
    return answer


def event_name(raw_name: str) -> str:
    """normalize_event_name(raw_name), cached for the short names a dump repeats."""
    if type(raw_name) is str:
        name = _EVENT_NAMES.get(raw_name)
        if name is not None:
            return name
        if len(raw_name) <= _CACHED_LENGTH:
            return _remember(_EVENT_NAMES, raw_name, normalize_event_name(raw_name))
    return normalize_event_name(raw_name)


def make_event(raw_name: str, value: Any, extra: list, time: float | None) -> Event:
    """An Event named by `normalize_event_name(raw_name)`; state events get `normalize_state(value)`."""
    name = event_name(raw_name)
    if name in STATE_EVENTS:
        value = normalize_state(value)
    # What Event(time, name, raw_name, value, list(extra)) makes, the fields set here in its __init__'s
    # order: a parser makes one per line, and the call of a Python class's __init__ (argument tuple, its
    # lookup, its argument parsing) cost more than the six attribute stores.
    event = _new_event(Event)
    event.time = time
    event.name = name
    event.raw_name = raw_name
    event.value = value
    event.extra = list(extra)
    event.pc_id = None
    return event


# object.__new__ of a class: an instance without running its __init__ (see make_event)
_new_event = object.__new__


_DEVICE_KEYS = ("hardwareConcurrency", "deviceMemory", "cpuPerformance", "screen", "window")


def _parse_configuration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def add_event(dump: Dump, pc_id: str | None, event: Event) -> None:
    """File `event` under the client or under peer connection `pc_id` (see the module docstring)."""
    if pc_id is None or is_client_method(event.raw_name):
        dump.client_events.append(event)
        if pc_id is None and event.name == "create" and isinstance(event.value, dict):
            info = event.value
            if dump.user_agent_data is None and info.get("userAgentData") is not None:
                dump.user_agent_data = info["userAgentData"]
            if dump.user_agent is None and isinstance(info.get("userAgent"), str):
                dump.user_agent = info["userAgent"]
            for key in _DEVICE_KEYS:
                if key in info and key not in dump.device:
                    dump.device[key] = info[key]
        return
    # Dump.pc(pc_id), whose method call per event cost more than its lookup: called only for a new PC
    pc = dump.peer_connections.get(pc_id)
    if pc is None:
        pc = dump.pc(pc_id)
    pc.events.append(event)
    if event.name == "create" and pc.configuration is None:
        pc.configuration = _parse_configuration(event.value)
