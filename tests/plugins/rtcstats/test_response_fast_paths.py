"""The shortcuts of response.py give what the general code they stand for gives, compared by repr (run
compiled and with MEDIAPLANE_RTCSTATS_PURE_PYTHON=1): iso_ms's per-day date against datetime, and
aggregated_stats reusing the summaries of the streams' series against pooling every scope."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest

from plugins.rtcstats.analysis import response
from plugins.rtcstats.analysis.metrics import compute_metrics
from plugins.rtcstats.analysis.metrics_model import CallMetrics, ClientMetrics, Series, StreamMetrics
from plugins.rtcstats.analysis.response import aggregated_stats, iso_ms
from plugins.rtcstats.analysis.useragent import parse_user_agent
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names


def _iso_by_datetime(ms):
    """iso_ms as it was before its per-day shortcut: datetime.fromtimestamp for every value."""
    if ms is None or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return None
    whole = int(round(ms))
    try:
        moment = datetime.fromtimestamp(whole // 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return (
        f"{moment.year:d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{whole % 1000:03d}Z"
    )


def test_iso_ms_is_datetimes_formatting():
    rng = random.Random(3)
    values = [rng.uniform(-7e13, 2.6e14) for _ in range(20000)]  # years 1 to 10000 and beyond
    values += [rng.uniform(1.6e12, 1.9e12) for _ in range(20000)]  # the days of real dumps
    values += [rng.randrange(0, 10**12) for _ in range(2000)]  # ints
    day = 86_400_000
    edges = [0, 0.4999, 0.5, 1.5, -0.5, -1, -1000, -1001, 999.5, day - 0.5, day - 1, day, 19000 * day - 0.5]
    edges += [253402300799999, 253402300799999.5, 253402300800000, -62135596800000, -62135596800001]
    edges += [1e300, -1e300, math.inf, -math.inf, math.nan, True, False, None, "1", 2**63, -(2**63)]
    values += edges
    wrong = [v for v in values if repr(iso_ms(v)) != repr(_iso_by_datetime(v))]
    assert not wrong, wrong[:10]


def test_iso_ms_day_cache_stays_bounded():
    response._DAYS.clear()
    for day in range(5000):
        assert iso_ms(day * 86_400_000.0 + 1234.0) == _iso_by_datetime(day * 86_400_000.0 + 1234.0)
    assert 0 < len(response._DAYS) <= 4096


def _pooled_every_scope(metrics: CallMetrics) -> dict:
    """aggregated_stats as it was before it reused summaries: every scope's values pooled into a new
    Series (a list, never the array of one stream's series) and summarised."""
    out: dict = {}
    all_jitter, stream_rtt = [], []
    for scope, (kind, direction) in response.SCOPES.items():
        streams = response.media_streams(metrics, kind, direction)
        out[f"{scope}_count"] = len(streams)
        for metric, (attr, unit) in response.METRIC_UNITS.items():
            if metric == "mos" and kind != "audio":
                continue
            pooled = Series()
            for stream in streams:
                pooled.times.extend(getattr(stream, attr).times)
                pooled.values.extend(getattr(stream, attr).values)
            all_jitter += pooled.values if metric == "jitter" else []
            stream_rtt += pooled.values if metric == "rtt" else []
            summary = pooled.summary()
            for agg in response.AGGREGATES if summary is not None else ():
                out[f"{metric}_{scope}_{agg}_{unit}"] = summary[agg]
    out["jitter_avg_ms"] = sum(all_jitter) / len(all_jitter) if all_jitter else None
    rtt = [v for pcm in metrics.pcs.values() for v in pcm.rtt_ms.values] or stream_rtt
    out["rtt_avg_ms"] = sum(rtt) / len(rtt) if rtt else None
    return out


def _series(rng: random.Random, n: int, from_array: bool) -> Series:
    values = [rng.choice((rng.uniform(0, 500), float(rng.randrange(0, 50)), -0.0, 0.0)) for _ in range(n)]
    series = Series()
    if from_array:  # Series.summary's array path (_floats) for 64 values or more
        series.extend_floats(np.arange(n, dtype=float), np.array(values, dtype=float))
    else:
        series.add_all(range(n), values)
    return series


@pytest.mark.parametrize("seed", range(6))
def test_reused_summaries_are_the_pooled_ones(seed):
    rng = random.Random(seed)
    metrics = CallMetrics(start_ms=0.0, end_ms=1.0, client=ClientMetrics())
    for i in range(rng.randrange(1, 7)):
        kind, direction = rng.choice((("audio", "inbound"), ("audio", "outbound"), ("video", "inbound")))
        s = StreamMetrics(pc_id="P", stat_id=f"s{i}", kind=kind, direction=direction, packets=5, bytes=9)
        for attr in ("jitter_ms", "rtt_ms", "bitrate_kbps", "loss_pct_series", "mos"):
            n = rng.choice((0, 0, 1, 2, 7, 63, 64, 65, 200))
            setattr(s, attr, _series(rng, n, rng.random() < 0.5))
        metrics.streams[s.key] = s
    memo: dict = {}
    for s in metrics.streams.values():
        response._stream(s, memo)  # fills memo as build_response does
    assert repr(aggregated_stats(metrics, memo)) == repr(_pooled_every_scope(metrics))
    assert repr(aggregated_stats(metrics)) == repr(_pooled_every_scope(metrics))


@pytest.mark.parametrize("name", fixture_names())
def test_reused_summaries_on_fixtures(name):
    metrics = compute_metrics(parse(dump_bytes(name)))
    memo: dict = {}
    for s in metrics.streams.values():
        response._stream(s, memo)
    assert repr(aggregated_stats(metrics, memo)) == repr(_pooled_every_scope(metrics))
    assert repr(aggregated_stats(metrics)) == repr(_pooled_every_scope(metrics))


def test_summary_of_a_series_is_its_summary_empty_or_not():
    """_summary answers None for an empty series without calling Series.summary (most series of a
    response are empty): the same as the call, with a memo or without."""
    rng = random.Random(5)
    for n in (0, 0, 1, 3, 64, 70):
        series = _series(rng, n, n >= 64)
        assert repr(response._summary(series)) == repr(series.summary())
        memo: dict = {}
        assert repr(response._summary(series, memo)) == repr(series.summary())
        assert repr(response._summary(series, memo)) == repr(series.summary())  # from the memo


def _clean_key_by_key(value):
    """response._clean as it was before _clean_dict copied first: every dict rebuilt key by key."""
    if isinstance(value, dict):
        return {str(k): _clean_key_by_key(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_key_by_key(v) for v in value]
    if isinstance(value, float):
        return None if not math.isfinite(value) else (0.0 if round(value, 2) == 0 else round(value, 2))
    return value


def test_clean_dict_copies_then_replaces_as_rebuilding_does():
    rng = random.Random(9)
    floats = [rng.uniform(-1e4, 1e4) for _ in range(50)] + [math.nan, math.inf, -0.0, -0.001, 2.0]
    value = {
        "a": 1.005,
        "b": "text",
        "c": None,
        "d": True,
        "e": 7,
        "f": floats,
        "g": {"x": (1.234, "y"), "z": {"deep": -0.004}},
    }
    mixed = dict(value)
    mixed[3] = 2.675  # a key to convert: the dict is rebuilt key by key, in its order
    mixed["h"] = {4: 1.0, "k": 0.125}
    for case in (value, mixed, {}, {1: 1}, {"only": math.nan}):
        cleaned = response._clean(case)
        assert repr(cleaned) == repr(_clean_key_by_key(case))
        assert list(cleaned) == [str(k) for k in case]
    assert value["a"] == 1.005 and value["g"]["z"]["deep"] == -0.004  # the input is left as it was


def test_whole_is_int_of_round():
    """_whole (the C rounding of _epoch and iso_ms) is int(round(value)) for every finite float: ties
    to even, negative values, signed zeros, 2**52 and beyond."""
    rng = random.Random(11)
    values = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994]
    values += [2.0**52 - 0.5, -(2.0**52) + 0.5, 2.0**52, -(2.0**52), 2.0**52 + 1, 2.0**53 + 2, 1e300, -1e300]
    values += [k + 0.5 for k in range(-50, 50)] + [rng.randrange(-(2**53), 2**53) + 0.5 for _ in range(2000)]
    values += [rng.uniform(1.6e12, 1.9e12) for _ in range(20000)] + [
        rng.uniform(-1e6, 1e6) for _ in range(20000)
    ]
    values += [rng.uniform(-1.0, 1.0) * 10.0 ** rng.randint(-300, 300) for _ in range(20000)]
    wrong = [v for v in values if repr(response._whole(v)) != repr(int(round(v)))]
    assert not wrong, wrong[:10]


def test_epoch_is_rounded_whole_ms():
    values = [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1e15 + 0.5, 1.7e12 + 0.49, math.nan, math.inf, -math.inf]
    values += [None, 7, -3, True, 10**30, np.float64(2.5), np.float64(math.nan)]
    for value in values:
        expected = None if value is None or not math.isfinite(value) else int(round(value))
        assert repr(response._epoch(value)) == repr(expected), value


@pytest.mark.parametrize("name", fixture_names())
def test_user_agent_data_mobile_is_the_parsed_one(name):
    """userAgentData.mobile is client.mobile: client_metrics took it from the parse the response made
    again before (its fallback when client.mobile was None), so both give the same value."""
    dump = parse(dump_bytes(name))
    metrics = compute_metrics(dump)
    parsed = parse_user_agent(dump.user_agent, dump.user_agent_data).mobile
    before = metrics.client.mobile if metrics.client.mobile is not None else parsed
    assert repr(response._user_agent_data(dump, metrics)["mobile"]) == repr(before)
