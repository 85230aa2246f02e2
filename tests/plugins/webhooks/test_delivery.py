"""Deliveries to a real HTTP receiver on loopback through a real RQ worker (SimpleWorker on the real
Redis), on SQLite and PostgreSQL: signed bodies, matching, retries with backoff after 500s and
timeouts, giving up, redirects, the SSRF checks at delivery, the test route, the log and metrics."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from core.queue import set_worker_app
from plugins.webhooks import delivery as http
from tests.plugins.webhooks.common import (
    FAST,
    account_headers,
    all_finished,
    deliveries,
    delivery_rows,
    fire_in,
    subscribe,
    work_until,
)
from tests.plugins.webhooks.receiver import Receiver, doc_snippet, documented_verifier
from tests.shared_data import skip_unless_ci

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def hook_app(make_app):
    app = make_app({"plugins": {"webhooks": FAST}})
    set_worker_app(app)
    return app


@pytest.fixture
def client(hook_app):
    return hook_app.test_client()


def test_events_reach_the_matching_webhooks_signed(hook_app, client, receiver):
    headers, account = account_headers(hook_app)
    every = subscribe(client, headers, receiver.url + "&w=every")
    joins = subscribe(client, headers, receiver.url + "&w=joins", ["participant_joined"])
    subscribe(client, headers, receiver.url + "&w=closed", ["room_closed"])
    other_headers, other_account = account_headers(hook_app, "other")
    subscribe(client, other_headers, receiver.url + "&w=other")

    fire_in(hook_app, "room_started", account_id=account, room_name="standup", started_at=T0)
    fire_in(
        hook_app,
        "participant_joined",
        account_id=account,
        room_name="standup",
        identity="alice",
        joined_at=T0 + 5,
    )
    work_until(hook_app, all_finished(hook_app, 3))
    requests = receiver.wait_for(3)
    assert len(requests) == 3  # nothing for the room_closed subscription, nor for the other account

    verify = documented_verifier()
    by_target = {}
    for request in requests:
        target = request["path"].rsplit("=", 1)[1]
        secret = {"every": every["secret"], "joins": joins["secret"]}[target]
        assert verify(secret, request["headers"], request["body"]), request["headers"]
        assert not verify("whsec_wrong", request["headers"], request["body"])
        assert not verify(secret, request["headers"], request["body"] + b" ")
        body = json.loads(request["body"])
        assert request["headers"]["X-Mediaplane-Delivery"] == body["id"]
        assert request["headers"]["X-Mediaplane-Event"] == body["event"]
        assert request["headers"]["X-Mediaplane-Attempt"] == "1"
        assert request["headers"]["Content-Type"] == "application/json"
        assert request["headers"]["Host"] == f"127.0.0.1:{receiver.port}"
        by_target.setdefault(target, []).append(body)

    created = next(b for b in by_target["every"] if b["event"] == "room_created")
    assert created["data"] == {"roomId": "standup", "startedAt": "2026-01-01T00:00:00.000Z"}
    assert created["timestamp"] == "2026-01-01T00:00:00.000Z"
    joined = [b for t in by_target.values() for b in t if b["event"] == "participant_joined"]
    assert len(joined) == 2
    assert joined[0]["eventId"] == joined[1]["eventId"] and joined[0]["id"] != joined[1]["id"]
    assert joined[0]["data"] == {
        "roomId": "standup",
        "participantId": "alice",
        "joinedAt": "2026-01-01T00:00:05.000Z",
    }

    log = deliveries(client, headers, every["id"])
    assert [d["event"] for d in log] == ["participant_joined", "room_created"]
    first = log[1]
    assert first["status"] == "succeeded" and first["attempts"] == 1 and first["responseCode"] == 200
    assert first["error"] is None and first["completedAt"] and first["durationMs"] is not None
    assert first["responseBody"].startswith('{"answered": 200}') and len(first["responseBody"]) == 64
    assert deliveries(client, other_headers, subscribe(client, other_headers, receiver.url)["id"]) == []


def test_the_node_snippet_verifies_a_real_delivery(hook_app, client, receiver, tmp_path):
    if shutil.which("node") is None:
        # docs/webhooks.md promises a Node snippet that verifies; CI must prove it (.ci/run installs nodejs).
        message = "node is missing: the Node snippet of docs/webhooks.md cannot run (apt-get install nodejs)"
        skip_unless_ci(message)
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    fire_in(hook_app, "room_finished", account_id=account, room_name="r", finished_at=T0)
    work_until(hook_app, all_finished(hook_app, 1))
    request = receiver.wait_for(1)[0]
    script = tmp_path / "verify.js"
    script.write_text(
        doc_snippet("js")
        + "\nconst input = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        + "const body = Buffer.from(input.body, 'base64');\n"
        + "console.log(JSON.stringify([verifyWebhook(input.secret, input.headers, body),"
        + " verifyWebhook('whsec_wrong', input.headers, body),"
        + " verifyWebhook(input.secret, input.headers, Buffer.concat([body, Buffer.from(' ')]))]));\n"
    )
    import base64

    payload = {
        "secret": hook["secret"],
        "headers": {k.lower(): v for k, v in request["headers"].items()},
        "body": base64.b64encode(request["body"]).decode(),
    }
    out = subprocess.run(
        ["node", str(script)], input=json.dumps(payload), capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [True, False, False]


def test_failed_attempts_are_retried_with_backoff_until_success(hook_app, client, receiver):
    receiver.script = [500, 503]
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    fire_in(hook_app, "room_started", account_id=account, room_name="r", started_at=T0)

    def after_first():
        rows = delivery_rows(hook_app)
        return rows and rows[0].attempts >= 1 and rows[0].status == "pending"

    work_until(hook_app, after_first, what="first attempt")
    pending = deliveries(client, headers, hook["id"])[0]
    assert pending["status"] == "pending" and pending["attempts"] == 1
    assert pending["responseCode"] == 500 and "answered 500" in pending["error"]
    assert pending["nextAttemptAt"] is not None

    work_until(hook_app, all_finished(hook_app, 1))
    requests = receiver.wait_for(3)
    assert [r["headers"]["X-Mediaplane-Attempt"] for r in requests] == ["1", "2", "3"]
    assert len({r["headers"]["X-Mediaplane-Delivery"] for r in requests}) == 1
    assert len({r["body"] for r in requests}) == 1  # the same body each time, signed anew
    verify = documented_verifier()
    assert all(verify(hook["secret"], r["headers"], r["body"]) for r in requests)
    # exponential backoff: 1 s, then 2 s (RQ schedules in whole seconds)
    first_wait = requests[1]["at"] - requests[0]["at"]
    second_wait = requests[2]["at"] - requests[1]["at"]
    assert first_wait >= 0.9 and second_wait >= 1.9, (first_wait, second_wait)
    done = deliveries(client, headers, hook["id"])[0]
    assert done["status"] == "succeeded" and done["attempts"] == 3 and done["responseCode"] == 200
    assert done["error"] is None and done["nextAttemptAt"] is None


def test_a_delivery_fails_after_max_attempts_and_metrics_count_it(hook_app, client, receiver):
    receiver.default = 500
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    fire_in(hook_app, "ingress_started", account_id=account, room_name="r", ingress_id="IN_1", started_at=T0)
    work_until(hook_app, all_finished(hook_app, 1))
    assert len(receiver.requests) == 3
    failed = deliveries(client, headers, hook["id"])[0]
    assert failed["status"] == "failed" and failed["attempts"] == 3 and failed["responseCode"] == 500
    assert deliveries(client, headers, hook["id"], status="failed")[0]["id"] == failed["id"]
    assert deliveries(client, headers, hook["id"], status="succeeded") == []

    text = client.get("/metrics").get_data(as_text=True)
    assert 'mediaplane_webhook_deliveries{status="failed"} 1.0' in text
    assert 'mediaplane_webhook_deliveries{status="pending"} 0.0' in text
    assert _sample(text, 'mediaplane_webhook_attempts_total{outcome="http_error"}') >= 3
    assert _sample(text, "mediaplane_webhook_attempt_duration_seconds_count") >= 3
    assert _sample(text, 'mediaplane_webhook_deliveries_finished_total{status="failed"}') >= 1
    assert 'mediaplane_queue_depth{queue="webhooks"}' in text


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_a_receiver_slower_than_the_timeout_is_retried(hook_app, client, receiver):
    receiver.script = [("sleep", 5, 200)]
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    fire_in(hook_app, "room_started", account_id=account, room_name="r", started_at=T0)
    work_until(hook_app, all_finished(hook_app, 1), seconds=20)
    done = deliveries(client, headers, hook["id"])[0]
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert len(receiver.requests) == 2


def test_the_total_timeout_cuts_off_a_receiver_that_trickles_its_answer():
    """Each byte comes within the read timeout; only the total limit of the attempt stops it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            if stop.is_set():
                break
            try:
                conn.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        outcome = http.send(
            f"http://127.0.0.1:{listener.getsockname()[1]}/",
            b"{}",
            {},
            allowed=http.parse_networks(["127.0.0.0/8"]),
            connect_timeout=1,
            total_timeout=1.5,
            max_response_bytes=10,
        )
    finally:
        stop.set()
        listener.close()
    assert outcome.kind == "timeout" and outcome.retryable
    assert 1.4 <= outcome.duration < 2.5, outcome.duration


