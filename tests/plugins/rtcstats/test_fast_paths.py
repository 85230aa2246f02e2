"""The speed shortcuts of the parser and the analyzer give exactly what the plain per-value code gives."""

from __future__ import annotations

import gc
import json
import math
import random
import statistics

import numpy as np
import pytest

from plugins.rtcstats.analysis import metrics_streams, mos
from plugins.rtcstats.analysis.metrics_model import Series, _pstdev
from plugins.rtcstats.analysis.metrics_values import (
    EPOCH_MAX_MS,
    EPOCH_MIN_MS,
    TimeLookup,
    distinct_samples,
    num,
    nums,
    sample_times,
)
from plugins.rtcstats.analysis.scores import value_at, values_at
from plugins.rtcstats.gc_pause import paused_gc
from plugins.rtcstats.parsed_dump import StatTrack
from plugins.rtcstats.parsing import internals_stats
from plugins.rtcstats.parsing.internals_stats import _compact, _constant_element
from tests.plugins.rtcstats.test_stream_loops import _ref_array_deltas_following


@pytest.mark.parametrize(
    "text",
    [
        "[0,0,0]",
        "[1.5,1.5]",
        "[true,true,true]",
        "[null,null]",
        '["a,b","a,b","a,b"]',  # commas inside the strings
        '["","",""]',
        '["\\u00e9x","\\u00e9x"]',
        "[-0.0,-0.0]",
    ],
)
def test_constant_series_are_one_shared_value(text):
    element, count = _constant_element(text)
    values = [element] * count
    assert values == json.loads(text)
    assert [type(v) for v in values] == [type(v) for v in json.loads(text)]


@pytest.mark.parametrize(
    "text",
    [
        "[0,0,1]",
        "[1,1.0]",  # equal numbers, but not the same JSON value
        "[1,11]",
        "[11,1]",
        "[0]",  # one element: nothing to share
        "[]",
        "[0, 0, 0]",  # not compact
        '["a\\"","a\\""]',  # escaped quote
        '["a",1,"a"]',
        "[[1],[1]]",
        '[{"a":1},{"a":1}]',
        "[0,0,0",
        "[tru,tru]",  # invalid: raises in the caller's try, which then lets json report it
    ],
)
def test_other_series_are_left_to_the_json_decoder(text):
    try:
        assert _constant_element(text) is None
    except ValueError:
        assert text == "[tru,tru]"


def test_compact_returns_plain_lists():
    strings: dict[str, str] = {}
    shared = _compact(json.loads('["ab","ab"]'), strings)
    assert shared.__class__ is list and shared == ["ab", "ab"] and strings == {"ab": "ab"}
    assert _compact([1, 1.0, True], strings) == [1, 1.0, True]  # equal values of three types stay apart


_rng = random.Random(4)
_SAMPLES = [
    [],
    [1],
    [1, 2, 3.5],
    [3, 2, 5, 1],  # resets
    [None, 1, 2, None, 3],
    [1, float("inf"), 2],
    [1, float("nan")],
    [True, 1, "7", " 8 ", "x", None, 10**400],
    [1e308, 1e308],  # finite values whose sum is not
    [_rng.choice([None, _rng.random() * 1e6, _rng.randrange(10**9)]) for _ in range(300)],
    sorted(_rng.random() * 1e6 for _ in range(300)),
    [v if i % 50 else 0.0 for i, v in enumerate(sorted(_rng.random() * 1e6 for _ in range(300)))],
]


@pytest.mark.parametrize("values", _SAMPLES)
def test_nums_is_num_of_each_value(values):
    expected = [num(v) for v in values]
    assert repr(nums(values)) == repr(expected)


def _counter_deltas_loop(values):
    deltas, resets = [None], 0
    for a, b in zip(values, values[1:], strict=False):
        if a is None or b is None:
            deltas.append(None)
        elif b < a:
            resets += 1
            deltas.append(b)
        else:
            deltas.append(b - a)
    return deltas, resets


def _deltas_following_loop(values, base):
    deltas = [None]
    for k in range(1, len(values)):
        a, b = values[k - 1], values[k]
        if a is None or b is None:
            deltas.append(None)
        elif base[k] is not None and base[k - 1] is not None and base[k] < base[k - 1]:
            deltas.append(b)
        else:
            deltas.append(b - a)
    return deltas


