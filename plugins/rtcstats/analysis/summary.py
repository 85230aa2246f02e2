"""A plain-language summary of a call, built by rules from its metrics, observations and scores.

No external model: the same input always gives the same paragraph. It tells, in order: how long the
session was and on what client; how each connection connected (directly or relayed, and over which
protocol) or why it did not; the media quality with its main numbers; the scores; the top findings by
severity with their meaning; and what to do next.
"""

from __future__ import annotations

from plugins.rtcstats.analysis.metrics_model import CallMetrics, PcMetrics, StreamMetrics
from plugins.rtcstats.analysis.observations import (
    finite,
    fmt_ms,
    fmt_num,
    observation_types,
    series_avg,
    stream_loss_pct,
)
from plugins.rtcstats.analysis.rules_connectivity import drop_after_connect, relay_protocol
from plugins.rtcstats.analysis.scores import has_media
from plugins.rtcstats.conventions import unrated

MAX_PCS_DESCRIBED = 4
MAX_FINDINGS = 3
MAX_ADVICE = 3


def summarize(metrics: CallMetrics, observations: list[dict], scores: dict) -> str | None:
    """The summary paragraph, or None when the dump holds neither connections nor media requests."""
    if not metrics.pcs and not metrics.client.media_requests and not metrics.streams:
        return None
    parts = [
        _overview(metrics),
        *_connections(metrics),
        *_media(metrics, scores),
        _scores(scores),
        *_findings(observations),
        _next_steps(observations),
    ]
    return " ".join(p for p in parts if p)


# --- overview and connections --------------------------------------------------------------------


def _client(metrics: CallMetrics) -> str:
    c = metrics.client
    browser = " ".join(x for x in (c.browser, c.browser_version) if x)
    system = " ".join(x for x in (c.os, c.os_version) if x)
    if browser and system:
        return f" on {browser} ({system})"
    return f" on {browser or system}" if browser or system else ""


def _overview(metrics: CallMetrics) -> str:
    duration = metrics.duration_ms
    length = f"lasted {fmt_ms(duration)}" if finite(duration) and duration >= 0 else "has no known length"  # type: ignore[operator]
    n = len(metrics.pcs)
    pcs = "no peer connection" if n == 0 else ("1 peer connection" if n == 1 else f"{n} peer connections")
    return f"The session {length}{_client(metrics)} with {pcs}."


def _path(pc: PcMetrics) -> str:
    pair = pc.final_pair
    if pair is None:
        return ""
    if pair.local.type == "relay":
        proto = relay_protocol(pair.local)
        return f" through a TURN relay over {proto.upper()}" if proto else " through a TURN relay"
    if pair.remote.type == "relay":
        return " through the remote side's TURN relay"
    proto = (pair.local.protocol or "").upper()
    kinds = "/".join(t for t in (pair.local.type, pair.remote.type) if t)
    if not kinds:
        return " directly"
    return f" directly ({kinds}" + (f" over {proto})" if proto else ")")


def _describe_pc(pc: PcMetrics) -> str:
    name = f"Connection {pc.pc_id}"
    if not pc.reached_connected:
        if pc.failed:
            return f"{name} failed to connect (ICE failed)."
        if "checking" in pc.states:
            return f"{name} was closed while still connecting."
        return f"{name} never started connecting."
    setup = pc.connection_time_ms if finite(pc.connection_time_ms) else pc.ice_connection_time_ms
    text = f"{name} connected{_path(pc)}"
    if finite(setup):
        text += f" in {fmt_ms(setup)}"  # type: ignore[arg-type]
    drop = drop_after_connect(pc)
    if drop is not None:
        text += ", then dropped and reconnected" if drop[1] else ", then dropped and did not recover"
    if pc.ice_restarts:
        text += f" ({pc.ice_restarts} ICE restart{'s' if pc.ice_restarts > 1 else ''})"
    return text + "."


def _connections(metrics: CallMetrics) -> list[str]:
    pcs = [metrics.pcs[k] for k in sorted(metrics.pcs)]
    if len(pcs) <= MAX_PCS_DESCRIBED:
        return [_describe_pc(pc) for pc in pcs]
    connected = [pc for pc in pcs if pc.reached_connected]
    relayed = [pc for pc in connected if pc.final_pair is not None and pc.final_pair.uses_relay]
    failed = [pc for pc in pcs if pc.failed and not pc.reached_connected]
    text = f"{len(connected)} of {len(pcs)} connections connected"
    if relayed:
        text += f" ({len(relayed)} through a TURN relay)"
    if failed:
        text += f" and {len(failed)} failed to connect"
    return [text + "."]


# --- media ---------------------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if finite(v)]
    return sum(values) / len(values) if values else None


def _loss(streams: list[StreamMetrics]) -> float | None:
    return _mean([v for s in streams if (v := stream_loss_pct(s)) is not None])


def _jitter(streams: list[StreamMetrics]) -> float | None:
    return _mean([v for s in streams if (v := series_avg(s.jitter_ms)) is not None])


