"""compute_metrics(dump) -> CallMetrics: everything the analyzer measures in a parsed dump.

Definitions follow /shared/reference/dump-facts.md where one exists:

* D3 call span: `start_ms`/`end_ms` = first/last event over the whole file (client events such as
  getUserMedia included, the v3 metadata line and jitsi's connectionInfo excluded). The media session
  without client events (D3 `pc_span`) is in `extra["pc_span"]`.
* D4 states, D6 selected pairs with candidate normalisation, D7 RTT mean: metrics_pc.
* D8 inbound totals, D9 outbound active-span bitrate and remote loss, D10 codec, interval series:
  metrics_streams (its docstring has the interval math).
* Client: metrics_client (user agent, media requests, compute pressure).

Work is linear in the number of stats samples: every stat track is read column-wise a bounded number
of times; nothing is done per (sample x sample).

Which fields stay None per format (for rule authors):
* old webrtc-internals (Chrome < ~M100, e.g. M86): updateLog entries have no numeric time, so every
  state/event time, `connection_time_ms`, `ice_connection_time_ms`, `gathering_start_ms` and candidate
  times are None; getUserMedia records have no responses (success None).
* legacy goog stats (`ssrc_*` reports): no codecId (codec from googCodecName), no frame counters for
  freezes/pauses, jitter buffer delay from googJitterBufferMs, concealment from googExpandRate.
* Firefox legacy: no transport report (pair via candidate-pair.selected), RTT from remote-inbound-rtp
  (`rtt_source` "remote-inbound-rtp"), no networkType, often no codecId.
* Safari legacy: video frame size / freezes come from the linked `track` report.
"""

from __future__ import annotations

from plugins.rtcstats.analysis.metrics_client import client_metrics
from plugins.rtcstats.analysis.metrics_model import CallMetrics, PcMetrics, StreamMetrics
from plugins.rtcstats.analysis.metrics_pc import (
    apply_configuration,
    apply_events,
    data_channels,
    dtls_from_stats,
    merge_candidates,
    selected_pairs,
)
from plugins.rtcstats.analysis.metrics_streams import PcContext, compute_streams
from plugins.rtcstats.parsed_dump import Dump, PeerConnection

__all__ = ["compute_metrics", "pc_metrics"]

# Track labels Chrome gives to screen, window and tab captures (getDisplayMedia, and the older
# getUserMedia desktop capture of Electron/extension apps).
_SCREEN_LABELS = ("screen:", "window:", "web-contents-media-stream:", "tab:")


def compute_metrics(dump: Dump) -> CallMetrics:
    """Fill every field of the CallMetrics contract from the parsed dump (pure, no I/O)."""
    times = dump.event_times()
    metrics = CallMetrics(
        start_ms=min(times) if times else None,
        end_ms=max(times) if times else None,
        client=client_metrics(dump),
    )
    warnings: list[str] = []
    pc_first: list[float] = []
    pc_last: list[float] = []
    for pc in dump.peer_connections.values():
        pcm, streams = pc_metrics(pc, warnings)
        metrics.pcs[pc.id] = pcm
        for stream in streams:
            metrics.streams[stream.key] = stream
        if pcm.first_event_ms is not None:
            pc_first.append(pcm.first_event_ms)
        if pcm.last_event_ms is not None:
            pc_last.append(pcm.last_event_ms)
    _mark_screen_captures(metrics)
    pc_start = min(pc_first) if pc_first else None
    pc_end = max(pc_last) if pc_last else None
    metrics.extra = {
        "format": dump.format,
        "gzip": dump.gzip,
        "format_detail": dict(dump.format_detail),
        "stats_truncated": dump.stats_truncated,
        "dump_created_ms": dump.dump_created_ms,
        "pc_span": {
            "start_ms": pc_start,
            "end_ms": pc_end,
            "duration_ms": pc_end - pc_start if pc_start is not None and pc_end is not None else None,
        },
        "warnings": list(dump.warnings) + warnings,
    }
    return metrics


def _mark_screen_captures(metrics: CallMetrics) -> None:
    """Outgoing video whose track came from getDisplayMedia (or has a screen-capture label) is a screen
    share even when its stats carry no content type, which is the case in most dumps."""
    ids = set()
    for request in metrics.client.media_requests:
        for track in request.get("tracks") or []:
            label = str(track.get("label") or "").lower()
            if track.get("kind") == "audio" or not track.get("id"):
                continue
            if request.get("kind") == "getDisplayMedia" or label.startswith(_SCREEN_LABELS):
                ids.add(track["id"])
    for stream in metrics.streams.values():
        if stream.kind == "video" and stream.track_identifier in ids:
            stream.screenshare = True


def pc_metrics(pc: PeerConnection, warnings: list[str]) -> tuple[PcMetrics, list[StreamMetrics]]:
    """The metrics of one peer connection and of its streams."""
    pcm = PcMetrics(pc_id=pc.id, url=pc.url)
    event_times = [e.time for e in pc.events if e.time is not None]
    if pc.snapshot_times:
        event_times += [min(pc.snapshot_times), max(pc.snapshot_times)]
    pcm.first_event_ms = min(event_times) if event_times else None
    pcm.last_event_ms = max(event_times) if event_times else None
    pcm.stats_snapshots = len(pc.snapshot_times)

    apply_configuration(pcm, pc.configuration)
    found = apply_events(pcm, pc.events)
    ctx = PcContext.of(pc)
    if not pcm.dtls_states:
        pcm.dtls_states = dtls_from_stats(ctx)
    pcm.local_candidates = merge_candidates(found["local"], ctx.tracks("local-candidate"), "local")
    pcm.remote_candidates = merge_candidates(found["remote"], ctx.tracks("remote-candidate"), "remote")
    pcm.data_channels = data_channels(ctx, found["channels"])
    selected_pairs(ctx, pcm)  # also sets ctx.rtt for the streams
    streams = compute_streams(ctx, warnings)
    pcm.stream_keys = [s.key for s in streams]
    return pcm, streams
