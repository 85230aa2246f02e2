"""Per peer-connection metrics: states (D4), configuration, candidates, failures, data channels,
selected candidate pairs (D6) and transport RTT (D7)."""

from __future__ import annotations

import math
import re
from itertools import groupby
from operator import itemgetter
from typing import Any

from plugins.rtcstats.analysis.metrics_model import Candidate, PcMetrics, Series
from plugins.rtcstats.analysis.metrics_pairs import walk_selected_pairs
from plugins.rtcstats.analysis.metrics_streams import PcContext
from plugins.rtcstats.analysis.metrics_values import (
    TimeLookup,
    address_family,
    as_int,
    candidate_type,
    column,
    num,
    parse_candidate_line,
    relay_protocol_from_url,
    sdp_of,
    sdp_ufrag,
    stat_type,
    truthy,
)
from plugins.rtcstats.parsed_dump import Event, StatTrack
from plugins.rtcstats.parsing.lines import normalize_state

_STATE_TARGETS = {
    "iceconnectionstatechange": "ice_states",
    "legacyiceconnectionstatechange": "ice_states_legacy",
    "connectionstatechange": "connection_states",
    "signalingstatechange": "signaling_states",
    "icegatheringstatechange": "gathering_states",
    "dtlsstatechange": "dtls_states",
}
# What apply_events does with an event, by its name (state changes: their list in _STATE_TARGETS).
_EVENT_KINDS = dict.fromkeys(_STATE_TARGETS, "state") | {
    "icecandidate": "local",
    "addicecandidate": "remote",
    "setremotedescription": "remote sdp",
    "setlocaldescription": "local sdp",
    "setlocaldescriptiononsuccess": "local sdp",
    "icecandidateerror": "candidate error",
    "restartice": "restart",
    "createoffer": "offer",
    "createdatachannel": "channel",
    "datachannel": "channel",
    "close": "close",
}
_SERVER_URL = re.compile(r"\b(?:stuns?|turns?):[^\s,\]\[\"'}]+", re.IGNORECASE)
_POLICY = re.compile(r"iceTransportPolicy\W+(\w+)")
_SERVERS_KEY = re.compile(r"\b(?:iceServers|servers)\b")
_BUNDLE = re.compile(r"bundlePolicy\W+([\w-]+)")
_CANDIDATE_IN_TEXT = re.compile(r"candidate:\S+ \d+ \S+ \d+ \S+ \d+ typ \S+(?: [^,\n]*)?")
_second = itemgetter(1)
# The line boundaries of str.splitlines(). A jitsi SDP has thousands of lines and a few candidate lines:
# searching for those is much cheaper than splitting it (see _sdp_candidates).
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CANDIDATE_LINE = re.compile("a=candidate:[^" + _LINE_BREAKS + "]*")
# Max candidates matched pairwise between events and stats (the matching is quadratic).
_MATCH_LIMIT = 2000


def state_value(value: Any) -> str | None:
    """A state-change value as D4 wants it: unquoted, canonical, lower-cased."""
    if isinstance(value, dict):  # some writers log {state: ...}
        value = value.get("state", value.get("value"))
    normalised = normalize_state(value)
    if not isinstance(normalised, str):
        return None
    return normalised.strip().lower() or None


