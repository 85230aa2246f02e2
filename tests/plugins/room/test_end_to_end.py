"""Issue 10's "Done when", end to end, through real processes and the contract's routes only.

A new user configures LiveKit's URL, key and secret, creates a room, issues tokens per role, sees
participants join, lists and kicks them, creates an ingress, subscribes a webhook, and receives
signed room and participant events made from LiveKit's webhooks.

The processes are real: `mediaplane serve` (gunicorn, gevent) and `mediaplane worker` (RQ) on this
test's database (SQLite or PostgreSQL) and Redis, and an HTTP receiver on loopback (allow-listed in
the webhooks plugin's settings). LiveKit is tests/livekit_double.py (no LiveKit server installs
here): it speaks LiveKit's Twirp wire format, checks grants as LiveKit does, and POSTs its webhooks
to the server signed as LiveKit signs them (protojson body, bare JWT with the body's sha256).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests

from tests.faults import MEDIAPLANE, Server

# The contract's role table: (publish, subscribe, room admin); "mute others" is enforced by the API.
ROLE_GRANTS = {
    "host": (True, True, True),
    "moderator": (True, True, False),
    "participant": (True, True, False),
    "viewer": (False, True, False),
}
WANTED = ["room_created", "participant_joined", "participant_left", "room_closed"]


class Receiver:
    """A customer's webhook endpoint on loopback: keeps every request, answers 200."""

    def __init__(self):
        self.requests: list[dict] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mediaplane"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def wait_for(self, predicate, timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.2)
        raise AssertionError(f"deliveries so far: {self.events()}")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def verify_delivery(request: dict, secret: str) -> dict:
    """Check a delivery as docs/webhooks.md tells receivers to: HMAC-SHA256 of "<timestamp>.<body>"."""
    headers, body = request["headers"], request["body"]
    timestamp = headers["x-mediaplane-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-mediaplane-signature"], "v1=" + expected), headers
    assert abs(time.time() - int(timestamp)) < 300
    return json.loads(body)


