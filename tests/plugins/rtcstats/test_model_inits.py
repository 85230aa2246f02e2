"""The __init__ methods written out in metrics_model.py (compiled with the module, where the dataclass'
generated ones run as interpreted Python) take the same parameters and build the same objects as the
generated ones, compared by repr (run compiled and with MEDIAPLANE_RTCSTATS_PURE_PYTHON=1). The
reference is the generated __init__ of a dataclass with the same fields. Also PcMetrics.reached_connected
and failed, loops, against the any() forms they replace."""

from __future__ import annotations

import dataclasses
import inspect
import random

import pytest

from plugins.rtcstats.analysis.metrics_model import PcMetrics, Series, StreamMetrics


def _generated(cls: type) -> type:
    """A dataclass with cls's fields and the __init__ dataclass generates for them."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, fields)  # the same name: the reprs show it


def _state(obj: object) -> str:
    """Every attribute the __init__ set (repr leaves the repr=False ones out), by repr."""
    return repr(sorted(vars(obj).items()))


@pytest.mark.parametrize("cls", [Series, StreamMetrics])
def test_written_init_takes_the_generated_parameters(cls):
    written = inspect.signature(cls.__init__).parameters
    generated = inspect.signature(_generated(cls).__init__).parameters
    assert list(written) == list(generated)
    for name, parameter in generated.items():
        factory = parameter.default is not inspect.Parameter.empty and name != "self"
        if factory and not isinstance(parameter.default, (type(None), bool, int, float, str)):
            continue  # a default factory's marker: the instances below compare what it makes
        assert written[name].default == parameter.default, name
        assert written[name].kind == parameter.kind, name


def test_stream_metrics_defaults_as_generated():
    args = {"pc_id": "pc", "stat_id": "s", "kind": "audio", "direction": "inbound"}
    written, generated = StreamMetrics(**args), _generated(StreamMetrics)(**args)
    assert repr(written) == repr(generated)
    assert _state(written) == _state(generated)
    # each default factory makes a new Series per instance, as the generated __init__ does
    other = StreamMetrics(**args)
    assert written.bitrate_kbps is not other.bitrate_kbps and written.mos is not other.mos
    assert written.bitrate_kbps.values is not other.bitrate_kbps.values


def test_stream_metrics_every_argument_as_generated():
    values = {}
    for k, f in enumerate(dataclasses.fields(StreamMetrics)):
        values[f.name] = Series([float(k)], [k + 0.5]) if f.type == "Series" else f"{f.name}-{k}"
    positional = list(values.values())
    reference = _generated(StreamMetrics)
    assert _state(StreamMetrics(**values)) == _state(reference(**values))
    assert _state(StreamMetrics(*positional)) == _state(reference(*positional))
    assert repr(StreamMetrics(*positional)) == repr(reference(**values))


def test_series_as_generated():
    reference = _generated(Series)
    assert _state(Series()) == _state(reference())
    times, values = [1.0, 2.0], [3.0, 4.0]
    assert _state(Series(times, values)) == _state(reference(times, values))
    assert _state(Series(values=values)) == _state(reference(values=values))
    series = Series(times, values)
    assert series.times is times and series.values is values  # kept, not copied
    assert Series().values is not Series().values


def _reached_connected_by_any(pcm: PcMetrics) -> bool:
    """PcMetrics.reached_connected as it was before its loops."""
    ice = any(s in ("connected", "completed") for s in pcm.states)
    return ice or any(s == "connected" for _, s in pcm.connection_states)


def _failed_by_any(pcm: PcMetrics) -> bool:
    """PcMetrics.failed as it was before its loops."""
    return "failed" in pcm.states or any(s == "failed" for _, s in pcm.connection_states)


def test_pc_state_properties_as_any():
    states = ["new", "checking", "connected", "completed", "failed", "disconnected", "closed", "Connected"]
    rng = random.Random(13)
    for _ in range(3000):
        lists = [[(float(k), rng.choice(states)) for k in range(rng.randrange(4))] for _ in range(3)]
        pcm = PcMetrics("pc", ice_states=lists[0], ice_states_legacy=lists[1], connection_states=lists[2])
        assert repr(pcm.reached_connected) == repr(_reached_connected_by_any(pcm))
        assert repr(pcm.failed) == repr(_failed_by_any(pcm))
