"""GET /v2/analytics/peer-stats: the 100ms contract's shape and values, its auth, errors and tenancy."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from plugins.analytics.models import Call, Peer, Track
from tests.plugins.analytics.helpers import (
    CONFIG,
    aligned_base,
    in_db,
    post_reports,
    recv_stream,
    report,
    rollup,
    send_stream,
)

URL = "/v2/analytics/peer-stats"
ROOM = "review"


def management_token(key: str, secret_override: str | None = None, **claims) -> str:
    """A management token minted as the official 100ms server SDK mints it (AuthService.ts):
    iat 10 s in the past, nbf = iat, exp = nbf + 24 h, a UUID jti, HS256 with the app secret."""
    key_id, secret = key.split(".", 1)
    iat = int(time.time()) - 10
    payload = {"access_key": key_id, "type": "management", "version": 2, "iat": iat, "nbf": iat}
    payload["exp"] = iat + 24 * 3600
    payload["jti"] = str(uuid.uuid4())
    payload.update(claims)
    return jwt.encode(payload, secret_override or secret, algorithm="HS256")


def sdk_headers(key: str, **claims) -> dict:
    # The SDK sends Content-Type: application/json on its GETs (axios defaults).
    return {
        "Authorization": f"Bearer {management_token(key, **claims)}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }


def two_minutes(base: int) -> list[dict]:
    bodies = []
    for t in range(base, base + 120):
        for user in ("alice", "bob"):
            recv = recv_stream(loss=2.0 if t >= base + 60 else 0.0)
            if user == "bob" and t == base + 30:
                recv["video"]["freezes_ms"] = [650, 100]
            bodies.append(report(user, ROOM, t, [send_stream(rtt=50 if t >= base + 60 else 30), recv]))
    return bodies


@pytest.fixture
def ended(make_app, new_key):
    """A two-minute call of alice and bob that ended (the idle gap passed)."""
    app = make_app(CONFIG)
    key = new_key("report:ingest", "analytics:read")
    base = aligned_base(10)
    post_reports(app.test_client(), key, two_minutes(base))
    rollup(app)
    rollup(app, now=time.time() + 400)
    call = in_db(app, lambda: Call.get())
    assert call.finished
    return app, key, base, call


def peer(app, user: str) -> Peer:
    return in_db(app, lambda: Peer.get(Peer.user_id == user))


def track_id(app, user: str, kind: str, direction: str) -> str:
    p = peer(app, user)
    return in_db(
        app, lambda: Track.get(Track.peer == p.id, Track.kind == kind, Track.direction == direction)
    ).track_id


def test_an_ended_session_answers_the_contract_shape_with_hand_computed_series(ended):
    app, key, base, call = ended
    client = app.test_client()
    bob = peer(app, "bob")
    response = client.get(
        URL, query_string={"peer_id": bob.peer_id, "session_id": call.call_id}, headers=sdk_headers(key)
    )
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    stamps = [base * 1000, (base + 60) * 1000]
    assert response.get_json() == {
        "peer_id": bob.peer_id,
        "session_id": call.call_id,
        "room_id": ROOM,
        "publisher": {
            "video": [
                {
                    "track_id": track_id(app, "bob", "video", "publish"),
                    "type": "regular",
                    "rid": None,
                    "time_series": {
                        "timestamps": stamps,
                        "bitrate": [1_000_000, 1_000_000],
                        "fps": [30.0, 30.0],
                        "packet_loss_percent": [0.0, 0.0],
                        "rtt_ms": [30.0, 50.0],
                    },
                }
            ],
            "audio": [
                {
                    "track_id": track_id(app, "bob", "audio", "publish"),
                    "time_series": {
                        "timestamps": stamps,
                        "bitrate": [32_000, 32_000],
                        "packet_loss_percent": [0.0, 0.0],
                        "rtt_ms": [30.0, 50.0],
                        "jitter_ms": [5.0, 5.0],
                    },
                }
            ],
        },
        "subscriber": {
            "video": [
                {
                    "track_id": track_id(app, "bob", "video", "subscribe"),
                    "type": "regular",
                    # one freeze of 650 ms counts; the 100 ms pause is below 600 ms
                    "time_series": {
                        "timestamps": stamps,
                        "bitrate": [2_000_000, 2_000_000],
                        "fps": [30.0, 30.0],
                        "freeze_count": [1, 0],
                    },
                }
            ],
            "audio": [
                {
                    "track_id": track_id(app, "bob", "audio", "subscribe"),
                    "time_series": {
                        "timestamps": stamps,
                        "bitrate": [64_000, 64_000],
                        "concealed_samples": [None, None],  # this SDK sent no concealment counter
                        "packet_loss_percent": [0.0, 2.0],
                    },
                }
            ],
        },
    }


def test_the_peer_may_be_named_by_the_user_id_its_sdk_reported(ended):
    app, key, _, call = ended
    response = app.test_client().get(
        URL, query_string={"peer_id": "alice", "session_id": call.call_id}, headers=sdk_headers(key)
    )
    assert response.status_code == 200
    assert response.get_json()["peer_id"] == peer(app, "alice").peer_id


def test_a_running_session_needs_live_true(make_app, new_key):
    app = make_app(CONFIG)
    key = new_key("report:ingest", "analytics:read")
    base = aligned_base(3)
    post_reports(app.test_client(), key, two_minutes(base)[:40])
    rollup(app)
    call = in_db(app, lambda: Call.get())
    query = {"peer_id": "alice", "session_id": call.call_id}
    response = app.test_client().get(URL, query_string=query, headers=sdk_headers(key))
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == 404 and "has not ended" in body["message"] and "live=true" in body["message"]
    live = app.test_client().get(URL, query_string={**query, "live": "true"}, headers=sdk_headers(key))
    assert live.status_code == 200
    assert live.get_json()["publisher"]["video"][0]["time_series"]["timestamps"] == [base * 1000]


def test_simulcast_layers_screen_tracks_and_concealment_counters(make_app, new_key):
    """Layers sent as streams sharing a track_id with a video.rid; a screen stream; cumulative W3C
    concealedSamples counters turned into per-minute deltas (a counter reset counts its new value)."""
    app = make_app(CONFIG)
    key = new_key("report:ingest", "analytics:read")
    base = aligned_base(10)
    bodies = []
    for i, t in enumerate(range(base, base + 120)):
        layers = []
        for rid, kbps in (("h", 2500), ("m", 1200), ("l", 300)):
            stream = send_stream(video_kbps=kbps)
            stream.update(stream_id=f"cam-{rid}", track_id="T-CAM")
            stream["video"]["rid"] = rid
            del stream["audio"]
            layers.append(stream)
        screen = {"stream_id": "screen", "direction": "send", "video": {"frame_rate": 5, "bitrate": 800}}
        counter = 10 * i if i < 90 else 10 * (i - 90)  # reset (new PeerConnection) at i = 90
        recv = {
            "stream_id": "remote",
            "direction": "recv",
            "audio": {"bitrate": 64, "concealed_samples": counter, "total_samples_received": 480 * i},
            "network": {"packet_loss": 0.5},
        }
        bodies.append(report("carol", "layers", t, [*layers, screen, recv]))
    post_reports(app.test_client(), key, bodies)
    rollup(app)
    rollup(app, now=time.time() + 400)
    call = in_db(app, lambda: Call.get())
    body = (
        app.test_client()
        .get(URL, query_string={"peer_id": "carol", "session_id": call.call_id}, headers=sdk_headers(key))
        .get_json()
    )
    video = body["publisher"]["video"]
    assert [(v["track_id"], v["type"], v["rid"]) for v in video[:3]] == [
        ("T-CAM", "regular", r) for r in "hml"
    ]
    assert [v["time_series"]["bitrate"] for v in video[:3]] == [
        [2_500_000] * 2,
        [1_200_000] * 2,
        [300_000] * 2,
    ]
    assert video[3]["type"] == "screen" and video[3]["rid"] is None
    assert video[3]["time_series"]["fps"] == [5.0, 5.0]
    assert body["publisher"]["audio"] == []
    audio = body["subscriber"]["audio"]
    assert len(audio) == 1 and body["subscriber"]["video"] == []
    # minute 1: 59 deltas of 10 (its first sample opens the track); minute 2: 30 deltas of 10, the
    # reset sample counts its new value (0), then 29 deltas of 10
    assert audio[0]["time_series"]["concealed_samples"] == [590, 590]


def test_unknown_session_or_peer_and_another_accounts_key_are_404(ended, new_key):
    app, key, _, call = ended
    client = app.test_client()
    bob = peer(app, "bob")
    for query in (
        {"peer_id": bob.peer_id, "session_id": "0" * 24},
        {"peer_id": str(uuid.uuid4()), "session_id": call.call_id},
    ):
        response = client.get(URL, query_string=query, headers=sdk_headers(key))
        assert response.status_code == 404
        assert response.get_json()["code"] == 404 and "not found" in response.get_json()["message"]
    other = new_key("analytics:read", account="other")
    query = {"peer_id": bob.peer_id, "session_id": call.call_id}
    response = client.get(URL, query_string=query, headers=sdk_headers(other))
    assert response.status_code == 404 and "not found" in response.get_json()["message"]
    plain = client.get(URL, query_string=query, headers={"Authorization": f"Bearer {other}"})
    assert plain.status_code == 404


@pytest.mark.parametrize(
    "query, field",
    [
        ({"session_id": "s"}, "peer_id"),
        ({"peer_id": "p"}, "session_id"),
        ({"peer_id": "", "session_id": "s"}, "peer_id"),
        ({"peer_id": "p", "session_id": ""}, "session_id"),
        ({"peer_id": "p" * 65, "session_id": "s"}, "peer_id"),
        ({"peer_id": "p", "session_id": "s" * 65}, "session_id"),
        ({"peer_id": "p\x00", "session_id": "s"}, "peer_id"),
        ({"peer_id": "p", "session_id": "s", "live": "maybe"}, "live"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(ended, query, field):
    app, key, _, _ = ended
    response = app.test_client().get(URL, query_string=query, headers=sdk_headers(key))
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 400 and body["message"].startswith(f"{field}:")


def test_plain_bearer_api_keys_work_and_credentials_are_checked(ended, new_key):
    app, key, _, call = ended
    client = app.test_client()
    query = {"peer_id": "alice", "session_id": call.call_id}
    assert client.get(URL, query_string=query, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    cases = [
        ({}, 401),
        ({"Authorization": f"Bearer {management_token(key, secret_override='x' * 43)}"}, 401),
        (sdk_headers(key, exp=int(time.time()) - 3600), 401),
        (sdk_headers(new_key("report:read")), 403),
    ]
    for headers, status in cases:
        response = client.get(URL, query_string=query, headers=headers)
        assert response.status_code == status
        body = response.get_json()
        assert body["code"] == status and body["message"]  # the SDK shows `message`


@pytest.mark.parametrize(
    "claims",
    [
        # What a 100ms app (auth) token carries: it lets a client SDK join a room, not call the REST API.
        {"type": "app", "room_id": "room-1", "user_id": "alice", "role": "host"},
        {"type": None},
        {"type": "Management"},
    ],
)
def test_a_jwt_that_is_not_a_management_token_is_refused(ended, claims):
    app, key, _, call = ended
    client = app.test_client()
    query = {"peer_id": "alice", "session_id": call.call_id}
    response = client.get(URL, query_string=query, headers=sdk_headers(key, **claims))
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == 401 and "management" in body["message"]
    # The same key's management token still works: the type is what was refused.
    assert client.get(URL, query_string=query, headers=sdk_headers(key)).status_code == 200


def test_a_jwt_without_a_type_claim_is_refused(ended):
    app, key, _, call = ended
    key_id, secret = key.split(".", 1)
    iat = int(time.time()) - 10
    token = jwt.encode({"access_key": key_id, "iat": iat, "exp": iat + 600}, secret, algorithm="HS256")
    response = app.test_client().get(
        URL,
        query_string={"peer_id": "alice", "session_id": call.call_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert "management" in response.get_json()["message"]
