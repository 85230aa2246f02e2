"""The collector's WebSocket route: counts the worker's socket, authenticates, takes the account's
place, answers the handshake with the protocol the client offered and hands the socket to that
protocol's module (collector.py for rtcstats#5.0, collector_jitsi.py for jitsi's), served where
collector_handoff.py says (under gunicorn's gevent worker: past the request)."""

from __future__ import annotations

import logging
import uuid

import peewee
from flask import Response, current_app, request

from plugins.rtcstats import collector, collector_handoff, collector_jitsi, credits, metrics
from plugins.rtcstats.collector_socket import CollectorSocket

log = logging.getLogger("rtcstats")


def collect(cfg: dict) -> Response:
    """Serve one collector WebSocket from handshake to stored session."""
    actor, refused, counted = None, None, False
    try:
        collector_handoff.SOCKETS.enter(cfg["collector_max_sockets_per_worker"])
        counted = True
        actor = collector.authenticate()
        credits.ensure_available(actor.account_id, cfg["monthly_credits"])
    except collector.Refused as err:
        refused = err
    except credits.InsufficientCredits as err:
        refused = collector.Refused(collector.NO_CREDITS, str(err))
    except peewee.PeeweeException as err:
        refused = collector.Refused(collector.TRY_LATER, f"database unavailable: {type(err).__name__}")
    jitsi = collector_jitsi.offered_protocol(request.headers.get("Sec-WebSocket-Protocol"))
    if jitsi and refused is None:
        refused = collector_jitsi.refusal(jitsi)
    open_sessions, served_on = None, False
    try:
        if refused is None:
            # The place is taken before the handshake answers: a client whose socket opened holds it
            # (taken after, a client's next socket could pass the limit before this one counted).
            open_sessions = collector.OpenSessions(
                current_app.extensions["mediaplane"].redis, actor.account_id, uuid.uuid4().hex
            )
            try:
                open_sessions.enter(cfg["collector_max_sessions_per_account"])
            except collector.Refused as err:
                open_sessions, refused = None, err
        # No permessage-deflate: its zlib state costs tens of kB per open socket, and an inflated frame
        # is decoded whole before the message size limit can see it. rtcstats-js sends small JSON lines.
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        protocols = [collector.SUBPROTOCOL, jitsi] if jitsi else [collector.SUBPROTOCOL]
        ws = CollectorSocket(request.environ, protocols, cfg["collector_max_message_bytes"])
        if refused is not None:
            log.info("collector socket refused (%s): %s", refused.code, refused.reason)
            if jitsi:
                protocol, reasons = collector_jitsi.METRICS_PROTOCOL, collector_jitsi.CLOSE_REASONS
            else:
                protocol, reasons = collector.METRICS_PROTOCOL, collector.CLOSE_REASONS
            reason = refused.label or reasons.get(refused.code, str(refused.code))
            metrics.COLLECTOR_CLOSES.inc(protocol=protocol, reason=reason)
            collector.close_socket(ws, refused.code, refused.reason)
            return collector.socket_done(ws)
        collector.release_database()
        collector.sweep_orphans(cfg)
        account_id, actor = actor.account_id, None  # the key's objects need not live as long as the socket
        # Built here: their first lines (metadata, connectionInfo) are read from the request.
        if jitsi and ws.subprotocol == jitsi:
            handler = collector_jitsi.JitsiSocket(ws, account_id, cfg, open_sessions, jitsi)
        else:
            metadata = collector.request_metadata()
            handler = collector.RtcstatsSocket(ws, account_id, cfg, open_sessions, metadata)
        served_on = collector_handoff.serve(handler)
    finally:
        if not served_on:  # refused, or served in this request: ended here (else at its end)
            _end(open_sessions, counted)
    return collector.socket_done(ws)


def _end(open_sessions: collector.OpenSessions | None, counted: bool = True) -> None:
    """A socket is over: its account places and its count in the worker are given back."""
    if open_sessions is not None:
        open_sessions.leave()
    if counted:
        collector_handoff.SOCKETS.leave()
