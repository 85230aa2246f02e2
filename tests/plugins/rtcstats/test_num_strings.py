"""num() of a string (legacy goog stats) tries float() of the string as it is before stripping it: the
reference below is the code it replaced, and both must give the same repr for every kind of string."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plugins.rtcstats.analysis import metrics_values as mv


def _reference_num_text(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_WHITESPACE = (
    " ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x85",
    "\xa0",
    "\u2003",
    "\u3000",
)
_BODIES = (
    "",
    "0",
    "1",
    "-0",
    "+0",
    "0.0",
    "-0.0",
    "46",
    "2434700",
    "1.5",
    ".5",
    "5.",
    "1e3",
    "1E-3",
    "1e999",
    "-1e999",
    "1e-400",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "infinity",
    "1_000",
    "1__0",
    "_1",
    "1_",
    "0x10",
    "1,5",
    "1 2",
    "abc",
    "true",
    "\u0661\u0662",
    "\uff11.5",
    "\u0967",
    "1\x00",
    "²",
    "9" * 400,
    "0." + "1" * 60,
    "1.7976931348623157e308",
    "1.7976931348623159e308",
)


def _cases() -> list[str]:
    out = []
    for body in _BODIES:
        out.append(body)
        for ws in _WHITESPACE:
            out += [ws + body, body + ws, ws + body + ws, ws + ws + body]
    return out


@pytest.mark.parametrize("value", _cases())
def test_num_of_a_string_is_the_stripped_reference(value: str) -> None:
    assert repr(mv.num(value)) == repr(_reference_num_text(value))
    out = np.empty(1)
    expected = _reference_num_text(value)
    assert repr(mv.nums_into([value], out)) == repr([expected])
    assert repr(float(out[0])) == repr(math.nan if expected is None else expected)