def _rtt(metrics: CallMetrics) -> float | None:
    means = [
        pc.rtt_mean_ms if finite(pc.rtt_mean_ms) else series_avg(pc.rtt_ms) for pc in metrics.pcs.values()
    ]
    return _mean([m for m in means if m is not None])


def _audio_details(metrics: CallMetrics) -> list[str]:
    inbound = [s for s in metrics.streams_of("audio", "inbound") if has_media(s)]
    outbound = [s for s in metrics.streams_of("audio", "outbound") if has_media(s)]
    details = []
    if (loss := _loss(inbound)) is not None:
        details.append(f"incoming loss {fmt_num(loss, 1)} %")
    if (loss := _loss(outbound)) is not None:
        details.append(f"outgoing loss {fmt_num(loss, 1)} %")
    if (jitter := _jitter(inbound or outbound)) is not None:
        details.append(f"jitter {fmt_num(jitter, 0)} ms")
    return details


def _video_side(streams: list[StreamMetrics], verb: str) -> str | None:
    streams = [s for s in streams if has_media(s)]
    if not streams:
        return None
    # The camera picture describes the call; a screen share's size is the screen's and its few fps are
    # by design, so it is only named when it is all there is.
    cameras = [s for s in streams if not s.screenshare] or streams
    best = max(cameras, key=lambda s: (s.frame_height or s.max_frame_height or 0, s.key))
    height = best.frame_height or best.max_frame_height
    fps = series_avg(best.fps)
    text = verb + (" a screen share" if best.screenshare else "")
    if height:
        text += f" {height}p"
    if fps is not None:
        text += f" at {fmt_num(fps, 0)} fps"
    if (loss := _loss(streams)) is not None:
        text += f", {fmt_num(loss, 1)} % loss"
    frozen = sum(s.total_freezes_duration_s or 0 for s in streams if finite(s.total_freezes_duration_s))
    if frozen > 0:
        text += f", frozen {fmt_num(frozen, 1)} s"
    return text if text != verb else None


def _media(metrics: CallMetrics, scores: dict) -> list[str]:
    audio, video = scores.get("audioScore"), scores.get("videoScore")
    if audio is None and video is None:
        return ["No audio or video was exchanged."]
    out = []
    if audio is not None:
        details = _audio_details(metrics)
        rtt = _rtt(metrics)
        if rtt is not None:
            details.append(f"round trip {fmt_num(rtt, 0)} ms")
        out.append(f"Audio scored {fmt_num(audio, 1)}/5 ({_quality(audio)})" + _paren(details) + ".")
    if video is not None:
        sides = [
            _video_side(metrics.streams_of("video", "inbound"), "received"),
            _video_side(metrics.streams_of("video", "outbound"), "sent"),
        ]
        out.append(f"Video scored {fmt_num(video, 1)}/5 ({_quality(video)})" + _paren(sides) + ".")
    return out


def _paren(items: list) -> str:
    items = [i for i in items if i]
    return ": " + "; ".join(items) if items else ""


def _quality(value: float) -> str:
    """Bands of the 1-5 scores (MOS buckets, rtcstats-dumps.md 4.3/4.4)."""
    if value >= 4.0:
        return "good"
    if value >= 3.0:
        return "fair"
    if value >= 2.0:
        return "poor"
    return "bad"


def _scores(scores: dict) -> str:
    if unrated(scores):
        text = "No experience score (no audio or video to score)"
    else:
        text = f"Overall experience score {scores.get('experienceScore', 0)}/100"
    conn = scores.get("connectivityScore")
    if conn is not None:
        text += f", connectivity {fmt_num(conn, 1)}/5"
    return text + f", observations {scores.get('observationsScore', 0)}/40."


# --- findings and advice -------------------------------------------------------------------------


def _top(observations: list[dict], limit: int) -> list[dict]:
    """The first observation of each type, in the given (severity, time) order, up to `limit`."""
    seen: set[str] = set()
    top = []
    for o in observations:
        if o.get("type") in seen or o.get("severity") == "info":
            continue
        seen.add(o["type"])
        top.append(o)
        if len(top) == limit:
            break
    return top


def _findings(observations: list[dict]) -> list[str]:
    top = _top(observations, MAX_FINDINGS)
    if not top:
        return ["No problems were detected."]
    kinds = observation_types()
    items = []
    for o in top:
        title = kinds[o["type"]].title if o["type"] in kinds else o["type"]
        meaning = str(o.get("meaning") or "").rstrip(".")
        items.append(f"{title} ({o['severity']}): {meaning}")
    text = "Main findings: " + "; ".join(items) + "."
    rest = len([o for o in observations if o.get("severity") != "info"]) - len(top)
    if rest > 0:
        text += f" {rest} more finding{'s' if rest > 1 else ''} of lower rank or repeated type."
    return [text]


def _next_steps(observations: list[dict]) -> str:
    kinds = observation_types()
    advice: list[str] = []
    for o in _top(observations, MAX_ADVICE):
        kind = kinds.get(o["type"])
        if kind and kind.advice not in advice:
            advice.append(kind.advice)
    if not advice:
        return "Nothing needs attention."
    return "What to do next: " + " ".join(a if a.endswith(".") else a + "." for a in advice)