def _totals_loop(values):
    resets, carried, previous = 0, 0.0, None
    for value in values:
        if value is None:
            continue
        if previous is not None and value < previous:
            resets += 1
            carried += previous
        previous = value
    return (None, 0, None) if previous is None else (previous, resets, carried + previous)


@pytest.mark.parametrize("values", [nums(v) for v in _SAMPLES])
def test_counter_shortcuts_match_the_loops(values):
    assert metrics_streams._counter_deltas(values) == _counter_deltas_loop(values)
    assert metrics_streams._totals_across_resets(values) == _totals_loop(values)
    for base in (values, sorted(v for v in values if v is not None), list(reversed(values))):
        if len(base) == len(values):
            assert metrics_streams._deltas_following(values, base) == _deltas_following_loop(values, base)


def _track(times, report_times):
    track = StatTrack("t", "inbound-rtp")
    track.times, track.report_times = times, report_times
    return track


@pytest.mark.parametrize(
    "times, report_times",
    [
        ([1.0, 2.0, 3.0], [None, None, None]),
        ([1.0, 2.0, 3.0], [2e12, 2e12, 2e12 + 5]),  # carried forward: equal times collapse
        ([1.0, 2.0, 3.0, 4.0], [2e12 + 9, 2e12, 2e12 + 10, None]),  # back in time, then a snapshot time
    ],
)
def test_distinct_samples_shortcut(times, report_times):
    track = _track(times, report_times)
    idx, kept = [], []
    for i, t in enumerate(sample_times(track)):
        if kept and t == kept[-1]:
            idx[-1] = i
        elif not kept or t > kept[-1]:
            idx.append(i)
            kept.append(t)
    assert distinct_samples(track) == (idx, kept)


@pytest.mark.parametrize(
    "times, report_times",
    [
        ([1.0, 2.0, 3.0], [2e12, 2e12 + 1, 2e12 + 2]),  # all epoch: the report times
        ([1.0, 2.0], [2e12, 2e12 + 1, 2e12 + 2]),  # more report times than samples
        ([1.0, 2.0, 3.0], [2e12, 5.0, 2e12 + 2]),  # one out of the epoch window
        ([1.0, 2.0, 3.0], [2e12, math.nan, 2e12 + 2]),  # NaN compares false everywhere
        ([1.0, 2.0, 3.0], [2e12, None, 2e12 + 2]),
        ([1.0, 2.0, 3.0], [2000000000000, 2e12 + 1, 4e12]),  # an int, the window's edge
        ([1.0, 2.0, 3.0], [2e12, math.inf, 2e12]),
    ],
)
def test_sample_times_shortcut(times, report_times):
    expected = [
        own if own is not None and EPOCH_MIN_MS <= own <= EPOCH_MAX_MS else snap
        for snap, own in zip(times, report_times, strict=False)
    ]
    assert repr(sample_times(_track(times, report_times))) == repr(expected)


def test_bulk_lookups_match_single_ones():
    times = sorted(_rng.random() * 1e5 for _ in range(200))
    values = [_rng.choice([1.0, 2.5, float("nan"), None, float("inf")]) for _ in times]
    one, bulk = Series(), Series()
    for t, v in zip(times, values, strict=True):
        one.add(t, v)
    bulk.add_all(times, values)
    assert repr(one) == repr(bulk)
    keep = [_rng.random() < 0.5 for _ in times]
    picked = Series()
    picked.add_all(times, values, keep)
    expected = Series()
    for t, v, k in zip(times, values, keep, strict=True):
        if k:
            expected.add(t, v)
    assert repr(picked) == repr(expected)

    queries = [_rng.random() * 1.2e5 - 1e4 for _ in range(300)]
    lookup = TimeLookup([(t, i) for i, t in enumerate(times)])
    assert lookup.at_all(queries, 700.0) == [lookup.at(q, 700.0) for q in queries]
    expected = [math.nan if v is None else v for v in (value_at(one, q) for q in queries)]
    assert repr(values_at(one, queries).tolist()) == repr(expected)
    assert all(math.isnan(v) for v in values_at(Series(), queries))


