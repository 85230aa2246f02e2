"""build_response(...) -> the AnalyzeResponseData of specs/rtcstats-api.md (vendor OpenAPI schema).

Conventions of every value produced here:
* times are ISO 8601 UTC with milliseconds and "Z" (`callStart`, `uploadTimestamp`, ...) or whole epoch
  milliseconds (keys ending in `Ms` that name an instant, e.g. `firstSeenMs`);
* every other number is rounded to 2 decimals; NaN and infinities become null (the JSON is strict);
* candidate IP addresses are never output (types, protocols, ports, network type and address family are).

The API layer fills `id`, `created_at`, `uploaded_by`, `uploaded_by_email`, `public_link`,
`description` and `tags`; they are null / [] here.
"""

from __future__ import annotations

import math
import time as _time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from plugins.rtcstats.analysis.metrics_model import (
    CallMetrics,
    Candidate,
    PcMetrics,
    SelectedPair,
    Series,
    StreamMetrics,
    summarize,
)
from plugins.rtcstats.conventions import NO_CONNECTION, UNKNOWN_CONNECTIVITY
from plugins.rtcstats.parsed_dump import Dump

__all__ = ["AGGREGATES", "METRIC_UNITS", "SCOPES", "aggregated_stats", "build_response", "iso_ms"]

SEVERITIES = ("critical", "high", "medium", "low", "info")
SCOPES = {
    "in_audio": ("audio", "inbound"),
    "out_audio": ("audio", "outbound"),
    "in_video": ("video", "inbound"),
    "out_video": ("video", "outbound"),
}
# metric -> (StreamMetrics series attribute, unit)
METRIC_UNITS = {
    "jitter": ("jitter_ms", "ms"),
    "rtt": ("rtt_ms", "ms"),
    "bitrate": ("bitrate_kbps", "kbps"),
    "packetLoss": ("loss_pct_series", "percent"),
    "mos": ("mos", "score"),
}
AGGREGATES = ("avg", "min", "max", "p5", "p95", "stddev")
SCORE_KEYS = ("experienceScore", "audioScore", "videoScore", "connectivityScore", "observationsScore")
_MAX_LIST = 200  # candidates, errors, state changes per PC in the response


# -- value helpers ----------------------------------------------------------------------------------


_isfinite = math.isfinite