def test_redirects_are_not_followed(hook_app, client, receiver):
    receiver.script = [("redirect", "http://169.254.169.254/latest/meta-data")]
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert answer["delivered"] is False and answer["statusCode"] == 302
    assert "redirects are not followed" in answer["error"]
    assert len(receiver.requests) == 1


def test_a_name_resolving_to_loopback_is_refused_at_delivery(make_app, receiver, monkeypatch):
    """DNS rebinding: the name was accepted on save; at delivery it resolves to 127.0.0.1."""
    app = make_app({"plugins": {"webhooks": {**FAST, "allow_private_cidrs": []}}})
    set_worker_app(app)
    client = app.test_client()
    headers, account = account_headers(app)
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    hook = subscribe(client, headers, f"http://rebind.example.com:{receiver.port}/hook")
    fire_in(app, "room_started", account_id=account, room_name="r", started_at=T0)
    work_until(app, all_finished(app, 1))
    refused = deliveries(client, headers, hook["id"])[0]
    assert refused["status"] == "failed" and refused["attempts"] == 1  # not retried
    assert "resolves to 127.0.0.1, a loopback address" in refused["error"]
    assert receiver.requests == []

    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert answer["delivered"] is False and answer["statusCode"] is None and "loopback" in answer["error"]

    # one bad address among good ones is enough to refuse
    monkeypatch.setattr(http, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.7"])
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert "10.0.0.7, a private address" in answer["error"]
    assert receiver.requests == []


def test_an_allow_listed_name_is_reached_at_the_checked_address(hook_app, client, receiver, monkeypatch):
    """The connection goes to the address that was checked, with the URL's name as Host."""
    asked = []
    monkeypatch.setattr(http, "resolve", lambda host, port: asked.append((host, port)) or ["127.0.0.1"])
    headers, _ = account_headers(hook_app)
    hook = subscribe(client, headers, f"http://hooks.internal.example:{receiver.port}/in")
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert answer == {"delivered": True, "statusCode": 200, "deliveryId": answer["deliveryId"]}
    assert asked == [("hooks.internal.example", receiver.port)]
    request = receiver.requests[0]
    assert request["headers"]["Host"] == f"hooks.internal.example:{receiver.port}"
    assert request["path"] == "/in"


def test_the_test_route_sends_a_signed_test_event_and_logs_it(hook_app, client, receiver):
    headers, _ = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["delivered"] is True and body["statusCode"] == 200 and "error" not in body
    request = receiver.requests[0]
    sent = json.loads(request["body"])
    assert sent["event"] == "test" and sent["id"] == body["deliveryId"]
    assert sent["data"] == {"message": "mediaplane webhook test", "webhookId": hook["id"]}
    assert documented_verifier()(hook["secret"], request["headers"], request["body"])
    log = deliveries(client, headers, hook["id"])
    assert log[0]["id"] == body["deliveryId"] and log[0]["status"] == "succeeded"

    receiver.default = 500
    failed = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert failed["delivered"] is False and failed["statusCode"] == 500 and "500" in failed["error"]


def test_the_test_route_reports_an_unreachable_receiver_within_the_timeout(hook_app, client):
    headers, _ = account_headers(hook_app)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    hook = subscribe(client, headers, f"http://127.0.0.1:{port}/nobody")
    started = time.monotonic()
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).get_json()
    assert time.monotonic() - started < 3
    assert answer["delivered"] is False and answer["statusCode"] is None
    assert "connect" in answer["error"]