def test_pstdev_in_floats():
    values = [_rng.random() * 100 for _ in range(500)]
    assert math.isclose(_pstdev(values), statistics.pstdev(values), rel_tol=1e-12)
    assert _pstdev([3.0]) == 0.0


def _scalar_pstdev(values: list, mean: float) -> float:
    """The per-value formula _pstdev computes in numpy."""
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def test_pstdev_squares_exactly_as_python_does():
    """np.float_power(d, 2.0) must be Python's d ** 2 bit for bit: the C library's pow() is not always
    correctly rounded, so d * d (and np.power, which squares) differs in about 1 value of 1000."""
    rng = random.Random(13)
    values = [(rng.random() - 0.3) * 10.0 ** rng.randint(-8, 8) for _ in range(200_000)]
    deviations = [v - 0.125 for v in values]
    squares_python = [d**2 for d in deviations]
    assert sum(a != d * d for a, d in zip(squares_python, deviations, strict=True)) > 0  # the trap is real
    for chunk in range(0, len(values), 1000):
        part = values[chunk : chunk + 1000]
        mean = math.fsum(part) / len(part)
        assert _pstdev(part, mean) == _scalar_pstdev(part, mean)
        assert _pstdev(part) == _scalar_pstdev(part, mean)
    mixed = [3, 2.5, True, -7, 1e150, 0.0, -0.0]  # ints and bools among floats: Python's conversions
    assert _pstdev(mixed) == _scalar_pstdev(mixed, math.fsum(mixed) / len(mixed))
    with pytest.raises(OverflowError):  # a square beyond the float range raises, as ** does
        _pstdev([1e300, -1e300, 0.5])
    ints = [1, 5, 10**30, 7]  # no float: the scalar way
    assert _pstdev(ints) == _scalar_pstdev(ints, math.fsum(ints) / len(ints))


