"""HTTP routes of the room plugin under /v1 (rooms-api.md): health, tokens, rooms, participants, ingress."""

from __future__ import annotations

import json
import re

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

import core
from core.auth import current_actor, require
from core.errors import RTCSTACK_PROBLEM, Problem
from core.openapi import errors
from core.plugins import current_plugins, plugin_settings
from plugins.room import schemas, service

SCOPE = "room:admin"
# Bodies are JSON; clients that send none, or no Content-Type, or text/plain, are read the same.
JSON_TYPES = {"application/json", "text/plain", ""}
SEGMENT_RE = re.compile(schemas.SEGMENT_PATTERN)
# A \uD800-\uDFFF escape: half of a surrogate pair (fine) or a lone surrogate, which decodes to a
# str that neither LiveKit's protobuf nor the database can encode.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
INGRESS_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
UNAVAILABLE = (
    "LiveKit is not configured, unreachable, or refuses this server's credentials; the detail says "
    "which. Retry after Retry-After seconds"
)


class TolerantJsonParser(FlaskParser):
    """An empty body is no body (the reference client posts some routes with none, and a GET may
    carry `Content-Type: application/json`); JSON under text/plain or no type is JSON; any other
    type is a 415."""

    def _raw_load_json(self, req):
        body = req.get_data(cache=True)
        if not body.strip():
            return webargs_core.missing
        if not (req.mimetype in JSON_TYPES or req.mimetype.endswith("+json")):
            raise Problem(415, "Unsupported media type", f"send JSON (application/json), not {req.mimetype}")
        try:
            data = webargs_core.parse_json(body)
        except json.JSONDecodeError:
            raise  # webargs answers it: 400, invalid JSON
        except RecursionError:
            raise Problem(400, "Invalid request", "body: JSON nested too deeply") from None
        except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
            raise Problem(400, "Invalid request", "body: a number has too many digits") from None
        if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
            try:
                json.dumps(data, ensure_ascii=False).encode()
            except UnicodeEncodeError:
                raise Problem(
                    400,
                    "Invalid request",
                    "body: a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)",
                ) from None
        return data


class RoomBlueprint(Blueprint):
    ARGUMENTS_PARSER = TolerantJsonParser()


def segment_parameter(name: str, max_length: int, description: str) -> dict:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "description": description,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": schemas.SEGMENT_PATTERN,
        },
    }


def _settings() -> dict:
    return plugin_settings("room")


def _account() -> int:
    return current_actor().account_id


def _check_segment(value: str, max_length: int, what: str) -> None:
    """A name no room, participant or ingress can have is simply not found (as the document says)."""
    if not (1 <= len(value) <= max_length and SEGMENT_RE.match(value)):
        raise service.NotFound(f"{what} not found")


def _room_id(room_id: str) -> str:
    _check_segment(room_id, _settings()["max_room_name_length"], "Room")
    return room_id


def _no_content() -> Response:
    return Response(status=204)