def test_the_test_route_is_rate_limited_per_key(make_app, receiver):
    app = make_app({"plugins": {"webhooks": {**FAST, "test_rate_limit": "2/minute"}}})
    client = app.test_client()
    headers, _ = account_headers(app)
    hook = subscribe(client, headers, receiver.url)
    for _ in range(2):
        assert client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers).status_code == 200
    limited = client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["type"] == "https://rtcstack.dev/errors/rate-limited"
    assert len(receiver.requests) == 2


def test_a_rotated_secret_signs_the_next_attempts(hook_app, client, receiver):
    headers, _ = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    rotated = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"rotateSecret": True}, headers=headers
    ).get_json()
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers)
    request = receiver.requests[0]
    verify = documented_verifier()
    assert verify(rotated["secret"], request["headers"], request["body"])
    assert not verify(hook["secret"], request["headers"], request["body"])


EVENTS = [
    ("room_started", {"room_name": "r", "started_at": T0}, "room_created", {"roomId": "r", "startedAt": "Z"}),
    ("room_finished", {"room_name": "r", "finished_at": T0}, "room_closed", {"roomId": "r", "closedAt": "Z"}),
    (
        "participant_joined",
        {"room_name": "r", "identity": "a", "joined_at": T0},
        "participant_joined",
        {"roomId": "r", "participantId": "a", "joinedAt": "Z"},
    ),
    (
        "participant_left",
        {"room_name": "r", "identity": "a", "left_at": T0},
        "participant_left",
        {"roomId": "r", "participantId": "a", "leftAt": "Z"},
    ),
    (
        "track_published",
        {
            "room_name": "r",
            "identity": "a",
            "track_sid": "TR_1",
            "kind": "audio",
            "source": "microphone",
            "published_at": T0,
        },
        "track_published",
        {
            "roomId": "r",
            "participantId": "a",
            "trackSid": "TR_1",
            "kind": "audio",
            "source": "microphone",
            "publishedAt": "Z",
        },
    ),
    (
        "recording_started",
        {"room_name": "r", "recording_id": "rec_1", "egress_id": "EG_1", "started_at": T0},
        "recording_started",
        {"roomId": "r", "recordingId": "rec_1", "egressId": "EG_1", "startedAt": "Z"},
    ),
    (
        "recording_stopped",
        {
            "room_name": "r",
            "recording_id": "rec_1",
            "egress_id": "EG_1",
            "stopped_at": T0,
            "status": "complete",
        },
        "recording_stopped",
        {"roomId": "r", "recordingId": "rec_1", "egressId": "EG_1", "status": "complete", "stoppedAt": "Z"},
    ),
    (
        "ingress_started",
        {"room_name": "r", "ingress_id": "IN_1", "started_at": T0},
        "ingress_started",
        {"roomId": "r", "ingressId": "IN_1", "startedAt": "Z"},
    ),
    (
        "ingress_stopped",
        {"room_name": "r", "ingress_id": "IN_1", "stopped_at": T0},
        "ingress_stopped",
        {"roomId": "r", "ingressId": "IN_1", "stoppedAt": "Z"},
    ),
    (
        "transcription_completed",
        {"transcription_id": "tr_1", "recording_id": "rec_1", "room_name": "r", "completed_at": T0},
        "transcription_completed",
        {"roomId": "r", "transcriptionId": "tr_1", "recordingId": "rec_1", "completedAt": "Z"},
    ),
]


