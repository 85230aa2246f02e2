"""response._round2 (the response's 2-decimal rounding without round()'s decimal conversion) returns
exactly round(value, 2), compared by repr (sign of zero included) on values chosen to break it."""

from __future__ import annotations

import math
import random

import pytest

from plugins.rtcstats.analysis.response import _clean, _round2


def _near(value: float, steps: int = 3) -> list[float]:
    """value and its float neighbours, `steps` on each side."""
    out = [value]
    up = down = value
    for _ in range(steps):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        out += [up, down]
    return out


def _ties(rng: random.Random, count: int) -> list[float]:
    """Floats at and around k + 1/2 hundredths (where round() must look at the exact binary value),
    k small and large, both signs; and decimal texts that read as just below or above a tie."""
    values: list[float] = []
    for _ in range(count):
        k = rng.choice((rng.randrange(0, 1000), rng.randrange(0, 10**6), rng.randrange(0, 2**31)))
        sign = rng.choice((1.0, -1.0))
        values += _near(sign * (k + 0.5) / 100.0)
        values += _near(sign * float(f"{k}.{rng.randrange(0, 100):02d}5") / 100.0 * 100.0)
    values += [float(text) for text in ("1.005", "2.675", "0.125", "0.375", "-0.125", "1.015", "8.345")]
    return values


def _spread(rng: random.Random, count: int) -> list[float]:
    """Random floats from 1e-12 to 1e12 (log-uniform), both signs, and uniform ones around 0..500."""
    values: list[float] = []
    for _ in range(count):
        values.append(rng.choice((1.0, -1.0)) * 10.0 ** rng.uniform(-12.0, 12.0))
        values.append(rng.uniform(-500.0, 500.0))
        values.append(rng.randrange(0, 10**6) / 1000.0)
    return values


_EDGES = [
    0.0, -0.0, 0.004999, 0.005, -0.005, 0.015, 1e-300, -1e-300, 5e-324,
    2147483647.0 / 100.0, 2147483648.0 / 100.0, -2147483648.0 / 100.0, 21474836.475, -21474836.485,
    1e15 + 0.5, 2.0**52 + 0.5, 1.7976931348623157e308, -1.7976931348623157e308,
]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_round2_is_round_to_two_decimals(seed):
    rng = random.Random(seed)
    values = _ties(rng, 6000) + _spread(rng, 6000) + [v for e in _EDGES for v in _near(e)]
    wrong = [v for v in values if repr(_round2(v)) != repr(round(v, 2))]
    assert not wrong, wrong[:10]


def test_clean_rounds_every_float_as_round_does():
    rng = random.Random(7)
    values = _ties(rng, 2000) + _spread(rng, 2000)
    expected = [None if not math.isfinite(v) else (0.0 if round(v, 2) == 0 else round(v, 2)) for v in values]
    cleaned = _clean({"a": values, "b": dict(enumerate(values)), "c": tuple(values)})
    assert cleaned["a"] == expected and list(cleaned["c"]) == expected
    assert list(cleaned["b"].values()) == expected
    assert list(cleaned["b"]) == [str(i) for i in range(len(values))]
    assert [repr(v) for v in cleaned["a"]] == [repr(v) for v in expected]
    assert _clean([math.nan, math.inf, -math.inf, -0.001]) == [None, None, None, 0.0]
    assert repr(_clean(-0.001)) == "0.0"
