"""Helpers of the console tests: sign in through the real form (CSRF token included), seed reports."""

from __future__ import annotations

import copy
import re
import time

from tests.conftest import EXAMPLE_REPORT

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
COOKIE = "mediaplane_console"


def csrf_of(client, path: str = "/console/sign-in") -> str:
    """The CSRF token a page of the console hands out (in its forms)."""
    return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)


def sign_in(client, token: str, next_path: str = "/console/", **kwargs):
    return client.post(
        "/console/sign-in",
        data={"api_key": token, "csrf_token": csrf_of(client), "next": next_path},
        **kwargs,
    )


def signed_in(client, token: str):
    response = sign_in(client, token)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def report(
    room: str, user: str, at: int, *, video=1200.0, audio=64.0, loss=0.5, rtt=40.0, jitter=8.0, fps=25.0
):
    """A POST /report/metrics body with one send stream of `user` at `at` (Unix s)."""
    body = copy.deepcopy(EXAMPLE_REPORT)
    body.update(user_id=user, room_id=room, report_time=at)
    entry = body["metrics"][0]
    entry["user_id"] = user
    stream = entry["streams"][0]
    stream["video"].update(timestamp=at, bitrate=video, frame_rate=fps)
    stream["audio"].update(timestamp=at, bitrate=audio)
    stream["network"].update(rtt=rtt, packet_loss=loss, jitter=jitter)
    return body


def seed_room(client, headers: dict, room: str = "room-1", users=("alice", "bob"), points: int = 12) -> int:
    """Reports of `users` in `room` every 10 s up to now; the newest report time."""
    now = int(time.time())
    for i in range(points):
        at = now - (points - 1 - i) * 10
        for n, user in enumerate(users):
            body = report(room, user, at, video=1000.0 + 10 * i + n, loss=0.1 * i, rtt=30.0 + i)
            response = client.post("/report/metrics", json=body, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
    return now
