"""Value-level helpers of the webrtc-internals parser: time strings, old non-JSON texts, state names.

Old Chrome (about M80-M11x) wrote many updateLog values, the RTCConfiguration and getUserMedia
constraints as JavaScript-ish text instead of JSON (`{ iceServers: [stun:x:19302], bundlePolicy: balanced }`,
`sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:...`, `SignalingStateHaveLocalOffer`). The functions here
turn such text into the structures new Chrome writes as JSON, and leave anything else untouched.
Pure functions; none of them raises on odd input.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FAILED",
    "is_number",
    "iso_to_ms",
    "normalize_state",
    "parse_configuration",
    "parse_constraint",
    "parse_event_value",
    "parse_jsish",
]

FAILED = object()  # returned by parse_jsish when the text is not a JS-ish literal

_MAX_DEPTH = 64
_JSON_START = frozenset('{["')
_JSON_LITERALS = frozenset(("true", "false", "null"))
_NUMBER_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")


def is_number(value: Any) -> bool:
    """A finite int/float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- times -----------------------------------------------------------------------------------


def iso_to_ms(text: Any) -> float | None:
    """`"2026-02-03T09:14:50.620Z"` (a JS Date in JSON) -> ms since the epoch; numbers pass through."""
    if is_number(text):
        return float(text)
    if not isinstance(text, str) or not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    stamp = stamp.astimezone(UTC)
    # integer arithmetic: the strings carry whole milliseconds and must compare exactly
    return float(calendar.timegm(stamp.timetuple()) * 1000 + stamp.microsecond // 1000)


# --- JS-ish object literals --------------------------------------------------------------------


class _JsishParser:
    """A lenient reader of the object literals old Chrome printed.

    Accepts unquoted keys, single- or double-quoted strings, unquoted string values that may contain
    ':' (URLs), trailing commas, `undefined`. Unquoted words become numbers/booleans/None when they
    look like one.
    """

    __slots__ = ("text", "pos")

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def _skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def parse(self) -> Any:
        value = self._value(0)
        self._skip_ws()
        if self.pos != len(self.text):
            raise ValueError("trailing text")
        return value

    def _value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("too deep")
        self._skip_ws()
        if self.pos >= len(self.text):
            raise ValueError("unexpected end")
        char = self.text[self.pos]
        if char == "{":
            return self._object(depth)
        if char == "[":
            return self._array(depth)
        if char in "\"'":
            return self._string()
        return self._word(",]}")

    def _object(self, depth: int) -> dict:
        self.pos += 1
        out: dict = {}
        while True:
            self._skip_ws()
            if self.pos >= len(self.text):
                raise ValueError("unterminated object")
            if self.text[self.pos] == "}":
                self.pos += 1
                return out
            if self.text[self.pos] in "\"'":
                key = self._string()
            else:
                key = self._raw_word(":,]}")
            self._skip_ws()
            if self.pos >= len(self.text) or self.text[self.pos] != ":":
                raise ValueError("expected ':'")
            self.pos += 1
            out[str(key)] = self._value(depth + 1)
            self._skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
            elif self.pos >= len(self.text) or self.text[self.pos] != "}":
                raise ValueError("expected ',' or '}'")

    def _array(self, depth: int) -> list:
        self.pos += 1
        out: list = []
        while True:
            self._skip_ws()
            if self.pos >= len(self.text):
                raise ValueError("unterminated array")
            if self.text[self.pos] == "]":
                self.pos += 1
                return out
            out.append(self._value(depth + 1))
            self._skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
            elif self.pos >= len(self.text) or self.text[self.pos] != "]":
                raise ValueError("expected ',' or ']'")

    def _string(self) -> str:
        text, quote = self.text, self.text[self.pos]
        pos = self.pos + 1
        chunks: list[str] = []
        while pos < len(text):
            char = text[pos]
            if char == quote:
                self.pos = pos + 1
                return "".join(chunks)
            if char == "\\" and pos + 1 < len(text):
                nxt = text[pos + 1]
                if nxt == "u" and pos + 5 < len(text):
                    try:
                        chunks.append(chr(int(text[pos + 2 : pos + 6], 16)))
                        pos += 6
                        continue
                    except ValueError:
                        pass
                chunks.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(nxt, nxt))
                pos += 2
                continue
            chunks.append(char)
            pos += 1
        raise ValueError("unterminated string")

    def _raw_word(self, stops: str) -> str:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] not in stops:
            pos += 1
        self.pos = pos
        word = text[start:pos].strip()
        if not word:
            raise ValueError("empty word")
        return word

    def _word(self, stops: str) -> Any:
        return _scalar(self._raw_word(stops))