def make_blueprint(settings: dict) -> Blueprint:
    limits = schemas.Limits(settings)
    blp = RoomBlueprint(
        "room",
        __name__,
        url_prefix="/v1",
        description="LiveKit rooms, join tokens, participants and ingress (the rooms API). Every account "
        "has its own room names. Errors are RFC 9457 application/problem+json with "
        "https://rtcstack.dev/errors/<slug> types; LiveKit unconfigured, down or refusing our "
        "credentials is a 503 with Retry-After.",
    )
    blp.error_dialect = RTCSTACK_PROBLEM
    room_param = segment_parameter("roomId", limits.room_name, "Room name, as created.")
    participant_param = segment_parameter(
        "participantId", limits.identity, "Participant identity (the token's userId)."
    )
    ingress_param = {
        "in": "path",
        "name": "ingressId",
        "required": True,
        "description": "Ingress id (IN_...).",
        "schema": {"type": "string", "pattern": INGRESS_ID_PATTERN},
    }
    token_request = schemas.token_schema(limits)
    room_create = schemas.room_create_schema(limits)
    ingress_create = schemas.ingress_create_schema(limits)

    @blp.route("/health")
    class HealthViews(MethodView):
        @blp.response(200, schemas.HealthSchema)
        def get(self):
            """Server status, version and capabilities (no key needed, like a load balancer's check).

            status is "ok" when LiveKit is configured and answers with our credentials (checked at most
            every health_cache_seconds), else "degraded"; capabilities say what is usable."""
            capabilities = {"transcriptionLive": False, "transcriptionPost": False}
            for answer in reversed(current_plugins().pm.hook.room_capabilities()):
                capabilities.update(answer or {})
            status = "ok" if capabilities.get("livekit") else "degraded"
            return {"status": status, "version": core.__version__, "capabilities": capabilities}

    def token_view(refresh: bool):
        @require(SCOPE)
        @blp.arguments(token_request, location="json")
        @blp.response(200, schemas.TokenSchema)
        @errors(415, _503="LiveKit is not configured (no URL, key or secret); retry after Retry-After")
        def post(self, body):
            return service.issue_token(
                _settings(),
                _account(),
                room=body["roomId"],
                identity=body["userId"],
                name=body["name"],
                role=body["role"],
                metadata=body.get("metadata"),
            )

        post.__doc__ = (
            "Re-issue a join token from the same body (e.g. before the old one expires)."
            if refresh
            else "A LiveKit join token for a participant; the role decides the grants."
        )
        return post

    @blp.route("/token")
    class TokenViews(MethodView):
        post = token_view(refresh=False)

    @blp.route("/token/refresh")
    class TokenRefreshViews(MethodView):
        post = token_view(refresh=True)

    @blp.route("/rooms")
    class RoomsViews(MethodView):
        @require(SCOPE)
        @blp.arguments(room_create, location="json")
        @blp.response(201, schemas.RoomSchema)
        @errors(409, 415, 502, _503=UNAVAILABLE)
        def post(self, body):
            """Create a room (an existing room of that name gets these settings, as in LiveKit)."""
            room = service.create_room(
                _settings(),
                _account(),
                body["name"],
                max_participants=body.get("maxParticipants"),
                empty_timeout=body.get("emptyTimeout"),
                metadata=body.get("metadata"),
            )
            return jsonify(room), 201

        @require(SCOPE)
        @blp.response(200, schemas.RoomListSchema)
        @errors(502, _503=UNAVAILABLE)
        def get(self):
            """The account's active rooms (LiveKit Room objects), oldest first."""
            return jsonify(rooms=service.list_rooms(_settings(), _account()))

    @blp.route("/rooms/<string:roomId>", parameters=[room_param])
    class RoomByIdViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.RoomSchema)
        @errors(502, _404="No such active room in this account", _503=UNAVAILABLE)
        def get(self, roomId):  # noqa: N803 - the contract's name
            """One active room."""
            return jsonify(service.get_room(_settings(), _account(), _room_id(roomId)))

        @require(SCOPE)
        @blp.response(204)
        @errors(502, _404="No such active room in this account", _503=UNAVAILABLE)
        def delete(self, roomId):  # noqa: N803
            """Close the room: LiveKit disconnects everyone in it."""
            service.delete_room(_settings(), _account(), _room_id(roomId))
            return _no_content()

    @blp.route("/rooms/<string:roomId>/participants", parameters=[room_param])
    class ParticipantsViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.ParticipantListSchema)
        @errors(502, _404="No such active room in this account", _503=UNAVAILABLE)
        def get(self, roomId):  # noqa: N803
            """Everyone in the room (LiveKit ParticipantInfo objects)."""
            return jsonify(participants=service.list_participants(_settings(), _account(), _room_id(roomId)))

    @blp.route(
        "/rooms/<string:roomId>/participants/<string:participantId>",
        parameters=[room_param, participant_param],
    )
    class ParticipantByIdViews(MethodView):
        @require(SCOPE)
        @blp.response(204)
        @errors(502, _404="No such room, or no such participant in it", _503=UNAVAILABLE)
        def delete(self, roomId, participantId):  # noqa: N803
            """Remove (kick) a participant; participantId is its identity."""
            room = _room_id(roomId)
            _check_segment(participantId, limits.identity, "Participant")
            service.remove_participant(_settings(), _account(), room, participantId)
            return _no_content()

    @blp.route(
        "/rooms/<string:roomId>/participants/<string:participantId>/mute",
        parameters=[room_param, participant_param],
    )
    class MuteViews(MethodView):
        @require(SCOPE)
        @blp.arguments(schemas.MuteSchema, location="json")
        @blp.response(204)
        @errors(409, 415, 502, _404="No such room, participant or track", _503=UNAVAILABLE)
        def post(self, body, roomId, participantId):  # noqa: N803
            """Mute a track the participant publishes (there is no remote unmute)."""
            room = _room_id(roomId)
            _check_segment(participantId, limits.identity, "Participant")
            service.mute_track(_settings(), _account(), room, participantId, body["trackSid"])
            return _no_content()

    @blp.route("/rooms/<string:roomId>/ingress", parameters=[room_param])
    class IngressViews(MethodView):
        @require(SCOPE)
        @blp.arguments(ingress_create, location="json", required=False)
        @blp.response(201, schemas.IngressSchema)
        @errors(409, 415, 502, _404="Not a possible room name", _503=UNAVAILABLE)
        def post(self, body, roomId):  # noqa: N803
            """Create an RTMP or WHIP ingress publishing into the room (url and streamKey in the answer)."""
            info = service.create_ingress(
                _settings(),
                _account(),
                _room_id(roomId),
                # null is absent, as JavaScript clients send for fields they leave unset
                input_type=body.get("type") or "rtmp",
                participant_name=body.get("participantName") or "Ingress Stream",
                participant_identity=body.get("participantIdentity"),
            )
            return jsonify(info), 201

        @require(SCOPE)
        @blp.response(200, schemas.IngressListSchema)
        @errors(502, _404="Not a possible room name", _503=UNAVAILABLE)
        def get(self, roomId):  # noqa: N803
            """The room's ingresses (LiveKit IngressInfo objects)."""
            return jsonify(ingress=service.list_ingress(_settings(), _account(), _room_id(roomId)))

    @blp.route("/rooms/<string:roomId>/ingress/<string:ingressId>", parameters=[room_param, ingress_param])
    class IngressByIdViews(MethodView):
        @require(SCOPE)
        @blp.response(204)
        @errors(502, _404="No such ingress in this room of this account", _503=UNAVAILABLE)
        def delete(self, roomId, ingressId):  # noqa: N803
            """Delete an ingress of the room."""
            room = _room_id(roomId)
            if not re.match(INGRESS_ID_PATTERN, ingressId):
                raise service.NotFound("Ingress not found")
            service.delete_ingress(_settings(), _account(), room, ingressId)
            return _no_content()

    return blp
