"""The console under the real quick-start server (`mediaplane serve`: gunicorn, two gevent worker
processes, embedded Redis, SQLite): a sign-in made through one worker is accepted by the other (the
cookie key comes from the shared server key), the cookie is Secure behind a TLS proxy, sign out works."""

from __future__ import annotations

import re

import pytest
import requests

from tests.core.test_server import quickstart  # noqa: F401 - fixture

pytestmark = pytest.mark.slow
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_a_sign_in_holds_across_worker_processes(quickstart):  # noqa: F811
    base, key, _server, _tmp = quickstart
    browser = requests.Session()
    form = browser.get(f"{base}/", timeout=10)
    assert form.status_code == 401 and form.url == f"{base}/console/"
    csrf = CSRF_RE.search(form.text).group(1)
    signed = browser.post(
        f"{base}/console/sign-in",
        data={"api_key": key, "csrf_token": csrf, "next": "/console/rtcstats/sessions"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code == 303 and signed.headers["Location"] == "/console/rtcstats/sessions"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    # New connections each time: gunicorn hands them to either worker process.
    for _ in range(12):
        page = requests.get(f"{base}/console/rtcstats/sessions", cookies=browser.cookies, timeout=10)
        assert page.status_code == 200 and 'id="session-count"' in page.text
    assert requests.get(f"{base}/api/rtcstats/v1.0/sessions", cookies=browser.cookies, timeout=10).ok

    behind_tls = requests.Session()
    csrf = CSRF_RE.search(behind_tls.get(f"{base}/console/sign-in", timeout=10).text).group(1)
    answer = behind_tls.post(
        f"{base}/console/sign-in",
        data={"api_key": key, "csrf_token": csrf},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303 and "Secure" in answer.headers["Set-Cookie"]

    page = browser.get(f"{base}/console/", timeout=10)
    out = browser.post(
        f"{base}/console/sign-out", data={"csrf_token": CSRF_RE.search(page.text).group(1)}, timeout=10
    )
    assert out.status_code == 200 and out.url == f"{base}/console/sign-in"
    assert browser.get(f"{base}/console/", timeout=10).status_code == 401