def apply_events(pcm: PcMetrics, events: list[Event]) -> dict:
    """States, restarts, failures, candidate errors, gathering start and data-channel events.

    Returns what the candidate pass needs: {"local": [...], "remote": [...]} candidate dicts.
    """
    local: list[dict] = []
    remote: list[dict] = []
    ufrags: list[str] = []
    explicit_restarts = 0
    channels: list[dict] = []
    kinds: dict = _EVENT_KINDS  # typed: compiled, .get() is a C call
    for event in events:
        # Most events (track, addstream, the *onsuccess callbacks) are none of these: one dict lookup
        # tells, where a chain of name comparisons and reads of the event's other fields did before.
        name = event.name
        kind = kinds.get(name)
        if kind is None:
            if _failure_name(name):  # no name of _EVENT_KINDS ends so
                pcm.call_failures.append(_call_failure(event))
            continue
        value, time = event.value, event.time
        if kind == "state":
            state = state_value(value)
            if state is not None:
                getattr(pcm, _STATE_TARGETS[name]).append((time, state))
        elif kind == "local":
            parsed = _event_candidate(value, time)
            if parsed is not None:
                local.append(parsed)
        elif kind == "remote":
            parsed = _event_candidate(value, time)
            if parsed is not None:
                remote.append(parsed)
        elif kind == "remote sdp":
            for cand in _sdp_candidates(sdp_of(value)):
                cand["time"] = time
                remote.append(cand)
        elif kind == "local sdp":
            ufrag = sdp_ufrag(sdp_of(value))
            if ufrag and (not ufrags or ufrags[-1] != ufrag):
                ufrags.append(ufrag)
        elif kind == "candidate error":
            pcm.candidate_errors.append(_candidate_error(value, time))
        elif kind == "restart":
            explicit_restarts += 1
        elif kind == "offer":
            if isinstance(value, dict) and truthy(value.get("iceRestart")):
                explicit_restarts += 1
        elif kind == "channel":
            channels.append(_channel_event(name, value, time))
        elif kind == "close":
            pcm.closed = True
    pcm.ice_restarts = max(explicit_restarts, len(ufrags) - 1 if ufrags else 0)
    if any(s == "closed" for _, s in pcm.signaling_states + pcm.connection_states + pcm.ice_states):
        pcm.closed = True
    pcm.gathering_start_ms = next(
        (t for t, s in pcm.gathering_states if s == "gathering" and t is not None), None
    )
    pcm.connection_time_ms = _transition_time(pcm.connection_states, ("connecting",), ("connected",))
    ice = pcm.ice_states or pcm.ice_states_legacy
    pcm.ice_connection_time_ms = _transition_time(ice, ("checking",), ("connected", "completed"))
    return {"local": local, "remote": remote, "channels": channels}


def _failure_name(name: str) -> bool:
    """Whether the event is the failure callback of a call (createOfferOnFailure...). Compiled, the name
    is typed (metrics_pc.pxd), which makes endswith a C call: most events pass here."""
    return name.endswith("onfailure")


def _call_failure(event: Event) -> dict:
    return {
        "time": event.time,
        "method": event.raw_name[: -len("OnFailure")]
        if event.raw_name.endswith("OnFailure")
        else event.raw_name,
        "error": _error_text(event.value),
    }


def _transition_time(states: list[tuple[float | None, str]], start: tuple, end: tuple) -> float | None:
    begin = None
    for time, state in states:
        if begin is None and state in start:
            begin = time
            if begin is None:
                return None
        elif begin is not None and state in end:
            return time - begin if time is not None else None
    return None


def _sdp_candidates(sdp: Any) -> list[dict]:
    """The parsed `a=candidate:` lines of an SDP: the same list as parsing each of its splitlines() that
    starts with "a=candidate:", found by str.find instead (a hit counts where a line starts)."""
    if not isinstance(sdp, str):
        return []
    out = []
    start = sdp.find("a=candidate:")
    while start >= 0:
        if start == 0 or sdp[start - 1] in _LINE_BREAKS:
            line = _CANDIDATE_LINE.match(sdp, start).group()
            parsed = parse_candidate_line(line)
            if parsed is not None:
                out.append(parsed)
            start += len(line)
        else:
            # A hit inside a line: so is any other before its line break (no need to find that break).
            start += len("a=candidate:")
        start = sdp.find("a=candidate:", start)
    return out


def _error_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        name, message = value.get("name"), value.get("message")
        if name or message:
            return ": ".join(str(x) for x in (name, message) if x)
    return str(value)[:500]


def _event_candidate(value: Any, time: float | None) -> dict | None:
    line = None
    extra: dict = {}
    if isinstance(value, dict):
        line = value.get("candidate")
        extra = value
    elif isinstance(value, str):
        found = _CANDIDATE_IN_TEXT.search(value)
        line = found.group(0) if found else None
    parsed = parse_candidate_line(line)
    if parsed is None:
        return None
    parsed["time"] = time
    if isinstance(extra.get("url"), str):
        parsed["url"] = extra["url"]
    if isinstance(extra.get("relayProtocol"), str):
        parsed["relayProtocol"] = extra["relayProtocol"].lower()
    return parsed


