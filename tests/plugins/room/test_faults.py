"""LiveKit down, slow, misconfigured or failing: a 503 (or the mapped status) problem naming the cause,
never a 500, and nothing stored for what LiveKit did not do. Against the LiveKit double (a real HTTP
server speaking Twirp) and a closed port."""

from __future__ import annotations

import pytest

from plugins.room.models import Ingress, Room
from tests.conftest import count_rows
from tests.faults import free_port
from tests.plugins.room.test_api import problem

TOKEN = {"roomId": "r", "userId": "u", "name": "U", "role": "host"}
# Every route that calls LiveKit, with a body where it needs one.
LIVEKIT_ROUTES = [
    ("POST", "/v1/rooms", {"name": "r"}),
    ("GET", "/v1/rooms", None),
    ("GET", "/v1/rooms/r", None),
    ("DELETE", "/v1/rooms/r", None),
    ("GET", "/v1/rooms/r/participants", None),
    ("DELETE", "/v1/rooms/r/participants/u", None),
    ("POST", "/v1/rooms/r/participants/u/mute", {"trackSid": "TR_x"}),
    ("POST", "/v1/rooms/r/ingress", {}),
    ("GET", "/v1/rooms/r/ingress", None),
    ("DELETE", "/v1/rooms/r/ingress/IN_x", None),
]


def call(client, headers, method, path, body):
    return client.open(path, method=method, json=body, headers=headers)


def test_livekit_down_is_503_with_retry_after_on_every_route(room_app, room_client, admin, livekit):
    livekit.down()
    for method, path, body in LIVEKIT_ROUTES:
        response = call(room_client, admin, method, path, body)
        answer = problem(response, 503, "unavailable")
        assert response.headers["Retry-After"] == "5"
        assert "LiveKit" in answer["detail"] and "refused" in answer["detail"], answer["detail"]
        assert livekit.api_secret not in answer["detail"]
    # Tokens need no call to LiveKit: they are still issued.
    assert room_client.post("/v1/token", json=TOKEN, headers=admin).status_code == 200
    assert count_rows(room_app, Room) == 0 and count_rows(room_app, Ingress) == 0
    livekit.up()
    assert call(room_client, admin, "POST", "/v1/rooms", {"name": "r"}).status_code == 201


def test_a_closed_port_is_503(make_app, new_key, livekit):
    settings = {
        **livekit.settings(),
        "livekit_url": f"ws://127.0.0.1:{free_port()}",
        "livekit_retry_after_seconds": 30,
    }
    app = make_app({"plugins": {"room": settings}})
    response = app.test_client().get("/v1/rooms", headers={"X-API-Key": new_key("room:admin")})
    assert problem(response, 503, "unavailable")["detail"].startswith("LiveKit is unavailable")
    assert response.headers["Retry-After"] == "30"


def test_a_slow_livekit_is_503_within_the_timeout(make_app, new_key, livekit):
    import time

    app = make_app({"plugins": {"room": livekit.settings(timeout=0.3)}})
    livekit.delay(2)
    started = time.monotonic()
    response = app.test_client().post(
        "/v1/rooms", json={"name": "slow"}, headers={"X-API-Key": new_key("room:admin")}
    )
    assert time.monotonic() - started < 1.5
    assert "did not answer" in problem(response, 503, "unavailable")["detail"]


def test_a_proxy_page_instead_of_livekit_is_503(room_client, admin, livekit):
    livekit.answer_garbage()
    answer = problem(room_client.get("/v1/rooms", headers=admin), 503, "unavailable")
    assert "LiveKit" in answer["detail"]


def test_wrong_credentials_are_503_naming_the_settings(make_app, new_key, livekit, caplog):
    settings = {**livekit.settings(), "livekit_api_secret": "not-the-secret-" * 4}
    app = make_app({"plugins": {"room": settings}})
    response = app.test_client().get("/v1/rooms", headers={"X-API-Key": new_key("room:admin")})
    answer = problem(response, 503, "unavailable")
    assert "livekit_api_key" in answer["detail"] and "livekit_api_secret" in answer["detail"]
    assert "not-the-secret" not in answer["detail"]
    assert response.headers["Retry-After"]
    assert any("refused our credentials" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("code", "status", "slug"),
    [
        ("invalid_argument", 400, "validation"),
        ("failed_precondition", 409, "conflict"),
        ("already_exists", 409, "conflict"),
        ("not_found", 404, "not-found"),
        ("resource_exhausted", 503, "unavailable"),
        ("internal", 502, "bad-gateway"),
        ("unknown", 502, "bad-gateway"),
        ("unavailable", 503, "unavailable"),
        ("permission_denied", 503, "unavailable"),
    ],
)
def test_twirp_errors_map_to_problems(room_app, room_client, admin, livekit, code, status, slug):
    livekit.fail_next(code, f"livekit says {code}")
    response = room_client.post("/v1/rooms", json={"name": "r"}, headers=admin)
    answer = problem(response, status, slug)
    if status != 404:
        assert code in answer["detail"]
    assert ("Retry-After" in response.headers) == (status == 503)
    assert count_rows(room_app, Room) == 0


def test_metadata_refused_by_livekit_is_a_400(make_app, new_key):
    """LiveKit's own limit (max_metadata_size) below ours: its invalid_argument reaches the client."""
    from tests.livekit_double import LiveKitDouble

    with LiveKitDouble(max_metadata_size=10) as small:
        app = make_app({"plugins": {"room": small.settings()}})
        response = app.test_client().post(
            "/v1/rooms",
            json={"name": "r", "metadata": "x" * 11},
            headers={"X-API-Key": new_key("room:admin")},
        )
    assert "metadata" in problem(response, 400, "validation")["detail"]


def test_livekit_without_its_ingress_service_is_503(room_client, admin, livekit):
    livekit.ingress_enabled = False
    response = room_client.post("/v1/rooms/r/ingress", json={}, headers=admin)
    answer = problem(response, 503, "unavailable")
    assert "ingress not connected" in answer["detail"] and response.headers["Retry-After"]
