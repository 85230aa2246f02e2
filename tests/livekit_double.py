"""A stateful LiveKit server double: Twirp RoomService, Ingress and Egress on loopback, for tests.

No LiveKit server installs on this machine (../shared/reference/stack.md), so tests talk to this
instead. It speaks the real wire format, as livekit/livekit and livekit/protocol do
(../shared/reference/livekit.md §2), and tests/test_livekit_double.py drives it with the official
`livekit-api` client to show it:

- `POST /twirp/livekit.<Service>/<Method>` only (other verbs and paths: Twirp `bad_route` 404);
  bodies in `application/json` (protojson, both casings in; out: snake_case, every field, unset
  sub-messages as null, enums as names, int64 as strings) or `application/protobuf` (binary both
  ways); errors as Twirp JSON `{"code","msg","meta"}` with Twirp's HTTP statuses.
- Auth like LiveKit's middleware: `Authorization: Bearer <HS256 JWT>` (or `?access_token=`); a
  header without "Bearer ", an unknown key, a bad signature or an expired token get a plain-text 401;
  a valid token without the method's grant gets 401 `unauthenticated` "permissions denied".
  Grants: roomCreate (CreateRoom, DeleteRoom), roomList (ListRooms), roomAdmin + room (participant
  methods, UpdateRoomMetadata), ingressAdmin (Ingress), roomRecord (Egress).
- State in memory: rooms (CreateRoom is create-or-update), participants (test helper `join`),
  ingresses (url + a random stream key like LiveKit's), egresses (status moved by helpers
  `activate_egress`, `finish_egress` (which can upload the file to the request's S3 output, as the
  egress does), `fail_egress`; StopEgress -> EGRESS_ENDING).
- LiveKit webhooks: every event is kept in `events`; when `webhook_url` is set they are also POSTed
  in order from a sender thread, signed as LiveKit signs them (`sign_webhook`).
- Faults: `down()` / `up()` (connection refused, same port), `restart()` (rooms and participants
  forgotten, as a LiveKit without Redis restarts), `delay(seconds)` before each answer
  (the call still takes effect, as on a slow server), `answer_garbage()` (a proxy's page),
  `fail_next(code, msg)` (one Twirp error), `normal()`.

Differences from the real server, on purpose: no media, no departure timeout (rooms close through
DeleteRoom or `close_room`), JSON leaves proto3 `optional` scalars out when unset (Go writes null),
and echoed egress storage credentials are "<redacted>".
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import queue
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from google.protobuf import json_format
from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models
from livekit.protocol import room as room_pb
from livekit.protocol import webhook as webhook_pb

GUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # shortuuid's base57
TWIRP_STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}
ACTIVE_EGRESS = (
    egress_pb.EgressStatus.Value("EGRESS_STARTING"),
    egress_pb.EgressStatus.Value("EGRESS_ACTIVE"),
)
CREDENTIAL_FIELDS = ("access_key", "secret", "session_token")


def guid(prefix: str) -> str:
    """An id like LiveKit's utils.NewGuid: the prefix and 12 base57 characters."""
    return prefix + "".join(secrets.choice(GUID_ALPHABET) for _ in range(12))


def now_ns() -> int:
    return time.time_ns()


class TwirpError(Exception):
    def __init__(self, code: str, msg: str, meta: dict | None = None):
        super().__init__(msg)
        self.code, self.msg, self.meta = code, msg, meta or {}


def _repeated(field) -> bool:
    flag = getattr(field, "is_repeated", None)
    return flag if flag is not None else field.label == field.LABEL_REPEATED


def server_json(message) -> dict:
    """The message as LiveKit's Twirp server writes JSON (protojson UseProtoNames + EmitUnpopulated)."""
    out = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _nulls(message, out)
    return out


def _nulls(message, out: dict) -> None:
    # Go's EmitUnpopulated writes unset sub-messages as null; Python leaves them out.
    for field in message.DESCRIPTOR.fields:
        if field.message_type is None or field.containing_oneof is not None:
            continue
        if (
            field.message_type.full_name.startswith("google.protobuf.")
            or field.message_type.GetOptions().map_entry
        ):
            continue
        if _repeated(field):
            for item, rendered in zip(getattr(message, field.name), out.get(field.name, []), strict=True):
                _nulls(item, rendered)
        elif message.HasField(field.name):
            _nulls(getattr(message, field.name), out[field.name])
        else:
            out[field.name] = None


def track(kind: str = "audio", **fields: Any) -> models.TrackInfo:
    """A published track: "audio" (microphone, opus), "video" (camera, VP8 720p) or "screen"."""
    presets = {
        "audio": {"type": "AUDIO", "source": "MICROPHONE", "mime_type": "audio/opus"},
        "video": {
            "type": "VIDEO",
            "source": "CAMERA",
            "mime_type": "video/VP8",
            "width": 1280,
            "height": 720,
        },
        "screen": {
            "type": "VIDEO",
            "source": "SCREEN_SHARE",
            "mime_type": "video/VP8",
            "width": 1920,
            "height": 1080,
        },
    }
    spec = {**presets[kind], "sid": guid("TR_"), **fields}
    return json_format.ParseDict(spec, models.TrackInfo())