def iso_ms(ms: float | None) -> str | None:
    """Epoch ms -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC); None when missing or out of range."""
    if type(ms) is float:  # most of them: the checks and the rounding without a call
        if ms - ms != 0.0:
            return None
        whole = _whole(ms)
    elif ms is None or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return None
    else:
        whole = int(round(ms))
    seconds = whole // 1000
    if 0 <= seconds < _DAYS_UNTIL:
        # UTC has 86400 s a day (POSIX time): only the date needs datetime, once per day, and the clock
        # is put together from padded numbers (a response formats hundreds of times of a few days;
        # fromtimestamp and %-formatting cost ten times as much). Compiled, `clock` is a C integer
        # (below _DAYS_UNTIL here) and the divisions are C's.
        clock = seconds
        day = clock // 86400
        second = clock - day * 86400
        date = _DAYS.get(day)
        if date is None:
            date = _date_of(day)
        hour, minute = _PADDED[second // 3600], _PADDED[second // 60 % 60]
        return f"{date}{hour}:{minute}:{_PADDED[second % 60]}.{_PADDED_MS[whole % 1000]}Z"
    try:
        moment = datetime.fromtimestamp(whole // 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    # %-formatting of the fields, three times faster than strftime (a response formats hundreds of
    # times); "%d" leaves years before 1000 unpadded, as strftime's %Y does on Linux
    return _ISO_MS % (
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        whole % 1000,
    )


_ISO_MS = "%d-%02d-%02dT%02d:%02d:%02d.%03dZ"
_DAYS_UNTIL = 253402300800  # seconds: 10000-01-01, past datetime's range (the general way says None)
_DAYS: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DDT"
_PADDED = tuple(f"{n:02d}" for n in range(60))
_PADDED_MS = tuple(f"{n:03d}" for n in range(1000))


def _date_of(day: int) -> str:
    """The "YYYY-MM-DDT" of a day since the epoch (0 <= day < _DAYS_UNTIL / 86400), remembered."""
    moment = datetime.fromtimestamp(day * 86400, tz=UTC)
    if len(_DAYS) >= 4096:  # bounded: a long-running server formats any number of days
        _DAYS.clear()
    date = _DAYS[day] = f"{moment.year:d}-{moment.month:02d}-{moment.day:02d}T"
    return date


def _whole(value: float) -> int:
    """int(round(value)) of a finite float: the nearest integer, a tie to the even one, as float's
    __round__ gives it. Below 2**52 in magnitude (epoch milliseconds), floor and fraction are exact
    (compiled: C doubles, response.pxd), so the comparison with one half decides; above, every float
    is a whole number already."""
    if -4503599627370496.0 < value < 4503599627370496.0:
        whole = value // 1.0
        fraction = value - whole
        if fraction > 0.5 or (fraction == 0.5 and (whole * 0.5) // 1.0 != whole * 0.5):
            whole += 1.0
        return int(whole)
    return int(value)


def _epoch(ms: float | None) -> int | None:
    if ms is None:
        return None
    if type(ms) is float:  # most of them: finite without a call (inf - inf and NaN - NaN are NaN)
        return _whole(ms) if ms - ms == 0.0 else None
    if not math.isfinite(ms):
        return None
    return int(round(ms))


def _clean(value: Any) -> Any:
    """Strict-JSON copy: floats rounded to 2 decimals, NaN/inf -> None, tuples -> lists, keys -> str.

    The exact classes of JSON values are dispatched first, without a call per float or string: the
    response of a long call holds thousands of them. Anything else takes _clean_other."""
    kind = type(value)
    if kind is float:
        return _clean_float(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return _clean_dict(value)
    if kind is list or kind is tuple:
        return _clean_list(value)
    return _clean_other(value)


_AS_IS = frozenset((str, int, bool, type(None)))

# round(value, 2) goes through a decimal conversion (a microsecond or more: the response rounds thousands
# of floats); _round2 gives the same float without it for every value that is not near a tie.


def _round2(value: float) -> float:
    """round(value, 2) of a finite float, the same float.

    round() rounds the exact binary value to the nearest k/100 (k an integer, ties to even) and returns
    the float nearest to k/100. y = value * 100.0 is within 2**-22 of the exact product while
    |y| < 2**31, so when y's fraction is more than 1e-6 away from one half, the integer nearest to y
    is the integer nearest to the exact product: k. k / 100.0 is the float nearest to k/100 (k and
    100 are exact floats, and IEEE division rounds correctly). Near a tie, and for huge values, round()
    itself decides. A whole float is its own rounding (about half of them in a response: counts,
    sizes, whole milliseconds).

    `x // 1.0` is floor(x) as a float (exact for finite x): the same arithmetic as math.floor's integer,
    and compiled (response.pxd types the value as a C double) it is C's floor, with no Python call."""
    if value == value // 1.0:
        return value
    scaled = value * 100.0
    if -2147483648.0 < scaled < 2147483648.0:
        whole = scaled // 1.0
        fraction = scaled - whole
        if fraction < 0.499999:
            return whole / 100.0
        if fraction > 0.500001:
            whole += 1.0
            return whole / 100.0 if whole != 0.0 else -0.0  # whole was -1: a negative value rounds to -0.0
    return round(value, 2)


def _clean_float(value: float) -> float | None:
    if not _isfinite(value):
        return None
    rounded = _round2(value)
    return 0.0 if rounded == 0 else rounded


# In the two loops below a float is finite when x - x == 0.0 (inf - inf and NaN - NaN are NaN): the
# same test as math.isfinite without a call; compiled, x is a C double (response.pxd). str, int, bool and
# None are told apart by identity, not by a lookup in _AS_IS.


def _clean_dict(value: dict) -> dict:
    """The copy is made at once and only the values that change are replaced: most values of a response
    are strings, ints and None, and replacing a value costs less than inserting a key into a new dict.
    A key that is not a str (to be converted where it stands) takes _clean_dict_keys."""
    out = dict(value)
    for key, item in value.items():
        if type(key) is not str:
            return _clean_dict_keys(value)
        kind = type(item)
        if kind is float:
            x = item
            if x - x == 0.0:
                x = _round2(x)
                out[key] = 0.0 if x == 0.0 else x
            else:
                out[key] = None
        elif not (kind is str or kind is int or item is None or kind is bool):
            out[key] = _clean(item)
    return out


def _clean_dict_keys(value: dict) -> dict:
    """_clean_dict of a dict with keys to convert to str: the keys converted in their order (a later key
    of the same spelling replaces the value, as a key by key build did), then cleaned as usual."""
    return _clean_dict({(key if type(key) is str else str(key)): item for key, item in value.items()})


def _clean_list(value: list | tuple) -> list:
    out = []
    append = out.append
    for item in value:
        kind = type(item)
        if kind is float:
            x = item
            if x - x == 0.0:
                x = _round2(x)
                append(0.0 if x == 0.0 else x)
            else:
                append(None)
        elif kind is str or kind is int or item is None or kind is bool:
            append(item)
        else:
            append(_clean(item))
    return out


def _clean_other(value: Any) -> Any:
    """_clean of subclasses (numpy floats, enums...) and other types, by isinstance."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _clean_float(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    return str(value)


def _summary(series: Series, memo: dict | None = None) -> dict | None:
    """series.summary(), remembered in `memo` (id -> (series, summary)) when given: aggregated_stats
    reuses the summary of a stream's series for a scope whose pooled values are that series' values
    (Series.summary is a pure function of the values; the series is kept so that its id stays its own)."""
    if not series.values:  # most series of a response (an audio stream has no fps...): no call
        return None
    if memo is None:
        return series.summary()
    known = memo.get(id(series))
    if known is not None:
        return known[1]
    summary = series.summary()
    memo[id(series)] = (series, summary)
    return summary


def _duration(start: float | None, end: float | None) -> int | None:
    if start is None or end is None:
        return None
    return _epoch(end - start)


# -- sections ---------------------------------------------------------------------------------------


def call_span(dump: Dump, metrics: CallMetrics, upload_ms: float) -> tuple[float, float, str]:
    """(start ms, end ms, source) of the call: its first and last event, else one moment.

    The vendor schema and our contract make callStart/callEnd date-time strings and durationMs an
    integer, never null; a dump without events (a page that recorded nothing) still happened at a
    known moment: when the dump says it was created, else the start time its metadata carries, else
    when it was uploaded. Such a call lasts 0 ms. `source` names where the span came from
    (metadata.callSpanSource) so that a client can tell a measured span from a fallback.
    """
    if iso_ms(metrics.start_ms) is not None and iso_ms(metrics.end_ms) is not None:
        return metrics.start_ms, metrics.end_ms, "events"  # type: ignore[return-value]
    for moment, source in (
        (dump.dump_created_ms, "dumpCreated"),
        (_number(dump.metadata.get("startTime")), "metadataStartTime"),
    ):
        if iso_ms(moment) is not None:
            return moment, moment, source  # type: ignore[return-value]
    return upload_ms, upload_ms, "upload"


def _user_agent_data(dump: Dump, metrics: CallMetrics) -> dict:
    # client_metrics set every client field here from parse_user_agent(dump.user_agent,
    # dump.user_agent_data): its mobile as well, so the response does not parse the user agent again
    client = metrics.client
    hints = dump.user_agent_data
    brands = None
    if isinstance(hints, dict):
        brands = hints.get("fullVersionList") or hints.get("brands")
    elif isinstance(hints, list):
        brands = hints
    device = dump.device
    return {
        "browser": client.browser,
        "browserVersion": client.browser_version,
        "os": client.os,
        "osVersion": client.os_version,
        "mobile": client.mobile,
        "platform": client.platform,
        "brands": brands if isinstance(brands, list) else None,
        "userAgent": dump.user_agent,
        "hardwareConcurrency": client.hardware_concurrency,
        "deviceMemory": client.device_memory,
        "cpuPerformance": device.get("cpuPerformance"),
        "screen": device.get("screen") if isinstance(device.get("screen"), dict) else None,
        "window": device.get("window") if isinstance(device.get("window"), dict) else None,
    }


def _candidate(c: Candidate) -> dict:
    return {
        "id": c.id,
        "type": c.type,
        "protocol": c.protocol,
        "relayProtocol": c.relay_protocol,
        "port": c.port,
        "networkType": c.network_type,
        "addressFamily": c.address_family,
        "url": c.url,
        "timestampMs": _epoch(c.time),
    }


def session_connectivity(metrics: CallMetrics, final: SelectedPair | None) -> str:
    """The session's `connectivity`: the label of the main connection's final pair, else NONE or
    UNKNOWN (the vendor schema makes it a string, never null)."""
    if not metrics.pcs:
        return NO_CONNECTION
    return connectivity_label(final) or UNKNOWN_CONNECTIVITY


def connectivity_label(pair: SelectedPair | None) -> str | None:
    """ "DIRECT/UDP", "DIRECT/TCP", "RELAY/UDP|TCP|TLS" for a selected pair; None without one.

    Relay when either candidate is a relay candidate; the relay protocol is the local relay candidate's
    (how this client reaches its TURN server), else the local transport protocol."""
    if pair is None:
        return None
    protocol = (pair.local.protocol or pair.remote.protocol or "").upper() or None
    if pair.uses_relay:
        relay = pair.local.relay_protocol if pair.local.type == "relay" else None
        label = (relay or protocol or "").upper()
        return f"RELAY/{label}" if label else "RELAY"
    return f"DIRECT/{protocol}" if protocol else "DIRECT"


def _pair(pair: SelectedPair) -> dict:
    return {
        "pairId": pair.pair_id,
        "selection": pair.selection,
        "local": _candidate(pair.local),
        "remote": _candidate(pair.remote),
        "usesRelay": pair.uses_relay,
        "connectivity": connectivity_label(pair),
        "firstSeenMs": _epoch(pair.first_seen_ms),
        "lastSeenMs": _epoch(pair.last_seen_ms),
        "durationMs": _duration(pair.first_seen_ms, pair.last_seen_ms),
    }


def _final_pair(pcm: PcMetrics) -> SelectedPair | None:
    return pcm.final_selected_pairs[0] if pcm.final_selected_pairs else pcm.final_pair


def _states(items: list[tuple[float | None, str]]) -> list[dict]:
    return [{"state": s, "timestampMs": _epoch(t), "time": iso_ms(t)} for t, s in items[:_MAX_LIST]]


def _counts(candidates: list[Candidate]) -> dict:
    out = {"host": 0, "srflx": 0, "prflx": 0, "relay": 0, "total": len(candidates)}
    for cand in candidates:
        if cand.type in out:
            out[cand.type] += 1
    relay = {"udp": 0, "tcp": 0, "tls": 0}
    for cand in candidates:
        if cand.type == "relay" and cand.relay_protocol in relay:
            relay[cand.relay_protocol] += 1
    out["relayByProtocol"] = relay
    return out


def _first_by_type(pcm: PcMetrics) -> dict:
    """Delay from gathering start to the first local candidate of each type (and relay protocol), ms."""
    start = pcm.gathering_start_ms
    out: dict[str, int | None] = {}
    if start is None:
        return out
    for cand in pcm.local_candidates:
        if cand.time is None:
            continue
        keys = [cand.type or "unknown"]
        if cand.type == "relay" and cand.relay_protocol:
            keys.append(f"relay_{cand.relay_protocol}")
        for key in keys:
            if key not in out:
                out[key] = _epoch(max(cand.time - start, 0.0))
    return out


def _pc(pcm: PcMetrics) -> dict:
    final = _final_pair(pcm)
    servers = pcm.ice_servers
    return {
        "pid": pcm.pc_id,
        "url": pcm.url,
        "startTime": iso_ms(pcm.first_event_ms),
        "endTime": iso_ms(pcm.last_event_ms),
        "firstEventMs": _epoch(pcm.first_event_ms),
        "lastEventMs": _epoch(pcm.last_event_ms),
        "durationMs": _duration(pcm.first_event_ms, pcm.last_event_ms),
        "statsSnapshots": pcm.stats_snapshots,
        "connected": pcm.reached_connected,
        "failed": pcm.failed,
        "closed": pcm.closed,
        "connectivity": {
            "type": connectivity_label(final),
            "selectedPair": _pair(final) if final is not None else None,
            "usesRelay": final.uses_relay if final is not None else None,
            "protocol": final.local.protocol if final is not None else None,
            "relayProtocol": final.local.relay_protocol if final is not None else None,
            "networkType": final.local.network_type if final is not None else None,
            "addressFamily": (final.local.address_family or final.remote.address_family) if final else None,
        },
        "states": {
            "iceConnection": _states(pcm.ice_states),
            "iceConnectionLegacy": _states(pcm.ice_states_legacy),
            "connection": _states(pcm.connection_states),
            "signaling": _states(pcm.signaling_states),
            "iceGathering": _states(pcm.gathering_states),
            "dtls": _states(pcm.dtls_states),
        },
        "connectionTimeMs": pcm.connection_time_ms,
        "iceConnectionTimeMs": pcm.ice_connection_time_ms,
        "iceRestarts": pcm.ice_restarts,
        "configuration": {
            # null (not []) when the dump did not record the configuration: unknown is not "none"
            "iceServers": servers,
            "iceTransportPolicy": pcm.ice_transport_policy,
            "bundlePolicy": pcm.bundle_policy,
            "stunServers": None
            if servers is None
            else sum(1 for u in servers if u.lower().startswith("stun")),
            "turnServers": None
            if servers is None
            else sum(1 for u in servers if u.lower().startswith("turn")),
        },
        "candidates": {
            "local": _counts(pcm.local_candidates),
            "remote": _counts(pcm.remote_candidates),
            "gatheringStartMs": _epoch(pcm.gathering_start_ms),
            "firstCandidateDelayMs": _first_by_type(pcm),
            "localList": [_candidate(c) for c in pcm.local_candidates[:_MAX_LIST]],
            "remoteList": [_candidate(c) for c in pcm.remote_candidates[:_MAX_LIST]],
        },
        "candidateErrors": [
            {
                "timestampMs": _epoch(e.get("time")),
                "url": e.get("url"),
                "errorCode": e.get("errorCode"),
                "errorText": e.get("errorText"),
                "port": e.get("port"),
            }
            for e in pcm.candidate_errors[:_MAX_LIST]
        ],
        "failures": [
            {"timestampMs": _epoch(f.get("time")), "method": f.get("method"), "error": f.get("error")}
            for f in pcm.call_failures[:_MAX_LIST]
        ],
        "dataChannels": [_channel(d) for d in pcm.data_channels[:_MAX_LIST]],
        "rttMeanMs": pcm.rtt_mean_ms,
        "rttSource": pcm.rtt_source,
        "streams": list(pcm.stream_keys),
    }


def _channel(entry: dict) -> dict:
    out = dict(entry)
    for key in ("firstSeenMs", "lastSeenMs"):
        if key in out:
            out[key] = _epoch(out[key])
    return out


def _stream(sm: StreamMetrics, memo: dict | None = None) -> dict:
    return {
        "pid": sm.pc_id,
        "sid": sm.stat_id,
        "ssrc": sm.ssrc,
        "kind": sm.kind,
        "direction": sm.direction,
        "codec": sm.codec,
        "trackIdentifier": sm.track_identifier,
        "screenshare": sm.screenshare,
        "rid": sm.rid,
        "firstSeenMs": _epoch(sm.first_seen_ms),
        "lastSeenMs": _epoch(sm.last_seen_ms),
        "durationMs": _duration(sm.first_seen_ms, sm.last_seen_ms),
        "packets": sm.packets,
        "packetsLost": sm.packets_lost,
        "loss": sm.loss_pct,
        "negativePacketsLost": sm.negative_packets_lost,
        "minPacketsLost": sm.min_packets_lost,
        "bytes": sm.bytes,
        "counterResets": sm.counter_resets,
        "packetsAcrossResets": sm.packets_across_resets,
        "packetsLostAcrossResets": sm.packets_lost_across_resets,
        "bytesAcrossResets": sm.bytes_across_resets,
        "avgBitrateKbps": sm.avg_bitrate_kbps,
        "activeStartMs": _epoch(sm.active_start_ms),
        "activeEndMs": _epoch(sm.active_end_ms),
        "idleIntervals": sm.idle_intervals,
        "idleMs": sm.idle_ms,
        "bitrateKbps": _summary(sm.bitrate_kbps, memo),
        "packetLossPercent": _summary(sm.loss_pct_series, memo),
        "jitterMs": _summary(sm.jitter_ms, memo),
        "rttMs": _summary(sm.rtt_ms, memo),
        "fps": _summary(sm.fps, memo),
        "sourceFps": sm.source_fps,
        "jitterBufferDelayMs": _summary(sm.jitter_buffer_delay_ms, memo),
        "packetSendDelayMs": _summary(sm.packet_send_delay_ms, memo),
        "mos": _summary(sm.mos, memo),
        "frameWidth": sm.frame_width,
        "frameHeight": sm.frame_height,
        "maxFrameHeight": sm.max_frame_height,
        "framesDecoded": sm.frames_decoded,
        "framesDropped": sm.frames_dropped,
        "freezeCount": sm.freeze_count,
        "totalFreezesDurationS": sm.total_freezes_duration_s,
        "pauseCount": sm.pause_count,
        "totalPausesDurationS": sm.total_pauses_duration_s,
        "avgEncodeTimeMs": sm.avg_encode_time_ms,
        "avgDecodeTimeMs": sm.avg_decode_time_ms,
        "qualityLimitationPercent": sm.quality_limitation_pct,
        "qualityLimitationResolutionChanges": sm.quality_limitation_resolution_changes,
        "concealedPercent": sm.concealed_pct,
        "emittedStalledIntervals": sm.emitted_stalled_intervals,
        "audioLevelFlat": sm.audio_level_flat,
    }


def _data_streams(metrics: CallMetrics) -> dict:
    out = {}
    for pid, pcm in metrics.pcs.items():
        for i, channel in enumerate(pcm.data_channels):
            sid = channel.get("id") if isinstance(channel.get("id"), str) else f"datachannel-{i}"
            out[f"{pid}/{sid}"] = {
                "pid": pid,
                "sid": sid,
                "kind": "data",
                "direction": "bidirectional",
                "label": channel.get("label"),
                "protocol": channel.get("protocol"),
                "state": channel.get("state"),
                "messagesSent": channel.get("messagesSent"),
                "messagesReceived": channel.get("messagesReceived"),
                "bytesSent": channel.get("bytesSent"),
                "bytesReceived": channel.get("bytesReceived"),
                "firstSeenMs": _epoch(channel.get("firstSeenMs")),
                "lastSeenMs": _epoch(channel.get("lastSeenMs")),
            }
    return out


def _transport(pcm: PcMetrics) -> dict:
    final = _final_pair(pcm)
    return {
        "pid": pcm.pc_id,
        "selectedPairs": [_pair(p) for p in pcm.selected_pairs],
        "finalPairIds": [p.pair_id for p in pcm.final_selected_pairs],
        "connectivity": connectivity_label(final),
        "selectedPairSwitches": pcm.selected_pair_switches,
        "rttMeanMs": pcm.rtt_mean_ms,
        "rttMeanNonZeroMs": pcm.rtt_mean_nonzero_ms,
        "rttSamples": pcm.rtt_samples,
        "rttSource": pcm.rtt_source,
        "rttMs": _summary(pcm.rtt_ms),
        "availableOutgoingBitrateKbps": _summary(pcm.available_outgoing_kbps),
    }


def carried_media(stream: StreamMetrics) -> bool:
    """A stream carried media when its payload byte counter grew (packets only when no byte counter):
    an unused transceiver or a padding-only probe stream is not a stream the user heard or saw."""
    if stream.bytes is not None:
        return stream.bytes > 0
    return (stream.packets or 0) > 0


def media_streams(metrics: CallMetrics, kind: str, direction: str) -> list[StreamMetrics]:
    """Streams of a scope that carried media (see carried_media)."""
    return [s for s in metrics.streams_of(kind, direction) if carried_media(s)]


def aggregated_stats(metrics: CallMetrics, memo: dict | None = None) -> dict:
    """`<metric>_<scope>_<agg>_<unit>` over the per-interval values of every stream of the scope, pooled
    (each interval of each stream weighs the same); keys without any value are left out. Plus
    `jitter_avg_ms` (all jitter intervals of all scopes), `rtt_avg_ms` (transport RTT samples of all
    PCs, else the streams' RTT intervals) and `<scope>_count` (streams that carried media).

    `memo` is the summaries of the streams' series (see _summary): where one stream alone has values
    for a metric, the pooled values are its values, and their summary is the one already computed."""
    out: dict[str, Any] = {}
    all_jitter: list[float] = []
    stream_rtt: list[float] = []
    for scope, (kind, direction) in SCOPES.items():
        streams = media_streams(metrics, kind, direction)
        out[f"{scope}_count"] = len(streams)
        for metric, (attr, _) in METRIC_UNITS.items():
            if metric == "mos" and kind != "audio":
                continue
            measured = [series for stream in streams if (series := getattr(stream, attr)).values]
            if len(measured) == 1:
                values = measured[0].values
                summary = _summary(measured[0], memo)
            else:
                values = [value for series in measured for value in series.values]
                summary = summarize(values)
            if metric == "jitter":
                all_jitter += values
            if metric == "rtt":
                stream_rtt += values
            if summary is None:
                continue
            for agg, key in _AGGREGATE_KEYS[metric, scope]:
                out[key] = summary[agg]
    out["jitter_avg_ms"] = sum(all_jitter) / len(all_jitter) if all_jitter else None
    transport_rtt = [v for pcm in metrics.pcs.values() for v in pcm.rtt_ms.values]
    rtt = transport_rtt or stream_rtt
    out["rtt_avg_ms"] = sum(rtt) / len(rtt) if rtt else None
    return out


# (metric, scope) -> ((agg, "<metric>_<scope>_<agg>_<unit>"), ...): the key names, made once
_AGGREGATE_KEYS = {
    (metric, scope): tuple((agg, f"{metric}_{scope}_{agg}_{unit}") for agg in AGGREGATES)
    for metric, (_, unit) in METRIC_UNITS.items()
    for scope in SCOPES
}


def _main_pc(metrics: CallMetrics) -> PcMetrics | None:
    """The PC whose selected pairs were in use longest (the later one on a tie)."""
    best, best_span = None, -1.0
    for pcm in metrics.pcs.values():
        if not pcm.selected_pairs:
            continue
        span = sum(p.last_seen_ms - p.first_seen_ms for p in pcm.selected_pairs)
        if span >= best_span:
            best, best_span = pcm, span
    return best


def _metadata_trusted(dump: Dump) -> bool:
    """False when the legacy parser found jitsi's connectionInfo (where url/origin come from) dated far
    from the call's events: it was pasted from another session (dump-facts D3) and names another page."""
    return not any("connectionInfo is dated" in str(w) for w in dump.warnings)


def _page_url(dump: Dump, metrics: CallMetrics) -> str | None:
    url = dump.metadata.get("url")
    if isinstance(url, str) and url and _metadata_trusted(dump):
        return url
    for pcm in metrics.pcs.values():
        if pcm.url:
            return pcm.url
    for event in dump.client_events:
        for item in event.extra:
            if isinstance(item, dict) and isinstance(item.get("url"), str):
                return item["url"]
            if isinstance(item, str) and "://" in item:
                return item
    return None


def _origin(dump: Dump, url: str | None) -> str | None:
    origin = dump.metadata.get("origin")
    if isinstance(origin, str) and origin and _metadata_trusted(dump):
        return origin
    for event in dump.client_events:
        for item in event.extra:
            if isinstance(item, dict) and isinstance(item.get("origin"), str):
                return item["origin"]
    if url:
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def make_title(url: str | None, origin: str | None, file_name: str, conference: str | None = None) -> str:
    """Host and path of the call page (no query, no fragment: tokens live there), else the conference
    id (jitsi's is "host/room"), else the file name."""
    for candidate in (url, origin):
        if not candidate:
            continue
        try:
            parts = urlsplit(candidate)
        except ValueError:
            continue
        host = parts.netloc.rsplit("@", 1)[-1]
        if not host and origin and candidate is url:
            try:
                host = urlsplit(origin).netloc.rsplit("@", 1)[-1]
            except ValueError:
                host = ""
        path = "/".join(p for p in parts.path.split("/") if p)
        title = "/".join(p for p in (host, path) if p)
        if title:
            return title[:200]
    if conference:
        return conference[:200]
    return file_name


def _conference(dump: Dump) -> str | None:
    value = dump.metadata.get("conferenceId")
    return (
        str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "" else None
    )


def _metadata(
    dump: Dump, metrics: CallMetrics, url: str | None, origin: str | None, span_source: str
) -> dict:
    from plugins.rtcstats.analysis import PROCESSOR_VERSION

    meta = dump.metadata

    def pick(*keys: str) -> Any:
        for key in keys:
            value = meta.get(key)
            if value not in (None, ""):
                return value if isinstance(value, (str, int, float, bool)) else str(value)
        return None

    pc_span = metrics.extra.get("pc_span") or {}
    return {
        "callSpanSource": span_source,
        "clientProtocol": pick("clientProtocol"),
        "url": url,
        "origin": origin,
        "userId": _as_text(pick("userId")),
        "conferenceId": _as_text(pick("conferenceId")),
        "sessionId": _as_text(pick("sessionId")),
        "statsFormat": pick("statsFormat"),
        "connectionInfoFromAnotherSession": not _metadata_trusted(dump),
        "format": dump.format,
        "gzip": dump.gzip,
        "bytesUncompressed": dump.bytes_uncompressed,
        "statsTruncated": dump.stats_truncated,
        "dumpCreated": iso_ms(dump.dump_created_ms),
        "metadataStartTime": iso_ms(_number(meta.get("startTime"))),
        "mediaStart": iso_ms(pc_span.get("start_ms")),
        "mediaEnd": iso_ms(pc_span.get("end_ms")),
        "mediaDurationMs": _epoch(pc_span["duration_ms"]) if pc_span.get("duration_ms") is not None else None,
        "processorVersion": PROCESSOR_VERSION,
        "warnings": list(metrics.extra.get("warnings", []))[:50],
    }


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def tag_clouds(observations: list[dict]) -> list[dict]:
    """[{tag, total, severity}]: number of observations per tag and the worst severity among them."""
    totals: dict[str, int] = {}
    worst: dict[str, int] = {}
    for obs in observations:
        if not isinstance(obs, dict):
            continue
        rank = SEVERITIES.index(obs["severity"]) if obs.get("severity") in SEVERITIES else len(SEVERITIES) - 1
        for tag in obs.get("tags") or []:
            if not isinstance(tag, str):
                continue
            totals[tag] = totals.get(tag, 0) + 1
            worst[tag] = min(worst.get(tag, rank), rank)
    return [
        {"tag": tag, "total": totals[tag], "severity": SEVERITIES[worst[tag]]}
        for tag in sorted(totals, key=lambda t: (-totals[t], worst[t], t))
    ]


def observation_counts(observations: list[dict]) -> dict:
    counts = dict.fromkeys(SEVERITIES, 0)
    for obs in observations:
        severity = obs.get("severity") if isinstance(obs, dict) else None
        if severity in counts:
            counts[severity] += 1
    return counts


def features(metrics: CallMetrics) -> dict:
    """Boolean and value flags about devices, network and capabilities of the session."""
    pcs = list(metrics.pcs.values())
    pairs = [p for pcm in pcs for p in pcm.selected_pairs]
    finals = [p for pcm in pcs for p in pcm.final_selected_pairs]
    requests = metrics.client.media_requests

    def of(kind: str) -> list[dict]:
        return [r for r in requests if r.get("kind") == kind]

    def errors(kind: str) -> list[str]:
        return [r.get("error") or "unknown" for r in of(kind) if r.get("success") is False]

    media = [s for s in metrics.streams.values() if carried_media(s)]
    codecs = sorted({s.codec for s in media if s.codec})
    outbound_video = [s for s in metrics.streams_of("video", "outbound")]
    simulcast = False
    for pcm in pcs:
        rids = {s.rid for s in outbound_video if s.pc_id == pcm.pc_id and s.rid}
        if len(rids) > 1:
            simulcast = True
    recorded = [pcm.ice_servers for pcm in pcs if pcm.ice_servers is not None]
    servers = [u.lower() for urls in recorded for u in urls]
    relay_protocols = sorted(
        {p.local.relay_protocol for p in pairs if p.uses_relay and p.local.relay_protocol}
    )
    pressure = [state for _, state in metrics.client.compute_pressure]
    order = ("nominal", "fair", "serious", "critical")
    return {
        "peerConnections": len(pcs),
        "connected": any(p.reached_connected for p in pcs),
        "iceFailed": any(p.failed for p in pcs),
        "usedTurn": any(p.uses_relay for p in pairs),
        "usedTurnFinal": any(p.uses_relay for p in finals),
        "relayProtocols": relay_protocols,
        "usedVpn": any("vpn" in (p.local.network_type or "").lower() for p in pairs),
        "networkTypes": sorted({p.local.network_type for p in pairs if p.local.network_type}),
        "iceRestart": any(p.ice_restarts > 0 for p in pcs),
        "iceRestarts": sum(p.ice_restarts for p in pcs),
        # null when no connection recorded its iceServers (unknown, not "not configured")
        "stunConfigured": any(u.startswith("stun") for u in servers) if recorded else None,
        "turnConfigured": any(u.startswith("turn") for u in servers) if recorded else None,
        "iceTransportPolicyRelay": any((p.ice_transport_policy or "").lower() == "relay" for p in pcs),
        "candidateErrors": sum(len(p.candidate_errors) for p in pcs),
        "apiFailures": sum(len(p.call_failures) for p in pcs),
        "getUserMediaCalls": len(of("getUserMedia")),
        "getUserMediaErrors": len(errors("getUserMedia")),
        "getUserMediaErrorNames": sorted(set(errors("getUserMedia"))),
        "getDisplayMediaCalls": len(of("getDisplayMedia")),
        "getDisplayMediaErrors": len(errors("getDisplayMedia")),
        "screenShare": any(r.get("success") for r in of("getDisplayMedia"))
        or any(s.screenshare for s in media),
        "dataChannel": any(p.data_channels for p in pcs),
        "simulcast": simulcast,
        "audio": any(s.kind == "audio" for s in media),
        "video": any(s.kind == "video" for s in media),
        "sendsAudio": any(s.kind == "audio" and s.direction == "outbound" for s in media),
        "sendsVideo": any(s.kind == "video" and s.direction == "outbound" for s in media),
        "receivesAudio": any(s.kind == "audio" and s.direction == "inbound" for s in media),
        "receivesVideo": any(s.kind == "video" and s.direction == "inbound" for s in media),
        "codecs": codecs,
        "audioCodecs": [c for c in codecs if c.lower().startswith("audio/")],
        "videoCodecs": [c for c in codecs if c.lower().startswith("video/")],
        "counterResets": sum(s.counter_resets for s in metrics.streams.values()),
        "negativePacketsLost": any(s.negative_packets_lost for s in metrics.streams.values()),
        "statsTruncated": bool(metrics.extra.get("stats_truncated")),
        "computePressureWorst": max(pressure, key=order.index) if pressure else None,
        "mobile": metrics.client.mobile,
    }


def _score(scores: dict, key: str) -> Any:
    if not isinstance(scores, dict):
        return None
    if key in scores:
        return scores[key]
    snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in key)
    return scores.get(snake)


def build_response(
    dump: Dump,
    metrics: CallMetrics,
    observations: list[dict],
    scores: dict,
    rule_summary: str | None,
    *,
    file_name: str,
    file_size: int,
    now_ms: float | None = None,
    uploaded_ms: float | None = None,
) -> dict:
    """The complete AnalyzeResponseData (strict-JSON-safe dict). `now_ms` fixes uploadTimestamp (tests);
    `uploaded_ms` (when the dump was stored) dates a dump without events, else `now_ms` does."""
    observations = list(observations or [])
    url = _page_url(dump, metrics)
    origin = _origin(dump, url)
    main = _main_pc(metrics)
    final = _final_pair(main) if main is not None else None
    family = (final.local.address_family or final.remote.address_family) if final is not None else None
    upload_ms = now_ms if now_ms is not None else _time.time() * 1000.0
    start_ms, end_ms, span_source = call_span(
        dump, metrics, uploaded_ms if uploaded_ms is not None else upload_ms
    )
    memo: dict[int, tuple] = {}  # the summaries of the streams' series, for aggregated_stats
    data: dict[str, Any] = {
        "callStart": iso_ms(start_ms),
        "callEnd": iso_ms(end_ms),
        "durationMs": _duration(start_ms, end_ms),
        "userAgentData": _user_agent_data(dump, metrics),
        "pConnectionsNumber": len(metrics.pcs),
        "pConnections": {pid: _pc(pcm) for pid, pcm in metrics.pcs.items()},
        "streams": {key: _stream(sm, memo) for key, sm in metrics.streams.items()} | _data_streams(metrics),
        "transports": {pid: _transport(pcm) for pid, pcm in metrics.pcs.items()},
        "aggregatedStats": aggregated_stats(metrics, memo),
        "metadata": _metadata(dump, metrics, url, origin, span_source),
        "connectivity": session_connectivity(metrics, final),
        "uploadTimestamp": iso_ms(upload_ms),
        "title": make_title(url, origin, file_name, _conference(dump)),
        "fileName": file_name,
        "fileSize": int(file_size),
    }
    if family is not None:
        data["connectionIPType"] = family
    for key in SCORE_KEYS:
        data[key] = _score(scores, key)
    data.update(
        {
            "tagClouds": tag_clouds(observations),
            "id": None,
            "created_at": None,
            "uploaded_by": None,
            "uploaded_by_email": None,
            "public_link": None,
            "description": None,
            "tags": [],
            "observations": observations,
            "features": features(metrics),
            "observationsCount": observation_counts(observations),
            # Nothing here is AI: the vendor's aiSummary is an object of a language model's texts, and
            # null is its documented value when there is none. Our rule-based paragraph is an
            # extension field of its own (the vendor schema allows additional properties).
            "aiSummary": None,
            "ruleSummary": rule_summary,
        }
    )
    return _clean(data)