def _candidate_error(value: Any, time: float | None) -> dict:
    info: dict = {}
    if isinstance(value, dict):
        info = value
    elif isinstance(value, str):
        for line in value.replace(", ", "\n").splitlines():
            if ":" in line:
                key, _, rest = line.partition(":")
                info[key.strip()] = rest.strip()

    def pick(*keys: str) -> Any:
        for key in keys:
            if info.get(key) not in (None, ""):
                return info[key]
        return None

    address, port = pick("address"), pick("port")
    host = pick("hostCandidate", "host_candidate")
    if address is None and isinstance(host, str) and ":" in host:
        address, _, host_port = host.rpartition(":")
        port = port if port is not None else host_port
    return {
        "time": time,
        "url": pick("url"),
        "errorCode": as_int(pick("errorCode", "error_code")),
        "errorText": pick("errorText", "error_text"),
        "address": address,
        "port": as_int(port),
    }


def _channel_event(name: str, value: Any, time: float | None) -> dict:
    label = None
    ident = None
    if isinstance(value, dict):
        label, ident = value.get("label"), value.get("id")
    elif isinstance(value, list):
        if len(value) >= 2 and not isinstance(value[0], (dict, list)):
            if isinstance(value[0], str) and not isinstance(value[1], str):
                label = value[0]  # createDataChannel(label, options)
            else:
                ident, label = value[0], value[1]  # ondatachannel [id, label]
        elif value:
            label = value[0] if isinstance(value[0], str) else None
    elif isinstance(value, str):
        label = value
    return {
        "time": time,
        "origin": "local" if name == "createdatachannel" else "remote",
        "id": ident,
        "label": label if isinstance(label, str) else None,
    }


# -- configuration ----------------------------------------------------------------------------------


def apply_configuration(pcm: PcMetrics, configuration: Any) -> None:
    """ICE server urls (never credentials), iceTransportPolicy and bundlePolicy.

    `ice_servers` stays None unless the dump recorded an iceServers list: a dump without the
    configuration (or with one that leaves iceServers out) says nothing about TURN, while a recorded
    empty list says that no server was configured. Rules such as turnNoConfig rely on the difference.
    """
    if isinstance(configuration, dict):
        servers = configuration.get("iceServers", configuration.get("servers"))
        if isinstance(servers, list):
            urls: list[str] = []
            for server in servers:
                if isinstance(server, dict):
                    entry = server.get("urls", server.get("url"))
                    entries = entry if isinstance(entry, list) else [entry]
                    urls += [u for u in entries if isinstance(u, str)]
                elif isinstance(server, str):
                    urls.append(server)
            pcm.ice_servers = urls
        policy = configuration.get("iceTransportPolicy", configuration.get("iceTransports"))
        pcm.ice_transport_policy = policy if isinstance(policy, str) else None
        bundle = configuration.get("bundlePolicy")
        pcm.bundle_policy = bundle if isinstance(bundle, str) else None
    elif isinstance(configuration, str):
        if _SERVERS_KEY.search(configuration):
            pcm.ice_servers = _SERVER_URL.findall(configuration)
        policy = _POLICY.search(configuration)
        pcm.ice_transport_policy = policy.group(1) if policy else None
        bundle = _BUNDLE.search(configuration)
        pcm.bundle_policy = bundle.group(1) if bundle else None


# -- candidates -------------------------------------------------------------------------------------


