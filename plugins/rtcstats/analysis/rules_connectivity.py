"""Observation rules about peer connections: ICE gathering, STUN/TURN, states, pairs, RTT, negotiation.

Each rule is a small function registered with its catalogue entry (see observations.rule). Thresholds:
docs/rtcstats-scoring.md, sources rtcstats-dumps.md 4.3.
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.rtcstats.analysis.metrics_model import CallMetrics, Candidate, PcMetrics
from plugins.rtcstats.analysis.observations import (
    finite,
    first_time_above,
    fmt_ms,
    fmt_num,
    indicators,
    make,
    pair_source,
    pc_source,
    rule,
    series_avg,
    series_max,
    sorted_pcs,
)

STUN_DELAY_MS = 500
TURN_DELAY_MS = 500
GATHERING_DELAY_MEDIUM_MS = 2000
RTT_MEDIUM_MS = 150
RTT_HIGH_MS = 300
CHURN_CYCLES = 3
CONNECTION_TIME_MS = 5000
SIGNALING_TIME_MS = 2000

CONNECTED = ("connected", "completed")


# --- helpers -------------------------------------------------------------------------------------


def _urls(pc: PcMetrics, *schemes: str) -> list[str]:
    """Configured server urls of these schemes; [] also when the configuration was not recorded, so the
    rules that need a configured server stay silent then (turnNoConfig checks `ice_servers is None`)."""
    servers = pc.ice_servers or []
    return [u for u in servers if isinstance(u, str) and u.strip().lower().startswith(schemes)]


def _turn_urls(pc: PcMetrics) -> list[str]:
    return _urls(pc, "turn:", "turns:")


def _udp_server_urls(pc: PcMetrics) -> list[str]:
    """STUN servers and TURN servers reached over UDP (turn: without transport=tcp)."""
    return [
        u
        for u in _urls(pc, "stun:", "turn:")
        if not (u.strip().lower().startswith("turn:") and "transport=tcp" in u.lower())
    ]


def relay_protocol(candidate: Candidate) -> str | None:
    """udp | tcp | tls of a relay candidate: its relayProtocol, else derived from its TURN url."""
    if candidate.relay_protocol:
        return candidate.relay_protocol.lower()
    url = (candidate.url or "").strip().lower()
    if url.startswith("turns:"):
        return "tls"
    if url.startswith("turn:"):
        return "tcp" if "transport=tcp" in url else "udp"
    return None


def _server_host(url: str) -> str:
    """The host of a STUN/TURN url, lower-cased: 'turn:Example.org:3478?transport=udp' -> 'example.org'."""
    rest = url.strip().lower().partition(":")[2].split("?")[0]
    if rest.startswith("["):  # [IPv6]:port
        return rest[1:].partition("]")[0]
    return rest.rpartition(":")[0] if rest.count(":") == 1 else rest


def _lookup_failed_hosts(pc: PcMetrics) -> set[str]:
    """Servers whose host name did not resolve: icecandidateerror 701 "STUN host lookup received error"
    (Chrome writes "TURN host lookup ..." for TURN urls). Such a server was never asked, so its missing
    candidate says nothing about the network's UDP."""
    return {
        _server_host(str(err.get("url")))
        for err in pc.candidate_errors
        if _error_code(err) == 701 and "lookup" in str(err.get("errorText") or "").lower() and err.get("url")
    }


def _udp_pair_used(pc: PcMetrics) -> bool:
    """Whether a selected pair sent from a host/srflx/prflx candidate over UDP: UDP passed on this network."""
    return any(
        p.local.type in ("host", "srflx", "prflx") and (p.local.protocol or "").lower() == "udp"
        for p in pc.selected_pairs
    )


def _gathering_phases(pc: PcMetrics) -> tuple[float | None, float | None]:
    """(start of the first gathering phase, start of the second one - an ICE restart - or None)."""
    starts = [t for t, s in pc.gathering_states if s == "gathering" and finite(t)]
    first = pc.gathering_start_ms if finite(pc.gathering_start_ms) else (starts[0] if starts else None)
    later = [t for t in starts if first is not None and t > first]
    return first, (later[0] if later else None)


def _first_phase_candidates(pc: PcMetrics) -> list[Candidate]:
    _, second = _gathering_phases(pc)
    return [c for c in pc.local_candidates if second is None or c.time is None or c.time < second]


