"""StreamPass._mos's one loop (mos.interval_mos_scored over TimeLookup float lists) gives, by repr, what
the numpy selections, TimeLookup.at_array and interval_mos_all it replaced gave: the reference below is
that code."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from plugins.rtcstats.analysis import metrics_streams as ms
from plugins.rtcstats.analysis.metrics_model import Series
from plugins.rtcstats.analysis.metrics_values import TimeLookup
from plugins.rtcstats.analysis.mos import OPUS_BPL, OTHER_BPL, interval_mos_all, interval_mos_scored

SIZES = (0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 127, 128, 129, 300)
ODD = (math.nan, math.inf, -math.inf, 0.0, -0.0, 100.0, 150.0, -5.0, 1e308)


def _reference(times, snaps, carried, loss, buffer, rtt, jitter, bpl):
    scored = carried | (loss >= 100.0)
    scored[:1] = False
    at = times[scored]
    nans = np.full(len(at), np.nan)
    rtts = rtt.at_array(snaps[scored], 15000.0) if rtt else nans
    jitters = jitter.at_array(at, 15000.0) if jitter else nans
    series = Series()
    ms._extend(series, at, interval_mos_all(loss[scored], rtts, jitters, buffer[scored], bpl))
    return series.times, series.values


def _values(rng: random.Random, n: int, scale: float) -> np.ndarray:
    return np.array([rng.choice(ODD) if rng.random() < 0.15 else rng.uniform(0, scale) for _ in range(n)])


def _lookup(rng: random.Random, n: int, start: float, span: float) -> TimeLookup | None:
    kind = rng.randrange(4)
    if kind == 0:
        return None
    keys = [start + rng.uniform(-20000.0, span + 20000.0) for _ in range(n)]
    values = _values(rng, n, 400.0).tolist()
    if kind == 1:  # a series' own increasing lists
        keys = sorted(set(keys))
        return TimeLookup.of(keys, values[: len(keys)])
    if kind == 2:  # unsorted, repeated times: the lexsort way
        keys = keys + keys[: n // 3]
        return TimeLookup.of(np.array(keys), np.array(values + values[: n // 3]))
    return TimeLookup([(int(k), v) for k, v in zip(keys, values, strict=True)])  # int times, pairs


def _case(seed: int):
    rng = random.Random(seed)
    n = SIZES[seed % len(SIZES)]
    t0 = 1.7e12 + rng.uniform(0, 1e6)
    steps = [rng.choice((1000.0, 999.5, 0.0, rng.uniform(0, 9000))) for _ in range(n - 1)]
    times = np.array(np.cumsum([t0, *steps])[:n], dtype=float)
    snaps = times + np.array([rng.choice((0.0, 0.5, -3.0, 2.0)) for _ in range(n)])
    carried = np.array([rng.random() < 0.7 for _ in range(n)], dtype=bool)
    loss = _values(rng, n, 30.0)
    buffer = _values(rng, n, 200.0) if rng.random() < 0.5 else np.full(n, np.nan)
    span = float(times[-1] - times[0]) if n else 0.0
    rtt = _lookup(rng, rng.choice((1, 2, 5, 40, 70, 200)), t0, span)
    jitter = _lookup(rng, rng.choice((1, 3, 30, 65, 150)), t0, span)
    return times, snaps, carried, loss, buffer, rtt, jitter, rng.choice((OPUS_BPL, OTHER_BPL))


@pytest.mark.parametrize("seed", range(150))
def test_scored_loop_is_the_array_code(seed):
    times, snaps, carried, loss, buffer, rtt, jitter, bpl = _case(seed)
    expected = _reference(times, snaps, carried, loss, buffer, rtt, jitter, bpl)
    rtt_floats = ms._lookup_floats(rtt) if rtt else ()
    jitter_floats = ms._lookup_floats(jitter) if jitter else ()
    got = interval_mos_scored(
        times.tolist(),
        snaps.tolist(),
        carried.tolist(),
        loss.tolist(),
        buffer.tolist(),
        rtt_floats,
        jitter_floats,
        bpl,
    )
    assert repr(got) == repr(expected)


def test_lookup_floats_of_a_non_finite_time_is_empty():
    # at_array takes searchsorted for such a lookup: _mos then keeps the array way (_mos_arrays)
    assert ms._lookup_floats(TimeLookup([(math.inf, 1.0), (5.0, 2.0)])) == ()
    assert ms._lookup_floats(TimeLookup([(7, 1), (5.0, 2.0)])) == ([5.0, 7.0], [2.0, 1.0])


# the reference's plain run subtracts infinite numpy scalars (inf - inf): numpy warns about the NaN
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(150))
def test_extend_at_is_the_selection_and_at_array(seed):
    """StreamPass._transport_rtt's loop (_extend_at over the lookup's float lists, a mos.LatestCursor)
    against the selections, TimeLookup.at_array and _extend it replaced, kept here as the reference."""
    times, snaps, carried, _, _, rtt, _, _ = _case(seed)
    if rtt is None or not ms._lookup_floats(rtt):
        keys = sorted({float(t) for t in times[::3]})
        rtt = TimeLookup.of(keys, [float(v) for v in range(len(keys))])
        if not rtt:
            return
    for max_age in (5000.0, 15000.0):
        want, got = Series(), Series()
        ms._extend(want, times[carried], rtt.at_array(snaps[carried], max_age))
        keys, values = ms._lookup_floats(rtt)
        ms._extend_at(got, times, snaps, carried, keys, values, max_age)
        assert repr((got.times, got.values)) == repr((want.times, want.values))
        assert all(type(v) is float for v in got.times + got.values)
