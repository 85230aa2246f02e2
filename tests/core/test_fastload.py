"""core.fastload: the compiled msgspec fast path never accepts what marshmallow refuses, and what it
accepts loads exactly as marshmallow loads it."""

from __future__ import annotations

import copy
import math
import random

import marshmallow as ma
import pytest
from marshmallow import fields, validate

from core.fastload import FastLoad, FastLoadSchema
from plugins.report.schemas import MetricsReportSchema
from tests.conftest import EXAMPLE_REPORT

ODD_VALUES = [
    None, -1, 0, 1, 7, 1.5, -0.5, 100.0, 100.5, 1e300, -1e300, math.nan, math.inf, -math.inf,
    "12", "", "x" * 300, "a\x00b", "\x00", "line\n", "recv", "send", "other",
    True, False, [], {}, [1], {"a": 1},
    2**70, 10**12 + 5, 1_700_000_000_000, 1_700_000_000, 4_102_444_801, 4_102_444_800_999, 12.0,
]  # fmt: skip


def marshmallow_load(schema: ma.Schema, data):
    try:
        return ma.Schema.load(schema, copy.deepcopy(data))
    except ma.ValidationError:
        return "refused"


def paths(value, prefix=()):
    """Every (container, key) position inside a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield value, key
            yield from paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield value, index
            yield from paths(inner, prefix + (index,))


def mutate(body: dict, rng: random.Random) -> dict:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        container, key = rng.choice(list(paths(body)))
        action = rng.random()
        if action < 0.15 and isinstance(container, dict):
            del container[key]
        elif action < 0.25 and isinstance(container, dict):
            container[f"extra_{rng.randint(0, 9)}"] = rng.choice(ODD_VALUES)
        else:
            container[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    return body


def two_streams_body() -> dict:
    body = copy.deepcopy(EXAMPLE_REPORT)
    stream = body["metrics"][0]["streams"][0]
    body["metrics"][0]["streams"].append({**copy.deepcopy(stream), "stream_id": "mic", "direction": "recv"})
    body["sdk_extra"] = {"anything": [1, 2]}
    return body


def test_the_report_schema_compiles():
    assert FastLoad(MetricsReportSchema()).type is not None


def test_the_golden_report_takes_the_fast_path_and_loads_like_marshmallow():
    schema = MetricsReportSchema()
    fast = FastLoad(schema).load(copy.deepcopy(EXAMPLE_REPORT))
    assert fast is not None
    assert fast == marshmallow_load(schema, EXAMPLE_REPORT)


@pytest.mark.parametrize("seed", range(4))
def test_fast_path_agrees_with_marshmallow_on_mutated_reports(seed):
    schema = MetricsReportSchema()
    fast = FastLoad(schema)
    rng = random.Random(seed)
    base = two_streams_body()
    taken = refused_by_both = 0
    for _ in range(600):
        body = mutate(base, rng)
        expected = marshmallow_load(schema, body)
        got = fast.load(copy.deepcopy(body))
        if got is None:
            refused_by_both += expected == "refused"
            continue
        taken += 1
        assert expected != "refused", f"fast path accepted a body marshmallow refuses: {body}"
        assert got == expected, body
    assert taken > 50 and refused_by_both > 50  # both branches were exercised


def test_load_falls_back_to_marshmallow_for_what_the_fast_path_leaves():
    schema = MetricsReportSchema()
    body = copy.deepcopy(EXAMPLE_REPORT)
    body["report_time"] = 1_700_000_000_123.0  # a float: marshmallow's job (-> whole seconds)
    assert schema.load(body)["report_time"] == 1_700_000_000
    body["report_time"] = -5
    with pytest.raises(ma.ValidationError) as refused:
        schema.load(body)
    assert "report_time" in refused.value.messages


def test_defaults_and_unknown_fields_follow_the_schema():
    class Inner(ma.Schema):
        class Meta:
            unknown = ma.EXCLUDE

        level = fields.Integer(load_default=3, validate=validate.Range(0, 5))

    class Outer(FastLoadSchema):
        class Meta:
            unknown = ma.INCLUDE

        name = fields.String(required=True, validate=validate.Length(1, 4))
        ratio = fields.Float(allow_none=True)
        inner = fields.Nested(Inner)

    schema = Outer()
    data = {"name": "ab", "ratio": 1, "inner": {"x": 1}, "extra": [1]}
    assert FastLoad(schema).load(copy.deepcopy(data)) == {
        "name": "ab", "ratio": 1.0, "inner": {"level": 3}, "extra": [1]
    }  # fmt: skip
    assert schema.load(copy.deepcopy(data)) == ma.Schema.load(schema, copy.deepcopy(data))
    assert FastLoad(schema).load({"name": "abcde"}) is None  # too long: marshmallow says why
    assert FastLoad(schema).load({"name": "ab", "ratio": math.nan}) is None  # allow_nan is False


def test_a_schema_with_features_the_compiler_does_not_know_loads_through_marshmallow():
    class WithHook(FastLoadSchema):
        name = fields.String()

        @ma.post_load
        def upper(self, data, **kwargs):
            return {"name": data["name"].upper()}

    class WithEmail(FastLoadSchema):
        mail = fields.Email()

    assert FastLoad(WithHook()).type is None and FastLoad(WithEmail()).type is None
    assert WithHook().load({"name": "ab"}) == {"name": "AB"}
    with pytest.raises(ma.ValidationError):
        WithEmail().load({"mail": "not an address"})
