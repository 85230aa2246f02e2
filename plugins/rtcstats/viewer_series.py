"""The viewer's chart series: per connection and per stream, a call's interval metrics reduced to
at most MAX_POINTS points each. Shared by the viewer of a stored session (viewer.py) and of a live one
(viewer_live.py)."""

from __future__ import annotations

import math

MAX_POINTS = 600  # per chart series: more points than pixels only make the page heavier

# Chart metrics: (key in the timeseries block, StreamMetrics / PcMetrics attribute, label, unit).
STREAM_METRICS = (
    ("bitrateKbps", "bitrate_kbps", "Bitrate", "kbps"),
    ("lossPct", "loss_pct_series", "Packet loss", "%"),
    ("jitterMs", "jitter_ms", "Jitter", "ms"),
    ("rttMs", "rtt_ms", "Round-trip time", "ms"),
    ("fps", "fps", "Frame rate", "fps"),
)
CONNECTION_METRICS = (
    ("rttMs", "rtt_ms", "Round-trip time", "ms"),
    ("availableOutgoingKbps", "available_outgoing_kbps", "Available outgoing bitrate", "kbps"),
)


def _round(value: float) -> float:
    return round(value, 2) if abs(value) < 1e6 else round(value)


def compact_series(series, max_points: int = MAX_POINTS) -> dict | None:
    """{t: [epoch ms], v: [values]} of a metrics Series, averaged into at most `max_points` buckets."""
    points = [
        (t, v)
        for t, v in zip(series.times, series.values, strict=False)
        if t is not None and v is not None and math.isfinite(t) and math.isfinite(v)
    ]
    if not points:
        return None
    if len(points) > max_points:
        size = math.ceil(len(points) / max_points)
        buckets = [points[i : i + size] for i in range(0, len(points), size)]
        points = [(b[-1][0], sum(v for _, v in b) / len(b)) for b in buckets]
    return {"t": [int(round(t)) for t, _ in points], "v": [_round(v) for _, v in points]}


def _pair_label(pc) -> str | None:
    pair = pc.final_pair
    if pair is None:
        return None
    protocol = pair.local.relay_protocol or pair.local.protocol
    label = f"{pair.local.type or '?'} → {pair.remote.type or '?'}"
    return f"{label} ({protocol})" if protocol else label


def timeseries_of(metrics) -> dict:
    """The `timeseries` block of a call's CallMetrics: per connection and per stream, the interval
    series the charts draw ({t: epoch ms, v}), keyed like AnalyzeResponseData.pConnections/streams."""
    connections = {}
    for pc_id, pc in metrics.pcs.items():
        series = {key: compact_series(getattr(pc, attr)) for key, attr, _, _ in CONNECTION_METRICS}
        connections[pc_id] = {
            "pair": _pair_label(pc),
            "series": {k: v for k, v in series.items() if v},
        }
    streams = {}
    for key, stream in metrics.streams.items():
        series = {name: compact_series(getattr(stream, attr)) for name, attr, _, _ in STREAM_METRICS}
        series = {k: v for k, v in series.items() if v}
        if not series:
            continue
        streams[key] = {
            "pid": stream.pc_id,
            "sid": stream.stat_id,
            "kind": stream.kind,
            "direction": stream.direction,
            "codec": stream.codec,
            "ssrc": stream.ssrc,
            "series": series,
        }
    return {"startMs": metrics.start_ms, "connections": connections, "streams": streams}
