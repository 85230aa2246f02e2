"""Where collector sockets are served (plugins/rtcstats/collector_handoff.py): past their request under
gunicorn's gevent worker, bounded per worker by collector_max_sockets_per_worker, closed with 1001 when
the worker stops (rtcstats dumps stored, jitsi sessions kept for the reconnect); inside their request
under werkzeug's server.

Real `mediaplane serve` (gunicorn, gevent worker) and real clients (the `websockets` library), as in
test_collector.py; the werkzeug case serves a real app on werkzeug's threaded server in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest
from websockets.sync.client import connect as ws_connect
from werkzeug.serving import make_server

from core.db import db
from plugins.rtcstats import collector_handoff
from plugins.rtcstats.models import Session
from tests.core.test_shared_metrics import sample
from tests.faults import Server, free_port
from tests.plugins.rtcstats import test_collector_jitsi as jitsi
from tests.plugins.rtcstats import test_collector_jitsi_reconnect as reconnect
from tests.plugins.rtcstats.test_collector import (
    API,
    close_code,
    connect,
    fixture_messages,
    gunicorn_workers,
    scrape,
    session_ids,
    session_states,
    stored_dump,
    stored_since,
)

pytestmark = pytest.mark.slow

GUNICORN_CONNECTIONS = 4  # gunicorn's pool of the worker: far fewer than the sockets held below
PER_WORKER = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {
        "MEDIAPLANE__CORE__SERVER__WORKER_CONNECTIONS": str(GUNICORN_CONNECTIONS),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_SOCKETS_PER_WORKER": str(PER_WORKER),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": "20",
    }
    with Server(tmp_path_factory.mktemp("handoff"), env) as running:
        yield running


def wait_until(condition, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


def test_open_sockets_leave_gunicorns_pool_and_the_worker_limit_refuses_one_more_with_1013(server):
    """PER_WORKER sockets stay open on a worker whose gunicorn pool has GUNICORN_CONNECTIONS places (a
    socket kept in its request would hold one: the fifth would wait, and so would REST requests); one
    more is refused with 1013 naming the setting; a closed socket's place is free again."""
    before = session_ids(server)
    metrics_before = scrape(server)
    messages = fixture_messages()
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(server, server.key)) for _ in range(PER_WORKER)]
        for client in held:
            client.send(messages[0])
        wait_until(lambda: len(set(session_states(server)) - before) == PER_WORKER, what="all listed live")
        assert set(session_states(server).values()) >= {"live"}  # REST answers while they are open
        with connect(server, server.key) as extra:
            with pytest.raises(Exception) as closed:
                extra.recv(timeout=10)
            assert closed.value.rcvd.code == 1013
            assert "collector_max_sockets_per_worker" in closed.value.rcvd.reason
        held[0].close(code=1000)
        wait_until(lambda: len(stored_since(server, before)) == 1, what="the closed socket stored")
        with connect(server, server.key) as again:  # its place in the worker is free
            again.send(messages[0])
            with pytest.raises(TimeoutError):
                again.recv(timeout=0.5)
            held.append(again)
            for client in held[1:]:
                for message in messages[1:]:
                    client.send(message)
                client.close(code=1000)
    wait_until(lambda: len(stored_since(server, before)) == PER_WORKER + 1, what="every socket stored")
    assert len(session_ids(server) - before) == PER_WORKER + 1  # the refused socket left none
    for rtcstats_id in stored_since(server, before):
        lines = stored_dump(server, rtcstats_id).split(b"\n")
        assert lines[2].decode() == messages[0] and json.loads(lines[-1])[:3] == ["close", None, 1000]
    after = scrape(server)

    def delta(name, **labels):
        name = f"mediaplane_rtcstats_collector_{name}"
        labels = {"protocol": "rtcstats", **labels}
        return (sample(after, name, **labels) or 0) - (sample(metrics_before, name, **labels) or 0)

    assert delta("closes_total", reason="worker_full") == 1
    assert delta("sockets_total", event="opened") == PER_WORKER + 1 == delta("sockets_total", event="closed")


