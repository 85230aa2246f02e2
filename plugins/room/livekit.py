"""Synchronous client of LiveKit's server API (Twirp) for the gevent web tier and the RQ workers.

Why not the official `livekit-api` client: it is asyncio/aiohttp only, and several greenlets of one
gevent worker cannot each run an event loop (see ../shared/reference/livekit.md §3.4). We keep it for
what is synchronous (`AccessToken`) and speak Twirp ourselves over a pooled `requests.Session`.

Wire: binary protobuf by default (`Content-Type: application/protobuf`), the format the official
Python and Go SDKs send, so the server path we use is the one LiveKit's own SDKs exercise. It also
avoids protojson's pitfalls (int64 as strings, enum names a newer server may add, casing) and keeps
fields a newer server adds without failing. `wire="json"` speaks protojson instead (what the Node SDK
sends); the tests run both against the double. Twirp errors are JSON in both cases.

Each call mints a short-lived HS256 JWT with only the grant that method needs (roomCreate, roomList,
roomAdmin + room, ingressAdmin, roomRecord) and answers livekit-protocol message objects.

Errors: every failure is a `LiveKitError` whose `.code` is the Twirp code. `LiveKitUnavailable` (code
"unavailable") covers everything where no Twirp answer came back: connection refused, DNS, TLS,
timeouts, a proxy's HTML page, a body that does not decode; and a server that says `unavailable` or
`deadline_exceeded` itself (that code kept). Its message names the cause and the URL, never the
secret. A 401 with a plain-text body (LiveKit's answer to an unknown key or a bad signature) is code
"unauthenticated", like a valid token lacking a grant (LiveKit answers that with 401
`unauthenticated` "permissions denied").
`requests` exceptions never escape.

Timeouts: `timeout` seconds to connect and again between bytes of the answer (requests' semantics);
a read-only method (List*, Get*) is retried once after a connection error, because a pooled
keep-alive connection the server closed fails only on use. Writes are never retried.

`to_json(message)` renders a message for our API answers the way the rooms-API reference
implementation returns LiveKit objects (the Node SDK's protobuf-es JSON): lowerCamelCase keys, every
field present with its default, enums as their names, 64-bit integers as strings (the form LiveKit
uses everywhere; JavaScript cannot hold them as numbers). Storage credentials that LiveKit echoes
in egress requests are redacted.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from core import __version__

# Twirp error codes and their HTTP statuses (twitchtv/twirp errors.go).
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
    "data_loss": 500,
}

# Answers are small protobuf messages; a proxy streaming something huge must not fill the worker.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
TOKEN_TTL = datetime.timedelta(minutes=2)
INGRESS_INPUTS = {"rtmp": "RTMP_INPUT", "whip": "WHIP_INPUT"}
S3_KEYS = frozenset(
    {"endpoint", "bucket", "access_key", "secret", "region", "force_path_style", "session_token"}
)
REDACTED_KEYS = frozenset({"secret", "accessKey", "sessionToken", "accountKey", "credentials", "accessKeyId"})


class LiveKitError(Exception):
    """LiveKit answered with an error, or could not be asked.

    :ivar code: the Twirp code ("not_found", "already_exists", "invalid_argument", "unauthenticated",
        "permission_denied", "failed_precondition", "unavailable", "internal", ...).
    :ivar msg: LiveKit's message (or ours, for failures without an answer).
    :ivar http_status: the HTTP status LiveKit answered, None when nothing came back.
    :ivar meta: Twirp error metadata (dict of strings).
    """

    def __init__(self, code: str, msg: str, http_status: int | None = None, meta: dict | None = None):
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.meta = meta or {}


class LiveKitUnavailable(LiveKitError):
    """No usable answer: down, unreachable, too slow, not a LiveKit server, or LiveKit itself said
    `unavailable` or `deadline_exceeded` (its answer when egress or a node did not respond in time).
    `.code` is "unavailable" unless LiveKit said otherwise."""

    def __init__(
        self, msg: str, http_status: int | None = None, meta: dict | None = None, code: str = "unavailable"
    ):
        super().__init__(code, msg, http_status, meta)


class LiveKitNotConfigured(LiveKitUnavailable):
    """The settings do not name a usable LiveKit (URL, key or secret missing or malformed)."""


def http_url(url: str) -> str:
    """The Twirp base URL of a LiveKit URL as operators write it (ws:// -> http://, wss:// -> https://).

    :raises LiveKitNotConfigured: not an http(s)/ws(s) URL with a host.
    """
    parts = urlsplit((url or "").strip())
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise LiveKitNotConfigured(
            f"the LiveKit URL {safe_url(url)!r} is not a ws://, wss://, http:// or https:// URL with a host"
        )
    # User info in the URL would make requests send Basic auth instead of our Bearer token.
    netloc = parts.netloc.rpartition("@")[2]
    return f"{scheme}://{netloc}{parts.path}".rstrip("/")


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: what error messages and logs may show."""
    try:
        parts = urlsplit((url or "").strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else (url or "")[:200]


def _protocol():
    """livekit-protocol's modules, imported on first use so that CLI start-up never pays for them."""
    from livekit.protocol import egress, ingress, models, room

    return room, models, ingress, egress


class LiveKitClient:
    """One LiveKit server: `LiveKitClient("wss://lk.example.com", key, secret, timeout=5.0)`.

    Thread- and greenlet-safe; keep one per process and settings (it pools connections).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        timeout: float = 5.0,
        *,
        wire: str = "protobuf",
        pool_size: int = 10,
    ):
        if wire not in ("protobuf", "json"):
            raise ValueError("wire must be 'protobuf' or 'json'")
        self.base_url = http_url(url)
        if not api_key or not api_secret:
            raise LiveKitNotConfigured(
                f"the API key and secret of the LiveKit at {safe_url(url)} are not set"
            )
        self.url = safe_url(self.base_url)
        self.api_key = api_key
        self._secret = api_secret
        self.timeout = float(timeout)
        self.wire = wire
        self._pool_size = pool_size
        self._session = None

    def __repr__(self) -> str:
        return f"LiveKitClient({self.url!r}, api_key={self.api_key!r}, wire={self.wire!r})"

    def close(self) -> None:
        """Close pooled connections (the client stays usable; a new pool opens on the next call)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # RoomService -----------------------------------------------------------------------------

    def create_room(
        self,
        name: str,
        empty_timeout: int | None = None,
        max_participants: int | None = None,
        metadata: str | None = None,
    ):
        """Create the room, or update the existing one of that name (LiveKit's semantics) -> Room.

        :raises LiveKitError: LiveKit refused (e.g. invalid_argument) or is unavailable.
        """
        room, models, _, _ = _protocol()
        req = room.CreateRoomRequest(name=name)
        if empty_timeout is not None:
            req.empty_timeout = empty_timeout
        if max_participants is not None:
            req.max_participants = max_participants
        if metadata is not None:
            req.metadata = metadata
        return self._call("RoomService", "CreateRoom", req, models.Room, room_create=True)

    def list_rooms(self, names: list[str] | None = None) -> list:
        """Active rooms, all or those named (unknown names are simply absent) -> list[Room].

        :raises LiveKitError: LiveKit refused or is unavailable.
        """
        room, _, _, _ = _protocol()
        req = room.ListRoomsRequest(names=list(names or []))
        return list(self._call("RoomService", "ListRooms", req, room.ListRoomsResponse, room_list=True).rooms)

    def delete_room(self, name: str) -> None:
        """Close the room and disconnect everyone in it.

        :raises LiveKitError: not_found when there is no such room; unavailable.
        """
        room, _, _, _ = _protocol()
        # LiveKit checks roomCreate for DeleteRoom (pkg/service/roomservice.go), not roomAdmin.
        self._call(
            "RoomService",
            "DeleteRoom",
            room.DeleteRoomRequest(room=name),
            room.DeleteRoomResponse,
            room_create=True,
        )

    def list_participants(self, room: str) -> list:
        """Participants of the room -> list[ParticipantInfo]; LiveKit answers [] for an unknown room.

        :raises LiveKitError: LiveKit refused or is unavailable.
        """
        room_pb, _, _, _ = _protocol()
        req = room_pb.ListParticipantsRequest(room=room)
        answer = self._call(
            "RoomService", "ListParticipants", req, room_pb.ListParticipantsResponse, room=room
        )
        return list(answer.participants)

    def get_participant(self, room: str, identity: str):
        """One participant -> ParticipantInfo.

        :raises LiveKitError: not_found ("participant does not exist"); unavailable.
        """
        room_pb, models, _, _ = _protocol()
        req = room_pb.RoomParticipantIdentity(room=room, identity=identity)
        return self._call("RoomService", "GetParticipant", req, models.ParticipantInfo, room=room)

    def remove_participant(self, room: str, identity: str) -> None:
        """Disconnect a participant from the room.

        :raises LiveKitError: not_found ("participant not found"); unavailable.
        """
        room_pb, _, _, _ = _protocol()
        req = room_pb.RoomParticipantIdentity(room=room, identity=identity)
        self._call("RoomService", "RemoveParticipant", req, room_pb.RemoveParticipantResponse, room=room)

    def mute_published_track(self, room: str, identity: str, track_sid: str, muted: bool = True):
        """Mute (or unmute, where the server allows remote unmute) a published track -> TrackInfo.

        :raises LiveKitError: not_found (participant or track); failed_precondition ("remote unmute
            not enabled"); unavailable.
        """
        room_pb, _, _, _ = _protocol()
        req = room_pb.MuteRoomTrackRequest(room=room, identity=identity, track_sid=track_sid, muted=muted)
        return self._call(
            "RoomService", "MutePublishedTrack", req, room_pb.MuteRoomTrackResponse, room=room
        ).track

    def update_room_metadata(self, room: str, metadata: str):
        """Replace the room's metadata -> Room.

        :raises LiveKitError: not_found; invalid_argument ("metadata size exceeds limits"); unavailable.
        """
        room_pb, models, _, _ = _protocol()
        req = room_pb.UpdateRoomMetadataRequest(room=room, metadata=metadata)
        return self._call("RoomService", "UpdateRoomMetadata", req, models.Room, room=room)

    # Ingress ---------------------------------------------------------------------------------

    def create_ingress(
        self,
        input_type: str,
        room_name: str,
        participant_identity: str,
        participant_name: str,
        name: str = "",
    ):
        """A reusable RTMP or WHIP endpoint publishing into the room -> IngressInfo (url, stream_key).

        :raises ValueError: input_type is neither "rtmp" nor "whip".
        :raises LiveKitError: invalid_argument; internal when LiveKit has no ingress service; unavailable.
        """
        _, _, ingress, _ = _protocol()
        if input_type not in INGRESS_INPUTS:
            raise ValueError(f"input_type must be one of {sorted(INGRESS_INPUTS)}, not {input_type!r}")
        req = ingress.CreateIngressRequest(
            input_type=ingress.IngressInput.Value(INGRESS_INPUTS[input_type]),
            name=name,
            room_name=room_name,
            participant_identity=participant_identity,
            participant_name=participant_name,
        )
        return self._call("Ingress", "CreateIngress", req, ingress.IngressInfo, ingress_admin=True)

    def list_ingress(self, room_name: str | None = None, ingress_id: str | None = None) -> list:
        """Ingresses, optionally of one room or one id -> list[IngressInfo]. An id wins over the room.

        :raises LiveKitError: not_found ("ingress does not exist") for an unknown id; unavailable.
        """
        _, _, ingress, _ = _protocol()
        req = ingress.ListIngressRequest(room_name=room_name or "", ingress_id=ingress_id or "")
        return list(
            self._call("Ingress", "ListIngress", req, ingress.ListIngressResponse, ingress_admin=True).items
        )

    def delete_ingress(self, ingress_id: str):
        """Delete an ingress (stopping its stream) -> the deleted IngressInfo.

        :raises LiveKitError: not_found ("ingress does not exist"); unavailable.
        """
        _, _, ingress, _ = _protocol()
        req = ingress.DeleteIngressRequest(ingress_id=ingress_id)
        return self._call("Ingress", "DeleteIngress", req, ingress.IngressInfo, ingress_admin=True)

    # Egress ----------------------------------------------------------------------------------

    def start_room_composite_egress(
        self, room_name: str, s3: Mapping[str, Any], filepath: str, layout: str = "", audio_only: bool = False
    ):
        """Record the room as one MP4 uploaded to S3/MinIO -> EgressInfo (status EGRESS_STARTING).

        `s3` holds endpoint, bucket, access_key, secret, region and force_path_style (MinIO needs
        True), optionally session_token. `filepath` may use LiveKit's templates ({room_name}, {time}).

        :raises ValueError: `s3` has a key LiveKit's S3Upload does not know.
        :raises LiveKitError: not_found (no such room); invalid_argument; unavailable.
        """
        _, _, _, egress = _protocol()
        unknown = set(s3) - S3_KEYS
        if unknown:
            raise ValueError(f"unknown S3 settings: {', '.join(sorted(unknown))}")
        output = egress.EncodedFileOutput(
            file_type=egress.EncodedFileType.Value("MP4"), filepath=filepath, s3=egress.S3Upload(**dict(s3))
        )
        req = egress.RoomCompositeEgressRequest(
            room_name=room_name, layout=layout, audio_only=audio_only, file_outputs=[output]
        )
        return self._call("Egress", "StartRoomCompositeEgress", req, egress.EgressInfo, room_record=True)

    def list_egress(
        self, room_name: str | None = None, egress_id: str | None = None, active: bool | None = None
    ) -> list:
        """Egresses, optionally of one room, or only active ones -> list[EgressInfo]. LiveKit counts
        every status before EGRESS_COMPLETE as active, EGRESS_ENDING included. An id wins over the
        other filters.

        :raises LiveKitError: not_found ("egress does not exist") for an unknown id; unavailable.
        """
        _, _, _, egress = _protocol()
        req = egress.ListEgressRequest(
            room_name=room_name or "", egress_id=egress_id or "", active=bool(active)
        )
        return list(
            self._call("Egress", "ListEgress", req, egress.ListEgressResponse, room_record=True).items
        )

    def stop_egress(self, egress_id: str):
        """Stop an egress -> EgressInfo (normally EGRESS_ENDING; the file is complete later).

        :raises LiveKitError: not_found ("egress does not exist"); failed_precondition when it has
            already ended; unavailable.
        """
        _, _, _, egress = _protocol()
        req = egress.StopEgressRequest(egress_id=egress_id)
        return self._call("Egress", "StopEgress", req, egress.EgressInfo, room_record=True)

    # Transport -------------------------------------------------------------------------------

    def token(self, **grants: Any) -> str:
        """A short-lived server token carrying exactly `grants` (VideoGrants field names)."""
        from livekit.api.access_token import AccessToken, VideoGrants

        return (
            AccessToken(self.api_key, self._secret)
            .with_grants(VideoGrants(**grants))
            .with_ttl(TOKEN_TTL)
            .to_jwt()
        )

    def _http(self):
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            session = requests.Session()
            # Our own retry policy (below); urllib3's would also replay writes after a read error.
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False  # no proxy or netrc from the environment between us and LiveKit
            self._session = session
        return self._session

    def _call(
        self, service: str, method: str, request, answer_type, *, room: str | None = None, **grants: Any
    ):
        started = time.perf_counter()
        outcome = "error"  # anything but a LiveKit answer or error: a bug of ours
        try:
            answer = self._exchange(service, method, request, answer_type, room, grants)
            outcome = "ok"
            return answer
        except LiveKitError as exc:
            outcome = exc.code
            raise
        finally:
            _observe(f"{service}.{method}", outcome, time.perf_counter() - started)

    def _exchange(self, service: str, method: str, request, answer_type, room: str | None, grants: dict):
        if room is not None:
            grants.update(room_admin=True, room=room)
        token = self.token(**grants)
        if self.wire == "protobuf":
            content_type, body = "application/protobuf", request.SerializeToString()
        else:
            from google.protobuf import json_format

            content_type = "application/json"
            body = json_format.MessageToJson(request, preserving_proto_field_name=True, indent=None).encode()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": content_type,
            "User-Agent": f"mediaplane/{__version__}",
        }
        where = f"{self.url}/twirp/livekit.{service}/{method}"
        read_only = method.startswith(("List", "Get"))
        for attempt in (1, 2):
            try:
                status, answer_type_header, data = self._post(
                    f"{self.base_url}/twirp/livekit.{service}/{method}", body, headers
                )
                break
            except _Retryable as exc:
                if attempt == 2 or not read_only:
                    raise LiveKitUnavailable(f"LiveKit at {where} is unreachable: {exc}") from None
        return self._decode(where, status, answer_type_header, data, answer_type)

    def _post(self, url: str, body: bytes, headers: dict) -> tuple[int, str, bytes]:
        import requests

        try:
            resp = self._http().post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True
            )
            try:
                data = bytearray()
                for chunk in resp.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise _TooLarge()
                return resp.status_code, resp.headers.get("Content-Type", ""), bytes(data)
            finally:
                resp.close()
        except _TooLarge:
            raise LiveKitUnavailable(
                f"LiveKit at {safe_url(url)} answered more than {MAX_ANSWER_BYTES} bytes"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise LiveKitUnavailable(f"TLS with LiveKit at {safe_url(url)} failed: {_reason(exc)}") from None
        except requests.exceptions.ConnectTimeout:
            raise LiveKitUnavailable(
                f"LiveKit at {safe_url(url)} did not accept a connection within {self.timeout:g} s"
            ) from None
        except (requests.exceptions.ReadTimeout, requests.exceptions.Timeout):
            raise LiveKitUnavailable(
                f"LiveKit at {safe_url(url)} did not answer within {self.timeout:g} s"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            if "timed out" in str(exc):  # requests reports a read timeout inside the body this way
                raise LiveKitUnavailable(
                    f"LiveKit at {safe_url(url)} did not answer within {self.timeout:g} s"
                ) from None
            raise _Retryable(_reason(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise LiveKitUnavailable(f"calling LiveKit at {safe_url(url)} failed: {_reason(exc)}") from None

    def _decode(self, where: str, status: int, content_type: str, data: bytes, answer_type):
        media = content_type.split(";")[0].strip().lower()
        if status == 200:
            expected = "application/protobuf" if self.wire == "protobuf" else "application/json"
            if media != expected:
                raise LiveKitUnavailable(
                    f"LiveKit at {where} answered 200 with {media or 'no content type'}, not {expected}: "
                    "is the URL a LiveKit server (and not a proxy's page)?",
                    http_status=status,
                )
            try:
                if self.wire == "protobuf":
                    return answer_type.FromString(data)
                from google.protobuf import json_format

                return json_format.Parse(data, answer_type(), ignore_unknown_fields=True)
            except Exception:
                expected_type = answer_type.DESCRIPTOR.full_name
                raise LiveKitUnavailable(
                    f"LiveKit at {where} answered 200 with a body that is not a {expected_type}",
                    http_status=status,
                ) from None
        error = _twirp_error(data) if media == "application/json" or data[:1] == b"{" else None
        if error is not None:
            code, msg, meta = error
            if code in ("unavailable", "deadline_exceeded"):
                raise LiveKitUnavailable(
                    f"LiveKit at {where} is unavailable: {msg}", http_status=status, meta=meta, code=code
                )
            raise LiveKitError(code, msg, http_status=status, meta=meta)
        if status == 401:
            # LiveKit's auth middleware answers a bad key or signature in plain text, not Twirp JSON.
            text = data[:300].decode("utf-8", "replace").strip()
            raise LiveKitError(
                "unauthenticated",
                f"LiveKit at {self.url} refused the API key {self.api_key!r} or its secret: {_redact(text)}",
                http_status=401,
            )
        raise LiveKitUnavailable(
            f"LiveKit at {where} answered HTTP {status} ({media or 'no content type'}), not a Twirp answer: "
            "is the URL a LiveKit server, and is it healthy?",
            http_status=status,
        )


_instruments = None


def _observe(method: str, outcome: str, seconds: float) -> None:
    """Count the call on /metrics: mediaplane_livekit_requests_total{method, outcome} and its latency."""
    global _instruments
    if _instruments is None:
        # Created on first use, like core.metrics: prometheus_client picks its multi-process mode at
        # import time, and nothing may be imported before a LiveKit call is made.
        from prometheus_client import Counter, Histogram

        _instruments = (
            Counter(
                "mediaplane_livekit_requests_total",
                "Calls to the LiveKit server API by Twirp method and outcome (ok or the error code)",
                ["method", "outcome"],
            ),
            Histogram(
                "mediaplane_livekit_request_duration_seconds",
                "Latency of calls to the LiveKit server API",
                ["method"],
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            ),
        )
    _instruments[0].labels(method, outcome).inc()
    _instruments[1].labels(method).observe(seconds)


class _Retryable(Exception):
    """A connection-level failure: nothing (or not all) was sent, or the pooled connection was dead."""


class _TooLarge(Exception):
    pass


def _twirp_error(data: bytes) -> tuple[str, str, dict] | None:
    import json

    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
        return None
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    msg = body.get("msg")
    return body["code"], msg if isinstance(msg, str) else "", {str(k): str(v) for k, v in meta.items()}


def _reason(exc: Exception) -> str:
    """A short cause of a requests/urllib3 failure, without the URL it already names elsewhere."""
    text = str(exc)
    for pattern, reason in (
        (r"Connection refused|ECONNREFUSED|Errno 111", "connection refused"),
        (
            r"Name or service not known|nodename nor servname|Temporary failure in name resolution|"
            r"NameResolutionError|getaddrinfo failed|No address associated",
            "cannot resolve the host name",
        ),
        (r"Connection reset|ECONNRESET|Errno 104", "connection reset"),
        (
            r"RemoteDisconnected|closed connection without response|Connection aborted",
            "closed the connection",
        ),
        (r"No route to host|Network is unreachable", "no route to the host"),
        (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", "certificate verify failed"),
        (r"WRONG_VERSION_NUMBER|wrong version number", "the server does not speak TLS on that port"),
    ):
        if re.search(pattern, text):
            return reason
    return _redact(re.sub(r"https?://\S+", "", text))[:200] or type(exc).__name__


def _redact(text: str) -> str:
    """LiveKit echoes the token it refused ("invalid token: <jwt>, error: ..."); never repeat it."""
    return re.sub(r"eyJ[\w-]+\.[\w-]+\.[\w-]*", "<token>", text)


def to_json(message) -> dict:
    """The message as our API answers show LiveKit objects: camelCase, defaults present, enums by
    name, int64 as strings; S3/GCS/Azure credentials echoed inside egress requests redacted."""
    from google.protobuf import json_format

    out = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return _redact_credentials(out)


def _redact_credentials(value):
    if isinstance(value, dict):
        return {
            k: ("<redacted>" if k in REDACTED_KEYS and v else _redact_credentials(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_credentials(v) for v in value]
    return value


def _setting(settings, name: str, default=None):
    if isinstance(settings, Mapping):
        return settings.get(name, default)
    return getattr(settings, name, default)


def client_from_settings(settings) -> LiveKitClient:
    """The client of the room plugin's settings (livekit_url, livekit_api_key, livekit_api_secret,
    livekit_timeout_seconds).

    :raises LiveKitNotConfigured: the URL, key or secret is missing or malformed.
    """
    url = _setting(settings, "livekit_url") or ""
    if not url:
        raise LiveKitNotConfigured(
            "LiveKit is not configured: set plugins.room.livekit_url, livekit_api_key and livekit_api_secret"
        )
    timeout = _setting(settings, "livekit_timeout_seconds") or 5.0
    return LiveKitClient(
        url,
        _setting(settings, "livekit_api_key") or "",
        _setting(settings, "livekit_api_secret") or "",
        timeout,
    )