@pytest.mark.parametrize("core_event, kwargs, event, data", EVENTS, ids=[e[0] for e in EVENTS])
def test_each_core_event_becomes_its_contract_event(hook_app, client, core_event, kwargs, event, data):
    headers, account = account_headers(hook_app)
    everything = subscribe(client, headers, "https://hooks.example.com/all")
    only_this = subscribe(client, headers, "https://hooks.example.com/one", [event])
    unrelated = subscribe(
        client,
        headers,
        "https://hooks.example.com/none",
        ["room_created" if event != "room_created" else "room_closed"],
    )
    fire_in(hook_app, core_event, account_id=account, **kwargs)
    for hook, expected in [(everything, 1), (only_this, 1), (unrelated, 0)]:
        assert len(deliveries(client, headers, hook["id"])) == expected
    row = next(r for r in delivery_rows(hook_app) if r.webhook_id == everything["id"])
    payload = json.loads(row.payload)
    expected = {k: ("2026-01-01T00:00:00.000Z" if v == "Z" else v) for k, v in data.items()}
    assert payload["event"] == event and payload["data"] == expected
    assert payload["id"] == row.id and payload["eventId"].startswith("evt_")
    # the job is queued on the webhooks queue
    assert hook_app.extensions["mediaplane"].redis.llen("rq:queue:webhooks") == 2


