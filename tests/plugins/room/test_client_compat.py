"""Every /v1 route with the requests of rtcstack's reference client (apps/playground), against the double.

The reference client signs each request: `X-Api-Key: <key id>`, `X-RTCstack-Timestamp: <Unix s>` and
`X-RTCstack-Signature: sha256=<hex HMAC-SHA256(secret, METHOD\\nPATH\\nTS\\nsha256hex(body))>`, where it
hashes the EMPTY string whatever body it sends; it sends `Content-Type: application/json` on every
request, GET and DELETE included, and posts some routes without a body. The routes are read from
/openapi.json, so routes other plugins add under /v1 later are covered too. LiveKit is the double
(tests/livekit_double.py: no LiveKit server installs here), speaking LiveKit's wire format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time

import pytest

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Path parameters of the /v1 routes, filled with what the fixture makes exist.
NOT_SIGNED = {"/v1/health", "/v1/livekit/webhook"}  # no key: a probe, and LiveKit's own signature


class ReferenceClient:
    """What apps/playground's `api(method, path, body)` sends, on the Flask test client."""

    def __init__(self, client, token: str, *, sign_body: bool = False):
        self.client = client
        self.key_id, _, self.secret = token.partition(".")
        self.sign_body = sign_body  # the reference client never does; other clients may

    def headers(self, method: str, target: str, body: bytes, ts: int | None = None) -> dict:
        ts = int(time.time()) if ts is None else ts
        digest = hashlib.sha256(body).hexdigest() if self.sign_body else EMPTY_SHA256
        message = f"{method}\n{target}\n{ts}\n{digest}".encode()
        signature = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-Api-Key": self.key_id,
            "X-RTCstack-Timestamp": str(ts),
            "X-RTCstack-Signature": f"sha256={signature}",
        }

    def call(self, method: str, target: str, body=None, ts: int | None = None):
        data = b"" if body is None else json.dumps(body).encode()
        return self.client.open(
            target, method=method, data=data, headers=self.headers(method, target, data, ts)
        )


@pytest.fixture
def world(room_app, room_client, new_key, livekit):
    """Account acme with a room `standup` holding alice (microphone), an ingress and a webhook; its
    reference client."""
    token = new_key("*", account="acme")
    reference = ReferenceClient(room_client, token)
    assert reference.call("POST", "/v1/rooms", {"name": "standup"}).status_code == 201
    from tests.plugins.room.conftest import livekit_room

    alice = livekit.join(livekit_room(room_app, "acme", "standup"), "alice", name="Alice", tracks=["audio"])
    ingress = reference.call("POST", "/v1/rooms/standup/ingress", {"type": "whip"})
    assert ingress.status_code == 201, ingress.get_data(as_text=True)
    # A name, not an address: saved without resolving it. Nothing listens there (the test route
    # reports it undelivered).
    webhook = reference.call("POST", "/v1/webhooks", {"url": "http://receiver.invalid/hook"})
    assert webhook.status_code == 201, webhook.get_data(as_text=True)
    # Live transcription answers once a live worker beats (the heartbeat `mediaplane transcribe-live` writes).
    from plugins.transcription import live_service

    live_service.beat(room_app.extensions["mediaplane"].redis, "compat", 3600)
    return {
        "client": reference,
        "token": token,
        "params": {
            "roomId": "standup",
            "participantId": "alice",
            "ingressId": ingress.get_json()["ingressId"],
            "trackSid": alice.tracks[0].sid,
            "webhookId": webhook.get_json()["id"],
        },
    }


def v1_operations(client) -> list[tuple[str, str, dict]]:
    """(METHOD, path template, operation) of every signed /v1 route; DELETEs last, the room's last of all."""
    spec = client.get("/openapi.json").get_json()
    found = []
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/") or path in NOT_SIGNED:
            continue
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, operation))
    return sorted(
        found, key=lambda op: (op[0] == "DELETE", op[0] == "DELETE" and op[1] == "/v1/rooms/{roomId}")
    )


def fill(path: str, params: dict) -> str:
    # Parameters of routes this test does not know (added later under /v1) name nothing: 404 is fine.
    return re.sub(r"{(\w+)}", lambda m: params.get(m.group(1), "nothing-here"), path)