def candidate_from_track(track: StatTrack) -> Candidate:
    """A candidate report (standard or legacy goog spelling) as a normalised Candidate (D6)."""
    # _set() reads the columns directly: a PC has tens of candidate reports, each read a dozen times
    props = track.props
    ctype = _of_value(_TYPES, candidate_type, _set(props, "candidateType"))
    protocol = _lower(_set_of(props, "protocol", "transport"))
    url = _text(_set(props, "url"))
    relay = _lower(_set(props, "relayProtocol"))
    source = "relayProtocol" if relay else None
    if relay is None and ctype == "relay":
        relay = relay_protocol_from_url(url)
        source = "url" if relay else None
    address = None
    for prop in ("address", "ip", "ipAddress"):
        value = _set(props, prop)
        if isinstance(value, str) and value:
            address = value
            break
    network = _text(_set(props, "networkType"))
    if network is None:
        vpn = _newest(props, "vpn")
        if vpn is not None and truthy(vpn):  # truthy(None) is False: most reports have no vpn
            network = "vpn"
    return Candidate(
        id=track.id,
        type=ctype,
        protocol=protocol,
        relay_protocol=relay,
        relay_protocol_source=source,
        port=_of_value(_PORTS, as_int, _set_of(props, "port", "portNumber")),
        network_type=network,
        address_family=_of_value(_FAMILIES, address_family, address),
        url=url,
    )


# candidate_type, as_int and address_family of the values they were last given (exact str or int: the
# answer depends on the value only, and no str equals an int). A candidate's type, port and address come
# back in each of its reports and events, and a lookup costs a fraction of a call into metrics_values.
_TYPES: dict = {}
_PORTS: dict = {}
_FAMILIES: dict = {}
_VALUES_KEPT = 4096  # per cache: emptied when full


def _of_value(cache: dict, function: Any, value: Any) -> Any:
    """function(value), from `cache` when it holds the value."""
    if value.__class__ is not str and value.__class__ is not int:
        return function(value)
    found = cache.get(value, cache)  # the cache itself: not a value any of the functions returns
    if found is cache:
        if len(cache) >= _VALUES_KEPT:
            cache.clear()
        found = cache[value] = function(value)
    return found


def _newest(props: dict, prop: str) -> Any:
    """StatTrack.last(prop) of the track whose columns are `props`."""
    values = props.get(prop)
    if values:
        for value in reversed(values):
            if value is not None:
                return value
    return None


def _set(props: dict, prop: str) -> Any:
    """The newest value of `prop` unless that is missing or "" (then None)."""
    value = _newest(props, prop)
    return None if value is None or value == "" else value


def _text(value: Any) -> str | None:
    """text() of a _set() value (never ""), without a call into metrics_values."""
    return value if isinstance(value, str) else None


def _set_of(props: dict, prop: str, alias: str) -> Any:
    """_set() of `prop`, else of its other spelling `alias`."""
    value = _set(props, prop)
    return _set(props, alias) if value is None else value