def _scalar(word: str) -> Any:
    if word == "true":
        return True
    if word == "false":
        return False
    if word in ("null", "undefined"):
        return None
    if _NUMBER_RE.match(word):
        number = float(word)
        if number.is_integer() and "." not in word and "e" not in word.lower():
            return int(word)
        return number
    return word


def parse_jsish(text: str) -> Any:
    """A JS-ish object/array literal -> Python value, or FAILED."""
    if not isinstance(text, str):
        return FAILED
    try:
        return _JsishParser(text).parse()
    except (ValueError, IndexError, RecursionError):
        return FAILED


def _try_json(text: str) -> Any:
    """JSON-decode `text` when it looks like JSON; FAILED otherwise."""
    stripped = text.strip()
    if not stripped:
        return FAILED
    if stripped[0] in _JSON_START or stripped in _JSON_LITERALS or _NUMBER_RE.match(stripped):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            return FAILED
    return FAILED


# --- RTCConfiguration / getUserMedia constraints ------------------------------------------------


def parse_configuration(text: Any) -> Any:
    """`rtcConfiguration`: JSON (new Chrome) or the old `{ iceServers: [stun:...], ... }` text.

    Old iceServers entries are bare URLs; they are returned in the W3C shape `[{"urls": [url]}]`
    so consumers see one structure. Unparseable text is returned unchanged.
    """
    if not isinstance(text, str):
        return text
    parsed = _try_json(text)
    if parsed is FAILED:
        parsed = parse_jsish(text)
        if parsed is FAILED or not isinstance(parsed, dict):
            return text
        for key in ("iceServers", "servers"):
            servers = parsed.get(key)
            if isinstance(servers, list):
                parsed[key] = [{"urls": [entry]} if isinstance(entry, str) else entry for entry in servers]
    return parsed


def parse_constraint(text: Any) -> Any:
    """One getUserMedia `audio`/`video` constraint string: `""` means true; JSON or JS-ish; else raw."""
    if not isinstance(text, str):
        return text
    if not text.strip():
        return True
    parsed = _try_json(text)
    if parsed is FAILED:
        parsed = parse_jsish(text)
    return text if parsed is FAILED else parsed


# --- states -----------------------------------------------------------------------------------

_STATE_PREFIX_RE = re.compile(
    r"^(?:k(?=[A-Z]))?(?:SignalingState|ICEConnectionState|IceConnectionState|ICEGatheringState"
    r"|IceGatheringState|PeerConnectionState|ConnectionState|IceConnection|ICEConnection"
    r"|IceGathering|ICEGathering|PeerConnection|Signaling)(?=[A-Z])"
)
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")

STATE_EVENTS = frozenset(
    (
        "signalingstatechange",
        "iceconnectionstatechange",
        "legacyiceconnectionstatechange",
        "connectionstatechange",
        "icegatheringstatechange",
        "peerconnectionstatechange",
    )
)


