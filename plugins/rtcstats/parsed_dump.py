"""The one model every dump format is parsed into: client -> peer connections -> events and stat tracks.

Pure data, no Flask. Times are milliseconds since the Unix epoch (floats). Stats are kept column-wise
per stats object ("track" of one getStats report id over time), not as a dict per snapshot: a 50 MB
dump holds millions of values and must fit in a few times its size in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMATS = ("webrtc-internals", "rtcstats-v3", "rtcstats-legacy")

# Method names that belong to the client, not to a peer connection (dump-facts.md D2).
CLIENT_EVENT_PREFIXES = ("navigator.", "mediastreamtrack.", "htmlmediaelement.")


# Old Chrome names whose event the W3C later renamed.
EVENT_ALIASES = {"renegotiationneeded": "negotiationneeded"}


def normalize_event_name(name: str) -> str:
    """Lower-case, without a leading "on": "onIceConnectionStateChange" -> "iceconnectionstatechange"."""
    lowered = str(name).lower()
    if lowered.startswith("on") and not lowered.startswith(("onsuccess", "onfailure")):
        lowered = lowered[2:]
    return EVENT_ALIASES.get(lowered, lowered)


# Event's default `extra`: a new list per event (what field(default_factory=list) gave).
_NEW_LIST: Any = object()


@dataclass
class Event:
    """One logged call or callback. `name` is normalised (normalize_event_name), `raw_name` as written."""

    time: float | None
    name: str
    raw_name: str
    value: Any = None
    extra: list = field(default_factory=list)
    pc_id: str | None = None  # for client events written with a pcId (Chrome's "<rid>-0" getUserMedia)
    # `extra`: trailing line elements (line formats), or for internals [dict of the record's other fields].

    # Written out rather than generated (dataclass keeps a class's own __init__): the generated one runs as
    # interpreted Python, this one is compiled with the module, and parsers make an Event per line.
    def __init__(
        self,
        time: float | None,
        name: str,
        raw_name: str,
        value: Any = None,
        extra: Any = _NEW_LIST,
        pc_id: str | None = None,
    ):
        self.time = time
        self.name = name
        self.raw_name = raw_name
        self.value = value
        self.extra = [] if extra is _NEW_LIST else extra
        self.pc_id = pc_id


class StatTrack:
    """One getStats report id over time, column-wise.

    `times[i]` is the snapshot time (getStats call / line time, or internals cluster time) of sample i;
    `props[p][i]` is property p in that sample, None when the report lacked it then. `report_times[i]` is
    the report's own `timestamp` (None when it had none). Parsers that already hold whole columns (the
    webrtc-internals parser) may fill `times`, `report_times` and `props` directly, keeping this layout;
    a column may be shorter than `times` (missing trailing values are None).
    """

    __slots__ = ("id", "type", "times", "report_times", "props")

    def __init__(self, stat_id: str, stat_type: str | None):
        self.id = stat_id
        self.type = stat_type
        self.times: list[float] = []
        self.report_times: list[float | None] = []
        self.props: dict[str, list] = {}

    def append(self, time: float, report: dict) -> None:
        """Add one sample; `report` maps property -> value (its `timestamp`, `id`, `type` are taken out).

        Columns are padded lazily (see _column): a report touches only its own properties, so the cost
        does not grow with the number of properties the stat ever had.
        """
        n = len(self.times)
        self.times.append(time)
        stamp = report.get("timestamp")
        self.report_times.append(float(stamp) if isinstance(stamp, (int, float)) else None)
        if self.type is None and report.get("type") is not None:
            self.type = str(report["type"])
        props = self.props
        for key, value in report.items():
            if key in ("timestamp", "id", "type"):
                continue
            column = props.get(key)
            if column is None:
                column = props[key] = [None] * n
            elif len(column) < n:
                column.extend([None] * (n - len(column)))
            column.append(value)

    def _column(self, prop: str) -> list | None:
        column = self.props.get(prop)
        if column is not None and len(column) < len(self.times):
            column.extend([None] * (len(self.times) - len(column)))
        return column

    def __len__(self) -> int:
        return len(self.times)

    def values(self, prop: str) -> list[tuple[float, Any]]:
        """(time, value) of every sample where `prop` is present."""
        column = self._column(prop)
        if column is None:
            return []
        return [(t, v) for t, v in zip(self.times, column, strict=True) if v is not None]

    def last(self, prop: str, default: Any = None) -> Any:
        """The value of `prop` in the newest sample that has it."""
        column = self.props.get(prop)  # trailing padding would only be None: no need to pad
        if column:
            for value in reversed(column):
                if value is not None:
                    return value
        return default

    def sample(self, index: int) -> dict:
        """Sample `index` as a dict (present properties only), with `timestamp` and `type`."""
        out = {p: col[index] for p in self.props if (col := self._column(p))[index] is not None}
        out["type"] = self.type
        if self.report_times[index] is not None:
            out["timestamp"] = self.report_times[index]
        return out


@dataclass
class PeerConnection:
    """One RTCPeerConnection: its configuration, its events in logged order (about time order), its stats."""

    id: str
    configuration: Any = None  # dict when parseable, else the raw string
    constraints: Any = None  # legacy (goog) PeerConnection constraints, when the dump has them
    events: list[Event] = field(default_factory=list)
    stats: dict[str, StatTrack] = field(default_factory=dict)
    snapshot_times: list[float] = field(default_factory=list)  # one per getStats snapshot, ascending
    url: str | None = None

    def track(self, stat_id: str, stat_type: str | None = None) -> StatTrack:
        found = self.stats.get(stat_id)
        if found is None:
            found = self.stats[stat_id] = StatTrack(stat_id, stat_type)
        return found

    def tracks_of_type(self, stat_type: str) -> list[StatTrack]:
        return [t for t in self.stats.values() if t.type == stat_type]

    @property
    def first_time(self) -> float | None:
        times = [e.time for e in self.events if e.time is not None] + self.snapshot_times[:1]
        return min(times) if times else None

    @property
    def last_time(self) -> float | None:
        times = [e.time for e in self.events if e.time is not None] + self.snapshot_times[-1:]
        return max(times) if times else None


@dataclass
class Dump:
    """A parsed dump of one client (browser tab)."""

    format: str
    gzip: bool = False
    bytes_uncompressed: int = 0
    format_detail: dict = field(default_factory=dict)
    user_agent: str | None = None
    user_agent_data: Any = None
    device: dict = field(default_factory=dict)  # hardwareConcurrency, deviceMemory, screen, window, ...
    metadata: dict = field(
        default_factory=dict
    )  # url, origin, user/session/conference ids, clientProtocol...
    dump_created_ms: float | None = None
    client_events: list[Event] = field(default_factory=list)  # getUserMedia & co (pc-less)
    peer_connections: dict[str, PeerConnection] = field(default_factory=dict)
    stats_truncated: bool = False  # internals: a series hit the page's 1000-point cap
    warnings: list[str] = field(default_factory=list)

    def pc(self, pc_id: str) -> PeerConnection:
        found = self.peer_connections.get(pc_id)
        if found is None:
            found = self.peer_connections[pc_id] = PeerConnection(pc_id)
        return found

    def event_times(self) -> list[float]:
        times = [e.time for e in self.client_events if e.time is not None]
        for pc in self.peer_connections.values():
            times += [e.time for e in pc.events if e.time is not None]
            times += pc.snapshot_times
        return times

    @property
    def start_ms(self) -> float | None:
        times = self.event_times()
        return min(times) if times else None

    @property
    def end_ms(self) -> float | None:
        times = self.event_times()
        return max(times) if times else None
