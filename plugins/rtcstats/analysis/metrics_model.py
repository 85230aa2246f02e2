"""What the analyzer measures from a parsed Dump: the contract between metrics (computed from stats and
events) and the consumers (observation rules, scores, summary, the API response).

Times are ms since the epoch; durations ms; jitter and RTT in ms (getStats gives seconds); bitrates kbps;
loss in percent 0-100 computed per interval from deltas of cumulative counters. A field that could not
be measured is None (never 0 standing for "unknown").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

import numpy as np

# Series of fewer values are summed by _float_fsum (compiled: C loops; every series of the jitsi-format
# fixtures, up to about 250 values), longer ones by numpy (run as plain Python, _float_fsum's loops
# would cost a microsecond a value). Was 64 when the scalar way built a list of squares: numpy's fixed
# cost per call (np.errstate, np.array) came to 57 k instructions a series (callgrind, 2026-12-08).
_NUMPY_FROM = 256

# The default of an __init__ parameter whose field has a default factory: a new list or Series per
# instance, as the dataclass' generated __init__ makes them (an __init__ written out is compiled).
_NEW: Any = object()


def _pstdev(values: list[float], mean: float | None = None) -> float:
    """Population standard deviation in floats (statistics.pstdev's exact fractions are ~10x slower).
    `mean` is fmean(values) when the caller has it already."""
    if len(values) < 2:
        return 0.0
    if mean is None:
        mean = math.fsum(values) / len(values)
    # fsum((v - mean) ** 2 for v in values) with the per-value work in C. np.float_power calls the C
    # library's pow() as Python's ** does; np.power and d * d round differently in about one case of a
    # thousand (tests/plugins/rtcstats/test_fast_paths.py compares them). Below _NUMPY_FROM values
    # numpy's fixed cost per call is more than the scalar way takes.
    array = None
    if len(values) >= _NUMPY_FROM:
        try:
            array = np.array(values)
        except (OverflowError, TypeError, ValueError):
            array = None
    if array is not None and array.dtype.kind == "f":
        deviation = _array_pstdev(array, mean)
        if deviation is not None:
            return deviation
    squares = _float_squares(values, mean) if array is None else None
    if squares is None:  # ints, anything numpy would read differently, or an overflow: the scalar way
        squares = map(pow, map(operator.sub, values, repeat(mean)), repeat(2))
    return math.sqrt(math.fsum(squares) / len(values))


# The exponent of _float_squares' pow(): a variable, so that the compiler cannot turn pow(d, 2.0) into
# d * d (compiled, metrics_model.pxd declares it a C double), which rounds differently now and then.
_TWO = 2.0


def _power(base: float, exponent: float) -> float:
    """base ** exponent (compiled: the C library's pow() of two C doubles, base >= 0 here)."""
    return base**exponent


def _float_squares(values: list[float], mean: float) -> list[float] | None:
    """[(v - mean) ** 2 for v in values] when all are floats, in one loop (compiled: the C library's
    pow() on C doubles, which is what Python's ** calls for a finite non-zero base: float_pow takes the
    absolute value of a negative one, as here); None when a value is no float or a square overflows
    (** raises there: the scalar way raises it; the plain run's pow() raises the same error here)."""
    if type(mean) is not float or type(values) is not list:
        return None
    m = mean
    out: list[float] = []
    for k in range(len(values)):
        value = values[k]
        if type(value) is not float:
            return None
        deviation = value - m
        if deviation == 0.0:
            out.append(0.0)  # float_pow's zero base: +0.0, without pow()
            continue
        if deviation - deviation != 0.0:  # NaN or infinite: float_pow's own cases, the scalar way
            return None
        square = _power(abs(deviation), _TWO)
        if square - square != 0.0:  # overflow
            return None
        out.append(square)
    return out


def _array_pstdev(array: np.ndarray, mean: float) -> float | None:
    """_pstdev of a float64 array of two or more values, or None when a square overflows (** raises
    OverflowError there: the caller takes the scalar way). fsum is exactly rounded, so the order of the
    values does not change the result."""
    with np.errstate(over="ignore"):  # fsum reads the float64 squares through a memoryview: no list
        total = math.fsum(memoryview(np.float_power(array - mean, 2.0)))
    return math.sqrt(total / len(array)) if math.isfinite(total) else None


def _rank(n: int, share: float) -> int:
    """The index of the nearest-rank percentile `share` (0.05 for p5) of n sorted values:
    max(0, ceil(share * n) - 1) without math.ceil's call (compiled: C arithmetic; share * n > 0)."""
    position = share * n
    index = int(position)
    return index if index < position else max(0, index - 1)


def _float_fsum(values: list, mean: float, squares: bool) -> float | None:
    """math.fsum(values), or with `squares` math.fsum(_float_squares(values, mean)), computed the way
    math.fsum computes it (CPython 3.11's msum: the same partial sums, the same IEEE operations in the
    same order, the same half-even correction at the end), without a list of squares or a float object
    per value: compiled, all of it on C doubles. None when a value is no float, a value, square or sum
    is not finite, or the sum needs more than 64 partials (math.fsum grows its array, this one is
    fixed): the caller then takes the general way, which gives the same result or raises as before."""
    partials = [0.0] * 64  # compiled: a C array of 64 doubles (metrics_model.pxd)
    count = 0
    m = mean
    # the last deviation squared and its square: sorted values repeat (six in ten in the jitsi-format
    # fixtures' series), and pow() of the same deviation is the same square
    last = square = 0.0
    for k in range(len(values)):
        value = values[k]
        if type(value) is not float:
            return None
        x = value
        if x - x != 0.0:  # NaN or infinite
            return None
        if squares:  # _float_squares' square of the deviation
            x = x - m
            if x == 0.0:
                x = 0.0
            elif x == last:
                x = square
            else:
                if x - x != 0.0:
                    return None
                last = x
                x = _power(abs(x), _TWO)
                if x - x != 0.0:
                    return None
                square = x
        # fsum's step: add x to the partials, keeping the non-zero round-off of each addition
        kept = 0
        for j in range(count):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low != 0.0:
                partials[kept] = low
                kept += 1
            x = high
        count = kept
        if x != 0.0:
            if x - x != 0.0 or count == 64:  # an intermediate overflow (math.fsum raises it), or full
                return None
            partials[count] = x
            count += 1
    # fsum's end: add the partials from the largest down while that is exact, then round half-even
    # across the partial that stopped it
    total = 0.0
    if count > 0:
        count -= 1
        total = partials[count]
        low = 0.0
        while count > 0:
            x = total
            count -= 1
            y = partials[count]
            total = x + y
            low = y - (total - x)
            if low != 0.0:
                break
        if count > 0 and (
            (low < 0.0 and partials[count - 1] < 0.0) or (low > 0.0 and partials[count - 1] > 0.0)
        ):
            y = low * 2.0
            x = total + y
            if y == x - total:
                total = x
    return total


def summarize(values: list[float]) -> dict[str, float] | None:
    """Series(values=values).summary() without making the Series (the response pools the values of
    several streams): {avg, min, max, p5, p95, stddev} of a list, None when it is empty."""
    return _list_summary(values) if values else None


def _list_summary(values: list) -> dict[str, float]:
    """Series.summary of a non-empty list (or any sequence), sorted once (compiled: one C function, no
    Python call per step). statistics.fmean(ordered) is fsum(ordered) / n. Below _NUMPY_FROM values
    (most series of a jitsi dump) both sums are _float_fsum's when it can (compiled: C loops, no numpy
    call's fixed cost); else, and above, the general way (math.fsum, _pstdev)."""
    ordered = sorted(values)
    n = len(ordered)
    few = n < _NUMPY_FROM
    total = _float_fsum(ordered, 0.0, False) if few else None
    avg = (math.fsum(ordered) if total is None else total) / n
    low = ordered[0]
    high = ordered[n - 1]
    # A finite mean has only finite values below it; sorted, with the first equal to the last and to
    # the mean, every deviation is +-0.0 and _pstdev would sum squares of 0.0 (a constant series).
    if low == high == avg and avg - avg == 0.0:
        stddev = 0.0
    else:
        # a total means finite floats only, and one finite float is a constant series: n >= 2 here, as
        # _pstdev's formula requires
        total = _float_fsum(ordered, avg, True) if few else None
        stddev = _pstdev(ordered, avg) if total is None else math.sqrt(total / n)
    return {
        "avg": avg,
        "min": low,
        "max": high,
        "p5": ordered[_rank(n, 0.05)],
        "p95": ordered[_rank(n, 0.95)],
        "stddev": stddev,
    }


def _array_summary(floats: np.ndarray) -> dict[str, float]:
    """Series.summary of the float64 array its values were made from (_NUMPY_FROM values or more): a
    stable sort orders them as sorted() does (-0.0 and 0.0 keep their order), and fsum, exactly
    rounded, gives fmean's total whatever the order."""
    ordered_array = np.sort(floats, kind="stable")
    ordered = ordered_array.tolist()
    n = len(ordered)
    avg = math.fsum(memoryview(ordered_array)) / n
    # a constant series, as in _list_summary
    if ordered[0] == ordered[-1] == avg and math.isfinite(avg):
        stddev = 0.0
    else:
        stddev = _array_pstdev(ordered_array, avg)
        if stddev is None:  # a square overflowed: the general way
            stddev = _pstdev(ordered, avg)
    return {
        "avg": avg,
        "min": ordered[0],
        "max": ordered[-1],
        "p5": ordered[_rank(n, 0.05)],
        "p95": ordered[_rank(n, 0.95)],
        "stddev": stddev,
    }


@dataclass
class Series:
    """An interval metric: one value per stats interval (between two consecutive snapshots)."""

    times: list[float] = field(default_factory=list)  # end time of each interval
    values: list[float] = field(default_factory=list)
    # `values` as the float64 array they were made from (extend_floats on an empty series), while
    # nothing else was added: summary() then needs no list -> array conversion (synthetic 50 MB dump)
    _floats: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    # Written out (the generated __init__ runs as interpreted Python): compiled, and a StreamMetrics makes
    # eight Series.
    def __init__(self, times: list[float] = _NEW, values: list[float] = _NEW) -> None:
        self.times = [] if times is _NEW else times
        self.values = [] if values is _NEW else values  # _floats: the class' None, until set

    def add(self, time: float, value: float | None) -> None:
        self._floats = None
        if value is not None and math.isfinite(value):
            self.times.append(time)
            self.values.append(value)

    def add_all(
        self, times: Iterable[float], values: Iterable[float | None], keep: Iterable | None = None
    ) -> None:
        """add() of each (time, value) pair, only where `keep` is true when it is given: one loop
        instead of a call per point (long calls add millions of points)."""
        self._floats = None
        points = zip(times, values, strict=True)
        if keep is not None:
            points = compress(points, keep)
        add_time, add_value, isfinite = self.times.append, self.values.append, math.isfinite
        for time, value in points:
            if value is not None and isfinite(value):
                add_time(time)
                add_value(value)

    def extend_floats(self, times: np.ndarray, values: np.ndarray) -> None:
        """Append the points of two arrays of the same length, `values` all finite (the caller filters)."""
        self._floats = values if not self.values and values.dtype == np.float64 else None
        self.times.extend(times.tolist())
        self.values.extend(values.tolist())

    def extend_lists(self, times: list[float], values: list[float]) -> None:
        """Append the points of two lists of floats of the same length, `values` all finite."""
        self._floats = None
        self.times.extend(times)
        self.values.extend(values)

    def __bool__(self) -> bool:
        return bool(self.values)

    def summary(self) -> dict[str, float] | None:
        """{avg, min, max, p5, p95, stddev} or None when empty (nearest-rank percentiles)."""
        if not self.values:
            return None
        floats = self._floats
        if floats is not None and len(floats) == len(self.values) >= _NUMPY_FROM:
            return _array_summary(floats)
        return _list_summary(self.values)

    def share_above(self, threshold: float) -> float:
        """Fraction (0-1) of intervals whose value exceeds threshold."""
        return sum(v > threshold for v in self.values) / len(self.values) if self.values else 0.0


@dataclass
class Candidate:
    id: str
    type: str | None  # host | srflx | prflx | relay (normalised, dump-facts D6)
    protocol: str | None = None  # udp | tcp
    relay_protocol: str | None = None  # udp | tcp | tls (relay candidates)
    relay_protocol_source: str | None = None  # "relayProtocol" | "url"
    port: int | None = None
    network_type: str | None = None  # wifi | ethernet | cellular | vpn | ...
    address_family: str | None = None  # IPv4 | IPv6 (never the address itself)
    url: str | None = None  # STUN/TURN server that produced it
    time: float | None = None  # when gathered (local, from icecandidate events)


@dataclass
class SelectedPair:
    pair_id: str
    selection: str  # "transport.selectedCandidatePairId" | "candidate-pair.selected" | "googActiveConnection"
    local: Candidate
    remote: Candidate
    first_seen_ms: float
    last_seen_ms: float

    @property
    def uses_relay(self) -> bool:
        return "relay" in (self.local.type, self.remote.type)


@dataclass
class StreamMetrics:
    """One RTP stream (an inbound-rtp or outbound-rtp report id, or a legacy ssrc report)."""

    pc_id: str
    stat_id: str
    kind: str  # audio | video
    direction: str  # inbound | outbound
    ssrc: int | None = None
    codec: str | None = None  # mimeType, e.g. "audio/opus"
    track_identifier: str | None = None
    rid: str | None = None
    first_seen_ms: float | None = None
    last_seen_ms: float | None = None
    # Whole-stream totals (dump-facts D8/D9). Outbound loss comes from the remote-inbound-rtp report.
    packets: int | None = None  # received (inbound) or sent (outbound), last value
    packets_lost: int | None = None  # last value; negative values clamped to 0 here, flagged below
    loss_pct: float | None = None
    negative_packets_lost: bool = False
    min_packets_lost: float | None = None  # most negative packetsLost seen (bug detection)
    bytes: int | None = None
    counter_resets: int = 0
    avg_bitrate_kbps: float | None = None  # over the active span (D9)
    active_start_ms: float | None = None
    active_end_ms: float | None = None
    # Per-interval series.
    bitrate_kbps: Series = field(default_factory=Series)
    loss_pct_series: Series = field(default_factory=Series)
    jitter_ms: Series = field(default_factory=Series)  # inbound: own jitter; outbound: remote-inbound jitter
    rtt_ms: Series = field(default_factory=Series)  # outbound: remote-inbound roundTripTime
    fps: Series = field(default_factory=Series)
    packet_send_delay_ms: Series = field(
        default_factory=Series
    )  # outbound: ΔtotalPacketSendDelay/ΔpacketsSent
    jitter_buffer_delay_ms: Series = field(
        default_factory=Series
    )  # inbound: ΔjitterBufferDelay/ΔemittedCount
    # Video.
    frame_width: int | None = None  # most common while active
    frame_height: int | None = None
    max_frame_height: int | None = None
    frames_decoded: int | None = None
    frames_dropped: int | None = None
    freeze_count: int | None = None
    total_freezes_duration_s: float | None = None
    pause_count: int | None = None
    total_pauses_duration_s: float | None = None
    avg_encode_time_ms: float | None = None
    avg_decode_time_ms: float | None = None
    quality_limitation_pct: dict[str, float] | None = None  # {"cpu": %, "bandwidth": %, "other": %} of time
    quality_limitation_resolution_changes: int | None = None
    # Audio.
    # (concealedSamples - silentConcealedSamples) / totalSamplesReceived * 100: concealment during silence
    # (a muted or DTX talker) is not heard, so it is not counted
    concealed_pct: float | None = None
    emitted_stalled_intervals: int = 0  # intervals with packets received but jitterBufferEmittedCount flat
    audio_level_flat: bool | None = None  # outbound: audioLevel never changed (constant microphone volume)
    # Added by the metrics pass (defaults keep older constructors valid).
    # Totals summed over counter resets (D8/D9 "_across_resets"); None unless counter_resets > 0.
    packets_across_resets: int | None = None
    packets_lost_across_resets: int | None = None
    bytes_across_resets: int | None = None
    # Audio only: estimated MOS (0-4.5) per interval, mos.interval_mos (0 = all packets lost).
    mos: Series = field(default_factory=Series)
    audio_fec: bool | None = None  # Opus in-band FEC per the fmtp line (None: no fmtp line seen)
    # Video: a screen/window/tab capture (contentType, googContentType, getDisplayMedia track), whose
    # low or varying frame rate and odd sizes are by design and must not be judged like a camera's.
    screenshare: bool = False
    # Video, outbound: frame rate of the capture source (media-source framesPerSecond, legacy
    # googFrameRateInput), median while sending; what the encoder could at best have sent.
    source_fps: float | None = None
    # Intervals inside the active span in which no packet flowed (media suspended, muted or stalled),
    # and their total duration. The interval series above leave those intervals out.
    idle_intervals: int = 0
    idle_ms: float = 0.0

    # Written out rather than generated (dataclass keeps a class's own __init__): the generated one runs as
    # interpreted Python with a call per Series default factory; this one is compiled with the module, and
    # the metrics pass makes a StreamMetrics per stream. Same parameters, order and defaults as the fields.
    def __init__(
        self,
        pc_id: str,
        stat_id: str,
        kind: str,
        direction: str,
        ssrc: int | None = None,
        codec: str | None = None,
        track_identifier: str | None = None,
        rid: str | None = None,
        first_seen_ms: float | None = None,
        last_seen_ms: float | None = None,
        packets: int | None = None,
        packets_lost: int | None = None,
        loss_pct: float | None = None,
        negative_packets_lost: bool = False,
        min_packets_lost: float | None = None,
        bytes: int | None = None,
        counter_resets: int = 0,
        avg_bitrate_kbps: float | None = None,
        active_start_ms: float | None = None,
        active_end_ms: float | None = None,
        bitrate_kbps: Series = _NEW,
        loss_pct_series: Series = _NEW,
        jitter_ms: Series = _NEW,
        rtt_ms: Series = _NEW,
        fps: Series = _NEW,
        packet_send_delay_ms: Series = _NEW,
        jitter_buffer_delay_ms: Series = _NEW,
        frame_width: int | None = None,
        frame_height: int | None = None,
        max_frame_height: int | None = None,
        frames_decoded: int | None = None,
        frames_dropped: int | None = None,
        freeze_count: int | None = None,
        total_freezes_duration_s: float | None = None,
        pause_count: int | None = None,
        total_pauses_duration_s: float | None = None,
        avg_encode_time_ms: float | None = None,
        avg_decode_time_ms: float | None = None,
        quality_limitation_pct: dict[str, float] | None = None,
        quality_limitation_resolution_changes: int | None = None,
        concealed_pct: float | None = None,
        emitted_stalled_intervals: int = 0,
        audio_level_flat: bool | None = None,
        packets_across_resets: int | None = None,
        packets_lost_across_resets: int | None = None,
        bytes_across_resets: int | None = None,
        mos: Series = _NEW,
        audio_fec: bool | None = None,
        screenshare: bool = False,
        source_fps: float | None = None,
        idle_intervals: int = 0,
        idle_ms: float = 0.0,
    ) -> None:
        self.pc_id = pc_id
        self.stat_id = stat_id
        self.kind = kind
        self.direction = direction
        self.ssrc = ssrc
        self.codec = codec
        self.track_identifier = track_identifier
        self.rid = rid
        self.first_seen_ms = first_seen_ms
        self.last_seen_ms = last_seen_ms
        self.packets = packets
        self.packets_lost = packets_lost
        self.loss_pct = loss_pct
        self.negative_packets_lost = negative_packets_lost
        self.min_packets_lost = min_packets_lost
        self.bytes = bytes
        self.counter_resets = counter_resets
        self.avg_bitrate_kbps = avg_bitrate_kbps
        self.active_start_ms = active_start_ms
        self.active_end_ms = active_end_ms
        self.bitrate_kbps = Series() if bitrate_kbps is _NEW else bitrate_kbps
        self.loss_pct_series = Series() if loss_pct_series is _NEW else loss_pct_series
        self.jitter_ms = Series() if jitter_ms is _NEW else jitter_ms
        self.rtt_ms = Series() if rtt_ms is _NEW else rtt_ms
        self.fps = Series() if fps is _NEW else fps
        self.packet_send_delay_ms = Series() if packet_send_delay_ms is _NEW else packet_send_delay_ms
        self.jitter_buffer_delay_ms = Series() if jitter_buffer_delay_ms is _NEW else jitter_buffer_delay_ms
        self.frame_width = frame_width
        self.frame_height = frame_height
        self.max_frame_height = max_frame_height
        self.frames_decoded = frames_decoded
        self.frames_dropped = frames_dropped
        self.freeze_count = freeze_count
        self.total_freezes_duration_s = total_freezes_duration_s
        self.pause_count = pause_count
        self.total_pauses_duration_s = total_pauses_duration_s
        self.avg_encode_time_ms = avg_encode_time_ms
        self.avg_decode_time_ms = avg_decode_time_ms
        self.quality_limitation_pct = quality_limitation_pct
        self.quality_limitation_resolution_changes = quality_limitation_resolution_changes
        self.concealed_pct = concealed_pct
        self.emitted_stalled_intervals = emitted_stalled_intervals
        self.audio_level_flat = audio_level_flat
        self.packets_across_resets = packets_across_resets
        self.packets_lost_across_resets = packets_lost_across_resets
        self.bytes_across_resets = bytes_across_resets
        self.mos = Series() if mos is _NEW else mos
        self.audio_fec = audio_fec
        self.screenshare = screenshare
        self.source_fps = source_fps
        self.idle_intervals = idle_intervals
        self.idle_ms = idle_ms

    @property
    def key(self) -> str:
        return f"{self.pc_id}/{self.stat_id}"


@dataclass
class PcMetrics:
    pc_id: str
    first_event_ms: float | None = None
    last_event_ms: float | None = None
    closed: bool = False
    # State sequences with times: [(time or None, state)] in logged order (dump-facts D4).
    ice_states: list[tuple[float | None, str]] = field(default_factory=list)
    ice_states_legacy: list[tuple[float | None, str]] = field(default_factory=list)
    connection_states: list[tuple[float | None, str]] = field(default_factory=list)
    signaling_states: list[tuple[float | None, str]] = field(default_factory=list)
    gathering_states: list[tuple[float | None, str]] = field(default_factory=list)
    dtls_states: list[tuple[float | None, str]] = field(default_factory=list)  # transport dtlsState changes
    ice_restarts: int = 0
    connection_time_ms: float | None = None  # first connecting -> connected
    ice_connection_time_ms: float | None = None  # first checking -> connected/completed
    # Configuration.
    ice_servers: list[str] | None = None  # urls; None when the dump did not record iceServers
    ice_transport_policy: str | None = None
    bundle_policy: str | None = None
    # Candidates.
    local_candidates: list[Candidate] = field(default_factory=list)  # in gathering order
    remote_candidates: list[Candidate] = field(default_factory=list)
    # icecandidateerror events: {time, url, errorCode, errorText, address, port}
    candidate_errors: list[dict] = field(default_factory=list)
    gathering_start_ms: float | None = None
    # Failed API calls: [{time, method, error}] (setLocalDescriptionOnFailure, addIceCandidateOnFailure, ...).
    call_failures: list[dict] = field(default_factory=list)
    # Selected candidate pairs (D6) and transport RTT (D7).
    selected_pairs: list[SelectedPair] = field(default_factory=list)  # every distinct one, in order
    rtt_ms: Series = field(default_factory=Series)  # selected pair currentRoundTripTime per snapshot
    rtt_mean_ms: float | None = None
    rtt_source: str | None = None  # "selected-pair" | "remote-inbound-rtp"
    # the stat the RTT values were read from: currentRoundTripTime (candidate-pair), googRtt (legacy goog
    # pair) or roundTripTime (remote-inbound-rtp)
    rtt_property: str | None = None
    available_outgoing_kbps: Series = field(default_factory=Series)
    data_channels: list[dict] = field(
        default_factory=list
    )  # {id, label, state, messagesSent, messagesReceived}
    stream_keys: list[str] = field(default_factory=list)  # StreamMetrics.key of this PC's streams
    stats_snapshots: int = 0
    # Added by the metrics pass (defaults keep older constructors valid).
    url: str | None = None  # page url of the PC (webrtc-internals, Chrome's v3 writer)
    final_selected_pairs: list[SelectedPair] = field(default_factory=list)  # D6 final_selected_pairs
    selected_pair_switches: int = 0  # times the selected pair(s) changed between snapshots
    rtt_samples: int = 0  # number of values averaged into rtt_mean_ms (D7)
    rtt_mean_nonzero_ms: float | None = None  # D7 mean without zero values (LAN RTTs round to 0)

    @property
    def states(self) -> list[str]:
        return [s for _, s in self.ice_states] + [s for _, s in self.ice_states_legacy]

    # reached_connected and failed loop over the state lists (compiled: no generator or list of states
    # per call, the response asks both of every PC); test_model_inits keeps the any() forms they replace.
    @property
    def reached_connected(self) -> bool:
        """Any ICE state (current or legacy) connected or completed, or a connection state connected."""
        for states in (self.ice_states, self.ice_states_legacy):
            for _, state in states:
                if state in ("connected", "completed"):
                    return True
        for _, state in self.connection_states:
            if state == "connected":
                return True
        return False

    @property
    def failed(self) -> bool:
        """Any ICE state (current or legacy) or connection state failed."""
        for states in (self.ice_states, self.ice_states_legacy, self.connection_states):
            for _, state in states:
                if state == "failed":
                    return True
        return False

    @property
    def final_pair(self) -> SelectedPair | None:
        return self.selected_pairs[-1] if self.selected_pairs else None


@dataclass
class ClientMetrics:
    user_agent: str | None = None
    browser: str | None = None  # Chrome | Firefox | Safari | Edge | ...
    browser_version: str | None = None  # major version, e.g. "142"
    os: str | None = None  # macOS | Windows | Linux | Android | iPhone | iPad | ChromeOS
    os_version: str | None = None
    hardware_concurrency: int | None = None
    device_memory: float | None = None
    # getUserMedia/getDisplayMedia calls: {time, kind: "getUserMedia"|"getDisplayMedia", constraints,
    # success: bool | None, error, tracks: [{kind, id, label}]}
    media_requests: list[dict] = field(default_factory=list)
    compute_pressure: list[tuple[float, str]] = field(
        default_factory=list
    )  # (time, nominal|fair|serious|critical)
    # Added by the metrics pass (defaults keep older constructors valid).
    mobile: bool | None = None
    platform: str | None = None  # User-Agent Client Hints platform, as given


@dataclass
class CallMetrics:
    start_ms: float | None
    end_ms: float | None
    client: ClientMetrics
    pcs: dict[str, PcMetrics] = field(default_factory=dict)
    streams: dict[str, StreamMetrics] = field(default_factory=dict)  # by StreamMetrics.key
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float | None:
        if self.start_ms is None or self.end_ms is None:
            return None
        return self.end_ms - self.start_ms

    def streams_of(self, kind: str | None = None, direction: str | None = None) -> list[StreamMetrics]:
        return [
            s
            for s in self.streams.values()
            if (kind is None or s.kind == kind) and (direction is None or s.direction == direction)
        ]
