"""The per-dump and per-stream shortcuts of the analysis (plain Python where numpy's or the standard
library's fixed cost per call is most of the work on series of tens of values) give exactly what the
general code gives, compared by repr."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from plugins.rtcstats.analysis.metrics_model import Series, _pstdev


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
