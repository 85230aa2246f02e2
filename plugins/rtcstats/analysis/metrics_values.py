"""Small value helpers of the metrics computation: numbers in every spelling the dumps use, stats
types, candidate normalisation (dump-facts.md D6), ICE candidate lines, columns of stat tracks."""

from __future__ import annotations

import functools
import math
import operator
import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np

from plugins.rtcstats.parsed_dump import StatTrack

# Epoch-ms plausibility window of a report's own timestamp (D9: 1e12..4e12).
EPOCH_MIN_MS = 1e12
EPOCH_MAX_MS = 4e12


_isfinite = math.isfinite
_NAN = math.nan  # a module global: compiled, a cached lookup instead of the math module's getattr per value


def num(value: Any) -> float | None:
    """A finite float from a JSON number or a numeric string (legacy goog stats); else None."""
    kind = type(value)
    if kind is float:  # the hot path: millions of calls on a long call
        return value if _isfinite(value) else None
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return None
    if kind is str:
        # legacy goog stats: float() of the string as it is. When it parses, it is float() of the stripped
        # text (float() skips at either end only characters that strip() removes too: the same digits
        # are read); when it fails, the stripped text may still parse (strip() removes more kinds of
        # whitespace than float() skips), which _num_text decides as before.
        try:
            x = float(value)
        except ValueError:
            return _num_text(value)
        return x if x - x == 0.0 else None  # finite (inf - inf and nan - nan are nan): a C double test
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return _num_text(value)
    return None