class LiveKitDouble:
    """`with LiveKitDouble() as lk:` a LiveKit on `lk.url` (http) / `lk.ws_url`, key `lk.api_key`."""

    def __init__(
        self,
        api_key: str = "APIdoubleKey",
        api_secret: str | None = None,
        *,
        rtmp_base_url: str = "rtmp://127.0.0.1:1935/x",
        whip_base_url: str = "http://127.0.0.1:8080/w",
        remote_unmute: bool = False,
        max_metadata_size: int = 64000,
    ):
        self.api_key = api_key
        self.api_secret = api_secret or secrets.token_urlsafe(36)  # 48 characters: no PyJWT key warning
        self.rtmp_base_url = rtmp_base_url
        self.whip_base_url = whip_base_url
        self.remote_unmute = remote_unmute
        self.max_metadata_size = max_metadata_size
        self.ingress_enabled = True
        self.egress_enabled = True
        self.rooms: dict[str, models.Room] = {}
        self.participants: dict[str, dict[str, models.ParticipantInfo]] = {}
        self.ingresses: dict[str, ingress_pb.IngressInfo] = {}
        self.egresses: dict[str, egress_pb.EgressInfo] = {}
        # The egress requests as received (credentials included): file locations, and tests.
        self._requests: dict[str, egress_pb.RoomCompositeEgressRequest] = {}
        self.calls: list[dict] = []  # every Twirp request: service, method, content_type, video grant
        self.events: list[webhook_pb.WebhookEvent] = []
        self.deliveries: list[dict] = []  # webhook POSTs: event, id, status or error
        self.webhook_url: str | None = None
        self._lock = threading.RLock()
        self._delay = 0.0
        self._garbage: tuple[int, str, bytes] | None = None
        self._failures: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._outbox: queue.Queue = queue.Queue()
        self._sender: threading.Thread | None = None
        self.port = 0

    # Life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> LiveKitDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> LiveKitDouble:
        self.up()
        self._sender = threading.Thread(
            target=self._send_webhooks, name="livekit-double-webhooks", daemon=True
        )
        self._sender.start()
        return self

    def stop(self) -> None:
        self.down()
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(5)
            self._sender = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def settings(self, timeout: float = 2.0) -> dict:
        """The room plugin's settings for this double."""
        return {
            "livekit_url": self.ws_url,
            "livekit_api_key": self.api_key,
            "livekit_api_secret": self.api_secret,
            "livekit_timeout_seconds": timeout,
        }

    # Faults ----------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop listening and drop open connections: clients get "connection refused"."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(5)

    def restart(self) -> None:
        """LiveKit restarted without Redis: same port, rooms and participants forgotten, no webhooks
        for them (ingresses and egresses, which LiveKit keeps in Redis, stay)."""
        self.down()
        with self._lock:
            self.rooms.clear()
            self.participants.clear()
        self.up()

    def up(self) -> None:
        """Listen again (on the same port after `down()`)."""
        if self._server is not None:
            return
        double = self

        class Handler(_Handler):
            owner = double

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="livekit-double", daemon=True
        )
        self._thread.start()

    def delay(self, seconds: float) -> None:
        """Wait this long before every answer (0 to stop); the request still takes effect."""
        self._delay = seconds

    def answer_garbage(
        self,
        status: int = 502,
        body: bytes = b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        content_type: str = "text/html",
    ) -> None:
        """Answer every request with this (by default a reverse proxy's 502 page)."""
        self._garbage = (status, content_type, body)

    def fail_next(self, code: str, msg: str, times: int = 1) -> None:
        """The next `times` authorised requests fail with this Twirp error."""
        self._failures.extend([(code, msg)] * times)

    def normal(self) -> None:
        """Undo delay, answer_garbage and fail_next."""
        self._delay, self._garbage, self._failures = 0.0, None, []

    # Test helpers: what clients and media servers would do -----------------------------------

    def join(
        self,
        room: str,
        identity: str,
        name: str = "",
        tracks: list | tuple = (),
        metadata: str = "",
        kind: str = "STANDARD",
    ) -> models.ParticipantInfo:
        """A participant connects (creating the room if needed) and publishes `tracks`: "audio",
        "video", "screen" or TrackInfo messages. Fires room_started, participant_joined and
        track_published as LiveKit does."""
        with self._lock:
            if room not in self.rooms:
                self._create_room(room_pb.CreateRoomRequest(name=room))
            members = self.participants.setdefault(room, {})
            limit = self.rooms[room].max_participants
            if identity in members:
                self._leave(room, identity, "DUPLICATE_IDENTITY")
            elif limit and len(members) >= limit:
                raise ValueError(f"room {room} is full ({limit} participants)")
            now = time.time()
            info = models.ParticipantInfo(
                sid=guid("PA_"),
                identity=identity,
                name=name,
                state=models.ParticipantInfo.State.Value("ACTIVE"),
                metadata=metadata,
                joined_at=int(now),
                joined_at_ms=int(now * 1000),
                kind=models.ParticipantInfo.Kind.Value(kind),
                permission=models.ParticipantPermission(
                    can_subscribe=True, can_publish=True, can_publish_data=True
                ),
                version=1,
            )
            members[identity] = info
            self._emit("participant_joined", room=self._room_view(room), participant=info)
            for spec in tracks:
                self.publish(room, identity, spec)
            return copy.deepcopy(members[identity])

    def publish(self, room: str, identity: str, spec: str | models.TrackInfo = "audio") -> models.TrackInfo:
        """The participant publishes one more track (track_published)."""
        with self._lock:
            info = self.participants[room][identity]
            new = track(spec) if isinstance(spec, str) else copy.deepcopy(spec)
            if not new.sid:
                new.sid = guid("TR_")
            info.tracks.append(new)
            info.is_publisher = True
            info.version += 1
            self._emit("track_published", room=self._room_view(room), participant=info, track=new)
            return copy.deepcopy(new)

    def leave(self, room: str, identity: str) -> None:
        """The participant disconnects (participant_left)."""
        with self._lock:
            self._leave(room, identity, "CLIENT_INITIATED")

    def close_room(self, name: str) -> None:
        """The room ends (as after its departure timeout): participant_left for each, room_finished."""
        with self._lock:
            self._delete_room(room_pb.DeleteRoomRequest(room=name))

    def start_ingress(self, ingress_id: str) -> ingress_pb.IngressInfo:
        """An encoder starts streaming into the ingress: it publishes into its room (ingress_started)."""
        with self._lock:
            info = self.ingresses[ingress_id]
            room = info.room_name
            if not room:
                raise ValueError(f"ingress {ingress_id} has no room to publish into")
            if room not in self.rooms:
                self._create_room(room_pb.CreateRoomRequest(name=room))
            info.state.status = ingress_pb.IngressState.Status.Value("ENDPOINT_PUBLISHING")
            info.state.room_id = self.rooms[room].sid
            info.state.started_at = now_ns()
            info.state.updated_at = info.state.started_at
            info.state.ended_at = 0
            info.state.resource_id = guid("EG_")
            self._emit("ingress_started", ingress_info=info)
            self.join(
                room, info.participant_identity, info.participant_name, ("audio", "video"), kind="INGRESS"
            )
            return copy.deepcopy(info)

    def stop_ingress(self, ingress_id: str) -> ingress_pb.IngressInfo:
        """The encoder stops: the ingress participant leaves (ingress_ended)."""
        with self._lock:
            info = self.ingresses[ingress_id]
            self._stop_ingress(info)
            return copy.deepcopy(info)

    def activate_egress(self, egress_id: str) -> egress_pb.EgressInfo:
        """The egress recorder is up and recording (EGRESS_ACTIVE, egress_updated)."""
        with self._lock:
            info = self.egresses[egress_id]
            info.status = egress_pb.EgressStatus.Value("EGRESS_ACTIVE")
            info.started_at = info.updated_at = now_ns()
            if info.room_name in self.rooms:
                self.rooms[info.room_name].active_recording = True
            self._emit("egress_updated", egress_info=info)
            return copy.deepcopy(info)

    def finish_egress(
        self, egress_id: str, size: int = 1_048_576, duration: float = 60.0, content: bytes | None = None
    ) -> egress_pb.EgressInfo:
        """The file of `size` bytes and `duration` seconds is uploaded (EGRESS_COMPLETE, egress_ended).

        With `content`, the file is really uploaded, as LiveKit's egress does: a PUT of `content` to
        the request's S3 output (endpoint, bucket, key = filepath, its credentials and region, path-style
        when force_path_style) with the minio client; `size` is then its length.
        """
        if content is not None:
            self._upload(egress_id, content)
            size = len(content)
        with self._lock:
            info = self.egresses[egress_id]
            ended = now_ns()
            started = info.started_at or ended - int(duration * 1e9)
            info.started_at = started
            info.status = egress_pb.EgressStatus.Value("EGRESS_COMPLETE")
            info.ended_at = info.updated_at = ended
            filename, location = self._file_location(info, started)
            del info.file_results[:]
            info.file_results.append(
                egress_pb.FileInfo(
                    filename=filename,
                    started_at=started,
                    ended_at=ended,
                    duration=int(duration * 1e9),
                    size=size,
                    location=location,
                )
            )
            self._recording_stopped(info.room_name)
            self._emit("egress_ended", egress_info=info)
            return copy.deepcopy(info)

    def _upload(self, egress_id: str, content: bytes) -> None:
        import io
        from urllib.parse import urlsplit as split

        from minio import Minio

        output = self._requests[egress_id].file_outputs[0]
        s3 = output.s3
        where = split(s3.endpoint)
        if not s3.force_path_style:
            # Without path-style the egress puts the bucket into the host name ("<bucket>.minio:9000"),
            # which does not resolve on a MinIO deployment (livekit/protocol#223).
            raise RuntimeError(f"egress cannot reach {s3.bucket}.{where.netloc}: no such host")
        client = Minio(
            where.netloc,
            access_key=s3.access_key,
            secret_key=s3.secret,
            session_token=s3.session_token or None,
            secure=where.scheme == "https",
            region=s3.region or None,
        )
        client.put_object(s3.bucket, output.filepath, io.BytesIO(content), len(content), "video/mp4")

    def fail_egress(
        self, egress_id: str, error: str = "pipeline failed", error_code: int = 500
    ) -> egress_pb.EgressInfo:
        """The egress fails (EGRESS_FAILED with error, egress_ended)."""
        with self._lock:
            info = self.egresses[egress_id]
            info.status = egress_pb.EgressStatus.Value("EGRESS_FAILED")
            info.error, info.error_code = error, error_code
            info.ended_at = info.updated_at = now_ns()
            self._recording_stopped(info.room_name)
            self._emit("egress_ended", egress_info=info)
            return copy.deepcopy(info)

    # Webhooks --------------------------------------------------------------------------------

    def sign_webhook(self, body: bytes, api_key: str | None = None, api_secret: str | None = None) -> str:
        """The Authorization value LiveKit sends with `body`: a raw JWT (no "Bearer") whose sha256
        claim is base64(SHA-256(body)), valid 5 minutes."""
        from livekit.api.access_token import AccessToken

        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = AccessToken(api_key or self.api_key, api_secret or self.api_secret)
        return token.with_sha256(digest).with_ttl(datetime.timedelta(minutes=5)).to_jwt()

    @staticmethod
    def webhook_body(event: webhook_pb.WebhookEvent) -> bytes:
        """The body LiveKit posts: protojson of the event (camelCase, defaults left out)."""
        return json.dumps(json_format.MessageToDict(event), separators=(",", ":")).encode()

    def signed(self, event: webhook_pb.WebhookEvent) -> tuple[bytes, dict]:
        """(body, headers) of the webhook request for `event`."""
        body = self.webhook_body(event)
        headers = {
            "Authorization": self.sign_webhook(body),
            "Content-Type": "application/webhook+json",
            "User-Agent": "LiveKit",
        }
        return body, headers

    def wait_webhooks(self, timeout: float = 10.0) -> None:
        """Block until every event so far was POSTed to `webhook_url` (or failed to be)."""
        done = threading.Event()
        self._outbox.put(done)
        if not done.wait(timeout):
            raise TimeoutError("webhooks still queued")

    def _emit(self, name: str, **fields: Any) -> None:
        event = webhook_pb.WebhookEvent(event=name, id=guid("EV_"), created_at=int(time.time()))
        for key, value in fields.items():
            getattr(event, key).CopyFrom(value)
        self.events.append(event)
        if self.webhook_url:
            self._outbox.put((self.webhook_url, event))

    def _send_webhooks(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            url, event = item
            body, headers = self.signed(event)
            record = {"event": event.event, "id": event.id}
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, body, headers, method="POST"), timeout=5
                ) as r:
                    record["status"] = r.status
            except urllib.error.HTTPError as exc:
                record["status"] = exc.code
            except OSError as exc:
                record["error"] = str(exc)
            self.deliveries.append(record)

    # RoomService -----------------------------------------------------------------------------

    def _room_view(self, name: str) -> models.Room:
        view = copy.deepcopy(self.rooms[name])
        members = self.participants.get(name, {}).values()
        view.num_participants = sum(
            1 for p in members if p.kind != models.ParticipantInfo.Kind.Value("EGRESS")
        )
        view.num_publishers = sum(1 for p in members if p.is_publisher)
        return view

    def _check_metadata(self, metadata: str) -> None:
        if len(metadata.encode()) > self.max_metadata_size:
            # twirp.InvalidArgumentError(argument, validationMsg): "<argument> <validationMsg>" + meta.
            argument = "metadata size exceeds limits"
            raise TwirpError(
                "invalid_argument", f"{argument} {self.max_metadata_size}", {"argument": argument}
            )

    def _create_room(self, req: room_pb.CreateRoomRequest) -> models.Room:
        if not req.name:
            raise TwirpError("invalid_argument", "no room name")
        self._check_metadata(req.metadata)
        existing = self.rooms.get(req.name)
        if existing is not None:  # LiveKit: "find existing room and update it"
            if req.empty_timeout:
                existing.empty_timeout = req.empty_timeout
            if req.departure_timeout:
                existing.departure_timeout = req.departure_timeout
            if req.max_participants:
                existing.max_participants = req.max_participants
            if req.metadata:
                existing.metadata = req.metadata
            return self._room_view(req.name)
        now = time.time()
        self.rooms[req.name] = models.Room(
            sid=guid("RM_"),
            name=req.name,
            empty_timeout=req.empty_timeout or 300,
            departure_timeout=req.departure_timeout or 20,
            max_participants=req.max_participants,
            creation_time=int(now),
            creation_time_ms=int(now * 1000),
            metadata=req.metadata,
            enabled_codecs=[
                models.Codec(mime=mime)
                for mime in ("audio/opus", "audio/red", "video/VP8", "video/H264", "video/VP9", "video/AV1")
            ],
        )
        self.participants[req.name] = {}
        self._emit("room_started", room=self.rooms[req.name])
        return self._room_view(req.name)

    def _list_rooms(self, req: room_pb.ListRoomsRequest) -> room_pb.ListRoomsResponse:
        names = [n for n in self.rooms if not req.names or n in req.names]
        return room_pb.ListRoomsResponse(rooms=[self._room_view(n) for n in names])

    def _delete_room(self, req: room_pb.DeleteRoomRequest) -> room_pb.DeleteRoomResponse:
        if req.room not in self.rooms:
            raise TwirpError("not_found", "requested room does not exist")
        for identity in list(self.participants.get(req.room, {})):
            self._leave(req.room, identity, "ROOM_DELETED")
        for info in list(self.egresses.values()):
            if info.room_name == req.room and info.status in ACTIVE_EGRESS + (
                egress_pb.EgressStatus.Value("EGRESS_ENDING"),
            ):
                if info.status == egress_pb.EgressStatus.Value("EGRESS_STARTING"):
                    info.status = egress_pb.EgressStatus.Value("EGRESS_ABORTED")
                    info.error = "Start signal not received"
                    info.ended_at = info.updated_at = now_ns()
                    self._emit("egress_ended", egress_info=info)
                else:
                    self.finish_egress(info.egress_id, size=0, duration=(now_ns() - info.started_at) / 1e9)
        finished = self._room_view(req.room)
        del self.rooms[req.room]
        self.participants.pop(req.room, None)
        self._emit("room_finished", room=finished)
        return room_pb.DeleteRoomResponse()

    def _member(self, room: str, identity: str) -> models.ParticipantInfo:
        info = self.participants.get(room, {}).get(identity)
        if info is None:
            raise TwirpError("not_found", "participant does not exist")
        return info

    def _list_participants(self, req: room_pb.ListParticipantsRequest) -> room_pb.ListParticipantsResponse:
        # LiveKit answers an empty list for a room it does not know, not not_found.
        return room_pb.ListParticipantsResponse(
            participants=list(self.participants.get(req.room, {}).values())
        )

    def _get_participant(self, req: room_pb.RoomParticipantIdentity) -> models.ParticipantInfo:
        return copy.deepcopy(self._member(req.room, req.identity))

    def _remove_participant(self, req: room_pb.RoomParticipantIdentity) -> room_pb.RemoveParticipantResponse:
        if req.identity not in self.participants.get(req.room, {}):
            # RemoveParticipant words it differently from GetParticipant (pkg/service/roomservice.go).
            raise TwirpError("not_found", "participant not found")
        self._leave(req.room, req.identity, "PARTICIPANT_REMOVED")
        return room_pb.RemoveParticipantResponse()

    def _leave(self, room: str, identity: str, reason: str) -> None:
        info = self._member(room, identity)
        del self.participants[room][identity]
        info.state = models.ParticipantInfo.State.Value("DISCONNECTED")
        info.disconnect_reason = models.DisconnectReason.Value(reason)
        self._emit("participant_left", room=self._room_view(room), participant=info)

    def _mute(self, req: room_pb.MuteRoomTrackRequest) -> room_pb.MuteRoomTrackResponse:
        info = self._member(req.room, req.identity)
        for published in info.tracks:
            if published.sid == req.track_sid:
                if not req.muted and not self.remote_unmute:
                    raise TwirpError("failed_precondition", "remote unmute not enabled")
                published.muted = req.muted
                info.version += 1
                return room_pb.MuteRoomTrackResponse(track=published)
        raise TwirpError("not_found", "track is not found")

    def _update_room_metadata(self, req: room_pb.UpdateRoomMetadataRequest) -> models.Room:
        if req.room not in self.rooms:
            raise TwirpError("not_found", "requested room does not exist")
        self._check_metadata(req.metadata)
        self.rooms[req.room].metadata = req.metadata
        return self._room_view(req.room)

    # Ingress ---------------------------------------------------------------------------------

    def _create_ingress(self, req: ingress_pb.CreateIngressRequest) -> ingress_pb.IngressInfo:
        # In livekit-server's order (pkg/service/ingress.go, protocol ingress/validate.go).
        kind = ingress_pb.IngressInput.Name(req.input_type) if req.input_type in (0, 1, 2) else ""
        if kind not in ("RTMP_INPUT", "WHIP_INPUT", "URL_INPUT"):
            raise TwirpError("invalid_argument", "invalid ingress type")
        if not self.ingress_enabled:
            raise TwirpError("internal", "ingress not connected (redis required)")
        if kind == "URL_INPUT":
            if not req.url:
                raise TwirpError("invalid_argument", "invalid ingress: missing URL parameter")
            base = req.url
        else:
            base = self.rtmp_base_url if kind == "RTMP_INPUT" else self.whip_base_url
        if not req.participant_identity:
            raise TwirpError("invalid_argument", "invalid ingress: no participant identity")
        if kind == "URL_INPUT" and not req.room_name:
            raise TwirpError("invalid_argument", "invalid ingress: no room name")
        info = ingress_pb.IngressInfo(
            ingress_id=guid("IN_"),
            name=req.name,
            stream_key="" if kind == "URL_INPUT" else guid(""),
            url=base,
            input_type=req.input_type,
            room_name=req.room_name,
            participant_identity=req.participant_identity,
            participant_name=req.participant_name,
            participant_metadata=req.participant_metadata,
            reusable=kind != "URL_INPUT",
            state=ingress_pb.IngressState(status=ingress_pb.IngressState.Status.Value("ENDPOINT_INACTIVE")),
        )
        if req.HasField("audio"):
            info.audio.CopyFrom(req.audio)
        if req.HasField("video"):
            info.video.CopyFrom(req.video)
        if req.HasField("enabled"):
            info.enabled = req.enabled
        # updateEnableTranscoding: WHIP passes media through unless asked, the others transcode.
        if req.HasField("enable_transcoding"):
            info.enable_transcoding = req.enable_transcoding
            info.bypass_transcoding = not req.enable_transcoding
        elif kind == "WHIP_INPUT":
            info.enable_transcoding, info.bypass_transcoding = False, True
        else:
            info.enable_transcoding = True
        self.ingresses[info.ingress_id] = info
        return copy.deepcopy(info)

    def _list_ingress(self, req: ingress_pb.ListIngressRequest) -> ingress_pb.ListIngressResponse:
        if req.ingress_id:  # one ingress, whatever the room filter says; unknown: not_found
            return ingress_pb.ListIngressResponse(items=[self._ingress(req.ingress_id)])
        items = [i for i in self.ingresses.values() if not req.room_name or i.room_name == req.room_name]
        return ingress_pb.ListIngressResponse(items=items)

    def _ingress(self, ingress_id: str) -> ingress_pb.IngressInfo:
        info = self.ingresses.get(ingress_id)
        if info is None:
            raise TwirpError("not_found", "ingress does not exist")
        return info

    def _delete_ingress(self, req: ingress_pb.DeleteIngressRequest) -> ingress_pb.IngressInfo:
        info = self._ingress(req.ingress_id)
        self._stop_ingress(info)
        del self.ingresses[req.ingress_id]
        return info

    def _stop_ingress(self, info: ingress_pb.IngressInfo) -> None:
        if info.state.status != ingress_pb.IngressState.Status.Value("ENDPOINT_PUBLISHING"):
            return
        info.state.status = ingress_pb.IngressState.Status.Value("ENDPOINT_INACTIVE")
        info.state.ended_at = info.state.updated_at = now_ns()
        if info.participant_identity in self.participants.get(info.room_name, {}):
            self._leave(info.room_name, info.participant_identity, "CLIENT_INITIATED")
        self._emit("ingress_ended", ingress_info=info)

    # Egress ----------------------------------------------------------------------------------

    def _start_room_composite(self, req: egress_pb.RoomCompositeEgressRequest) -> egress_pb.EgressInfo:
        if not self.egress_enabled:
            raise TwirpError("internal", "egress not connected (redis required)")
        if req.room_name not in self.rooms:
            raise TwirpError("not_found", "requested room does not exist")
        outputs = (
            list(req.file_outputs)
            + list(req.stream_outputs)
            + list(req.segment_outputs)
            + list(req.image_outputs)
        )
        if not outputs and req.WhichOneof("output") is None:
            raise TwirpError("invalid_argument", "no outputs")
        for output in req.file_outputs:
            if output.filepath.startswith("/"):
                raise TwirpError("invalid_argument", "filepath must be relative")
        echoed = copy.deepcopy(req)
        for output in echoed.file_outputs:
            if output.HasField("s3"):
                for name in CREDENTIAL_FIELDS:
                    if getattr(output.s3, name):
                        setattr(output.s3, name, "<redacted>")
        info = egress_pb.EgressInfo(
            egress_id=guid("EG_"),
            room_id=self.rooms[req.room_name].sid,
            room_name=req.room_name,
            source_type=egress_pb.EgressSourceType.Value("EGRESS_SOURCE_TYPE_WEB"),
            status=egress_pb.EgressStatus.Value("EGRESS_STARTING"),
            updated_at=now_ns(),
            room_composite=echoed,
        )
        self.egresses[info.egress_id] = info
        self._requests[info.egress_id] = copy.deepcopy(req)
        self._emit("egress_started", egress_info=info)
        return copy.deepcopy(info)

    def egress_request(self, egress_id: str) -> egress_pb.RoomCompositeEgressRequest:
        """The StartRoomCompositeEgress request as received (credentials included)."""
        return copy.deepcopy(self._requests[egress_id])

    def _list_egress(self, req: egress_pb.ListEgressRequest) -> egress_pb.ListEgressResponse:
        # As livekit-server's IOInfoService.ListEgress: an id wins over the other filters (unknown:
        # not_found), and "active" is every status before EGRESS_COMPLETE, ENDING included.
        if req.egress_id:
            info = self.egresses.get(req.egress_id)
            if info is None:
                raise TwirpError("not_found", "egress does not exist")
            return egress_pb.ListEgressResponse(items=[info])
        complete = egress_pb.EgressStatus.Value("EGRESS_COMPLETE")
        items = [
            e
            for e in self.egresses.values()
            if (not req.room_name or e.room_name == req.room_name) and (not req.active or e.status < complete)
        ]
        return egress_pb.ListEgressResponse(items=items)

    def _stop_egress(self, req: egress_pb.StopEgressRequest) -> egress_pb.EgressInfo:
        info = self.egresses.get(req.egress_id)
        if info is None:
            raise TwirpError("not_found", "egress does not exist")
        if info.status not in ACTIVE_EGRESS:
            status = egress_pb.EgressStatus.Name(info.status)
            raise TwirpError("failed_precondition", f"egress with status {status} cannot be stopped")
        info.status = egress_pb.EgressStatus.Value("EGRESS_ENDING")
        info.updated_at = now_ns()
        self._emit("egress_updated", egress_info=info)
        return copy.deepcopy(info)

    def _recording_stopped(self, room: str) -> None:
        if room in self.rooms and not any(
            e.room_name == room and e.status in ACTIVE_EGRESS for e in self.egresses.values()
        ):
            self.rooms[room].active_recording = False

    def _file_location(self, info: egress_pb.EgressInfo, started_ns: int) -> tuple[str, str]:
        req = self._requests.get(info.egress_id)
        output = (
            req.file_outputs[0] if req is not None and req.file_outputs else egress_pb.EncodedFileOutput()
        )
        stamp = datetime.datetime.fromtimestamp(started_ns / 1e9, datetime.UTC)
        filename = output.filepath or "{room_name}-{time}.mp4"
        for key, value in {
            "{room_name}": info.room_name,
            "{room_id}": info.room_id,
            "{time}": stamp.strftime("%Y-%m-%dT%H%M%S"),
            "{utc}": stamp.strftime("%Y%m%d%H%M%S"),
        }.items():
            filename = filename.replace(key, value)
        if output.HasField("s3"):
            s3 = output.s3
            if s3.force_path_style and s3.endpoint:
                location = f"{s3.endpoint.rstrip('/')}/{s3.bucket}/{filename}"
            else:
                location = f"https://{s3.bucket}.s3.amazonaws.com/{filename}"
        else:
            location = filename
        return filename, location

    # Dispatch --------------------------------------------------------------------------------

    def _method(self, service: str, method: str):
        """(request type, grant check, implementation) of a Twirp method, or None."""
        room_admin = ("room_admin", True)
        table = {
            ("RoomService", "CreateRoom"): (
                room_pb.CreateRoomRequest,
                ("roomCreate", False),
                self._create_room,
            ),
            ("RoomService", "ListRooms"): (room_pb.ListRoomsRequest, ("roomList", False), self._list_rooms),
            ("RoomService", "DeleteRoom"): (
                room_pb.DeleteRoomRequest,
                ("roomCreate", False),
                self._delete_room,
            ),
            ("RoomService", "ListParticipants"): (
                room_pb.ListParticipantsRequest,
                room_admin,
                self._list_participants,
            ),
            ("RoomService", "GetParticipant"): (
                room_pb.RoomParticipantIdentity,
                room_admin,
                self._get_participant,
            ),
            ("RoomService", "RemoveParticipant"): (
                room_pb.RoomParticipantIdentity,
                room_admin,
                self._remove_participant,
            ),
            ("RoomService", "MutePublishedTrack"): (room_pb.MuteRoomTrackRequest, room_admin, self._mute),
            ("RoomService", "UpdateRoomMetadata"): (
                room_pb.UpdateRoomMetadataRequest,
                room_admin,
                self._update_room_metadata,
            ),
            ("Ingress", "CreateIngress"): (
                ingress_pb.CreateIngressRequest,
                ("ingressAdmin", False),
                self._create_ingress,
            ),
            ("Ingress", "ListIngress"): (
                ingress_pb.ListIngressRequest,
                ("ingressAdmin", False),
                self._list_ingress,
            ),
            ("Ingress", "DeleteIngress"): (
                ingress_pb.DeleteIngressRequest,
                ("ingressAdmin", False),
                self._delete_ingress,
            ),
            ("Egress", "StartRoomCompositeEgress"): (
                egress_pb.RoomCompositeEgressRequest,
                ("roomRecord", False),
                self._start_room_composite,
            ),
            ("Egress", "ListEgress"): (egress_pb.ListEgressRequest, ("roomRecord", False), self._list_egress),
            ("Egress", "StopEgress"): (egress_pb.StopEgressRequest, ("roomRecord", False), self._stop_egress),
        }
        return table.get((service, method))

    @staticmethod
    def _allowed(video: dict | None, grant: tuple[str, bool], req) -> bool:
        if not video:
            return False
        name, _ = grant
        if name == "room_admin":
            # EnsureAdminPermission: roomAdmin for exactly the room of the request.
            return bool(video.get("roomAdmin")) and video.get("room", "") == req.room
        return bool(video.get(name))

    def _verify(self, token: str) -> dict:
        """The claims of a valid token; raises _Unauthorized with LiveKit's plain-text reason."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _Unauthorized("invalid authorization token") from None
        key = unverified.get("iss", "")
        if key != self.api_key:
            raise _Unauthorized(f"invalid API key: {key}")
        try:
            return jwt.decode(
                token,
                self.api_secret,
                algorithms=["HS256"],
                leeway=60,
                options={"require": ["exp"]},
                issuer=key,
            )
        except jwt.PyJWTError as exc:
            raise _Unauthorized(f"invalid token: {token}, error: {exc}") from None


class _Unauthorized(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that timed out and hung up makes the late answer fail; that is the test's point.
        pass


class _Handler(BaseHTTPRequestHandler):
    owner: LiveKitDouble
    protocol_version = "HTTP/1.1"
    server_version = "LiveKitDouble/1.0"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle + delayed ACK add 40 ms a call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.owner._lock:
                self.owner._connections.discard(self.connection)

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _twirp_error(self, code: str, msg: str, meta: dict | None = None) -> None:
        body = {"code": code, "msg": msg}
        if meta:
            body["meta"] = meta
        self._answer(TWIRP_STATUS.get(code, 500), "application/json", json.dumps(body).encode())

    def _not_post(self):
        self._read_body()
        self._twirp_error("bad_route", f'unsupported method "{self.command}" (only POST is allowed)')

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_post

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self):  # noqa: C901 - one request's pipeline, in LiveKit's order
        lk = self.owner
        body = self._read_body()
        if lk._delay:
            time.sleep(lk._delay)
        if lk._garbage is not None:
            status, content_type, garbage = lk._garbage
            self._answer(status, content_type, garbage)
            return
        url = urlsplit(self.path)
        parts = url.path.split("/")
        target = None
        if len(parts) == 4 and parts[0] == "" and parts[1] == "twirp" and parts[2].startswith("livekit."):
            target = lk._method(parts[2].removeprefix("livekit."), parts[3])
        if target is None:
            self._twirp_error("bad_route", f'no handler for path "{url.path}"')
            return
        service, method = parts[2].removeprefix("livekit."), parts[3]
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ("application/json", "application/protobuf"):
            self._twirp_error(
                "bad_route", f'unexpected Content-Type: "{self.headers.get("Content-Type", "")}"'
            )
            return
        # LiveKit's auth middleware runs before Twirp: its refusals are plain text.
        header = self.headers.get("Authorization")
        if header is not None:
            if not header.startswith("Bearer "):
                self._answer(
                    401,
                    "text/plain; charset=utf-8",
                    b"invalid authorization header. Must start with Bearer \n",
                )
                return
            token = header[len("Bearer ") :]
        else:
            token = (parse_qs(url.query).get("access_token") or [""])[0]
        claims = None
        if token:
            try:
                claims = lk._verify(token)
            except _Unauthorized as exc:
                self._answer(401, "text/plain; charset=utf-8", f"{exc}\n".encode())
                return
        request_type, grant, implementation = target
        try:
            if content_type == "application/json":
                req = json_format.Parse(body or b"{}", request_type(), ignore_unknown_fields=True)
            else:
                req = request_type.FromString(body)
        except Exception:
            kind = "json" if content_type == "application/json" else "protobuf"
            self._twirp_error("malformed", f"the {kind} request could not be decoded")
            return
        video = (claims or {}).get("video")
        with lk._lock:
            lk.calls.append(
                {"service": service, "method": method, "content_type": content_type, "video": video}
            )
        if not lk._allowed(video, grant, req):
            self._twirp_error("unauthenticated", "permissions denied")
            return
        with lk._lock:
            if lk._failures:
                code, msg = lk._failures.pop(0)
                self._twirp_error(code, msg)
                return
            try:
                answer = implementation(req)
            except TwirpError as exc:
                self._twirp_error(exc.code, exc.msg, exc.meta)
                return
            if content_type == "application/json":
                payload = json.dumps(server_json(answer)).encode()
            else:
                payload = answer.SerializeToString()
        self._answer(200, content_type, payload)