def requires_body(operation: dict) -> bool:
    body = operation.get("requestBody")
    if not body:
        return False
    schema = next(iter(body["content"].values())).get("schema", {})
    return bool(body.get("required")) or bool(schema.get("required"))


def has_required_field(operation: dict, client) -> bool:
    """Whether the operation's JSON body schema (its $ref resolved) names a required field."""
    body = operation.get("requestBody")
    if not body:
        return False
    schema = next(iter(body["content"].values())).get("schema", {})
    if "$ref" in schema:
        spec = client.get("/openapi.json").get_json()
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return bool(schema.get("required"))


def test_every_v1_route_takes_the_reference_clients_signed_requests_without_a_body(world, room_client):
    """Content-Type: application/json on every request, an empty body, the empty-body hash: each route
    answers as without those quirks. A route that needs a body says which field is missing (400)."""
    reference = world["client"]
    operations = v1_operations(room_client)
    assert {"/v1/token", "/v1/rooms", "/v1/rooms/{roomId}/participants/{participantId}/mute"} <= {
        path for _, path, _ in operations
    }
    seen = {}
    for method, path, operation in operations:
        response = reference.call(method, fill(path, world["params"]))
        label = f"{method} {path}"
        seen[label] = response.status_code
        text = response.get_data(as_text=True)
        assert response.status_code not in (401, 403, 415) and response.status_code < 500, (label, text)
        # A PATCH whose body schema has a required field (live transcription speakers) refuses the empty
        # body like a POST; one whose fields are all optional (webhooks) takes it as "change nothing".
        needs_field = method == "PATCH" and has_required_field(operation, room_client)
        if (method in ("POST", "PUT") and requires_body(operation)) or needs_field:
            assert response.status_code == 400, (label, text)
            problem = response.get_json()
            assert problem["type"] == "https://rtcstack.dev/errors/validation", (label, problem)
            assert re.search(r"\w+: ", problem["detail"]), (label, problem)  # names the field
        else:
            assert response.status_code < 300 or response.status_code == 404, (label, text)
    # The contract's own routes did what they do, not merely "no error".
    assert seen["GET /v1/rooms"] == 200
    assert seen["GET /v1/rooms/{roomId}/participants"] == 200
    assert seen["POST /v1/rooms/{roomId}/ingress"] == 201  # no body: the defaults (rtmp)
    assert seen["DELETE /v1/rooms/{roomId}/participants/{participantId}"] == 204
    assert seen["DELETE /v1/rooms/{roomId}"] == 204
    assert seen["GET /v1/webhooks/{webhookId}"] == 200
    assert seen["POST /v1/webhooks"] == 400  # url is required
    assert seen["PATCH /v1/webhooks/{webhookId}"] == 200  # nothing to change
    assert seen["POST /v1/webhooks/{webhookId}/test"] == 200  # {delivered: false}: nobody listens
    assert seen["DELETE /v1/webhooks/{webhookId}"] == 204


@pytest.mark.parametrize("sign_body", [False, True], ids=["empty-body hash", "real-body hash"])
def test_the_playground_flow_signed_both_ways(world, room_client, sign_body):
    """alice.html's calls with their bodies: create the room, get a token, list, mute, kick, ingress."""
    reference = ReferenceClient(room_client, world["token"], sign_body=sign_body)
    params = world["params"]
    created = reference.call("POST", "/v1/rooms", {"name": "retro", "maxParticipants": 5})
    assert created.status_code == 201 and created.get_json()["name"] == "retro"
    token = reference.call(
        "POST", "/v1/token", {"roomId": "standup", "userId": "bob-1", "name": "Bob", "role": "participant"}
    )
    assert token.status_code == 200, token.get_data(as_text=True)
    assert set(token.get_json()) == {"token", "url", "expiresAt"}
    assert (
        reference.call(
            "POST",
            "/v1/token/refresh",
            {"roomId": "standup", "userId": "bob-1", "name": "Bob", "role": "participant"},
        ).status_code
        == 200
    )
    rooms = reference.call("GET", "/v1/rooms")
    assert {r["name"] for r in rooms.get_json()["rooms"]} >= {"standup", "retro"}
    listed = reference.call("GET", "/v1/rooms/standup/participants")
    assert [p["identity"] for p in listed.get_json()["participants"]] == ["alice"]
    mute = reference.call(
        "POST", "/v1/rooms/standup/participants/alice/mute", {"trackSid": params["trackSid"]}
    )
    assert mute.status_code == 204, mute.get_data(as_text=True)
    ingress = reference.call("GET", "/v1/rooms/standup/ingress")
    assert [i["ingressId"] for i in ingress.get_json()["ingress"]] == [params["ingressId"]]
    assert reference.call("DELETE", f"/v1/rooms/standup/ingress/{params['ingressId']}").status_code == 204
    assert reference.call("DELETE", "/v1/rooms/standup/participants/alice").status_code == 204
    assert reference.call("DELETE", "/v1/rooms/retro").status_code == 204