def _num_text(value: str) -> float | None:
    """num() of a string: its stripped text as a finite float, else None."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_NUMBER_CLASSES = frozenset((int, float))  # exact classes: bool and str take num()'s slow path
_NUMBERS_OR_NONE = frozenset((int, float, type(None)))
_STRINGS = frozenset((str,))
_FLOATS_OR_NONE = frozenset((float, type(None)))


def nums(values: list) -> list[float | None]:
    """[num(v) for v in values]. A column is nearly always plain finite numbers, or numeric strings
    (legacy goog stats): then float() of every value is num() of it, at C speed (any inf, nan or
    overflow makes the sum non-finite or raises, and takes the exact way)."""
    kinds = set(map(type, values))
    if kinds <= _NUMBER_CLASSES or kinds == _STRINGS:
        try:
            floats = list(map(float, values))
        except (OverflowError, ValueError):
            floats = []
        if len(floats) == len(values) and _isfinite(sum(floats)):
            return floats
    elif kinds <= _FLOATS_OR_NONE:
        # a column with gaps: num() of a float is the float when finite (v - v == 0.0: False for inf and
        # nan), else None; without a Python-level call per value
        return [None if v is None or v - v != 0.0 else v for v in values]
    return [num(v) for v in values]


def num_array(values: list) -> np.ndarray:
    """nums(values) as a float64 array, NaN for None. Numbers and None go straight into the array (None
    becomes NaN there, and so must inf and nan); anything else (strings, bools, huge ints) takes nums()."""
    kinds = set(map(type, values))
    if kinds <= _NUMBERS_OR_NONE:
        if kinds <= _NUMBER_CLASSES:
            # the usual column: ints or floats with a finite sum, so no inf or nan (an int too large for
            # a float raises, in the sum or in the array); nothing to mask, and numpy's reductions
            # (isfinite(...).all()) cost more than the conversion on tens of values
            try:
                if _isfinite(sum(values)):
                    return np.array(values, dtype=float)
            except OverflowError:
                pass
        try:
            array = np.array(values, dtype=float)
        except OverflowError:
            array = None
        if array is not None:
            finite = np.isfinite(array)
            if np.count_nonzero(finite) != len(finite):
                array[~finite] = np.nan
            return array
    return np.array(nums(values), dtype=float)


def nums_into(values: list, out: np.ndarray) -> list[float | None]:
    """nums(values), and num_array(values) written into `out` (float64, as long as `values`): one loop,
    num() of each value (compiled: C doubles into the array's buffer, see metrics_values.pxd). A stream
    reads a dozen columns of tens of values, where the type checks, sums and list -> array conversions
    of nums and num_array cost more than the values themselves."""
    seq = values if type(values) is list else list(values)  # typed list when compiled: C indexing
    got: list[float | None] = []
    for k in range(len(seq)):
        value = seq[k]
        if type(value) is float:  # the usual value: num() is the value itself when finite
            x = value
            if x - x == 0.0:
                out[k] = x
                got.append(value)
                continue
            number = None
        elif value is None:  # a gap: num(None), without the call
            number = None
        else:
            number = num(value)
        if number is None:
            out[k] = _NAN
        else:
            out[k] = number
        got.append(number)
    return got


def as_int(value: Any) -> int | None:
    number = num(value)
    return int(number) if number is not None else None


def truthy(value: Any) -> bool:
    """True for JSON true and the string "true" (legacy goog stats)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


_TYPE_ALIASES = {
    "inboundrtp": "inbound-rtp",
    "outboundrtp": "outbound-rtp",
    "remoteinboundrtp": "remote-inbound-rtp",
    "remoteoutboundrtp": "remote-outbound-rtp",
    "candidatepair": "candidate-pair",
    "localcandidate": "local-candidate",
    "remotecandidate": "remote-candidate",
    "datachannel": "data-channel",
    "mediasource": "media-source",
    "peerconnection": "peer-connection",
}


def stat_type(track: StatTrack) -> str | None:
    """The W3C stats type of a track (legacy spellings like `localcandidate`, `inboundrtp` mapped).

    Old Firefox wrote `inbound-rtp` / `outbound-rtp` with `isRemote: true` for what the standard now
    calls remote-inbound-rtp / remote-outbound-rtp: those are reported as the remote types, so that
    RTCP reports about outgoing streams are never taken for incoming media.
    """
    raw = track.type
    if not isinstance(raw, str):
        return None
    kind = _normal_type(raw) if len(raw) <= 100 else _normal_type.__wrapped__(raw)
    if (kind == "inbound-rtp" or kind == "outbound-rtp") and truthy(track.last("isRemote")):
        return "remote-" + kind
    return kind


@functools.lru_cache(maxsize=512)
def _normal_type(raw: str) -> str:
    """The W3C spelling of a stats type (cached: a dump has a few dozen types and thousands of tracks)."""
    return _TYPE_ALIASES.get(raw.replace("-", "").replace("_", "").lower(), raw)


def column(track: StatTrack, *names: str) -> list:
    """The first existing column among `names`, as a list as long as the track (None-padded copy)."""
    n = len(track.times)
    for name in names:
        col = track.props.get(name)
        if col is not None:
            if len(col) < n:
                return list(col) + [None] * (n - len(col))
            return col
    return [None] * n


def has(track: StatTrack, name: str) -> bool:
    col = track.props.get(name)
    return col is not None and any(v is not None for v in col)


def last(track: StatTrack, *names: str) -> Any:
    for name in names:
        value = track.last(name)
        if value is not None:
            return value
    return None


def sample_times(track: StatTrack) -> list[float]:
    """Per sample: the report's own timestamp when it is an epoch ms value, else the snapshot time."""
    own = track.report_times
    n = min(len(track.times), len(own))
    # the usual case, checked at C speed: every sample has its own epoch timestamp (NaN takes the loop)
    if n and None not in own and _isfinite(sum(own)) and EPOCH_MIN_MS <= min(own) <= max(own) <= EPOCH_MAX_MS:
        return own[:n]
    return [
        own if own is not None and EPOCH_MIN_MS <= own <= EPOCH_MAX_MS else snap
        for snap, own in zip(track.times, track.report_times, strict=False)
    ]


def _epoch_floats_increasing(own: list, n: int) -> bool:
    """True when every report time is a float epoch ms value (so sample_times is own[:n], n > 0) and
    the first n strictly increase (so distinct_samples keeps them all). False also when undecided
    (ints, None): the caller then takes sample_times and its check."""
    if not n or type(own) is not list:
        return False
    for k in range(len(own)):
        value = own[k]
        if type(value) is not float:
            return False
        t = value
        if not EPOCH_MIN_MS <= t <= EPOCH_MAX_MS:  # also False for NaN
            return False
        if 0 < k < n and not own[k - 1] < t:
            return False
    return True


def distinct_samples(track: StatTrack) -> tuple[list[int], list[float]]:
    """(sample indexes, times) with times strictly increasing; samples with an equal time collapse to
    the last one (a report carried forward unchanged), samples going back in time are dropped."""
    own = track.report_times
    n = min(len(track.times), len(own))
    if _epoch_floats_increasing(own, n):  # the usual case, in one loop: sample_times' and the check below
        return list(range(n)), own[:n]
    times = sample_times(track)
    if all(map(operator.lt, times, times[1:])):  # the usual case, checked at C speed: every sample kept
        return list(range(len(times))), times
    idx: list[int] = []
    kept: list[float] = []
    for i, t in enumerate(times):
        if kept and t == kept[-1]:
            idx[-1] = i
        elif not kept or t > kept[-1]:
            idx.append(i)
            kept.append(t)
    return idx, kept


class TimeLookup:
    """The latest value at or before a time (bisect over a sorted series)."""

    __slots__ = ("times", "values", "_arrays", "_floats")

    def __init__(self, pairs: list[tuple[float, float]]):
        pairs = sorted(pairs)
        self.times = [t for t, _ in pairs]
        self.values = [v for _, v in pairs]
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None  # (times, values) as floats, when needed
        # (times, values) as lists of floats when every time is finite (at_array's bisect way), else ()
        self._floats: tuple[list[float], list[float]] | tuple[()] | None = None

    @classmethod
    def of(cls, times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> TimeLookup:
        """TimeLookup(zip(times, values)) of numbers without a tuple per point (thousands on a long
        call): lexsort orders by time, then value, as sorting the pairs would."""
        if type(times) is list and type(values) is list and _increasing_floats(times, values):
            # a series' own lists (times strictly increasing): already in that order, no numpy needed
            lookup = cls.__new__(cls)
            lookup.times, lookup.values = list(times), list(values)
            lookup._arrays = None
            lookup._floats = (lookup.times, lookup.values) if _isfinite(sum(lookup.times)) else ()
            return lookup
        times, values = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
        order = np.lexsort((values, times))
        lookup = cls.__new__(cls)
        lookup._arrays = times[order], values[order]
        lookup.times, lookup.values = lookup._arrays[0].tolist(), lookup._arrays[1].tolist()
        # the lists are the arrays' floats: at_array's bisect way takes them as they are
        lookup._floats = (lookup.times, lookup.values) if _isfinite(sum(lookup.times)) else ()
        return lookup

    def at(self, time: float, max_age_ms: float = 5000.0) -> float | None:
        i = bisect_right(self.times, time + 1.0) - 1  # 1 ms tolerance: report vs snapshot time
        if i < 0 or time - self.times[i] > max_age_ms:
            return None
        return self.values[i]

    def at_all(self, times: list[float], max_age_ms: float = 5000.0) -> list[float | None]:
        """at() of each time, in one loop."""
        keys, values = self.times, self.values
        out: list[float | None] = []
        for time in times:
            i = bisect_right(keys, time + 1.0) - 1
            out.append(None if i < 0 or time - keys[i] > max_age_ms else values[i])
        return out

    def at_array(self, times: np.ndarray | list[float], max_age_ms: float = 5000.0) -> np.ndarray:
        """at() of each time as a float array, NaN for None (numeric values only): searchsorted is
        bisect_right for every time at once."""
        times = np.asarray(times, dtype=float)
        if not self.times:
            return np.full(len(times), np.nan)
        if len(times) <= _BISECT_UP_TO:
            floats = self._floats
            if floats is None:
                key_array, value_array = self._float_arrays()
                keys = key_array.tolist()
                floats = self._floats = (keys, value_array.tolist()) if _isfinite(sum(keys)) else ()
            if floats:
                return np.array(_bisect_all(floats[0], floats[1], times.tolist(), max_age_ms), dtype=float)
        keys, values = self._float_arrays()
        i = np.searchsorted(keys, times + 1.0, side="right") - 1
        found = np.maximum(i, 0)
        ok = (i >= 0) & ~(times - keys[found] > max_age_ms)
        return np.where(ok, values[found], np.nan)

    def _float_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) as float arrays, made once: a PC's transport RTT is looked up by each stream."""
        if self._arrays is None:
            self._arrays = np.array(self.times, dtype=float), np.array(self.values, dtype=float)
        return self._arrays

    def __bool__(self) -> bool:
        return bool(self.times)


def _increasing_floats(times: list, values: list) -> bool:
    """Two lists of floats of the same length, the times strictly increasing (no NaN)."""
    if len(times) != len(values):
        return False
    for k in range(len(times)):
        if type(times[k]) is not float or type(values[k]) is not float:
            return False
        if k and not times[k - 1] < times[k]:
            return False
    return True


# at_array of up to this many times takes a bisect per time: its dozen numpy calls (searchsorted, masks,
# where) cost more than the loop below on the tens of intervals of most streams (callgrind)
_BISECT_UP_TO = 64


def _bisect_all(keys: list[float], values: list[float], times: list[float], max_age_ms: float) -> list[float]:
    """at_array's lookup in floats: `keys` sorted and finite, so bisect_right is searchsorted(side="right")
    (a NaN time finds the end in both), and the arithmetic and comparisons are the array ones."""
    nan = math.nan
    out: list[float] = []
    append = out.append
    for time in times:
        i = bisect_right(keys, time + 1.0) - 1
        append(nan if i < 0 or time - keys[i] > max_age_ms else values[i])
    return out


# -- candidates (D6) -------------------------------------------------------------------------------

_CANDIDATE_TYPES = {
    "host": "host",
    "local": "host",
    "srflx": "srflx",
    "serverreflexive": "srflx",
    "stun": "srflx",
    "prflx": "prflx",
    "peerreflexive": "prflx",
    "relay": "relay",
    "relayed": "relay",
}


def candidate_type(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace("-", "").replace("_", "")
    return _CANDIDATE_TYPES.get(key, key or None)


def relay_protocol_from_url(url: Any) -> str | None:
    """turns: -> tls, turn:...?transport=tcp -> tcp, turn: -> udp (D6); None for other urls."""
    if not isinstance(url, str):
        return None
    lowered = url.strip().lower()
    if lowered.startswith("turns:"):
        return "tls"
    if lowered.startswith("turn:"):
        return "tcp" if "transport=tcp" in lowered else "udp"
    return None


_IPV4ISH = re.compile(r"^[0-9x]{1,3}(\.[0-9x]{1,3}){3}$", re.IGNORECASE)


def address_family(address: Any) -> str | None:
    """IPv4 / IPv6 from an address (also masked ones like "x.x.x.x" or "[0:0:0:x:x:x:x:x]");
    None for mDNS names, empty or unknown values. The address itself is never kept."""
    if not isinstance(address, str):
        return None
    value = address.strip().strip("[]")
    if not value or value.endswith(".local"):
        return None
    if ":" in value:
        return "IPv6"
    if _IPV4ISH.match(value):
        return "IPv4"
    return None


def parse_candidate_line(line: Any) -> dict | None:
    """An ICE candidate attribute ("candidate:<foundation> <component> <protocol> <priority> <address>
    <port> typ <type> [raddr ..] [rport ..] [tcptype ..] ...") as a dict (the caller's own), or None.

    The same lines come back in every renegotiated SDP and in the trickled events: parses of short
    lines are cached (bounded) and copied out (the values are strings and numbers)."""
    if line.__class__ is str and len(line) <= 512:
        parsed = _parse_candidate_cached(line)
        return dict(parsed) if parsed is not None else None
    return _parse_candidate_line(line)


@functools.lru_cache(maxsize=1024)
def _parse_candidate_cached(line: str) -> dict | None:
    return _parse_candidate_line(line)


def _parse_candidate_line(line: Any) -> dict | None:
    if not isinstance(line, str):
        return None
    body = line.strip()
    if body.startswith("a="):
        body = body[2:]
    if not body.lower().startswith("candidate:"):
        return None
    parts = body[len("candidate:") :].split()
    if len(parts) < 8 or parts[6].lower() != "typ":
        return None
    out: dict[str, Any] = {
        "foundation": parts[0],
        "component": parts[1],
        "protocol": parts[2].lower(),
        "priority": num(parts[3]),
        "address": parts[4],
        "port": as_int(parts[5]),
        "type": candidate_type(parts[7]),
    }
    rest = parts[8:]
    for i in range(0, len(rest) - 1, 2):
        key = rest[i].lower()
        if key in ("tcptype", "network-cost", "network-id", "generation", "ufrag", "raddr", "rport"):
            out[key] = rest[i + 1]
    return out


_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)


def sdp_ufrag(sdp: Any) -> str | None:
    if not isinstance(sdp, str):
        return None
    found = _UFRAG.search(sdp)
    return found.group(1) if found else None


def sdp_of(value: Any) -> str | None:
    """The SDP text of a description event value ({type, sdp} or "type: offer, sdp: v=0...")."""
    if isinstance(value, dict):
        sdp = value.get("sdp")
        return sdp if isinstance(sdp, str) else None
    if isinstance(value, str) and "v=0" in value:
        return value[value.index("v=0") :]
    return None


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