def _gathering_done(pc: PcMetrics) -> bool:
    return any(s == "complete" for _, s in pc.gathering_states) or pc.reached_connected or pc.failed


def _first_time(states: list[tuple[float | None, str]], wanted: tuple[str, ...]) -> float | None:
    for time, state in states:
        if state in wanted:
            return time
    return None


def _ice_sequence(pc: PcMetrics) -> list[tuple[float | None, str]]:
    return pc.ice_states or pc.ice_states_legacy


def _gathering_delay_severity(delay: float) -> str:
    return "medium" if delay > GATHERING_DELAY_MEDIUM_MS else "low"


# --- gathering: STUN / TURN ----------------------------------------------------------------------


@rule(
    "highSTUNDelay",
    title="High STUN delay",
    category="connections",
    severities=("low", "medium"),
    tags=("connectivity", "network"),
    meaning="The first server-reflexive (STUN) candidate arrived late, which slows down connection setup.",
    threshold=f"first gathering start -> first srflx candidate > {STUN_DELAY_MS} ms "
    f"(medium above {GATHERING_DELAY_MEDIUM_MS} ms)",
    advice="Use a STUN server close to the users (or the TURN server's STUN port) and check for slow DNS.",
    reason="Only delays the start of the call; the connection can still succeed.",
)
def high_stun_delay(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        start, _ = _gathering_phases(pc)
        if start is None:
            continue
        srflx = [c for c in _first_phase_candidates(pc) if c.type == "srflx" and finite(c.time)]
        if not srflx:
            continue
        first = min(srflx, key=lambda c: c.time)  # type: ignore[arg-type,return-value]
        delay = first.time - start  # type: ignore[operator]
        if delay > STUN_DELAY_MS:
            yield make(
                "highSTUNDelay",
                _gathering_delay_severity(delay),
                source=pc_source(pc),
                tags=("connectivity", "network"),
                first_seen=first.time,
                durationInMs=delay,
                url=first.url,
                meaning=f"The first STUN (server-reflexive) candidate took {fmt_ms(delay)} to arrive "
                f"(over {STUN_DELAY_MS} ms), which slows down connection setup.",
            )


@rule(
    "highTURNDelay",
    title="High TURN delay",
    category="connections",
    severities=("low", "medium"),
    tags=("connectivity", "network"),
    meaning="Allocating a relay on the TURN server took long, which slows down connection setup "
    "whenever the relay is needed.",
    threshold="gathering start -> first relay candidate of a relay protocol (udp, tcp, tls) "
    f"> {TURN_DELAY_MS} ms "
    f"(medium above {GATHERING_DELAY_MEDIUM_MS} ms); one observation per protocol",
    advice="Deploy TURN servers closer to the users, check TURN server load and DNS resolution time.",
    reason="Only delays the start of the call; the connection can still succeed.",
)
def high_turn_delay(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        start, _ = _gathering_phases(pc)
        if start is None:
            continue
        firsts: dict[str, Candidate] = {}
        for c in _first_phase_candidates(pc):
            proto = relay_protocol(c) if c.type == "relay" else None
            if proto and finite(c.time) and (proto not in firsts or c.time < firsts[proto].time):  # type: ignore[operator]
                firsts[proto] = c
        for proto in ("udp", "tcp", "tls"):
            c = firsts.get(proto)
            if c is None:
                continue
            delay = c.time - start  # type: ignore[operator]
            if delay > TURN_DELAY_MS:
                yield make(
                    "highTURNDelay",
                    _gathering_delay_severity(delay),
                    source=pc_source(pc),
                    tags=("connectivity", "network"),
                    first_seen=c.time,
                    durationInMs=delay,
                    url=c.url,
                    property=f"relayProtocol={proto}",
                    meaning=f"The first TURN relay candidate over {proto.upper()} took {fmt_ms(delay)} "
                    f"(over {TURN_DELAY_MS} ms), which delays connections that need the relay.",
                )


@rule(
    "udpBlocked",
    title="UDP blocked",
    category="connections",
    severities=("medium", "high"),
    tags=("connectivity", "network"),
    meaning="STUN or TURN over UDP was configured but no server-reflexive candidate came back: the network "
    "probably blocks UDP, so media must go over TCP/TLS relays or cannot flow at all.",
    threshold="a STUN or TURN/UDP server is configured, gathering finished, host candidates exist, "
    "no srflx candidate and no UDP relay candidate, and either a TCP/TLS relay candidate proves the TURN "
    "server reachable or no TURN server is configured; ignored with iceTransportPolicy relay, when a "
    "selected pair used a local UDP candidate (host/srflx/prflx), and for servers whose host name did not "
    "resolve (icecandidateerror 701 host lookup)",
    advice="Provide TURN over TCP and TLS (port 443) for such networks, or ask the user's IT to allow UDP.",
    reason="Medium: media falls back to TCP/TLS with worse latency; "
    "high when the connection never connected.",
)
def udp_blocked(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        unresolved = _lookup_failed_hosts(pc)
        # a server that was never reached (DNS failure) proves nothing about UDP
        servers = [u for u in _udp_server_urls(pc) if _server_host(u) not in unresolved]
        if not servers or (pc.ice_transport_policy or "").lower() == "relay":
            continue
        if _udp_pair_used(pc):
            continue  # media went over UDP: whatever held the srflx candidate back, UDP was not blocked
        cands = _first_phase_candidates(pc)
        if not any(c.type == "host" for c in cands) or not _gathering_done(pc):
            continue
        if any(c.type == "srflx" for c in cands):
            continue
        if any(c.type == "relay" and relay_protocol(c) == "udp" for c in cands):
            continue
        tcp_relay = any(c.type == "relay" and relay_protocol(c) in ("tcp", "tls") for c in cands)
        if _turn_urls(pc) and not tcp_relay:
            continue  # nothing came back from TURN at all: turnUnreachable, not proof that UDP is blocked
        failed = not pc.reached_connected
        complete = _first_time(pc.gathering_states, ("complete",))
        times = [c.time for c in cands if finite(c.time)]
        yield make(
            "udpBlocked",
            "high" if failed else "medium",
            source=pc_source(pc),
            tags=("connectivity", "network"),
            first_seen=complete if finite(complete) else (max(times) if times else None),
            url=servers[0],
            meaning="STUN/TURN over UDP was configured but no server-reflexive candidate was gathered: "
            "UDP looks blocked on this network"
            + (", and the connection did not succeed." if failed else ", so media had to use another path."),
        )


@rule(
    "turnClientError",
    title="TURN client error",
    category="connections",
    severities=("high", "medium"),
    tags=("connectivity", "configuration", "bug"),
    meaning="The TURN server refused the client (4xx other than the normal 401 challenge): wrong or expired "
    "credentials, forbidden peer, quota or unsupported transport.",
    threshold="icecandidateerror with 400 <= errorCode <= 499 and errorCode != 401; one per server url",
    advice="Check TURN credentials generation and expiry, the server's allowed peers/quotas and transports.",
    reason="High when no relay candidate came from that server (the relay is unusable); "
    "medium when the server still delivered a relay candidate.",
)
def turn_client_error(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        by_url: dict[str, list[dict]] = {}
        for err in pc.candidate_errors:
            code = _error_code(err)
            if code is not None and 400 <= code <= 499 and code != 401:
                by_url.setdefault(str(err.get("url") or ""), []).append(err)
        for url, errors in sorted(by_url.items()):
            relayed = any(c.type == "relay" and (not url or c.url == url) for c in pc.local_candidates)
            first = errors[0]
            code = _error_code(first)
            text = str(first.get("errorText") or "").strip()
            times = [e.get("time") for e in errors if finite(e.get("time"))]
            yield make(
                "turnClientError",
                "medium" if relayed else "high",
                source=pc_source(pc),
                tags=("connectivity", "configuration", "bug"),
                first_seen=min(times) if times else None,
                url=url,
                valueInCount=len(errors),
                property="errorCode",
                indicators={"errorCode": code},
                meaning=f"The TURN server {url or '(unknown)'} answered error {code}"
                + (f" ({text})" if text else "")
                + f" {len(errors)} time(s): it refused to allocate a relay for this client.",
            )


def _error_code(err: dict) -> int | None:
    try:
        return int(err.get("errorCode"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@rule(
    "turnUnreachable",
    title="Can't establish connection to TURN",
    category="connections",
    severities=("medium", "high"),
    tags=("connectivity", "network", "configuration"),
    meaning="TURN servers were configured but none produced a relay candidate: they could not be reached "
    "or did not answer.",
    threshold="TURN url configured, gathering finished, local candidates gathered, no relay candidate",
    advice="Check that the TURN servers are up and reachable from the user's network (ports 3478 and 443).",
    reason="Medium: the call can still connect directly; high when the connection never connected.",
)
def turn_unreachable(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        turns = _turn_urls(pc)
        cands = _first_phase_candidates(pc)
        if not turns or not cands or not _gathering_done(pc):
            continue
        if any(c.type == "relay" for c in cands):
            continue
        unreachable = [e for e in pc.candidate_errors if (_error_code(e) or 0) >= 700]
        failed = not pc.reached_connected
        complete = _first_time(pc.gathering_states, ("complete",))
        yield make(
            "turnUnreachable",
            "high" if failed else "medium",
            source=pc_source(pc),
            tags=("connectivity", "network", "configuration"),
            first_seen=complete,
            url=turns[0],
            valueInCount=len(unreachable) or None,
            meaning=f"{len(turns)} TURN server(s) were configured but no relay candidate was gathered"
            + (f" ({len(unreachable)} unreachable-server error(s) logged)" if unreachable else "")
            + ("; the connection did not succeed." if failed else "."),
        )


@rule(
    "turnNoConfig",
    title="No TURN server configured",
    category="connections",
    severities=("high", "low"),
    tags=("connectivity", "configuration"),
    meaning="No TURN server was configured on this connection, so users behind restrictive firewalls or "
    "symmetric NATs cannot connect.",
    threshold="the dump recorded iceServers, none is a turn:/turns: url, and either ICE failed without ever "
    "connecting (high) or the selected pair was relayed by the other party's TURN server (low)",
    advice="Configure TURN over UDP, TCP and TLS/443 for every peer connection.",
    reason="High when the connection failed (a relay would likely have saved it); low when it only "
    "worked thanks to the remote side's relay.",
)
def turn_no_config(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if pc.ice_servers is None or _turn_urls(pc):
            continue  # unknown configuration: claiming "no TURN" would be a guess
        if pc.failed and not pc.reached_connected:
            yield make(
                "turnNoConfig",
                "high",
                source=pc_source(pc),
                tags=("connectivity", "configuration"),
                first_seen=_failure_time(pc),
                meaning="The connection failed and no TURN server was configured: a TURN relay would "
                "probably have let it connect.",
            )
            continue
        remote_relay = next((p for p in pc.selected_pairs if p.remote.type == "relay"), None)
        if remote_relay is not None and remote_relay.local.type != "relay":
            yield make(
                "turnNoConfig",
                "low",
                source=pc_source(pc),
                tags=("connectivity", "configuration"),
                first_seen=remote_relay.first_seen_ms,
                meaning="No TURN server was configured; the connection only worked because the other "
                "party used a TURN relay.",
            )


# --- ICE / connection states ---------------------------------------------------------------------


def _failure_time(pc: PcMetrics) -> float | None:
    times = [
        t
        for seq in (pc.ice_states, pc.ice_states_legacy, pc.connection_states)
        for t, s in seq
        if s == "failed" and finite(t)
    ]
    return min(times) if times else None


@rule(
    "iceFailure",
    title="Connection failed to establish",
    category="connections",
    severities=("critical",),
    tags=("connectivity", "network"),
    meaning="The peer connection never connected: ICE failed, so no media or data could flow on it.",
    threshold="ICE or connection state 'failed' and never 'connected'/'completed'",
    advice="Check the TURN configuration (TCP/TLS on 443), firewall rules and that both sides exchanged "
    "candidates.",
    reason="Critical: the user had no call at all on this connection.",
)
def ice_failure(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if pc.failed and not pc.reached_connected:
            yield make(
                "iceFailure",
                "critical",
                source=pc_source(pc),
                tags=("connectivity", "network"),
                first_seen=_failure_time(pc),
            )


@rule(
    "connectionAborted",
    title="Aborted connection attempt",
    category="connections",
    severities=("low",),
    tags=("connectivity", "behavior"),
    meaning="ICE started checking but the connection was closed before it connected or failed.",
    threshold="ICE 'checking' (or connection 'connecting') seen, never connected, never failed, closed",
    advice="Usually the user left or the app hung up while connecting; check setup time if it repeats.",
    reason="Low: often a user action rather than a fault.",
)
def connection_aborted(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if pc.reached_connected or pc.failed:
            continue
        started = "checking" in pc.states or any(s == "connecting" for _, s in pc.connection_states)
        closed = pc.closed or "closed" in pc.states or any(s == "closed" for _, s in pc.connection_states)
        if started and closed:
            yield make(
                "connectionAborted",
                "low",
                source=pc_source(pc),
                tags=("connectivity", "behavior"),
                first_seen=pc.last_event_ms,
            )


def drop_after_connect(pc: PcMetrics) -> tuple[float | None, bool] | None:
    """(time of the first 'failed' after a 'connected'/'completed', whether it connected again), or None.

    ICE and connection states are merged by time (ICE may say connected while the connection state
    never does); states without a time are compared within their own sequence only.
    """
    seqs = (pc.connection_states, pc.ice_states, pc.ice_states_legacy)
    connected = [t for seq in seqs for t, s in seq if s in CONNECTED and finite(t)]
    failed = [t for seq in seqs for t, s in seq if s == "failed" and finite(t)]
    if connected:
        first = min(connected)  # type: ignore[type-var]
        later = [t for t in failed if t > first]  # type: ignore[operator]
        if later:
            when = min(later)  # type: ignore[type-var]
            return when, any(t > when for t in connected)  # type: ignore[operator]
    for seq in seqs:
        states = [s for _, s in seq]
        up = next((i for i, s in enumerate(states) if s in CONNECTED), None)
        down = (
            None
            if up is None
            else next((i for i in range(up + 1, len(states)) if states[i] == "failed"), None)
        )
        if down is not None:
            return seq[down][0], any(s in CONNECTED for s in states[down + 1 :])
    return None


def churn_cycles(pc: PcMetrics) -> tuple[int, float | None]:
    """(number of ICE 'disconnected' -> 'connected'/'completed' cycles, time of the first disconnect)."""
    cycles, first, pending = 0, None, False
    for time, state in _ice_sequence(pc):
        if state == "disconnected":
            if first is None:
                first = time
            pending = True
        elif state in CONNECTED and pending:
            cycles += 1
            pending = False
    return cycles, first


@rule(
    "connectionDropped",
    title="Connection dropped",
    category="connections",
    severities=("critical", "high"),
    tags=("connectivity", "network"),
    meaning="The connection was established and later failed, cutting the media.",
    threshold="'failed' after the first 'connected'/'completed' in the ICE or connection states",
    advice="Look at the network at that moment (Wi-Fi roaming, VPN, mobile handover); "
    "use ICE restarts to recover.",
    reason="Critical when it never came back (the call ended broken); high when it reconnected later.",
)
def connection_dropped(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        drop = drop_after_connect(pc)
        if drop is None:
            continue
        time, recovered = drop
        yield make(
            "connectionDropped",
            "high" if recovered else "critical",
            source=pc_source(pc),
            tags=("connectivity", "network"),
            first_seen=time,
            meaning="The connection was established and then failed"
            + (", interrupting the media until it reconnected." if recovered else "; it never recovered."),
        )


@rule(
    "iceRestart",
    title="ICE restart",
    category="connections",
    severities=("low",),
    tags=("connectivity", "network"),
    meaning="The application restarted ICE, usually to recover from a network problem or change.",
    threshold="at least one ICE restart",
    advice="Look for the network change or disconnection that triggered it.",
    reason="Low: a recovery mechanism working; the trouble that caused it is reported separately.",
)
def ice_restart(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if pc.ice_restarts > 0:
            _, second = _gathering_phases(pc)
            yield make(
                "iceRestart",
                "low",
                source=pc_source(pc),
                tags=("connectivity", "network"),
                first_seen=second,
                valueInCount=pc.ice_restarts,
                meaning=f"ICE was restarted {pc.ice_restarts} time(s) on this connection, usually to "
                "recover from a network problem.",
            )


@rule(
    "connectionChurn",
    title="Connection churn",
    category="connections",
    severities=("medium",),
    tags=("connectivity", "network"),
    meaning="The connection repeatedly went disconnected and came back, each time freezing media "
    "for a moment.",
    threshold=f">= {CHURN_CYCLES} ICE 'disconnected' -> 'connected'/'completed' cycles",
    advice="Usually an unstable network (weak Wi-Fi, mobile); suggest a wired or better connection.",
    reason="Medium: the call survives but with repeated interruptions.",
)
def connection_churn(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        cycles, first = churn_cycles(pc)
        if cycles >= CHURN_CYCLES:
            yield make(
                "connectionChurn",
                "medium",
                source=pc_source(pc),
                tags=("connectivity", "network"),
                first_seen=first,
                valueInCount=cycles,
                meaning=f"The connection dropped and came back {cycles} times, each time interrupting media.",
            )


@rule(
    "dtlsFailure",
    title="DTLS failure",
    category="connections",
    severities=("critical",),
    tags=("connectivity", "security"),
    meaning="The DTLS handshake that secures the media failed, so no media could flow.",
    threshold="transport dtlsState 'failed'",
    advice="Check certificates/fingerprints in the SDP, middleboxes that alter packets and clock issues.",
    reason="Critical: without DTLS no media or data flows.",
)
def dtls_failure(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if any(s == "failed" for _, s in pc.dtls_states):
            yield make(
                "dtlsFailure",
                "critical",
                source=pc_source(pc),
                tags=("connectivity", "security"),
                first_seen=_first_time(pc.dtls_states, ("failed",)),
            )


@rule(
    "emptyConnection",
    title="Empty connection",
    category="connections",
    severities=("low",),
    tags=("behavior", "connectivity"),
    meaning="The connection was established but carried no audio, video or data channel.",
    threshold="connected, stats collected, no stream with packets or bytes > 0 and no data channel",
    advice="Check the application logic: it opened a connection it did not use.",
    reason="Low: wasted resources, no direct user impact.",
)
def empty_connection(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if not pc.reached_connected or pc.stats_snapshots < 1 or pc.data_channels:
            continue
        streams = [s for s in metrics.streams.values() if s.pc_id == pc.pc_id]
        if any((s.packets or 0) > 0 or (s.bytes or 0) > 0 for s in streams):
            continue
        yield make(
            "emptyConnection",
            "low",
            source=pc_source(pc),
            tags=("behavior", "connectivity"),
            first_seen=_first_time(pc.connection_states, ("connected",))
            or _first_time(_ice_sequence(pc), CONNECTED),
        )


# --- candidate pairs -----------------------------------------------------------------------------


def _relayed_over(protocol: str, type: str, title_word: str):
    def check(metrics: CallMetrics) -> Iterator[dict]:
        for pc in sorted_pcs(metrics):
            pair = next(
                (
                    p
                    for p in pc.selected_pairs
                    if p.local.type == "relay" and relay_protocol(p.local) == protocol
                ),
                None,
            )
            if pair is not None:
                yield make(
                    type,
                    "medium",
                    source=pair_source(pc, pair),
                    tags=("connectivity", "network"),
                    first_seen=pair.first_seen_ms,
                    url=pair.local.url,
                    property="relayProtocol",
                    meaning=f"Media went through a TURN relay over {title_word}: lost packets are "
                    "retransmitted in order, so loss turns into delay and jitter.",
                )

    return check


connection_relayed_over_tcp = rule(
    "connectionRelayedOverTCP",
    title="Connection relayed over TCP",
    category="pairs",
    severities=("medium",),
    tags=("connectivity", "network"),
    meaning="Media went through a TURN relay over TCP, which adds latency and turns packet loss into delay.",
    threshold="a selected pair's local candidate is relay with relayProtocol tcp",
    advice="Allow UDP to the TURN server (port 3478) so the relay can use UDP.",
    reason="Medium: works, but with extra latency and jitter under loss.",
)(_relayed_over("tcp", "connectionRelayedOverTCP", "TCP"))

connection_relayed_over_tls = rule(
    "connectionRelayedOverTLS",
    title="Connection relayed over TLS",
    category="pairs",
    severities=("medium",),
    tags=("connectivity", "network"),
    meaning="Media went through a TURN relay over TLS, which adds latency and turns packet loss into delay.",
    threshold="a selected pair's local candidate is relay with relayProtocol tls",
    advice="Allow UDP (or at least TCP) to the TURN server; TLS/443 is the last-resort path.",
    reason="Medium: works, but with extra latency and jitter under loss.",
)(_relayed_over("tls", "connectionRelayedOverTLS", "TLS"))


@rule(
    "usedVPN",
    title="Connected via VPN",
    category="pairs",
    severities=("low",),
    tags=("connectivity", "network"),
    meaning="The connection used a VPN interface, which usually adds latency and may force TCP.",
    threshold="a selected pair's local candidate has networkType 'vpn'",
    advice="Suggest excluding the conferencing traffic from the VPN (split tunnelling).",
    reason="Low: a context fact that explains latency rather than a fault.",
)
def used_vpn(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        pair = next((p for p in pc.selected_pairs if (p.local.network_type or "").lower() == "vpn"), None)
        if pair is not None:
            yield make(
                "usedVPN",
                "low",
                source=pair_source(pc, pair),
                tags=("connectivity", "network"),
                first_seen=pair.first_seen_ms,
                property="networkType",
            )


@rule(
    "iceTransportPolicyRelay",
    title="Prefer TURN only",
    category="connections",
    severities=("info",),
    tags=("connectivity", "configuration"),
    meaning="The connection was configured with iceTransportPolicy 'relay': all media goes through TURN.",
    threshold="iceTransportPolicy == 'relay'",
    advice="Intentional for privacy; otherwise use 'all' to allow direct, lower-latency paths.",
    reason="Info: a deliberate configuration, reported to explain relayed connections.",
)
def ice_transport_policy_relay(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        if (pc.ice_transport_policy or "").lower() == "relay":
            yield make(
                "iceTransportPolicyRelay",
                "info",
                source=pc_source(pc),
                tags=("connectivity", "configuration"),
                first_seen=pc.first_event_ms,
                property="iceTransportPolicy",
            )


# --- RTT and timing ------------------------------------------------------------------------------


@rule(
    "highRTT",
    title="High round trip time",
    category="connections",
    severities=("high", "medium"),
    tags=("network", "connectivity"),
    meaning="Packets took long to go to the other side and back: people talk over each other and "
    "recovery from loss is slow.",
    threshold=f"mean RTT of the selected pair (else of the remote-inbound-rtp reports) > {RTT_MEDIUM_MS} ms "
    f"(medium), > {RTT_HIGH_MS} ms (high); `property` names the stat read",
    advice="Use media servers/TURN closer to the users; check for VPNs, TCP relays and congested uplinks.",
    reason="Above 150 ms conversation becomes noticeably harder (ITU-T G.114); above 300 ms it is "
    "problematic.",
)
def high_rtt(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        avg = pc.rtt_mean_ms if finite(pc.rtt_mean_ms) else series_avg(pc.rtt_ms)
        if avg is None or avg <= RTT_MEDIUM_MS:
            continue
        share = pc.rtt_ms.share_above(RTT_MEDIUM_MS) * 100 if pc.rtt_ms else None
        yield make(
            "highRTT",
            "high" if avg > RTT_HIGH_MS else "medium",
            source=pc_source(pc),
            tags=("network", "connectivity"),
            first_seen=first_time_above(pc.rtt_ms, RTT_MEDIUM_MS) or pc.first_event_ms,
            averageInMs=avg,
            maxInMs=series_max(pc.rtt_ms),
            durationInPercent=share,
            # the stat the values came from: a candidate pair's currentRoundTripTime, a legacy pair's
            # googRtt, or (Firefox, no pair RTT) the RTCP-measured remote-inbound-rtp roundTripTime
            property=pc.rtt_property or "currentRoundTripTime",
            indicators=indicators(pc.rtt_ms),
            meaning=f"The round trip time averaged {fmt_num(avg, 0)} ms (above {RTT_MEDIUM_MS} ms): "
            "conversation feels delayed and people talk over each other.",
        )


@rule(
    "highConnectionTime",
    title="Slow connection setup",
    category="connections",
    severities=("medium",),
    tags=("connectivity", "network"),
    meaning="The connection took long to establish, so the call started late.",
    threshold=f"connecting -> connected (else ICE checking -> connected) > {CONNECTION_TIME_MS} ms",
    advice="Check STUN/TURN delays, candidate trickling and signaling speed.",
    reason="Medium: users wait in silence at the start of the call.",
)
def high_connection_time(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        duration = pc.connection_time_ms if finite(pc.connection_time_ms) else pc.ice_connection_time_ms
        if finite(duration) and duration > CONNECTION_TIME_MS:  # type: ignore[operator]
            yield make(
                "highConnectionTime",
                "medium",
                source=pc_source(pc),
                tags=("connectivity", "network"),
                first_seen=_first_time(pc.connection_states, ("connected",))
                or _first_time(_ice_sequence(pc), CONNECTED),
                durationInMs=duration,
                meaning=f"The connection took {fmt_ms(duration)} to establish "  # type: ignore[arg-type]
                f"(over {fmt_ms(CONNECTION_TIME_MS)}), so the call started late.",
            )


@rule(
    "highSignalingTime",
    title="High signaling time",
    category="connections",
    severities=("low",),
    tags=("connectivity", "behavior"),
    meaning="The first offer/answer exchange took long, delaying the start of the call.",
    threshold="first 'have-local-offer'/'have-remote-offer' -> next 'stable' signaling state "
    f"> {SIGNALING_TIME_MS} ms",
    advice="Check the signaling server latency and the application's offer/answer handling.",
    reason="Low: delays setup only.",
)
def high_signaling_time(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        start = None
        for time, state in pc.signaling_states:
            if start is None and state in ("have-local-offer", "have-remote-offer") and finite(time):
                start = time
            elif start is not None and state == "stable" and finite(time):
                duration = time - start
                if duration > SIGNALING_TIME_MS:
                    yield make(
                        "highSignalingTime",
                        "low",
                        source=pc_source(pc),
                        tags=("connectivity", "behavior"),
                        first_seen=start,
                        durationInMs=duration,
                        meaning=f"The first offer/answer exchange took {fmt_ms(duration)} "
                        f"(over {fmt_ms(SIGNALING_TIME_MS)}), delaying the start of the call.",
                    )
                break


# --- API call failures ---------------------------------------------------------------------------


def _failures(pc: PcMetrics, ice: bool) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for failure in pc.call_failures:
        method = str(failure.get("method") or "unknown")
        if method.lower().startswith("addicecandidate") == ice:
            groups.setdefault(method, []).append(failure)
    return groups


def _failure_obs(pc: PcMetrics, type: str, severity: str, method: str, failures: list[dict], what: str):
    error = str(failures[0].get("error") or "").strip()
    times = [f.get("time") for f in failures if finite(f.get("time"))]
    return make(
        type,
        severity,
        source=pc_source(pc),
        tags=("connectivity", "bug"),
        first_seen=min(times) if times else None,
        valueInCount=len(failures),
        property=method,
        meaning=f"{method} failed {len(failures)} time(s)"
        + (f": {error[:200]}" if error else "")
        + f". {what}",
    )


@rule(
    "negotiationFailure",
    title="Negotiation failure",
    category="logs",
    severities=("high",),
    tags=("connectivity", "bug"),
    meaning="Creating or applying an offer/answer failed, so the media setup did not complete as intended.",
    threshold="any createOffer/createAnswer/setLocalDescription/setRemoteDescription (...OnFailure) error",
    advice="Read the error text: usually an SDP incompatibility or a signaling state race in the app.",
    reason="High: media or a track may be missing for the rest of the call.",
)
def negotiation_failure(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        for method, failures in sorted(_failures(pc, ice=False).items()):
            yield _failure_obs(
                pc,
                "negotiationFailure",
                "high",
                method,
                failures,
                "Media setup may be incomplete.",
            )


@rule(
    "addIceCandidateFailure",
    title="addIceCandidate failure",
    category="logs",
    severities=("low",),
    tags=("connectivity", "bug"),
    meaning="Adding a remote ICE candidate failed; that path could not be tried.",
    threshold="any addIceCandidate failure",
    advice="Check candidate ordering versus setRemoteDescription and the sdpMid/sdpMLineIndex sent.",
    reason="Low: other candidates usually still connect.",
)
def add_ice_candidate_failure(metrics: CallMetrics) -> Iterator[dict]:
    for pc in sorted_pcs(metrics):
        for method, failures in sorted(_failures(pc, ice=True).items()):
            yield _failure_obs(
                pc,
                "addIceCandidateFailure",
                "low",
                method,
                failures,
                "That network path could not be tried.",
            )
