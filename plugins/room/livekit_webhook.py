"""POST /v1/livekit/webhook: LiveKit's signed webhooks update the stored rooms and fire core events.

LiveKit (livekit.yaml `webhook: {api_key, urls}`) POSTs each event as the WebhookEvent's protojson
(camelCase) with `Content-Type: application/webhook+json` and `Authorization: <JWT>` (no "Bearer"):
an HS256 token of the API key whose `sha256` claim is base64(SHA-256(body)), valid for 5 minutes.
The token is checked with livekit.api's TokenVerifier (signature, issuer = our API key, exp with a
leeway) and the body against its claim, before anything of the body is believed.

Duplicates. LiveKit retries a delivery that got no 2xx (about 4 times within a minute), and a signed
request can be replayed while its token lives. Each event id is recorded in `room_livekit_event` in
the same transaction as the room state it changes, so a retried or replayed event is acknowledged
and does nothing. The record is a database row, not a Redis key: it survives a Redis restart or
flush (an embedded or cache-configured Redis keeps nothing), and it commits or rolls back together
with the state. Rows are kept `livekit_webhook_dedupe_seconds`; a token valid for longer than that
is refused, so no replay can outlive its record.

Redis down. The events' handlers enqueue work (webhook deliveries, recordings) in Redis, and fire()
only logs a handler that fails. So Redis is pinged first: down -> 503 with Retry-After before
anything is recorded, and LiveKit's retry brings the event again. A process that dies between the
commit and the handlers loses that event's hooks (it is recorded, so a retry is dropped): nothing is
ever fired twice, at the price of that window of microseconds.

Rooms this server does not know (another application's rooms on the same LiveKit) are answered 200,
so that LiveKit does not retry them, and only counted in the metrics.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import logging
import time

import peewee
import redis
from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.errors import RTCSTACK_PROBLEM, Problem
from core.events import fire
from core.openapi import errors

log = logging.getLogger(__name__)

CONTENT_TYPES = ("application/webhook+json", "application/json")
# LiveKit's event names (livekit/protocol webhook/consts.go) that this server acts on; the others
# (track_unpublished, agent jobs, events of newer LiveKit versions) are acknowledged and ignored.
ACTED_ON = (
    "room_started",
    "room_finished",
    "participant_joined",
    "participant_left",
    "track_published",
    "ingress_started",
    "ingress_ended",
    "egress_started",
    "egress_updated",
    "egress_ended",
)
# LiveKit's IngressInput enum values -> the contract's `type`.
INGRESS_INPUTS = {0: "rtmp", 1: "whip", 2: "url"}
OUTCOMES = ("processed", "duplicate", "unknown_room", "ignored")
# EgressInfo echoes the storage credentials of its request: they must not travel into events.
CREDENTIAL_KEYS = frozenset(
    {
        "secret",
        "accessKey",
        "accessKeyId",
        "sessionToken",
        "accountKey",
        "credentials",
        "assumeRoleExternalId",
    }
)

_counter = None


def _count(event: str, outcome: str) -> None:
    """mediaplane_room_livekit_webhooks_total{event, outcome}, created on first use (see core.metrics)."""
    global _counter
    if _counter is None:
        from prometheus_client import Counter

        _counter = Counter(
            "mediaplane_room_livekit_webhooks_total",
            "LiveKit webhooks received, by event and outcome (processed, duplicate, unknown_room, ignored, "
            "unauthorized, invalid, unavailable)",
            ["event", "outcome"],
        )
    # Only LiveKit's own names become label values: a forged body must not grow the label set.
    _counter.labels(event if event in ACTED_ON else "other", outcome).inc()


# -- verification ---------------------------------------------------------------------------------


class Unauthorized(Exception):
    """The request is not a webhook signed by our LiveKit (401)."""


class Malformed(Exception):
    """A correctly signed body that is no WebhookEvent we can act on (400)."""


def verify(body: bytes, authorization: str, settings: dict, now: float | None = None):
    """The WebhookEvent of a request LiveKit signed with our API key and secret.

    :returns: (event, dedupe key).
    :raises Unauthorized: no token, a token that does not verify (signature, issuer, expired, not yet
        valid), lives longer than the dedupe window, or whose sha256 claim does not match the body.
    :raises Malformed: the body is not a WebhookEvent (not UTF-8 JSON, wrong field types, no event).
    """
    import jwt
    from google.protobuf.json_format import ParseError
    from livekit.api import TokenVerifier

    token = authorization.strip()
    if token[:7].lower() == "bearer ":  # LiveKit sends the bare token; a proxy or tool may add it
        token = token[7:].strip()
    if not token:
        raise Unauthorized("Authorization: LiveKit's signed token is missing")
    verifier = TokenVerifier(
        settings["livekit_api_key"],
        settings["livekit_api_secret"],
        leeway=datetime.timedelta(seconds=settings["livekit_webhook_leeway_seconds"]),
    )
    try:
        claims = verifier.verify(token)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired: a stale or replayed webhook") from None
    except jwt.ImmatureSignatureError:
        raise Unauthorized("the token is not valid yet (nbf): check the clocks") from None
    except jwt.InvalidIssuerError:
        raise Unauthorized(
            "the token was signed for another API key: LiveKit's webhook api_key must be "
            "plugins.room.livekit_api_key"
        ) from None
    except jwt.MissingRequiredClaimError as err:
        raise Unauthorized(f"the token lacks the {err.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized(
            "the token's signature does not verify with plugins.room.livekit_api_secret"
        ) from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthorized("the token is malformed") from None
    _check_lifetime(token, settings["livekit_webhook_dedupe_seconds"], now)
    if not isinstance(claims.sha256, str) or not claims.sha256:
        raise Unauthorized("the token carries no sha256 claim of the body")
    try:
        claimed = base64.b64decode(claims.sha256, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("the token's sha256 claim is not base64") from None
    if not hmac.compare_digest(claimed, hashlib.sha256(body).digest()):
        raise Unauthorized("the body does not match the token's sha256 claim")
    event = _parse(body, ParseError)
    return event, event.id or f"sha256:{claims.sha256}"


def _check_lifetime(token: str, max_lifetime: int, now: float | None) -> None:
    import jwt

    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    now = time.time() if now is None else now
    if isinstance(exp, int | float) and exp - now > max_lifetime:
        raise Unauthorized(
            f"the token is valid for more than {max_lifetime} s "
            "(plugins.room.livekit_webhook_dedupe_seconds): a replay could outlive its duplicate record"
        )


def _parse(body: bytes, parse_error: type[Exception]):
    from google.protobuf.json_format import Parse
    from livekit.protocol.webhook import WebhookEvent

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("body: not UTF-8") from None
    try:
        event = Parse(text, WebhookEvent(), ignore_unknown_fields=True)
    except parse_error as err:
        raise Malformed(f"body: not a LiveKit WebhookEvent ({_short(err)})") from None
    except RecursionError:
        raise Malformed("body: JSON nested too deeply") from None
    if not event.event:
        raise Malformed("event: missing (the LiveKit event name)")
    return event


def _short(err: Exception) -> str:
    text = str(err).replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


# -- events ---------------------------------------------------------------------------------------


def _seconds(value: int, unit: float = 1.0) -> float:
    return value / unit if value else 0.0


def _livekit_room_name(event) -> str:
    if event.event.startswith("egress_"):
        return event.egress_info.room_name
    if event.event.startswith("ingress_"):
        return event.ingress_info.room_name
    return event.room.name


def _credentials_removed(value):
    if isinstance(value, dict):
        return {k: _credentials_removed(v) for k, v in value.items() if k not in CREDENTIAL_KEYS}
    if isinstance(value, list):
        return [_credentials_removed(v) for v in value]
    return value


def _apply(event, account_id: int, room_name: str, settings: dict) -> list[tuple[str, dict]]:
    """Update the stored state of `event` (inside the caller's transaction); the core events to fire.

    The room service says whether the state changed: a webhook LiveKit sends again under another id
    (or our own call recorded already) changes nothing and fires nothing.

    :raises Malformed: the event lacks what it is about (a participant, a track, an egress id).
    """
    from livekit.protocol.models import TrackSource, TrackType

    from plugins.room import service

    name = event.event
    at = float(event.created_at) or time.time()
    base = {"account_id": account_id, "room_name": room_name}
    lk_room = event.room.name
    if name == "room_started":
        started_at = _seconds(event.room.creation_time) or at
        done = service.record_room_started(
            lk_room, event.room.sid, started_at, metadata=event.room.metadata, settings=settings
        )
        return [("room_started", {**base, "started_at": started_at})] if _changed(done) else []
    if name == "room_finished":
        done = service.record_room_finished(lk_room, event.room.sid, at, settings=settings)
        return [("room_finished", {**base, "finished_at": at})] if _changed(done) else []
    if name in ("participant_joined", "participant_left"):
        participant = event.participant
        if not participant.identity or not participant.sid:
            raise Malformed(f"participant.identity and participant.sid: required in {name}")
        if name == "participant_joined":
            joined_at = _seconds(participant.joined_at) or at
            done = service.record_participant_joined(
                lk_room,
                event.room.sid,
                participant.sid,
                participant.identity,
                participant.name,
                joined_at,
                settings=settings,
            )
            fired = {**base, "identity": participant.identity, "joined_at": joined_at}
            return [("participant_joined", fired)] if _changed(done) else []
        done = service.record_participant_left(
            lk_room,
            event.room.sid,
            participant.sid,
            participant.identity,
            at,
            name=participant.name,
            settings=settings,
        )
        fired = {**base, "identity": participant.identity, "left_at": at}
        return [("participant_left", fired)] if _changed(done) else []
    if name == "track_published":
        track = event.track
        if not track.sid or not event.participant.identity:
            raise Malformed("track.sid and participant.identity: required in track_published")
        kind = TrackType.Name(track.type).lower() if track.type in TrackType.values() else "unknown"
        source = TrackSource.Name(track.source).lower() if track.source in TrackSource.values() else "unknown"
        fired = {
            **base,
            "identity": event.participant.identity,
            "track_sid": track.sid,
            "kind": kind,
            "source": source,
            "published_at": at,
        }
        return [("track_published", fired)]
    if name in ("ingress_started", "ingress_ended"):
        info = event.ingress_info
        if not info.ingress_id:
            raise Malformed(f"ingressInfo.ingressId: missing in {name}")
        details = {
            "input_type": INGRESS_INPUTS.get(info.input_type, ""),
            "participant_identity": info.participant_identity,
            "participant_name": info.participant_name,
        }
        if name == "ingress_started":
            started_at = _seconds(info.state.started_at, 1e9) or at
            done = service.record_ingress_started(
                info.ingress_id, info.room_name, started_at, settings=settings, **details
            )
            fired = {**base, "ingress_id": info.ingress_id, "started_at": started_at}
            return [("ingress_started", fired)] if _changed(done) else []
        stopped_at = _seconds(info.state.ended_at, 1e9) or at
        done = service.record_ingress_stopped(
            info.ingress_id, info.room_name, stopped_at, settings=settings, **details
        )
        fired = {**base, "ingress_id": info.ingress_id, "stopped_at": stopped_at}
        return [("ingress_stopped", fired)] if _changed(done) else []
    # egress_started, egress_updated, egress_ended: the recording plugin keeps the egress state.
    from google.protobuf.json_format import MessageToDict
    from livekit.protocol.egress import EgressStatus

    info = event.egress_info
    if not info.egress_id:
        raise Malformed(f"egressInfo.egressId: missing in {name}")
    status = EgressStatus.Name(info.status) if info.status in EgressStatus.values() else str(info.status)
    fired = {
        **base,
        "egress_id": info.egress_id,
        "status": status,
        "info": _credentials_removed(MessageToDict(info)),
        "updated_at": _seconds(info.updated_at, 1e9) or at,
    }
    return [("egress_updated", fired)]


def _changed(done: dict | None) -> bool:
    # None: the room is not (or no longer) ours, e.g. its account was deleted meanwhile.
    return bool(done and done.get("changed"))


def receive(event, dedupe_key: str, redis, settings: dict) -> str:
    """Act on a verified event once: record it with its state change, then fire its core events.

    :returns: the outcome, one of OUTCOMES.
    :raises Malformed: the event lacks what it is about.
    :raises redis.RedisError: Redis is down (nothing was recorded or fired).
    :raises peewee.PeeweeException: the database is down (nothing was recorded or fired).
    """
    from core.db import write_atomic
    from plugins.room import service
    from plugins.room.models import LiveKitEvent

    if event.event not in ACTED_ON:
        return "ignored"
    livekit_name = _livekit_room_name(event)
    owner = service.resolve_livekit_room(livekit_name, settings) if livekit_name else None
    if owner is None:
        return "unknown_room"
    account_id, room_name = owner
    redis.ping()  # the handlers enqueue in Redis: refuse (503) rather than lose their work
    with write_atomic():
        # ON CONFLICT DO NOTHING: a concurrent delivery of the same event waits for this one's
        # commit and then inserts nothing. Only this row decides "duplicate"; any other error
        # rolls everything back.
        inserted = (
            LiveKitEvent.insert(
                event_id=dedupe_key[:128],
                event=event.event,
                account_id=account_id,
                livekit_room=livekit_name[:600],
                received_at=time.time(),
            )
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        if not inserted:
            return "duplicate"
        to_fire = _apply(event, account_id, room_name, settings)
    for hook, kwargs in to_fire:
        fire(hook, **kwargs)
    return "processed"


def purge_events(max_age_seconds: int) -> int:
    """Forget event ids older than the dedupe window (their tokens have expired); rows deleted."""
    from plugins.room.models import LiveKitEvent

    cutoff = time.time() - max_age_seconds
    return LiveKitEvent.delete().where(LiveKitEvent.received_at < cutoff).execute()


# -- route ----------------------------------------------------------------------------------------


def _body(limit: int) -> bytes:
    """The raw body, refused beyond `limit` bytes (413), also when chunked without a length."""
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "Payload too large", f"body: more than {limit} bytes (livekit_webhook_max_bytes)")
    request.max_content_length = limit + 1
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise Problem(413, "Payload too large", f"body: more than {limit} bytes (livekit_webhook_max_bytes)")
    return data


def make_blueprint(settings: dict) -> Blueprint:
    blp = Blueprint(
        "room_livekit_webhook",
        __name__,
        url_prefix="/v1/livekit",
        description="LiveKit's webhooks (point livekit.yaml `webhook: urls:` here, with `api_key:` the "
        "room plugin's livekit_api_key). Authenticated by LiveKit's signed token, not by an API key. "
        "Errors are RFC 9457 problems with https://rtcstack.dev/errors/ types.",
    )
    blp.error_dialect = RTCSTACK_PROBLEM

    @blp.route("/webhook")
    class LiveKitWebhookViews(MethodView):
        @blp.doc(
            security=[],
            parameters=[
                {
                    "in": "header",
                    "name": "Authorization",
                    "required": True,
                    "description": "LiveKit's HS256 token (no Bearer prefix) of the API key, whose "
                    "`sha256` claim is base64(SHA-256(body)).",
                    "schema": {"type": "string"},
                }
            ],
            requestBody={
                "required": True,
                "description": "The WebhookEvent as protobuf JSON (camelCase), as LiveKit sends it.",
                "content": {
                    content_type: {"schema": {"type": "object", "additionalProperties": True}}
                    for content_type in CONTENT_TYPES
                },
            },
            responses={
                "200": {
                    "description": "Acknowledged: processed, a duplicate (dropped), a room this server "
                    "does not know, or an event it does not act on",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["received", "outcome"],
                                "properties": {
                                    "received": {"type": "boolean", "enum": [True]},
                                    "outcome": {"type": "string", "enum": list(OUTCOMES)},
                                },
                            }
                        }
                    },
                }
            },
        )
        @errors(
            400,
            401,
            413,
            415,
            503,
            _400="A correctly signed body that is no LiveKit WebhookEvent; the detail names the field",
            _401="Not signed by our LiveKit: no token, bad signature or key, expired (stale), or a body "
            "that does not match the token's sha256 claim",
            _413="The body exceeds livekit_webhook_max_bytes",
            _415="Not application/webhook+json (or application/json)",
            _503="LiveKit's key is not configured, or Redis or the database is unavailable; LiveKit "
            "retries after Retry-After seconds",
        )
        def post(self):
            """Receive one LiveKit webhook: update the stored rooms, fire the core events once."""
            name = "other"
            try:
                if request.mimetype not in CONTENT_TYPES:
                    raise Problem(
                        415,
                        "Unsupported media type",
                        f"Content-Type: {request.mimetype or 'none'}; LiveKit sends application/webhook+json",
                    )
                body = _body(settings["livekit_webhook_max_bytes"])
                if not (settings["livekit_api_key"] and settings["livekit_api_secret"]):
                    raise Problem(
                        503,
                        "Service unavailable",
                        "LiveKit is not configured (plugins.room.livekit_api_key and livekit_api_secret): "
                        "webhooks cannot be verified",
                        headers={"Retry-After": str(settings["livekit_retry_after_seconds"])},
                    )
                try:
                    event, key = verify(body, request.headers.get("Authorization", ""), settings)
                    name = event.event
                    outcome = receive(event, key, current_app.extensions["mediaplane"].redis, settings)
                except Unauthorized as err:
                    raise Problem(
                        401,
                        "Unauthorized",
                        str(err),
                        headers={"WWW-Authenticate": 'Bearer realm="livekit-webhook"'},
                    ) from None
                except Malformed as err:
                    raise Problem(400, "Invalid request", str(err)) from None
            except Problem as problem:
                _count(name, {401: "unauthorized", 503: "unavailable"}.get(problem.status, "invalid"))
                raise
            except (redis.RedisError, peewee.PeeweeException):  # the core answers 503 + Retry-After
                _count(name, "unavailable")
                raise
            _count(name, outcome)
            if outcome == "unknown_room":
                log.info("LiveKit %s for a room this server does not know: ignored", name)
            return jsonify(received=True, outcome=outcome)

    return blp