@pytest.fixture
def stack(tmp_path, database_url, redis_url, livekit, receiver):
    """`mediaplane serve` and `mediaplane worker` configured for the double, whose webhooks go to the
    server."""
    config = tmp_path / "mediaplane.toml"
    config.write_text(
        f"""
[core]
database_url = {json.dumps(database_url)}
redis_url = {json.dumps(redis_url)}

[plugins.room]
livekit_url = {json.dumps(livekit.ws_url)}
livekit_api_key = {json.dumps(livekit.api_key)}
livekit_api_secret = {{env = "LIVEKIT_API_SECRET"}}

[plugins.webhooks]
allow_private_cidrs = ["127.0.0.1/32"]
retry_base_seconds = 1
"""
    )
    env = {"MEDIAPLANE_CONFIG": str(config), "LIVEKIT_API_SECRET": livekit.api_secret}
    with Server(tmp_path, env) as server:
        worker_log = open(tmp_path / "worker.log", "w")
        worker = subprocess.Popen(
            [MEDIAPLANE, "worker"],
            env=server.env,
            cwd=tmp_path,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        livekit.webhook_url = f"{server.base}/v1/livekit/webhook"
        try:
            yield server
        finally:
            livekit.webhook_url = None
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            worker_log.close()


def test_done_when(stack, livekit, receiver, tmp_path):
    api = requests.Session()
    api.headers["X-API-Key"] = stack.key
    base = stack.base + "/v1"

    health = api.get(f"{base}/health").json()
    assert health["status"] == "ok" and health["capabilities"]["livekit"] is True, health

    # Subscribe first: only events after the subscription are delivered.
    subscribed = api.post(f"{base}/webhooks", json={"url": receiver.url, "events": WANTED})
    assert subscribed.status_code == 201, subscribed.text
    secret = subscribed.json()["secret"]
    assert api.get(f"{base}/webhooks/{subscribed.json()['id']}").json()["secret"] == "***"

    created = api.post(f"{base}/rooms", json={"name": "standup", "maxParticipants": 10, "emptyTimeout": 300})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "standup"
    livekit_room = next(iter(livekit.rooms))  # the account's namespaced name in LiveKit
    assert livekit_room.endswith("_standup")

    # Tokens per role: LiveKit's grants as the contract's table says.
    for role, (publish, subscribe, admin) in ROLE_GRANTS.items():
        request = {"roomId": "standup", "userId": f"{role}-1", "name": role.title(), "role": role}
        answer = api.post(f"{base}/token", json=request)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["url"] == livekit.ws_url and body["expiresAt"].endswith("Z")
        claims = jwt.decode(body["token"], livekit.api_secret, algorithms=["HS256"], issuer=livekit.api_key)
        video = claims["video"]
        assert claims["sub"] == f"{role}-1" and claims["name"] == role.title()
        assert video["room"] == livekit_room and video["roomJoin"] is True
        assert video.get("canPublish", False) is publish, (role, video)
        assert video.get("canSubscribe", False) is subscribe, (role, video)
        assert bool(video.get("roomAdmin")) is admin, (role, video)

    # Participants join in LiveKit (the double), which tells the server by webhook.
    livekit.join(livekit_room, "host-1", name="Host", tracks=["audio", "video"])
    livekit.join(livekit_room, "viewer-1", name="Viewer")
    listed = api.get(f"{base}/rooms/standup/participants")
    assert sorted(p["identity"] for p in listed.json()["participants"]) == ["host-1", "viewer-1"]
    kicked = api.delete(f"{base}/rooms/standup/participants/viewer-1")
    assert kicked.status_code == 204, kicked.text
    assert [p["identity"] for p in api.get(f"{base}/rooms/standup/participants").json()["participants"]] == [
        "host-1"
    ]

    ingress = api.post(f"{base}/rooms/standup/ingress", json={"type": "rtmp", "participantName": "OBS"})
    assert ingress.status_code == 201, ingress.text
    assert ingress.json()["url"] and ingress.json()["streamKey"]
    assert [i["ingressId"] for i in api.get(f"{base}/rooms/standup/ingress").json()["ingress"]] == [
        ingress.json()["ingressId"]
    ]

    assert api.delete(f"{base}/rooms/standup").status_code == 204

    # LiveKit's webhooks all reached the server and were acted on once each.
    livekit.wait_webhooks()
    assert livekit.deliveries and all(d.get("status") == 200 for d in livekit.deliveries), livekit.deliveries

    expected = {"room_created": 1, "participant_joined": 2, "participant_left": 2, "room_closed": 1}

    def complete(events):
        return len(events) >= sum(expected.values())

    receiver.wait_for(complete)
    delivered = [verify_delivery(r, secret) for r in receiver.requests]
    by_event: dict[str, list[dict]] = {}
    for event in delivered:
        by_event.setdefault(event["event"], []).append(event)
    assert {name: len(events) for name, events in by_event.items()} == expected, delivered
    assert sorted(e["data"]["participantId"] for e in by_event["participant_joined"]) == [
        "host-1",
        "viewer-1",
    ]
    # The kicked viewer left; the host left when the room closed (LiveKit sends participant_left
    # for everyone still in a deleted room).
    assert sorted(e["data"]["participantId"] for e in by_event["participant_left"]) == ["host-1", "viewer-1"]
    assert {e["data"]["roomId"] for e in delivered} == {"standup"}  # the caller's name, not LiveKit's
    assert len({e["id"] for e in delivered}) == len(delivered)

    # The room is closed in LiveKit: not found any more.
    assert api.get(f"{base}/rooms/standup").status_code == 404

    # The subscription's delivery log says the same: each delivery succeeded at its first attempt.
    webhook_id = subscribed.json()["id"]
    deadline = time.monotonic() + 30
    while True:  # the worker records the answer just after the receiver got the request
        log = api.get(f"{base}/webhooks/{webhook_id}/deliveries").json()["deliveries"]
        if all(d["status"] == "succeeded" for d in log) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(d["id"] for d in log) == sorted(e["id"] for e in delivered)
    assert {(d["status"], d["attempts"], d["responseCode"]) for d in log} == {("succeeded", 1, 200)}
