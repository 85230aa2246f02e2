"""The shortcuts of observations.py give what the general code they stand for gives, compared by repr (run
compiled and with MEDIAPLANE_RTCSTATS_PURE_PYTHON=1): the streams and PCs that detect sorts once for all
its rules against sorting them per rule, and merge_repeats without a key for the only observation of a
type against keying every observation."""

from __future__ import annotations

import json

import pytest

from plugins.rtcstats.analysis import observations as obs_module
from plugins.rtcstats.analysis.metrics import compute_metrics
from plugins.rtcstats.analysis.metrics_model import CallMetrics, ClientMetrics, StreamMetrics
from plugins.rtcstats.analysis.observations import (
    _merged,
    detect,
    merge_repeats,
    sort_observations,
    sorted_pcs,
    sorted_streams,
)
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names
from tests.plugins.rtcstats.test_observations import call, failed_pc, pc, stream

KINDS = (None, "audio", "video", "other")
DIRECTIONS = (None, "inbound", "outbound", "sideways")


def _streams_by_sort(metrics, kind=None, direction=None):
    """sorted_streams as it was before detect sorted the streams once: a sort per rule."""
    return sorted(metrics.streams_of(kind, direction), key=lambda s: s.key)


def _pcs_by_sort(metrics):
    return [metrics.pcs[k] for k in sorted(metrics.pcs)]


def _detect_rule_by_rule(metrics: CallMetrics) -> list[dict]:
    """detect as it was: every rule on its own (outside detect, sorted_* sort for each of them)."""
    found: list[dict] = []
    for _, r in sorted(obs_module._load_rules().items()):
        found.extend(r.check(metrics))
    return sort_observations(found)


def _odd_call() -> CallMetrics:
    """Hand-built: PCs out of order, a stream without kind or direction, two streams of one key (the
    dict holds them under other names: the sort must keep their order) and kinds the rules never ask."""
    m = call(
        failed_pc("PC_9"),
        pc("PC_1"),
        stream("video", "outbound", pc_id="PC_9", stat_id="B"),
        stream("audio", "inbound", pc_id="PC_1", stat_id="Z"),
        stream("audio", "outbound", pc_id="PC_1", stat_id="A"),
    )
    for name, kind, direction in (("x1", None, None), ("x2", "audio", "inbound"), ("x3", "data", "inbound")):
        m.streams[name] = StreamMetrics(pc_id="PC_1", stat_id="T", kind=kind, direction=direction)
    return m


def _calls() -> list[tuple[str, CallMetrics]]:
    calls = [("odd", _odd_call()), ("empty", CallMetrics(start_ms=None, end_ms=None, client=ClientMetrics()))]
    for name in fixture_names():
        calls.append((name, compute_metrics(parse(dump_bytes(name)))))
    return calls


@pytest.fixture(scope="module")
def calls() -> list[tuple[str, CallMetrics]]:
    return _calls()


def test_detect_gives_what_its_rules_give_one_by_one(calls):
    for name, metrics in calls:
        assert repr(detect(metrics, strict=True)) == repr(_detect_rule_by_rule(metrics)), name


def test_sorted_streams_and_pcs_within_detect_are_the_sorts(calls, monkeypatch):
    seen: list[tuple] = []

    def probe(metrics):
        # asked twice: the second answer comes from what the first one kept
        for _ in range(2):
            seen.append((metrics, None, None, sorted_pcs(metrics), _pcs_by_sort(metrics)))
            for kind in KINDS:
                for direction in DIRECTIONS:
                    got = sorted_streams(metrics, kind, direction)
                    seen.append((metrics, kind, direction, got, _streams_by_sort(metrics, kind, direction)))
        return []

    rules = dict(obs_module._load_rules())
    rules["iceFailure"] = obs_module.Rule(rules["iceFailure"].kind, probe)
    monkeypatch.setattr(obs_module, "_RULES", rules)
    for _, metrics in calls:
        detect(metrics, strict=True)
    assert len(seen) == len(calls) * 2 * (1 + len(KINDS) * len(DIRECTIONS))
    for _, kind, direction, got, expected in seen:
        assert [id(x) for x in got] == [id(x) for x in expected], (kind, direction)
        assert repr(got) == repr(expected)
    # outside detect (and after it: nothing is kept) they sort as before
    for _, metrics in calls:
        assert [id(p) for p in sorted_pcs(metrics)] == [id(p) for p in _pcs_by_sort(metrics)]
        for kind in KINDS:
            for direction in DIRECTIONS:
                expected = _streams_by_sort(metrics, kind, direction)
                assert [id(s) for s in sorted_streams(metrics, kind, direction)] == [id(s) for s in expected]


def test_a_call_changed_between_two_detects_is_read_anew():
    m = call(pc("PC_1"))
    assert "iceFailure" not in [o["type"] for o in detect(m, strict=True)]
    m.pcs["PC_0"] = failed_pc("PC_0")
    assert "iceFailure" in [o["type"] for o in detect(m, strict=True)]


def _merge_by_keys(observations: list[dict]) -> list[dict]:
    """merge_repeats as it was: every observation without a count keyed by its JSON dump."""
    groups: dict[str, list[dict]] = {}
    order: list = []
    for obs in observations:
        if "valueInCount" in obs:
            order.append(obs)
            continue
        key = json.dumps(
            {k: v for k, v in obs.items() if k not in ("source", "firstSeenAt")}, sort_keys=True, default=str
        )
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(obs)
    return [item if isinstance(item, dict) else _merged(groups[item]) for item in order]


class _Named:
    """Not JSON: dumped as str(), here a type's name."""

    def __str__(self) -> str:
        return "iceFailure"


def test_merge_repeats_is_merging_by_keys(calls):
    cases = [occurrences for _, metrics in calls if (occurrences := detect(metrics, strict=True))]
    many = [failed_pc(f"PC_{i}") for i in range(10)]
    for i, p in enumerate(many):
        p.ice_states = [(p.ice_states[0][0], "checking"), (p.ice_states[1][0] - i, "failed")]
    cases.append(detect(call(*many, pc("PC_X", ice_restarts=1), pc("PC_Y", ice_restarts=2)), strict=True))
    failure = cases[-1][0]
    cases.append([failure, dict(failure, source={"pid": "other"}), dict(failure, severity="low")])
    cases.append([failure, dict(failure, type=_Named()), {"meaning": "no type"}, {"meaning": "no type"}])
    cases.append([dict(failure, valueInCount=2), failure, {"type": "alone"}])
    cases.append([])
    assert any(len(merge_repeats(c)) < len(c) for c in cases)  # some merge
    for occurrences in cases:
        got, expected = merge_repeats(occurrences), _merge_by_keys(occurrences)
        assert repr(got) == repr(expected)
        assert [id(o) for o in got if o in occurrences] == [id(o) for o in expected if o in occurrences]