def _lower(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _event_to_candidate(parsed: dict, index: int, side: str) -> Candidate:
    relay = parsed.get("relayProtocol")
    source = "relayProtocol" if relay else None
    url = parsed.get("url")
    if relay is None and parsed.get("type") == "relay":
        relay = relay_protocol_from_url(url)
        source = "url" if relay else None
    return Candidate(
        id=f"{side}-{index}",
        type=parsed.get("type"),
        protocol=parsed.get("protocol"),
        relay_protocol=relay,
        relay_protocol_source=source,
        port=parsed.get("port"),
        address_family=_of_value(_FAMILIES, address_family, parsed.get("address")),
        url=url,
        time=parsed.get("time"),
    )


def _same_candidate(parsed: dict, stat: Candidate, foundation: Any, address: Any) -> bool:
    """Whether event candidate `parsed` is the candidate report `stat` (with its report's newest
    foundation and first set address, ip or ipAddress)."""
    if parsed.get("type") != stat.type or parsed.get("port") != stat.port:
        return False
    if parsed.get("protocol") and stat.protocol and parsed["protocol"] != stat.protocol:
        return False
    if foundation is not None and parsed.get("foundation") is not None:
        return str(foundation) == str(parsed["foundation"])
    theirs = parsed.get("address")
    if isinstance(address, str) and isinstance(theirs, str) and "x" not in address + theirs.lower():
        if not theirs.endswith(".local") and not address.endswith(".local"):
            return address == theirs
    return True


def merge_candidates(events: list[dict], tracks: list[StatTrack], side: str) -> list[Candidate]:
    """Event candidates (gathering order, with times) enriched by the matching candidate reports;
    candidate reports that match no event are appended (time None). Duplicated event lines (the same
    candidate signalled twice, e.g. once per m-line) count once."""
    out: list[Candidate] = []
    seen_events: set[tuple] = set()
    parsed_kept: list[dict] = []
    for parsed in events:
        key = (
            parsed.get("type"),
            parsed.get("protocol"),
            parsed.get("address"),
            parsed.get("port"),
            parsed.get("foundation"),
            parsed.get("component"),
        )
        if key in seen_events:
            continue
        seen_events.add(key)
        if parsed.get("component") not in (None, "1"):
            continue  # RTCP component candidates (no rtcp-mux) are not separate candidates
        parsed_kept.append(parsed)
        out.append(_event_to_candidate(parsed, len(out), side))
    matched: set[int] = set()
    for track in tracks:
        stat = candidate_from_track(track)
        hit = None
        if len(parsed_kept) * max(len(tracks), 1) <= _MATCH_LIMIT * 50:
            props = track.props  # read once per report, not once per event candidate
            foundation = _newest(props, "foundation")
            address = _set(props, "address")
            if address is None:
                address = _set_of(props, "ip", "ipAddress")
            for i, parsed in enumerate(parsed_kept):
                if i not in matched and _same_candidate(parsed, stat, foundation, address):
                    hit = i
                    break
        if hit is None:
            out.append(stat)
            continue
        matched.add(hit)
        cand = out[hit]
        cand.id = track.id
        cand.network_type = cand.network_type or stat.network_type
        cand.address_family = cand.address_family or stat.address_family
        cand.url = cand.url or stat.url
        if cand.relay_protocol is None and stat.relay_protocol is not None:
            cand.relay_protocol, cand.relay_protocol_source = stat.relay_protocol, stat.relay_protocol_source
        cand.protocol = cand.protocol or stat.protocol
    return out


# -- selected pairs and RTT (D6, D7) ---------------------------------------------------------------


def _goog_pair_candidate(ctx: PcContext, pair: StatTrack, side: str, cand_id: Any, t: float) -> Candidate:
    prefix = "googLocal" if side == "local" else "googRemote"

    def at_t(prop: str) -> Any:
        return ctx.value_at(pair, t, prop) or pair.last(prop)

    return Candidate(
        id=cand_id if isinstance(cand_id, str) else f"{pair.id}-{side}",
        type=candidate_type(at_t(prefix + "CandidateType")),
        protocol=_lower(at_t("googTransportType")),
        address_family=None,
    )


def selected_pairs(ctx: PcContext, pcm: PcMetrics) -> None:
    """D6 per snapshot, D7 RTT, the available outgoing bitrate of the selected pair(s)."""
    walk = walk_selected_pairs(ctx)
    pairs, rtt_values, rtt_times = walk.pairs, walk.rtt_values, walk.rtt_times
    pcm.selected_pair_switches += walk.switches
    for pair in pairs.values():
        # A pair can stay selected while its candidates change under it: legacy goog pairs are named by
        # slot (Conn-audio-1-0), and a peer-reflexive remote candidate is replaced by the host candidate
        # once signaling delivers it. The candidates are those of the pair's last selected sample.
        pair.local, pair.remote = _pair_candidates(ctx, pair.pair_id, pair.last_seen_ms)
    # Series.add per point, in one go (a long call has thousands of snapshots)
    _add_numbers(pcm.rtt_ms, rtt_times, rtt_values)
    _add_numbers(pcm.available_outgoing_kbps, walk.available_times, walk.available)
    pcm.selected_pairs = sorted(pairs.values(), key=lambda p: (p.last_seen_ms, p.first_seen_ms))
    pcm.final_selected_pairs = [pairs[i] for i in walk.final]
    if rtt_values:
        pcm.rtt_source = "selected-pair"
        pcm.rtt_property = "googRtt" if walk.goog_rtts * 2 > len(rtt_values) else "currentRoundTripTime"
    else:
        for track in ctx.tracks("remote-inbound-rtp"):
            for t, value in zip(track.times, column(track, "roundTripTime"), strict=True):
                seconds = num(value)
                if seconds is not None:
                    rtt_values.append(seconds * 1000.0)
                    pcm.rtt_ms.add(t, seconds * 1000.0)
        if rtt_values:
            pcm.rtt_source = "remote-inbound-rtp"
            pcm.rtt_property = "roundTripTime"
            ordered = sorted(zip(pcm.rtt_ms.times, pcm.rtt_ms.values, strict=True))
            pcm.rtt_ms = Series([t for t, _ in ordered], [v for _, v in ordered])
    if rtt_values:
        pcm.rtt_mean_ms = sum(rtt_values) / len(rtt_values)
        nonzero = [v for v in rtt_values if v != 0]
        pcm.rtt_mean_nonzero_ms = sum(nonzero) / len(nonzero) if nonzero else None
        pcm.rtt_samples = len(rtt_values)
    if not pcm.available_outgoing_kbps:
        for track in ctx.tracks("VideoBwe"):  # legacy goog bandwidth estimate
            for t, value in zip(track.times, column(track, "googAvailableSendBandwidth"), strict=True):
                bps = num(value)
                if bps is not None:
                    pcm.available_outgoing_kbps.add(t, bps / 1000.0)
    ctx.rtt = TimeLookup.of(pcm.rtt_ms.times, pcm.rtt_ms.values) if pcm.rtt_ms else None


def _add_numbers(series: Series, times: list[float], values: list[float]) -> None:
    """series.add_all(times, values) of numbers (never None): when their sum is finite, so is each of
    them, and they are appended as they are."""
    if math.isfinite(sum(values)):
        series.times += times
        series.values += values
    else:
        series.add_all(times, values)


def _pair_candidates(ctx: PcContext, pair_id: str, t: float) -> tuple[Candidate, Candidate]:
    """(local, remote) candidates of pair `pair_id` as its sample at snapshot `t` names them."""
    pair = ctx.pc.stats.get(pair_id)
    sides = {}
    for side in ("local", "remote"):
        cand_id = None
        if pair is not None:
            cand_id = ctx.value_at(pair, t, f"{side}CandidateId") or pair.last(f"{side}CandidateId")
        cand_track = ctx.pc.stats.get(cand_id) if isinstance(cand_id, str) else None
        if cand_track is not None:
            sides[side] = candidate_from_track(cand_track)
        elif pair is not None and stat_type(pair) == "googCandidatePair":
            sides[side] = _goog_pair_candidate(ctx, pair, side, cand_id, t)
        else:
            sides[side] = Candidate(id=cand_id if isinstance(cand_id, str) else "", type=None)
    return sides["local"], sides["remote"]


def data_channels(ctx: PcContext, events: list[dict]) -> list[dict]:
    """data-channel reports (last values), else the channels seen in events."""
    out: list[dict] = []
    for track in ctx.tracks("data-channel"):
        out.append(
            {
                "id": track.id,
                "label": track.last("label"),
                "protocol": track.last("protocol"),
                "state": track.last("state"),
                "messagesSent": as_int(track.last("messagesSent")),
                "messagesReceived": as_int(track.last("messagesReceived")),
                "bytesSent": as_int(track.last("bytesSent")),
                "bytesReceived": as_int(track.last("bytesReceived")),
                "firstSeenMs": track.times[0],
                "lastSeenMs": track.times[-1],
            }
        )
    if not out:
        for entry in events:
            out.append(
                {
                    "id": entry.get("id"),
                    "label": entry.get("label"),
                    "state": None,
                    "messagesSent": None,
                    "messagesReceived": None,
                    "origin": entry.get("origin"),
                    "firstSeenMs": entry.get("time"),
                }
            )
    return out


def dtls_from_stats(ctx: PcContext) -> list[tuple[float | None, str]]:
    """Changes of transport dtlsState in the stats (when no dtlsstatechange events were logged)."""
    out: list[tuple[float | None, str]] = []
    for track in ctx.tracks("transport", "googComponent"):
        previous = None
        # One step per run of equal values (a transport keeps its state for most of a call): only the
        # first sample of a run can differ from the previous state, as a str only ever equals a str.
        for value, run in groupby(zip(track.times, column(track, "dtlsState"), strict=True), key=_second):
            if isinstance(value, str) and value != previous:
                out.append((next(run)[0], value.lower()))
                previous = value
    out.sort(key=lambda item: item[0] or 0.0)
    return out
