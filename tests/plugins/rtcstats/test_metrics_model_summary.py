"""Series.summary's own sums (metrics_model._float_fsum, math.fsum's algorithm on C doubles when compiled)
give what math.fsum gives, compared by repr, and the summaries made with them are the summaries of the
general code kept here as the reference (run compiled and with MEDIAPLANE_RTCSTATS_PURE_PYTHON=1)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from plugins.rtcstats.analysis import metrics_model
from plugins.rtcstats.analysis.metrics_model import Series, _float_fsum, _float_squares


def _fsum_or_error(values) -> str:
    try:
        return repr(math.fsum(values))
    except (OverflowError, ValueError) as error:
        return repr(error)


def _many_partials() -> list[float]:
    """Values whose exact sum needs 73 partials (bits {a, a + 52} and {a + 53}, a 54 bits apart)."""
    values = []
    for a in range(-1070, 914, 54):
        values += [2.0**a * (1 + 2.0**-52), 2.0 ** (a + 53)]
    return values


def _hard_lists(rng: random.Random) -> list[list[float]]:
    """Sums whose rounding needs every part of fsum: cancellation, the half-even correction across
    partials, signed zeros, subnormals, magnitudes far apart, overflow."""
    lists = [
        [1e-16, 1.0, 1e16],
        [1e16, 1.0, 1e-16],
        [0.1] * 10,
        [1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50],
        [2.0**53, 1.0, 2.0**-60, -(2.0**-61)],
        [2.0**53, -1.0, -(2.0**-60), 2.0**-61],
        [-0.0],
        [-0.0, -0.0],
        [0.0, -0.0, 5e-324, -5e-324],
        [5e-324] * 7 + [2.0**-1022],
        [1e308, 1e308, -1e308],  # an intermediate overflow: math.fsum raises
        [1.7976931348623157e308, -1.7976931348623157e308, 1.0],
        [math.inf, 1.0],
        [math.nan, 1.0],
        [1.0, 2, 3.5],  # an int: not all floats
        _many_partials(),
        _many_partials()[::-1],
    ]
    for _ in range(3000):
        n = rng.randrange(1, 80)
        pick = rng.random()
        if pick < 0.3:  # exponents far apart, both signs
            values = [
                rng.choice((-1.0, 1.0)) * rng.random() * 2.0 ** rng.randint(-1070, 1000) for _ in range(n)
            ]
        elif pick < 0.6:  # near cancellations
            base = [rng.uniform(-1e6, 1e6) for _ in range(n // 2 + 1)]
            values = base + [-v * (1 + rng.choice((0.0, 2.0**-52, -(2.0**-52)))) for v in base]
            values += [rng.uniform(-1e-10, 1e-10) for _ in range(rng.randrange(3))]
            rng.shuffle(values)
        elif pick < 0.8:  # sorted repeated values, as Series.summary sums them (each square reused)
            values = sorted(rng.choice((0.1, 0.2, 7.5, 1e-3, 33.0, -2.25)) for _ in range(n))
        else:  # the values of a stats series
            values = [rng.uniform(0.0, 400.0) * rng.choice((1.0, 1e-3, 1e3)) for _ in range(n)]
        lists.append(values)
    return lists


def _most_partials(values: list[float]) -> int:
    """The most partial sums math.fsum holds while adding `values` (its algorithm, counting)."""
    partials: list[float] = []
    most = 0
    for x in values:
        kept = []
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low != 0.0:
                kept.append(low)
            x = high
        partials = kept + ([x] if x != 0.0 else [])
        most = max(most, len(partials))
    return most


def _declines(values: list) -> bool:
    """Where _float_fsum leaves the sum to math.fsum: a value that is no finite float, an overflow,
    more partials than its 64."""
    if not all(type(v) is float and math.isfinite(v) for v in values):
        return True
    return _fsum_or_error(values).startswith("OverflowError") or _most_partials(values) > 64


def test_float_fsum_is_math_fsum():
    rng = random.Random(29)
    for values in _hard_lists(rng):
        total = _float_fsum(values, 0.0, False)
        if _declines(values):
            assert total is None, values
        else:
            assert total is not None and repr(total) == _fsum_or_error(values), values
    assert _most_partials(_many_partials()) > 64 and _float_fsum(_many_partials(), 0.0, False) is None


def _or_overflow(function, *args):
    try:
        return function(*args)
    except OverflowError:
        return None


def test_float_fsum_of_squares_is_math_fsum_of_float_squares():
    rng = random.Random(31)
    taken = 0
    for values in _hard_lists(rng):
        for mean in (values[0], rng.uniform(-1e3, 1e3), 0.0):
            if not (type(mean) is float and math.isfinite(mean)):
                continue
            # A square beyond the float range: compiled, pow() gives inf and both decline; run as
            # Python, ** raises the OverflowError that the general way raises as well.
            squares = _or_overflow(_float_squares, values, mean)
            total = _or_overflow(_float_fsum, values, mean, True)
            if squares is None or _declines(squares):
                assert total is None, (values, mean)
            else:
                taken += 1
                assert total is not None and repr(total) == _fsum_or_error(squares), (values, mean)
    assert taken > 5000


def _reference_summary(values: list) -> dict:
    """Series.summary as written before its own sums: statistics.fmean, a percentile closure and the
    per-value formula of the population standard deviation (fsum of Python's ** 2)."""
    ordered = sorted(values)
    avg = statistics.fmean(ordered)

    def pct(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    constant = ordered[0] == ordered[-1] == avg and math.isfinite(avg)
    if constant or len(ordered) < 2:
        stddev = 0.0
    else:
        stddev = math.sqrt(math.fsum((v - avg) ** 2 for v in ordered) / len(ordered))
    return {"avg": avg, "min": ordered[0], "max": ordered[-1], "p5": pct(5), "p95": pct(95), "stddev": stddev}


def _summary_or_error(function, values: list) -> str:
    try:
        return repr(function(values))
    except (OverflowError, ValueError) as error:
        return repr(error)


@pytest.mark.parametrize("seed", range(2))
def test_summary_is_the_reference_summary_on_both_sides_of_the_numpy_threshold(seed):
    rng = random.Random(seed)
    counts = [1, 2, 3, 19, 20, 21, 63, 64, 65, 200]
    counts += [metrics_model._NUMPY_FROM + d for d in (-2, -1, 0, 1)]
    for n in counts * 3:
        for make in (
            lambda: rng.uniform(0.0, 2000.0),
            lambda: rng.choice((0.0, -0.0, 1.5, 2, 3.25)),
            lambda: (rng.random() - 0.3) * 10.0 ** rng.randint(-8, 8),
            lambda: rng.choice((1e300, -1e300, 0.5)),  # a square overflows
            lambda: rng.choice((1e308, 1.5e308)),  # the sum overflows
        ):
            values = [make() for _ in range(n)]
            got = _summary_or_error(lambda v: Series(list(range(len(v))), v).summary(), values)
            assert got == _summary_or_error(_reference_summary, values), values[:8]


def test_summarize_is_the_summary_of_a_series_of_the_values():
    rng = random.Random(3)
    for n in (0, 1, 2, 5, 40, 255, 256, 300):
        values = [rng.choice((rng.uniform(0.0, 500.0), 7, -0.0, 0.0)) for _ in range(n)]
        assert repr(metrics_model.summarize(values)) == repr(Series(values=list(values)).summary())
    # values held in a tuple are summarised as a list of them (compiled too: no list-only C path)
    values = (3.0, 1.5, 2.25)
    assert repr(Series(values=values).summary()) == repr(Series(values=list(values)).summary())