@pytest.mark.parametrize(
    "values",
    [
        [0.3] * 7,
        [0.1] * 3,
        [1e-300] * 999,
        [0.0, -0.0, 0.0],
        [-0.0, -0.0],
        [5, 5.0, 5],
        [1, True, 1.0],
        [7.0],
        [1e308] * 3,  # the exact sum is beyond the float range: fmean raises, as before
        [math.inf] * 2,
        [2.0, 2.0, 2.0000000000000004],
    ],
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # inf - inf
def test_summary_of_a_constant_series_is_the_per_value_formula(values):
    """Series.summary skips _pstdev when every value equals the mean: the stddev must be its result."""
    try:
        summary = Series(list(range(len(values))), values).summary()
    except OverflowError:
        with pytest.raises(OverflowError):
            statistics.fmean(values)
        return
    ordered = sorted(values)
    assert repr(summary["stddev"]) == repr(_pstdev(ordered, statistics.fmean(ordered)))


def _summary_both_ways(values: list[float]) -> tuple[str, str]:
    """repr of Series.summary of `values` added one by one (the list way) and from their float64 array
    (extend_floats: the array way), or of the exception each raised."""

    def summary_of(series: Series) -> str:
        try:
            return repr(series.summary())
        except OverflowError as error:
            return repr(error)

    listed = Series()
    listed.add_all(range(len(values)), values)
    from_array = Series()
    from_array.extend_floats(np.arange(len(values), dtype=float), np.array(values, dtype=float))
    assert from_array.values == values and from_array._floats is not None  # the array way is taken
    return summary_of(listed), summary_of(from_array)


@pytest.mark.parametrize("count", [64, 65, 200, 3001])
@pytest.mark.parametrize(
    "make",
    [
        lambda rng: (rng.random() - 0.3) * 10.0 ** rng.randint(-8, 8),
        # signed zeros least: min and p5 keep their order
        lambda rng: rng.choice([0.0, -0.0, 1.5, -0.0, 2.0]),
        lambda rng: rng.choice([0.1, 0.1, 0.1, 0.2]),
        lambda rng: rng.choice([1e300, -1e300, 0.5]),  # a square overflows: the scalar way's OverflowError
        lambda rng: rng.choice([1e308, 1.5e308]),  # the sum overflows: fmean's OverflowError
        lambda rng: 7.25,  # a constant series
    ],
)
def test_summary_from_an_array_is_the_summary_from_the_list(count, make):
    rng = random.Random(count)
    values = [make(rng) for _ in range(count)]
    listed, from_array = _summary_both_ways(values)
    assert from_array == listed


def test_summary_forgets_the_array_once_a_point_is_added():
    series = Series()
    series.extend_floats(np.arange(100.0), np.arange(100.0) * 0.1)
    series.add(100.0, 3)  # an int: the list way must see it (the array does not hold it)
    series.extend_floats(np.array([101.0]), np.array([-0.0]))
    assert series._floats is None
    ordered = sorted(series.values)
    assert series.summary() == {
        "avg": statistics.fmean(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "p5": ordered[math.ceil(0.05 * len(ordered)) - 1],
        "p95": ordered[math.ceil(0.95 * len(ordered)) - 1],
        "stddev": _pstdev(ordered, statistics.fmean(ordered)),
    }


@pytest.mark.parametrize("values", [nums(v) for v in _SAMPLES if v])  # a stream has a sample at least
def test_array_deltas_match_the_list_deltas(values):
    def as_list(array):
        return repr([None if math.isnan(d) else d for d in array.tolist()])

    floats = metrics_streams._floats
    deltas, _ = metrics_streams._counter_deltas(values)
    assert as_list(metrics_streams._array_deltas(floats(values))) == repr(deltas)
    for base in (values, list(reversed(values)), [None] + values[1:]):
        # the array code whose rule metrics_streams._inbound_loss_into now applies (compared there)
        following = _ref_array_deltas_following(floats(values), floats(base))
        assert as_list(following) == repr(_deltas_following_loop(values, base))


def test_time_lookup_from_columns_and_array_lookups():
    times = [_rng.choice([1.0, 2.0, 2.0, 3.5, 10.0, 1e5]) for _ in range(100)]
    values = [_rng.choice([-0.0, 0.0, 1.5, 7.0, 1e300]) for _ in times]
    pairs = TimeLookup(list(zip(times, values, strict=True)))
    columns = TimeLookup.of(times, values)
    assert repr((pairs.times, pairs.values)) == repr((columns.times, columns.values))
    queries = [_rng.random() * 1.2e5 - 1e4 for _ in range(300)] + times
    expected = [math.nan if v is None else v for v in columns.at_all(queries, 700.0)]
    assert repr(columns.at_array(queries, 700.0).tolist()) == repr(expected)
    assert all(math.isnan(v) for v in TimeLookup([]).at_array([1.0, 2.0]))


def _reference_audio_mos(loss_pct, rtt_ms=None, jitter_ms=None, buffer_ms=None, bpl=mos.OPUS_BPL):
    """The scalar E-model as it was written before it took arrays (mos.py, first version)."""

    def finite(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if loss_pct >= 100:
        return 1.0
    rtt = rtt_ms if finite(rtt_ms) else 50.0
    jitter = jitter_ms if finite(jitter_ms) else 10.0
    buffer = buffer_ms if finite(buffer_ms) else 30.0 + 2 * max(0.0, jitter)
    d = 20.0 + max(0.0, buffer) + max(0.0, rtt) / 2
    pl = max(0.0, loss_pct)
    loss_impairment = 0.0 + (95 - 0.0) * pl / (pl + bpl)
    d = max(0.0, d)
    delay_impairment = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    r = 93.2 - loss_impairment - delay_impairment
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, min(4.5, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)))


def _reference_interval_mos(loss_pct, rtt_ms, jitter_ms, buffer_ms, bpl):
    finite = isinstance(loss_pct, (int, float)) and not isinstance(loss_pct, bool) and math.isfinite(loss_pct)
    loss = 0.0 if not finite else min(max(loss_pct, 0.0), 100.0)
    if loss >= 100.0:
        return 0.0
    return _reference_audio_mos(loss, rtt_ms, jitter_ms, buffer_ms, bpl)


def test_mos_arrays_are_the_scalar_arithmetic():
    def pick(*choices):
        return [_rng.choice(choices) for _ in range(2000)]

    loss = pick(None, math.nan, -1.0, 0.0, 0.5, 3.0, 12.7, 99.9, 100.0, 250.0, math.inf)
    rtt = pick(None, math.nan, math.inf, -5.0, 0.0, 12.5, 180.0, 900.0, True)
    jitter = pick(None, 0.0, 3.3, 40.0, 400.0, -2.0)
    buffer = pick(None, 0.0, 20.0, 77.7, 350.0, 2000.0)
    for bpl in (mos.OPUS_BPL, mos.OTHER_BPL):
        intervals = mos.interval_mos_all(loss, rtt, jitter, buffer, bpl).tolist()
        expected = [
            _reference_interval_mos(*args, bpl) for args in zip(loss, rtt, jitter, buffer, strict=True)
        ]
        assert intervals == expected
        finite_loss = [v for v in loss if isinstance(v, float) and math.isfinite(v)]
        n = len(finite_loss)
        inputs = zip(finite_loss, rtt[:n], jitter[:n], buffer[:n], strict=True)
        scores = mos.audio_mos_all(finite_loss, rtt[:n], jitter[:n], buffer[:n], bpl).tolist()
        assert scores == [_reference_audio_mos(*args, bpl) for args in inputs]
    assert mos.audio_mos(3.0, 40.0) == _reference_audio_mos(3.0, 40.0)
    assert isinstance(mos.audio_mos(3.0), float) and isinstance(mos.r_to_mos(50.0), float)


def test_paused_gc_restores_the_collector():
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def _mode_frame_loop(widths, heights, keep):
    """metrics_streams._mode_frame as it was written before it used numpy."""
    counts: dict = {}
    max_height = None
    for hw, hh, ok in zip(nums(widths), nums(heights), keep, strict=False):
        if not ok or hh is None or hh <= 0:
            continue
        key = (int(hw) if hw is not None else None, int(hh))
        counts[key] = counts.get(key, 0) + 1
        max_height = int(hh) if max_height is None else max(max_height, int(hh))
    if not counts:
        return None, None, None
    (width, height), _ = max(counts.items(), key=lambda item: (item[1], item[0][1] or 0))
    return width, height, max_height


@pytest.mark.parametrize("with_gaps", [False, True])
def test_mode_frame_matches_the_loop(with_gaps):
    sizes = [(640, 360), (1280, 720.0), (320.7, 180.2), (-1, 90), (0, 0), (1e300, 10)]
    for _ in range(50):
        n = _rng.randrange(0, 40)
        picked = [_rng.choice(sizes) for _ in range(n)]
        widths = [
            w if not with_gaps or _rng.random() < 0.8 else _rng.choice([None, "x", True]) for w, _ in picked
        ]
        heights = [h if _rng.random() < 0.9 else None for _, h in picked]
        keep = [_rng.random() < 0.8 for _ in range(n + _rng.randrange(0, 3))]
        assert metrics_streams._mode_frame(widths, heights, keep) == _mode_frame_loop(widths, heights, keep)


def _placement_by_dict(cot: list[int], times: list[float]):
    """The plain way: a dict of snapshot -> last point time, then the snapshots between first and last."""
    report_time = dict(zip(cot, times, strict=True))
    present = {c for c in cot if c >= 0}
    if not present:
        return None
    first, last = min(present), max(present)
    gaps = [i for i in range(last - first + 1) if first + i not in present]
    report_times = [report_time.get(c) for c in range(first, last + 1)]
    for i in gaps:
        report_times[i] = report_times[i - 1]
    contiguous = not gaps and len(cot) == last - first + 1 and cot[0] == first
    return first, last - first + 1, gaps, report_times, contiguous


@pytest.mark.parametrize("seed", range(40))
def test_internals_placement_shortcut(seed):
    """_placement (one point per snapshot in order: a slice, no dict) against the plain dict way, on
    consecutive snapshots, some before the first one, repeated ones and gaps."""
    rng = random.Random(seed)
    n = rng.randint(1, 30)
    start = rng.randint(-5, 5)
    cot = list(range(start, start + n))
    if seed % 2:  # not one point per snapshot: repeats and jumps
        cot = sorted(max(-1, c + rng.choice((0, 0, 1, 2, -1))) for c in cot)
    times = [1.7e12 + 1000.0 * i + rng.random() for i in range(n)]
    placed = internals_stats._placement(cot, times)
    expected = _placement_by_dict(cot, times)
    if expected is None:
        assert placed is None
        return
    got = (placed.first, placed.length, placed.gaps, placed.report_times, placed.contiguous)
    assert got == expected
