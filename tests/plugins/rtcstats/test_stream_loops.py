"""The per-stream loops of metrics_streams (C doubles when compiled) give, by repr, what the numpy array
code they replaced gave: the reference functions below are that code."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from plugins.rtcstats.analysis import metrics_model as ms_model
from plugins.rtcstats.analysis import metrics_streams as ms
from plugins.rtcstats.analysis import metrics_values as mv
from plugins.rtcstats.analysis.metrics_model import Series, StreamMetrics
from plugins.rtcstats.parsed_dump import StatTrack

# The inputs include infinities (inf - inf): numpy warns about its NaN results, in the reference array code
# and in the plain run's scalar loops alike, and the results are what is compared.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

SIZES = (0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000)
SPECIAL = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324)


def _column(rng: random.Random, n: int, gaps: float) -> np.ndarray:
    """A counter-like column: mostly increasing, some resets, NaN gaps and odd values."""
    out, value = [], rng.uniform(0, 1e4)
    for _ in range(n):
        roll = rng.random()
        if roll < gaps:
            out.append(np.nan)
            continue
        if roll < gaps + 0.05:
            value = rng.uniform(0, 100)  # a reset
        elif roll < gaps + 0.08:
            value = rng.choice(SPECIAL)
        elif rng.random() < 0.2:
            pass  # flat
        else:
            value = float(value) + rng.choice((rng.uniform(0, 5e4), float(rng.randint(0, 300))))
        out.append(value)
    return np.array(out, dtype=float)


def _times(rng: random.Random, n: int) -> np.ndarray:
    t = 1.7e12 + rng.uniform(0, 1e6)
    out = []
    for _ in range(n):
        t += rng.choice((1000.0, 999.5, 0.0, rng.uniform(0, 3000)))
        out.append(t)
    return np.array(out, dtype=float)


def _cases():
    rng = random.Random(7)
    for n in SIZES:
        for gaps in (0.0, 0.2, 1.0):
            yield n, gaps, rng.randrange(1 << 30)


CASES = list(_cases())


def _ref_array_deltas(values):
    out = np.empty(len(values))
    out[:1] = np.nan
    before, after = values[:-1], values[1:]
    deltas = np.subtract(after, before, out=out[1:])
    reset = after < before
    if np.count_nonzero(reset):
        deltas[reset] = after[reset]
    return out


def _ref_after_first(mask):
    mask = mask.copy()
    mask[:1] = False
    return mask


def _ref_intervals(times, byte_values, d_packets, d_bytes):
    dt = np.zeros(len(times))
    dt[1:] = times[1:] - times[:-1]
    has_bytes = np.count_nonzero(np.isnan(byte_values)) != len(byte_values)
    positive = ((d_bytes if has_bytes else d_packets) > 0).nonzero()[0]
    active = np.zeros(len(times), dtype=bool)
    if len(positive):
        active[positive[0] : positive[-1] + 1] = True
    carried = np.where(np.isnan(d_bytes), (d_packets > 0) & (not has_bytes), d_bytes > 0)
    return dt, active, carried, _ref_after_first(carried)


def _ref_extend(series, times, values):
    keep = np.isfinite(values)
    series.extend_floats(times[keep], values[keep])


def _ref_bitrate(sm, times, dt, d_bytes, active, carried):
    spanned = _ref_after_first(active & (dt > 0))
    for span in dt[spanned & ~carried].tolist():
        sm.idle_intervals += 1
        sm.idle_ms += span
    sent = spanned & carried & ~np.isnan(d_bytes)
    with np.errstate(all="ignore"):
        _ref_extend(sm.bitrate_kbps, times[sent], d_bytes[sent] * 8.0 / dt[sent])


def _summary(series: Series) -> str:
    try:
        return repr(series.summary())
    except OverflowError as error:  # fsum of +-1e308 values: the same error both ways
        return repr(error)


def _same(a, b) -> bool:
    return repr(np.asarray(a).tolist()) == repr(np.asarray(b).tolist())


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_deltas_and_intervals_are_the_array_code(n, gaps, seed):
    rng = random.Random(seed)
    times = _times(rng, n)
    packets, byte_values = _column(rng, n, gaps), _column(rng, n, gaps if rng.random() < 0.7 else 1.0)
    d_packets, d_bytes = ms._array_deltas(packets), ms._array_deltas(byte_values)
    with np.errstate(all="ignore"):
        assert _same(d_packets, _ref_array_deltas(packets))
        assert _same(d_bytes, _ref_array_deltas(byte_values))
        dt = np.empty(n)
        flags = np.zeros((3, n), dtype=bool)
        ms._interval_flags(times, byte_values, d_packets, d_bytes, dt, flags)
        for got, want in zip(
            (dt, flags[0], flags[1], flags[2]),
            _ref_intervals(times, byte_values, d_packets, d_bytes),
            strict=True,
        ):
            assert _same(got, want)
            assert got.dtype == want.dtype


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_bitrate_rate_ratio_are_the_array_code(n, gaps, seed):
    rng = random.Random(seed)
    times = _times(rng, n)
    byte_values, frames = _column(rng, n, gaps), _column(rng, n, gaps)
    d_bytes, d_frames = ms._array_deltas(byte_values), ms._array_deltas(frames)
    with np.errstate(all="ignore"):
        dt, active, carried, _ = _ref_intervals(times, byte_values, d_bytes, d_bytes)
        got, want = StreamMetrics("pc", "s", "video", "inbound"), StreamMetrics("pc", "s", "video", "inbound")
        ms._bitrate_loop(got, times, dt, d_bytes, active, carried)
        _ref_bitrate(want, times, dt, d_bytes, active, carried)
        assert (got.idle_intervals, repr(got.idle_ms)) == (want.idle_intervals, repr(want.idle_ms))
        assert repr(got.bitrate_kbps.times) == repr(want.bitrate_kbps.times)
        assert repr(got.bitrate_kbps.values) == repr(want.bitrate_kbps.values)
        assert type(got.idle_ms) is float and all(type(v) is float for v in got.bitrate_kbps.values)

        rate = np.empty(n)
        ms._rate_into(d_frames, dt, 1000.0, rate)
        rated = _ref_after_first(~np.isnan(d_frames) & (dt > 0))
        want_rate = np.full(n, np.nan)
        want_rate[rated] = d_frames[rated] * 1000.0 / dt[rated]
        assert _same(rate, want_rate)

        ratio = np.empty(n)
        ms._ratio_into(d_frames, d_bytes, 1000.0, ratio)
        rated = ~np.isnan(d_frames) & (d_bytes > 0)
        want_ratio = np.full(n, np.nan)
        want_ratio[rated] = d_frames[rated] * 1000.0 / d_bytes[rated]
        assert _same(ratio, want_ratio)


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_extend_where_is_the_selection(n, gaps, seed):
    rng = random.Random(seed)
    times, values = _times(rng, n), _column(rng, n, gaps)
    keep = np.array([rng.random() < 0.6 for _ in range(n)], dtype=bool)
    for got_fill, want_fill in (
        (
            lambda s: ms._extend_where(s, times, values, keep),
            lambda s: _ref_extend(s, times[keep], values[keep]),
        ),
        (lambda s: ms._extend(s, times, values), lambda s: _ref_extend(s, times, values)),
    ):
        got, want = Series(), Series()
        got.add(1.0, 2.0), want.add(1.0, 2.0)  # appends after what is there
        got_fill(got), want_fill(want)
        assert repr(got.times) == repr(want.times) and repr(got.values) == repr(want.values)
        assert all(type(v) is float for v in got.times + got.values)
        assert _summary(got) == _summary(want)


def _ref_totals_steady(values):
    steps = None if None in values else [b - a for a, b in zip(values, values[1:], strict=False)]
    return bool(values) and steps is not None and (not steps or min(steps) >= 0)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [1.0],
        [None],
        [1.0, 1.0, 2.0],
        [1.0, 0.5],
        [1.0, None, 2.0],
        [1, 2, 3],  # ints: undecided, the caller takes the general way
        [-1e308, 1e308],
        [1e308, -1e308],
        [0.0, -0.0, 0.0],
        [1.0, 2.0, 3.0, 2.9999],
    ],
)
def test_steady_is_min_of_steps(values):
    if ms._steady(values):
        assert _ref_totals_steady(values)
    assert ms._totals_across_resets(values) == _ref_totals_across_resets(values)
    assert repr(ms._totals_across_resets(values)) == repr(_ref_totals_across_resets(values))


def _ref_totals_across_resets(values):
    present = [v for v in values if v is not None]
    if not present:
        return None, 0, None
    if _ref_totals_steady(values):
        return values[-1], 0, 0.0 + values[-1]
    carried, resets = 0.0, 0
    for a, b in zip(present, present[1:], strict=False):
        if b < a:
            carried += a
            resets += 1
    return present[-1], resets, carried + present[-1]


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_steady_and_span_on_random_columns(n, gaps, seed):
    rng = random.Random(seed)
    column = _column(rng, n, gaps)
    values = [None if v != v else v for v in column.tolist()]
    if ms._steady(values):  # never says steady where min(steps) does not
        assert _ref_totals_steady(values)
    assert repr(ms._totals_across_resets(values)) == repr(_ref_totals_across_resets(values))
    increments = ms._array_deltas(column)
    span = ms._span_of(column, increments)
    if np.count_nonzero(np.isnan(column)):
        assert span is None
        return
    positive = (increments > 0).nonzero()[0]
    want = (
        int(np.count_nonzero(column[1:] < column[:-1])),
        int(positive[0]) - 1 if len(positive) else -2,
        int(positive[-1]) if len(positive) else -1,
    )
    assert span == want


ODD_VALUES = [
    None,
    True,
    False,
    0,
    -0.0,
    0.0,
    1,
    -7,
    2**53 + 1,
    10**400,
    1.5,
    float("nan"),
    float("inf"),
    -float("inf"),
    "12",
    " 3.5 ",
    "",
    "  ",
    "abc",
    "1e400",
    "nan",
    "-0",
    "1_000",
    "true",
    {"a": 1},
    [1],
    1e308,
    5e-324,
]


@pytest.mark.parametrize("seed", range(40))
def test_nums_into_is_nums_and_num_array(seed):
    rng = random.Random(seed)
    pool = ODD_VALUES if seed % 2 else [rng.uniform(-1e6, 1e6) for _ in range(5)] + [None, 3, "4.25"]
    values = [rng.choice(pool) for _ in range(rng.choice((0, 1, 7, 8, 9, 64, 65, 300)))]
    out = np.empty(len(values))
    got = mv.nums_into(values, out)
    assert repr(got) == repr(mv.nums(values))
    assert [type(v) for v in got] == [type(v) for v in mv.nums(values)]
    assert repr(out.tolist()) == repr(mv.num_array(values).tolist())
    assert repr(mv.nums_into(tuple(values), np.empty(len(values)))) == repr(got)


def test_short_pstdev_squares_exactly_as_python_does():
    """The loop of _float_squares (short series, below numpy's size) is Python's (v - mean) ** 2: the C
    library's pow() differs from d * d in about 1 value of 1000, so many values are tried."""
    rng = random.Random(17)
    values = [(rng.random() - 0.3) * 10.0 ** rng.randint(-8, 8) for _ in range(60_000)]
    deviations = [v - 0.125 for v in values]
    assert ms_model._float_squares(values, 0.125) == [d**2 for d in deviations]
    assert sum(d**2 != d * d for d in deviations) > 0  # the trap is there
    for size in (2, 3, 7, 8, 9, 30, 63):
        for start in range(0, 3000, size):
            part = values[start : start + size]
            mean = math.fsum(part) / len(part)
            want = math.sqrt(math.fsum((v - mean) ** 2 for v in part) / len(part))
            assert repr(ms_model._pstdev(part, mean)) == repr(want)
            assert repr(ms_model._pstdev(part)) == repr(want)
    assert ms_model._float_squares([1.0, 2.0], 1) is None  # an int mean: the scalar way
    assert ms_model._float_squares([1.0, 2], 1.5) is None
    assert ms_model._float_squares((1.0, 2.0), 1.5) is None
    assert ms_model._float_squares([1.0, math.inf], 1.5) is None
    assert ms_model._float_squares([1.0, math.nan], 1.5) is None
    assert ms_model._float_squares([2.0, 1.0, -0.0, 0.0], 0.0) == [4.0, 1.0, 0.0, 0.0]
    assert repr(ms_model._float_squares([-0.0], 0.0)) == repr([(-0.0 - 0.0) ** 2])
    with pytest.raises(OverflowError):  # beyond the float range: the error ** raises
        ms_model._pstdev([1e300, -1e300, 0.5])


def _general_lookup(times, values) -> mv.TimeLookup:
    """TimeLookup.of by its array way (lexsort), whatever the input."""
    return mv.TimeLookup.of(np.array(times, dtype=float), np.array(values, dtype=float))


@pytest.mark.parametrize("seed", range(30))
def test_time_lookup_of_lists_is_the_array_way(seed):
    rng = random.Random(seed)
    n = rng.choice((0, 1, 2, 5, 64, 65, 200))
    times = sorted({1.7e12 + rng.randrange(0, 10**6) * 0.5 for _ in range(n)})
    values = [rng.choice((rng.uniform(0, 500), 0.0, -0.0, np.nan)) for _ in times]
    if seed % 5 == 1 and times:
        times[-1] = np.inf  # infinite time: no bisect lists
    if seed % 5 == 2 and len(times) > 2:
        times[1], times[2] = times[2], times[1]  # out of order: the array way
    if seed % 5 == 3 and times:
        values[0] = 3  # an int value: the array way
    got, want = mv.TimeLookup.of(times, values), _general_lookup(times, values)
    assert repr((got.times, got.values)) == repr((want.times, want.values))
    assert [type(v) for v in got.times + got.values] == [type(v) for v in want.times + want.values]
    assert repr(got._floats) == repr(want._floats)
    queries = [rng.uniform(1.7e12 - 1e4, 1.7e12 + 6e5) for _ in range(rng.choice((1, 10, 64, 65, 300)))]
    queries += [np.nan] + times[:3]
    for max_age in (5000.0, 15000.0):
        assert _same(got.at_array(queries, max_age), want.at_array(queries, max_age))
        assert _same(
            got.at_array(np.array(queries), max_age),
            _general_lookup(times, values).at_array(queries, max_age),
        )
    times.append(0.0)  # the lookup keeps its own lists
    assert len(got.times) == len(times) - 1


def _ref_distinct_samples(times, report_times):
    """distinct_samples by its general way: sample_times' per-sample choice, then the collapsing loop."""
    sampled = [
        own if own is not None and mv.EPOCH_MIN_MS <= own <= mv.EPOCH_MAX_MS else snap
        for snap, own in zip(times, report_times, strict=False)
    ]
    idx, kept = [], []
    for i, t in enumerate(sampled):
        if kept and t == kept[-1]:
            idx[-1] = i
        elif not kept or t > kept[-1]:
            idx.append(i)
            kept.append(t)
    return idx, kept


@pytest.mark.parametrize("seed", range(60))
def test_distinct_samples_is_the_general_way(seed):
    rng = random.Random(seed)
    n = rng.choice((0, 1, 2, 3, 8, 65))
    times = [1.7e12 + 1000.0 * k for k in range(n)]
    report, t = [], 2e12
    for _ in range(n + rng.choice((0, 0, 1))):  # sometimes one report time more than samples
        t += rng.choice((1000.0, 1000.0, 0.0, -5.0))
        report.append(t)
    if report and seed % 6 == 1:
        report[rng.randrange(len(report))] = rng.choice((None, math.nan, 5.0, 4e12 + 1, math.inf, int(t)))
    if report and seed % 6 == 2:
        report[-1] = mv.EPOCH_MAX_MS  # the window's edge
    track = StatTrack("t", "inbound-rtp")
    track.times, track.report_times = times, report
    got = mv.distinct_samples(track)
    assert repr(got) == repr(_ref_distinct_samples(times, report))
    assert [type(v) for v in got[1]] == [type(v) for v in _ref_distinct_samples(times, report)[1]]


def _nums_and_array(column: np.ndarray) -> tuple[list, np.ndarray]:
    """What nums() and kept_arr give for a column holding these floats: None (NaN) for the non-finite."""
    values = [v if math.isfinite(v) else None for v in column.tolist()]
    return values, np.array([math.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_own_loss_loop_is_loss_vs_sent(n, gaps, seed):
    rng = random.Random(seed)
    times = _times(rng, n)
    lost, lost_arr = _nums_and_array(_column(rng, n, gaps))
    sent, sent_arr = _nums_and_array(_column(rng, n, gaps))
    if n > 3 and lost[1] is not None and sent[1] is not None:  # a -0.0 loss, a flat sent counter
        lost[1] = lost_arr[1] = -0.0
        sent[2] = sent_arr[2] = sent[1]
    ref_times, ref_values = ms._unzip(_ref_loss_vs_sent(times.tolist(), lost, sent))
    out = np.empty((2, n))
    count = ms._loss_vs_sent_into(times, lost_arr, sent_arr, out)
    assert _same(out[0, :count], ref_times) and _same(out[1, :count], ref_values)


def _ref_mode_frame(widths, heights, keep):
    n = min(len(widths), len(heights), len(keep))
    sizes = [
        (None if width is None else int(width), height)
        for width, height, kept in zip(mv.nums(widths[:n]), mv.nums(heights[:n]), keep[:n], strict=True)
        if kept and height is not None and height > 0
    ]
    if not sizes:
        return None, None, None
    counts = Counter((width, int(height)) for width, height in sizes)
    max_height = int(max(height for _, height in sizes))
    (width, height), _ = max(counts.items(), key=lambda item: (item[1], item[0][1] or 0))
    return width, height, max_height


_FRAME_VALUES = (None, 0, 0.0, -0.0, 0.5, 1, 180, 180.0, 180.7, 360, "360", " 720 ", "", "x", True, 1e300)


@pytest.mark.parametrize("seed", range(60))
def test_mode_frame_is_the_counter_way(seed):
    rng = random.Random(seed)
    n = rng.choice((0, 1, 2, 5, 30, 200))
    pick = _FRAME_VALUES if seed % 3 == 0 else (180, 360, "360", 720, None)
    widths = [rng.choice(pick) for _ in range(n + rng.randrange(2))]
    heights = [rng.choice(pick) for _ in range(n)]
    keep = [rng.random() < 0.8 for _ in range(n + rng.randrange(2))]
    assert repr(ms._mode_frame(widths, heights, keep)) == repr(_ref_mode_frame(widths, heights, keep))


def _ref_loss_vs_sent(times, lost, sent):
    d_lost = ms._deltas_following(lost, sent)
    d_sent, _ = ms._counter_deltas(sent)
    out = []
    for k in range(1, len(times)):
        if d_lost[k] is None or d_sent[k] is None or d_sent[k] <= 0:
            continue
        out.append((times[k], min(max(d_lost[k], 0.0) / d_sent[k] * 100.0, 100.0)))
    return out


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_loss_vs_sent_at_is_the_pairs_lookup(n, gaps, seed):
    rng = random.Random(seed)
    times = _times(rng, n)
    kept = np.unique(times)  # distinct_samples keeps increasing times
    sent, sent_arr = _nums_and_array(_column(rng, len(kept), gaps))
    rtimes = sorted({float(t + rng.choice((-2000.0, 0.0, 0.5, 1.0, 1.5, 14000.0, 16000.0))) for t in times})
    lost, lost_arr = _nums_and_array(_column(rng, len(rtimes), gaps))
    sent_at = mv.TimeLookup([(t, v) for t, v in zip(kept.tolist(), sent, strict=True) if v is not None])
    at_reports = [sent_at.at(t, 15000.0) for t in rtimes]
    ref_times, ref_values = ms._unzip(_ref_loss_vs_sent(rtimes, lost, at_reports))
    got_times, got_values = ms._loss_vs_sent_at(kept, sent_arr, rtimes, lost_arr)
    assert _same(got_times, ref_times) and _same(got_values, ref_values)


def _ref_array_deltas_following(values, base):
    """_deltas_following of float arrays (NaN for None): the array code _inbound_loss_into replaced."""
    out = np.full(len(values), np.nan)
    steps = values[1:] - values[:-1]
    out[1:] = np.where(np.isnan(steps) | ~(base[1:] < base[:-1]), steps, values[1:])
    return out


def _ref_inbound_loss(lost, received, d_packets):
    d_lost = _ref_array_deltas_following(lost, received)
    missing = np.maximum(d_lost, 0.0)  # late or duplicate packets are no loss
    expected = d_packets + missing
    counted = _ref_after_first(~np.isnan(expected) & (expected > 0))
    loss = np.full(len(lost), np.nan)
    loss[counted] = np.minimum(np.maximum(missing[counted] / expected[counted] * 100.0, 0.0), 100.0)
    return loss, counted


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_inbound_loss_loop_is_the_array_code(n, gaps, seed):
    rng = random.Random(seed)
    lost, received = _column(rng, n, gaps), _column(rng, n, gaps)
    if n > 3:  # a -0.0 delta, a lost counter falling back (late packets)
        lost[2], lost[3] = 0.0, -0.0
    with np.errstate(all="ignore"):
        d_packets = ms._array_deltas(received)
        want_loss, want_counted = _ref_inbound_loss(lost, received, d_packets)
        loss, counted = np.empty(n), np.zeros(n, dtype=bool)
        ms._inbound_loss_into(lost, received, d_packets, loss, counted)
    assert _same(loss, want_loss) and _same(counted, want_counted)


@pytest.mark.parametrize(("n", "gaps", "seed"), CASES)
def test_small_row_loops_are_the_array_code(n, gaps, seed):
    rng = random.Random(seed)
    values, emitted = _column(rng, n, gaps), ms._array_deltas(_column(rng, n, gaps))
    carried = np.array([rng.random() < 0.6 for _ in range(n)], dtype=bool)
    with np.errstate(all="ignore"):
        scaled = np.empty(n)
        ms._scaled_into(values, 1000.0, scaled)
        assert _same(scaled, values * 1000.0)
        assert ms._count_stalled(emitted, carried) == int(np.count_nonzero(carried & (emitted == 0)))
    times = _times(rng, n).tolist() + [3, 2**60 + 1]  # ints too: what np.array(dtype=float) makes of them
    row = np.empty(len(times))
    ms._floats_into(times, row)
    assert _same(row, np.array(times, dtype=float))
    idx = sorted(rng.sample(range(len(times)), rng.randint(0, len(times))))
    picked = np.empty(len(idx))
    ms._picked_into(times, idx, picked)
    assert _same(picked, np.array(times, dtype=float)[np.array(idx, dtype=int)])


def _stream_pass(n: int, props: int) -> ms.StreamPass:
    track = StatTrack("RTCInboundRTPAudioStream_1", "inbound-rtp")
    track.times = [1.7e12 + 1000.0 * k for k in range(n)]
    track.report_times = list(track.times)
    for p in range(props):
        track.props[f"c{p}"] = [float(k * (p + 1)) for k in range(n)]
    ctx = ms.PcContext.of(type("Pc", (), {"id": "pc", "stats": {track.id: track}})())
    return ms.StreamPass(ctx, track, "audio", "inbound")


def test_stream_pass_buffer_grows_and_keeps_its_rows():
    """A pass that reads more columns than the buffer has rows gets a bigger buffer: the rows and the
    arrays handed out before hold the same values."""
    sp = _stream_pass(5, ms._ROWS + 3)
    early = sp.kept_arr("c0")
    rows = [sp.kept_row(f"c{p}") for p in range(ms._ROWS + 3)]
    deltas = sp.buf[sp.delta_row("c1")]
    assert len(sp.buf) > ms._ROWS and len(set(rows)) == len(rows)
    assert sp.kept_row("c0") == rows[0] and sp.kept_arr("c0").tolist() == early.tolist() == [
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
    ]
    for p in range(ms._ROWS + 3):
        assert sp.buf[rows[p]].tolist() == [float(k * (p + 1)) for k in range(5)]
    assert repr(deltas.tolist()) == repr([math.nan, 2.0, 2.0, 2.0, 2.0])
    assert sp.times_arr.tolist() == sp.times
