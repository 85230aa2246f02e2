"""The per-dump and per-stream shortcuts of the analysis (plain Python where numpy's or the standard
library's fixed cost per call is most of the work on series of tens of values) give exactly what the
general code gives, compared by repr."""

from __future__ import annotations

import math
import random
import statistics

import numpy as np
import pytest

from plugins.rtcstats.analysis import metrics_streams, mos, scores
from plugins.rtcstats.analysis.metrics_model import PcMetrics, Series, StreamMetrics, _pstdev
from plugins.rtcstats.analysis.metrics_values import TimeLookup, num, num_array, nums
from plugins.rtcstats.analysis.scores import values_at, values_at_list


def _reference_summary(values: list) -> dict:
    """Series.summary as it was written before (statistics.fmean, a percentile closure)."""
    ordered = sorted(values)
    avg = statistics.fmean(ordered)

    def pct(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    constant = ordered[0] == ordered[-1] == avg and math.isfinite(avg)
    return {
        "avg": avg,
        "min": ordered[0],
        "max": ordered[-1],
        "p5": pct(5),
        "p95": pct(95),
        "stddev": 0.0 if constant else _pstdev(ordered, avg),
    }


def _values(rng: random.Random, n: int) -> list:
    pick = rng.random()
    if pick < 0.2:  # repeated values, signed zeros, ints among floats
        return [rng.choice((0.0, -0.0, 1.5, 2, 3.25, -1.0)) for _ in range(n)]
    if pick < 0.3:
        return [rng.randrange(-5, 50) for _ in range(n)]
    return [rng.uniform(-1e3, 1e6) * rng.choice((1.0, 1e-9, 1e9)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(3))
def test_summary_is_the_reference_summary(seed):
    rng = random.Random(seed)
    for n in list(range(1, 130)) * 4:
        values = _values(rng, n)
        assert repr(Series(list(range(n)), list(values)).summary()) == repr(_reference_summary(values))


def _series(rng: random.Random, n: int, kind: str) -> Series:
    times = sorted(rng.uniform(1.7e12, 1.7e12 + 60_000) for _ in range(n))
    if kind == "repeated" and n > 2:
        times[1] = times[2]
    if kind == "unsorted" and n > 2:
        times[0], times[-1] = times[-1], times[0]
    if kind == "nan" and n:
        times[rng.randrange(n)] = math.nan
    if kind == "ints":
        times = [int(t) for t in times]
    values: list = [rng.choice((rng.uniform(0.0, 400.0), -0.0, 0.0, 1e300)) for _ in range(n)]
    if kind == "ints":
        values = [int(v) for v in values[: n // 2]] + values[n // 2 :]
    return Series(times, values)


@pytest.mark.parametrize("kind", ["plain", "repeated", "unsorted", "nan", "ints"])
def test_values_at_list_is_values_at(kind):
    rng = random.Random(kind)
    for n in list(range(0, 40)) * 5 + [63, 64, 65, 500, 3000]:  # a long call walks as a short one
        series = _series(rng, n, kind)
        queries = [
            t + rng.choice((0.0, 1e-7, -1e-7, 1e-6, 700.0, 1500.0, 1500.0 + 1e-6, -5.0)) for t in series.times
        ]
        queries += [rng.uniform(1.7e12 - 5000, 1.7e12 + 70_000) for _ in range(rng.randrange(0, 30))]
        if kind == "nan" and queries:
            queries[0] = math.nan
        expected = values_at(series, queries).tolist()
        assert repr(values_at_list(series, queries)) == repr(expected)


def _reference_rtts(stream, pc, times) -> list[float]:
    """scores._rtts_for as it was written with numpy."""
    rtts = values_at(stream.rtt_ms, times)
    if pc is not None:
        rtts = np.where(np.isnan(rtts), values_at(pc.rtt_ms, times), rtts)
    if np.isnan(rtts).any():
        fallback = scores._rtt_for(stream, pc, None)
        rtts = np.where(np.isnan(rtts), np.nan if fallback is None else fallback, rtts)
    return rtts.tolist()


def test_audio_stream_score_inputs_and_mos_lists():
    rng = random.Random(11)
    for n in list(range(1, 40)) * 5:
        stream = StreamMetrics(pc_id="pc", stat_id="s", kind="audio", direction="inbound")
        stream.rtt_ms = _series(rng, rng.randrange(0, n + 1), "plain")
        stream.jitter_ms = _series(rng, rng.randrange(0, n + 1), "plain")
        pc = PcMetrics(pc_id="pc") if rng.random() < 0.7 else None
        if pc is not None:
            pc.rtt_ms = _series(rng, rng.randrange(0, n + 1), "plain")
            pc.rtt_mean_ms = rng.choice((None, 80.5, 12))
        times = _series(rng, n, "plain").times
        rtts = scores._rtts_for(stream, pc, times)
        assert repr(rtts) == repr(_reference_rtts(stream, pc, times))
        loss = [rng.choice((0.0, 1.5, 100.0, 33.3)) for _ in times]
        jitter = values_at_list(stream.jitter_ms, times)
        buffer = [rng.choice((math.nan, 40.0, -0.0)) for _ in times]
        listed = mos.audio_mos_list(loss, rtts, jitter, buffer, 8.0)
        assert repr(listed) == repr(mos.audio_mos_all(loss, rtts, jitter, buffer, 8.0).tolist())
        arrays = [np.array(v, dtype=float) for v in (loss, rtts, jitter, buffer)]
        assert repr(listed) == repr(mos.audio_mos_all(*arrays, 8.0).tolist())


def _reference_at_array(lookup: TimeLookup, times, max_age_ms: float = 5000.0) -> list[float]:
    """TimeLookup.at_array as it was written: searchsorted and masks for every length."""
    times = np.asarray(times, dtype=float)
    if not lookup.times:
        return np.full(len(times), np.nan).tolist()
    keys, values = np.array(lookup.times, dtype=float), np.array(lookup.values, dtype=float)
    i = np.searchsorted(keys, times + 1.0, side="right") - 1
    found = np.maximum(i, 0)
    ok = (i >= 0) & ~(times - keys[found] > max_age_ms)
    return np.where(ok, values[found], np.nan).tolist()


@pytest.mark.parametrize("kind", ["plain", "repeated", "nan", "ints", "inf"])
def test_at_array_by_bisect_is_the_array_lookup(kind):
    rng = random.Random(kind)
    for n in list(range(0, 80)) * 3:
        series = _series(rng, n, "ints" if kind == "ints" else "repeated" if kind == "repeated" else "plain")
        times = list(series.times)
        if kind == "inf" and n:
            times[-1] = math.inf
        if kind == "nan" and n:
            times[rng.randrange(n)] = math.nan
        pairs = list(zip(times, series.values, strict=True))
        lookups = (
            [TimeLookup(pairs)]
            if kind in ("ints", "nan")
            else [TimeLookup(pairs), TimeLookup.of(times, series.values)]
        )
        count = rng.choice((0, 1, 5, 30, 64, 65, 100))
        queries = [rng.uniform(1.7e12 - 7000, 1.7e12 + 70_000) for _ in range(count)]
        queries += [
            t + rng.choice((0.0, 1.0, 1.0 + 1e-4, -1e-4, 5001.0, 15001.0))
            for t in times[:10]
            if math.isfinite(t)
        ]
        if kind == "nan" and queries:
            queries[-1] = math.nan
        for lookup in lookups:
            for age in (5000.0, 15000.0):
                got = lookup.at_array(np.array(queries), age).tolist()
                assert repr(got) == repr(_reference_at_array(lookup, queries, age))
                assert repr(lookup.at_array(queries, age).tolist()) == repr(got)  # the cached floats again


def _reference_num_array(values: list) -> list:
    """num_array as it was written: every numeric column through isfinite."""
    if set(map(type, values)) <= {int, float, type(None)}:
        try:
            array = np.array(values, dtype=float)
        except OverflowError:
            array = None
        if array is not None:
            finite = np.isfinite(array)
            if not finite.all():
                array[~finite] = np.nan
            return array.tolist()
    return np.array(nums(values), dtype=float).tolist()


@pytest.mark.parametrize(
    "values",
    [
        [],
        [1.5, 2.5, -0.0],
        [1e308, 1e308],  # finite values whose sum is not
        [1.0, math.inf],
        [math.nan, 2.0],
        [1, 2.0, None],
        [10**400, 1.0],
        [True, 1.0],
        ["3", 4.0],
        [None, None],
        [2**53 + 1, 0.5],
        [1, 2, 3],
        [2**63, 5],
        [10**400, -(10**400)],  # a finite (zero) sum of ints no float can hold
        [-0.0, 0],
    ],
)
def test_num_array_is_the_reference(values):
    assert repr(num_array(values).tolist()) == repr(_reference_num_array(values))


def test_extend_keeps_the_finite_points_and_never_the_callers_array():
    times = np.arange(70, dtype=float)
    for values in (
        np.linspace(0.5, 99.5, 70),
        np.where(np.arange(70) % 7 == 0, np.nan, np.linspace(0.5, 99.5, 70)),
    ):
        series = Series()
        metrics_streams._extend(series, times, values)
        keep = np.isfinite(values)
        assert series.times == times[keep].tolist() and series.values == values[keep].tolist()
        before = repr(series.summary())
        values[:] = 1e9  # the caller reuses its array: the series' kept floats must not follow
        assert repr(series.summary()) == before


def test_num_array_is_the_array_of_nums():
    """StreamPass.whole_nums gives kept_arr the array of a column's nums(): it must be num_array's."""
    rng = random.Random(5)
    pool = [
        0,
        7,
        2**53 + 1,
        10**400,
        1.5,
        -0.0,
        math.inf,
        -math.inf,
        math.nan,
        None,
        True,
        False,
        "12",
        " 3.5 ",
        "x",
        "",
    ]
    for n in list(range(0, 12)) * 200:
        kinds = rng.sample(pool, rng.randrange(1, 4))
        values = [rng.choice(kinds) for _ in range(n)]
        assert repr(num_array(values).tolist()) == repr(np.array(nums(values), dtype=float).tolist()), values


def test_nums_of_columns_with_gaps_is_num_of_each_value():
    rng = random.Random(8)
    pool = [1.5, -0.0, 0.0, 1e308, -1e-308, math.inf, -math.inf, math.nan, None, 3, True, "4"]
    for n in list(range(0, 12)) * 300:
        kinds = rng.sample(pool, rng.randrange(1, 4))
        values = [rng.choice(kinds) for _ in range(n)]
        assert repr(nums(values)) == repr([num(v) for v in values]), values


def test_request_method_lookup_is_the_matching_loop():
    from plugins.rtcstats.analysis.metrics_client import (
        _REQUEST_NAMES,
        _request_method,
        _request_method_by_parts,
    )
    from plugins.rtcstats.parsed_dump import Event

    names = list(_REQUEST_NAMES) + ["", "getusermediaonsuccessx", "navigator.mediadevices.", "onsuccess"]
    names += [
        "navigator.mediadevices.navigator.mediadevices.getusermedia",
        "getUserMedia",
        "enumeratedevices",
    ]
    names += [name[:-1] for name in _REQUEST_NAMES] + [name + "x" for name in _REQUEST_NAMES]
    for name in names:
        assert _request_method(Event(time=None, name=name, raw_name=name)) == _request_method_by_parts(
            name
        ), name
    assert _request_method(Event(time=None, name="getusermediaonfailure", raw_name="")) == (
        "getUserMedia",
        "failure",
    )