def normalize_state(value: str) -> str:
    """`"SignalingStateHaveLocalOffer"` -> `"have-local-offer"`, `"ICEConnectionStateConnected"` ->
    `"connected"`, `"checking"` -> `"checking"`."""
    text = value.strip()
    stripped = _STATE_PREFIX_RE.sub("", text, count=1)
    if stripped != text or (text[:1].isupper() and text.isalpha()):
        kebab = _CAMEL_RE.sub("-", stripped).lower()
        return kebab.replace("pr-answer", "pranswer")
    return text.lower()


# --- updateLog values ---------------------------------------------------------------------------

_CANDIDATE_KEYS = ("sdpMid", "sdpMLineIndex", "candidate", "usernameFragment", "url", "relayProtocol")
_CANDIDATE_SPLIT_RE = re.compile(r", (?=(?:" + "|".join(_CANDIDATE_KEYS) + r"): )")
_SDP_RE = re.compile(r"^type: (\w+), sdp: (.*)\Z", re.S)
_OPTIONS_RE = re.compile(r"^options: (\{.*\})\s*\Z", re.S)
_TRANSCEIVER_RE = re.compile(
    r"^Caused by: (\w+)\s*\n\s*\ngetTransceivers\(\)\[(\d+)\]:\s*(\{.*\})\s*\Z", re.S
)
_KEY_LINE_RE = re.compile(r"^([A-Za-z_]\w*): ?(.*)\Z", re.S)
_INT_RE = re.compile(r"-?\d+\Z")


def _old_candidate(text: str) -> dict | None:
    """`sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:...` -> the dict new Chrome writes."""
    out: dict = {}
    for part in _CANDIDATE_SPLIT_RE.split(text):
        key, sep, val = part.partition(": ")
        if not sep or key not in _CANDIDATE_KEYS or key in out:
            return None
        out[key] = val
    if "candidate" not in out:
        return None
    if "sdpMLineIndex" in out:
        index = out["sdpMLineIndex"]
        out["sdpMLineIndex"] = int(index) if _INT_RE.match(index) else None if index == "null" else index
    if out.get("sdpMid") == "null":
        out["sdpMid"] = None
    return out


def _key_lines(text: str) -> dict | None:
    """`url: stun:...\\naddress: ...\\nerror_code: 701` -> dict (integers converted)."""
    out: dict = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _KEY_LINE_RE.match(line)
        if match is None:
            return None
        key, val = match.group(1), match.group(2).strip()
        out[key] = int(val) if _INT_RE.match(val) else val
    return out or None


def parse_event_value(name: str, value: Any) -> Any:
    """An updateLog `value` (always a string in real dumps) -> the most structured form we can get.

    `name` is the normalised event name. Empty values become None; JSON is decoded; state values are
    unquoted and normalised; old Chrome texts (candidates, SDP `type: offer, sdp: ...`, `options: {...}`,
    `Caused by: ...` transceiver dumps, icecandidateerror key/value lines) become the dicts new
    Chrome writes as JSON. Anything else stays the original string.
    """
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    parsed = _try_json(value)
    if parsed is FAILED:
        parsed = _parse_old_text(name, value)
    if name in STATE_EVENTS and isinstance(parsed, str):
        parsed = normalize_state(parsed)
    return parsed


def _parse_old_text(name: str, value: str) -> Any:
    if value.startswith(("sdpMid: ", "candidate: ")):
        candidate = _old_candidate(value)
        if candidate is not None:
            return candidate
    match = _SDP_RE.match(value)
    if match:
        return {"type": match.group(1), "sdp": match.group(2)}
    match = _OPTIONS_RE.match(value)
    if match:
        options = parse_jsish(match.group(1))
        if isinstance(options, dict):
            return options
    match = _TRANSCEIVER_RE.match(value)
    if match:
        transceiver = parse_jsish(match.group(3))
        if isinstance(transceiver, dict):
            transceiver["reason"] = match.group(1)
            transceiver["transceiverIndex"] = int(match.group(2))
            return transceiver
    if name == "icecandidateerror" or "\nerror_code: " in value:
        fields = _key_lines(value)
        if fields is not None:
            return fields
    return value
