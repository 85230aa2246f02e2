"""A real HTTP receiver on loopback for webhook tests: records every request, answers as scripted.

Each request takes the next step of `script` (then `default`): a status code, ("sleep", seconds,
status) to answer late, ("hold",) to block until `release()` (a worker killed mid-delivery), or
("redirect", url). Signatures are checked with the Python snippet of docs/webhooks.md itself.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def doc_snippet(language: str) -> str:
    """The verification snippet of docs/webhooks.md in `language` ("python" or "js")."""
    text = DOCS.read_text()
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match, f"docs/webhooks.md has no {language} snippet"
    return match.group(1)


def documented_verifier():
    """verify_webhook(secret, headers, body) as the docs give it to users."""
    namespace: dict = {}
    exec(compile(doc_snippet("python"), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify_webhook"]


class Receiver:
    def __init__(self, default=200, tls=None):
        """`tls`: an ssl.SSLContext (server side) to serve HTTPS instead of HTTP."""
        self.default = default
        self.script: list = []
        self.requests: list[dict] = []
        self.arrived = threading.Condition()
        self.held = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.arrived:
                    step = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver.requests.append(
                        {
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "path": self.path,
                            "at": time.time(),
                        }
                    )
                    receiver.arrived.notify_all()
                if isinstance(step, tuple) and step[0] == "sleep":
                    time.sleep(step[1])
                    step = step[2]
                elif isinstance(step, tuple) and step[0] == "hold":
                    receiver.held.wait(60)
                    step = 200
                location = None
                if isinstance(step, tuple) and step[0] == "redirect":
                    location, step = step[1], 302
                answer = f'{{"answered": {step}}}'.encode() + b" " * 4000  # longer than any cap
                try:
                    self.send_response(step)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up (timeout) or died

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?source=test"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.held.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, seconds: float = 10) -> list[dict]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, seconds):
                raise AssertionError(
                    f"{len(self.requests)} requests arrived, expected {count} within {seconds} s"
                )
        return self.requests