def test_a_stopping_worker_closes_its_sockets_with_1001_stores_rtcstats_and_keeps_jitsi_resumable(tmp_path):
    """SIGTERM to the gunicorn worker (a restart: gunicorn starts another) while an rtcstats#5.0 socket
    and a jitsi socket are open: both clients see 1001 at once (not after the idle timeout); the
    rtcstats dump is stored by the stopping worker with all it received and the close line 1001; the
    jitsi session waits for its client's reconnect (as after a broken socket), which the new worker
    resumes from the last entry written: one session, every entry once."""
    env = {"MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": "60"}
    with Server(tmp_path, env) as restarting:
        before = session_ids(restarting)
        jitsi_before = jitsi.sessions(restarting)
        messages = fixture_messages()
        lines = jitsi.fixture_lines(jitsi.CHROME)
        (worker,) = gunicorn_workers(restarting)
        stock = reconnect.StockClient(restarting, "stopping", lines)
        with connect(restarting, restarting.key) as client:
            assert stock.connect(reconnect=False) == 0
            for message in messages:
                client.send(message)
            stock.trace(10)
            wait_until(lambda: len(set(session_states(restarting)) - before) == 2, what="two live sessions")
            time.sleep(0.3)  # the last entries written
            stopped_at = time.monotonic()
            os.kill(worker, signal.SIGTERM)
            assert close_code(client) == 1001
            assert jitsi.close_frame(stock.socket)[0] == 1001
            assert time.monotonic() - stopped_at < 15
        wait_until(lambda: len(stored_since(restarting, before)) == 1, what="the rtcstats dump stored")
        (stored_id,) = stored_since(restarting, before)
        stored = stored_dump(restarting, stored_id).split(b"\n")
        assert [line.decode() for line in stored[2:-1]] == messages
        assert json.loads(stored[-1])[:3] == ["close", None, 1001]
        assert "closing 2 collector sockets with 1001" in restarting.log.read_text()
        (live_id,) = set(session_states(restarting)) - before - {stored_id}
        assert session_states(restarting)[live_id] == "live"  # kept for the reconnect
        wait_until(lambda: worker not in gunicorn_workers(restarting) and gunicorn_workers(restarting))
        assert stock.connect(reconnect=True) == 10  # everything sent before the stop was written
        stock.trace(len(lines))
        assert reconnect.leave_and_stored(restarting, stock, jitsi_before | {stored_id: {}}) == live_id


def test_under_werkzeugs_threaded_server_a_socket_is_served_inside_its_request(make_app, new_key, tmp_path):
    """Not gevent: no greenlet of its own (collector_handoff's rule); the request's thread serves the
    socket to its end, it counts in the worker's sockets meanwhile, and its dump is stored."""
    app = make_app()
    key = new_key("rtcstats:write", "rtcstats:read")
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        messages = fixture_messages()
        url = f"ws://127.0.0.1:{port}{API}/collector?rtcstats-token={key}"
        with ws_connect(url, subprotocols=["rtcstats#5.0"], open_timeout=10) as client:
            for message in messages:
                client.send(message)
            wait_until(lambda: collector_handoff.SOCKETS.count == 1, timeout=10, what="counted")
            assert collector_handoff.SOCKETS.served == set()  # not handed to a greenlet
            client.close(code=1000)
        wait_until(lambda: collector_handoff.SOCKETS.count == 0, timeout=20, what="ended")
        with app.app_context(), db.connection_context():
            (session,) = Session.select()
            rtcstats_id = str(session.rtcstats_id)
        request = urllib.request.Request(f"http://127.0.0.1:{port}{API}/sessions/{rtcstats_id}")
        request.add_header("X-API-Key", key)
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        status, body = answer.value.code, json.loads(answer.value.read())
        assert status == 409 and body["errorCode"] == "analysis_pending"  # stored, queued
        (dump,) = (tmp_path / "data" / "storage").glob(f"rtcstats/*/dumps/{rtcstats_id}")
        stored = dump.read_bytes().split(b"\n")
        assert [line.decode() for line in stored[2:-1]] == messages
        assert json.loads(stored[-1])[:3] == ["close", None, 1000]
    finally:
        server.shutdown()
