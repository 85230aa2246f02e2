"""The real `mediaplane transcribe-live` process against the API: its heartbeat turns live transcription on
(capability true, start 201), SIGTERM turns it off at once, and a killed worker's heartbeat expires
(503 again) after `live_heartbeat_seconds`.

Real: the command line, its process (the Vosk model loaded, the livekit rtc SDK imported), Redis,
the database. LiveKit is the Twirp double (tests/livekit_double.py), which has no media or signalling
endpoint, so the worker's join fails as against an unreachable LiveKit: the test sees the reason on
the transcription, which shows the process read the start and tried with the SDK.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugins.room import service as room_service
from plugins.transcription import live_api, live_service

ROOM = "standup"
HEARTBEAT = 2
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def forget_caches():
    room_service._clients.clear()
    live_api._capability.clear()
    yield
    room_service._clients.clear()


@pytest.fixture
def setup(make_app, livekit, model_setting, tmp_path, database_url, redis_url, new_key):
    settings = {
        "model_path": model_setting,
        "model_cache_dir": str(tmp_path / "models"),
        "capability_cache_seconds": 0,
        "live_heartbeat_seconds": HEARTBEAT,
        "live_poll_seconds": 0.5,
        "live_join_timeout_seconds": 3,
        "live_retry_seconds": 2,
    }
    app = make_app({"plugins": {"room": livekit.settings(), "transcription": settings}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env.update(
        {
            "MEDIAPLANE__CORE__DATA_DIR": str(tmp_path / "data"),
            "MEDIAPLANE__CORE__DATABASE_URL": database_url,
            "MEDIAPLANE__CORE__REDIS_URL": redis_url,
            "PYTHONPATH": str(REPO),
        }
    )
    for key, value in livekit.settings().items():
        env[f"MEDIAPLANE__PLUGINS__ROOM__{key.upper()}"] = str(value)
    for key, value in settings.items():
        env[f"MEDIAPLANE__PLUGINS__TRANSCRIPTION__{key.upper()}"] = str(value)
    headers = {"X-API-Key": new_key("transcription:admin", "room:admin")}
    assert app.test_client().post("/v1/rooms", json={"name": ROOM}, headers=headers).status_code == 201
    return app, env, headers


def start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    mediaplane = Path(sys.executable).with_name("mediaplane")
    command = [str(mediaplane)] if mediaplane.exists() else [sys.executable, "-m", "core.cli"]
    return subprocess.Popen(
        [*command, "transcribe-live"],
        env=env,
        cwd=REPO,
        stdout=open(log_path, "w"),  # noqa: SIM115 - the process owns it
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def wait_for(check, seconds: float, what: str, log_path: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"{what}: not within {seconds} s\n{tail}")


def capability(client) -> bool:
    live_api._capability.clear()
    return client.get("/v1/health").get_json()["capabilities"]["transcriptionLive"]


def test_the_worker_process_turns_live_transcription_on_and_off(setup, tmp_path):
    app, env, headers = setup
    client = app.test_client()
    start = f"/v1/rooms/{ROOM}/transcription/start"
    assert client.post(start, headers=headers).status_code == 503
    assert capability(client) is False

    log_path = tmp_path / "worker.log"
    worker = start_worker(env, log_path)
    try:
        wait_for(lambda: capability(client), 60, "the worker's heartbeat", log_path)
        started = client.post(start, json={"participants": {"alice": "Alice"}}, headers=headers)
        assert started.status_code == 201, started.get_data(as_text=True)
        # the worker read it and tried to join with the rtc SDK; the double has no signalling endpoint
        error = wait_for(
            lambda: client.get(f"/v1/rooms/{ROOM}/transcription", headers=headers).get_json()["error"],
            30,
            "the worker's join attempt",
            log_path,
        )
        assert "cannot join the room" in error
        assert (
            client.patch(
                f"/v1/rooms/{ROOM}/transcription/speakers",
                json={"participants": {"bob": "Bob"}},
                headers=headers,
            ).status_code
            == 204
        )
        stopped = client.post(f"/v1/rooms/{ROOM}/transcription/stop", headers=headers)
        assert stopped.status_code == 200 and stopped.get_json()["status"] == "stopped"
        assert worker.poll() is None, log_path.read_text()

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    # a clean stop leaves the heartbeat at once
    redis_conn = app.extensions["mediaplane"].redis
    assert live_service.live_workers(redis_conn) == 0
    assert capability(client) is False
    answer = client.post(start, headers=headers)
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "transcribe-live" in answer.get_json()["detail"]
    assert "live transcription worker" in log_path.read_text() and "stopped" in log_path.read_text()


def test_a_killed_workers_heartbeat_expires(setup, tmp_path):
    app, env, headers = setup
    client = app.test_client()
    log_path = tmp_path / "worker.log"
    worker = start_worker(env, log_path)
    try:
        wait_for(lambda: capability(client), 60, "the worker's heartbeat", log_path)
        assert client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=headers).status_code == 201
        worker.kill()  # no clean shutdown: the heartbeat stays until it expires
        worker.wait(10)
        killed_at = time.monotonic()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    wait_for(lambda: not capability(client), HEARTBEAT + 3, "the heartbeat to expire")
    assert time.monotonic() - killed_at <= HEARTBEAT + 3
    answer = client.post(f"/v1/rooms/{ROOM}/transcription/start", headers=headers)
    assert answer.status_code == 503 and "transcribe-live" in answer.get_json()["detail"]
    # the transcription stays active in the database: the next worker to start takes it over
    assert client.get(f"/v1/rooms/{ROOM}/transcription", headers=headers).get_json()["status"] == "active"