def test_the_log_is_paged_newest_first(hook_app, client):
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, "https://hooks.example.com/all")
    for index in range(5):
        fire_in(hook_app, "room_started", account_id=account, room_name=f"r{index}", started_at=T0 + index)
    response = client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=2", headers=headers).get_json()
    seen = [
        json.loads(next(r.payload for r in delivery_rows(hook_app) if r.id == d["id"]))["data"]["roomId"]
        for d in response["deliveries"]
    ]
    assert seen == ["r4", "r3"]
    pages = [response["deliveries"]]
    while response["nextCursor"]:
        response = client.get(
            f"/v1/webhooks/{hook['id']}/deliveries?limit=2&cursor={response['nextCursor']}", headers=headers
        ).get_json()
        pages.append(response["deliveries"])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({d["id"] for p in pages for d in p}) == 5
    first = pages[0][0]
    assert first["status"] == "pending" and first["attempts"] == 0 and first["responseCode"] is None


def test_deleting_a_webhook_drops_its_pending_deliveries(hook_app, client, receiver):
    headers, account = account_headers(hook_app)
    hook = subscribe(client, headers, receiver.url)
    fire_in(hook_app, "room_started", account_id=account, room_name="r", started_at=T0)
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=headers).status_code == 204
    work_until(hook_app, lambda: hook_app.extensions["mediaplane"].redis.llen("rq:queue:webhooks") == 0)
    assert delivery_rows(hook_app) == [] and receiver.requests == []


def test_slow_name_resolution_counts_against_the_total_timeout(monkeypatch):
    monkeypatch.setattr(http, "resolve", lambda host, port: time.sleep(5) or ["93.184.216.34"])
    started = time.monotonic()
    outcome = http.send(
        "https://slow-dns.example.com/",
        b"{}",
        {},
        allowed=[],
        connect_timeout=0.5,
        total_timeout=1.0,
        max_response_bytes=10,
    )
    assert outcome.kind == "timeout" and "resolving slow-dns.example.com" in outcome.error
    assert time.monotonic() - started < 2


def test_old_finished_deliveries_are_purged_by_the_scheduled_job(hook_app, client):
    import datetime as dt

    from core.db import db, utcnow
    from core.queue import enqueue
    from plugins.webhooks.models import Delivery

    headers, account = account_headers(hook_app)
    subscribe(client, headers, "https://hooks.example.com/all")
    for index in range(3):
        fire_in(hook_app, "room_started", account_id=account, room_name=f"r{index}", started_at=T0)
    rows = delivery_rows(hook_app)
    old = dt.datetime(2020, 1, 1)
    with hook_app.app_context(), db.connection_context():
        Delivery.update(status="succeeded", completed_at=old).where(Delivery.id == rows[0].id).execute()
        Delivery.update(status="failed", completed_at=utcnow()).where(Delivery.id == rows[1].id).execute()
        hook_app.extensions["mediaplane"].redis.delete("rq:queue:webhooks")  # not to deliver them here
        job = enqueue("webhooks.purge_deliveries")
    work_until(hook_app, lambda: job.refresh() or job.get_status() == "finished")
    assert job.return_value() == 1
    assert {r.id for r in delivery_rows(hook_app)} == {rows[1].id, rows[2].id}  # recent and pending kept