def test_bob_and_alice_in_the_same_second(world, room_client):
    """Two reference clients of one key ask for tokens in the same second: same method, path and
    timestamp, both signed over the empty-body hash, so the same signature. Both get their token;
    the very same request again is a replay (401)."""
    reference = world["client"]
    ts = int(time.time())
    alice = {"roomId": "standup", "userId": "alice-1", "name": "Alice", "role": "host"}
    bob = {"roomId": "standup", "userId": "bob-1", "name": "Bob", "role": "participant"}
    assert reference.call("POST", "/v1/token", alice, ts=ts).status_code == 200
    assert reference.call("POST", "/v1/token", bob, ts=ts).status_code == 200
    replay = reference.call("POST", "/v1/token", bob, ts=ts)
    assert replay.status_code == 401
    assert replay.get_json()["type"] == "https://rtcstack.dev/errors/unauthorized"
    assert "used already" in replay.get_json()["detail"]


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_timestamp_beyond_300_seconds_is_refused_on_every_route(world, room_client, offset):
    """Whole seconds rounded away from the server clock (ceil ahead, floor behind): int(time.time()) + 301
    is only 300.x s ahead once the request reaches the server, which is within the limit."""
    reference = world["client"]
    for method, path, _operation in v1_operations(room_client):
        now = time.time()
        ts = (math.ceil(now) if offset > 0 else math.floor(now)) + offset
        response = reference.call(method, fill(path, world["params"]), ts=ts)
        assert response.status_code == 401, (method, path, response.get_data(as_text=True))
        problem = response.get_json()
        assert problem["type"] == "https://rtcstack.dev/errors/unauthorized"
        assert "X-RTCstack-Timestamp is more than 300 s from the server clock" in problem["detail"]


@pytest.mark.parametrize("offset", [-290, 290])
def test_a_timestamp_within_300_seconds_is_accepted(world, offset):
    response = world["client"].call("GET", "/v1/rooms", ts=int(time.time()) + offset)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_signature_with_another_secret_or_path_is_refused(world):
    reference = world["client"]
    forged = ReferenceClient(reference.client, f"{reference.key_id}.{'x' * 43}")
    response = forged.call("GET", "/v1/rooms")
    assert response.status_code == 401
    assert response.get_json()["detail"] == "request signature does not verify"
    headers = reference.headers("GET", "/v1/rooms", b"")
    other_path = reference.client.get("/v1/rooms/standup/participants", headers=headers)
    assert other_path.status_code == 401


def test_a_room_name_needing_percent_encoding(world):
    """fetch() sends /v1/rooms/team%20sync for `/v1/rooms/${roomId}`; rtcstack's server verifies the
    target as sent (req.url), so the client signs it so; the decoded spelling is accepted as well."""
    reference = world["client"]
    assert reference.call("POST", "/v1/rooms", {"name": "team sync"}).status_code == 201
    response = reference.call("GET", "/v1/rooms/team%20sync")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["name"] == "team sync"
    decoded = reference.headers("GET", "/v1/rooms/team sync/participants", b"")
    assert reference.client.get("/v1/rooms/team%20sync/participants", headers=decoded).status_code == 200
