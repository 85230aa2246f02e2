"""Console sign-in through the Flask test client: the session cookie's flags, CSRF refusals on every
form and on cookie-authenticated API calls, sign out, revoked keys, redirects that stay on this site."""

from __future__ import annotations

import pytest

from core.db import db
from tests.plugins.console.helpers import COOKIE, csrf_of, sign_in, signed_in

API = "/api/rtcstats/v1.0"


def set_cookie_header(response) -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(COOKIE + "=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def test_the_bare_address_leads_to_the_sign_in_form(client):
    response = client.get("/", follow_redirects=True)
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert 'action="/console/sign-in"' in page and '<label for="api_key">' in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"


def test_signing_in_sets_a_signed_httponly_samesite_cookie_without_the_secret(client, new_key):
    token = new_key("report:read")
    response = sign_in(client, token)
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    cookie = set_cookie_header(response)
    flags = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/" in flags
    assert "Secure" not in flags  # plain HTTP: a Secure cookie would never come back
    assert any(f.startswith("Expires=") for f in flags)
    secret = token.split(".", 1)[1]
    assert secret not in cookie  # the key's id only: the secret is never stored in the browser
    overview = client.get("/console/")
    assert overview.status_code == 200
    assert "Signed in to account <strong>acme</strong>" in overview.get_data(as_text=True)


@pytest.mark.parametrize(
    ("setting", "environ", "secure"),
    [
        ("auto", {"wsgi.url_scheme": "https"}, True),
        ("auto", {"HTTP_X_FORWARDED_PROTO": "https"}, True),  # TLS ends at the reverse proxy
        ("auto", {"HTTP_X_FORWARDED_PROTO": "http"}, False),
        ("always", {}, True),
        ("never", {"wsgi.url_scheme": "https"}, False),
    ],
)
def test_the_cookie_is_secure_behind_https(make_app, new_key, setting, environ, secure):
    app = make_app({"plugins": {"console": {"secure_cookie": setting}}})
    client = app.test_client()
    from core.auth import create_account, create_key

    with app.app_context(), db.connection_context():
        create_account("tls")
        token = create_key("tls", ["*"])[1]
    response = client.post(
        "/console/sign-in",
        data={"api_key": token, "csrf_token": csrf_of(client), "next": "/console/"},
        environ_overrides=environ,
    )
    assert response.status_code == 303
    assert ("Secure" in [p.strip() for p in set_cookie_header(response).split(";")]) is secure


def test_a_form_without_its_csrf_token_is_refused(client, new_key):
    token = new_key()
    for data in ({"api_key": token}, {"api_key": token, "csrf_token": "forged"}):
        response = client.post("/console/sign-in", data=data)
        assert response.status_code == 403
        assert "CSRF" in response.get_data(as_text=True)
        assert not [v for v in response.headers.getlist("Set-Cookie") if "key_id" in v]
    assert client.get("/console/").status_code == 401  # not signed in

    signed_in(client, token)
    assert client.post("/console/sign-out", data={}).status_code == 403
    assert client.get("/console/").status_code == 200  # still signed in
    # A token of another browser's session does not pass either.
    other = client.application.test_client()
    stolen = csrf_of(other)
    assert client.post("/console/sign-out", data={"csrf_token": stolen}).status_code == 403


def test_a_bad_key_shows_the_form_again_with_the_reason(client, new_key):
    for token, reason in (("nonsense", "malformed API key"), ("mpk_0123456789abcdef." + "x" * 43, "invalid")):
        response = sign_in(client, token)
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        assert reason in page and 'id="sign-in-error"' in page
    assert client.get("/console/").status_code == 401


def test_sign_out_ends_the_session(client, new_key):
    signed_in(client, new_key())
    response = client.post("/console/sign-out", data={"csrf_token": csrf_of(client, "/console/")})
    assert response.status_code == 303 and response.headers["Location"] == "/console/sign-in"
    assert client.get("/console/").status_code == 401
    assert client.get(f"{API}/sessions").status_code == 401


def test_revoking_the_key_signs_the_browser_out(app, client, new_key):
    from core import auth
    from core.models import ApiKey

    token = new_key()
    signed_in(client, token)
    with app.app_context(), db.connection_context():
        auth.revoke_key(token.split(".")[0])
    auth._key_cache.clear()  # another process revoked it: at most KEY_CACHE_SECONDS later
    assert client.get("/console/").status_code == 401
    with app.app_context(), db.connection_context():
        assert ApiKey.get(ApiKey.key_id == token.split(".")[0]).revoked_at is not None


def test_a_tampered_cookie_is_no_session(client, new_key):
    signed_in(client, new_key())
    value = client.get_cookie(COOKIE).value
    client.set_cookie(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/console/").status_code == 401


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/console/report/rooms", "/console/report/rooms"),
        ("//evil.example/x", "/console/"),
        ("https://evil.example/", "/console/"),
        ("/\\evil.example", "/console/"),
        ("javascript:alert(1)", "/console/"),
        ("", "/console/"),
    ],
)
def test_sign_in_returns_only_to_a_page_of_this_site(client, new_key, given, expected):
    response = sign_in(client, new_key(), next_path=given)
    assert response.status_code == 303 and response.headers["Location"] == expected


def test_the_cookie_authenticates_the_apis_and_writes_need_the_csrf_header(client, new_key):
    signed_in(client, new_key("rtcstats:read", "rtcstats:write"))
    assert client.get(f"{API}/sessions").status_code == 200
    chunk = {
        "fileId": "console-test",
        "chunkIndex": "0",
        "chunk": (__import__("io").BytesIO(b"{}"), "d.json"),
    }
    refused = client.post(f"{API}/upload", data=dict(chunk), content_type="multipart/form-data")
    assert refused.status_code == 403
    assert refused.get_json()["errorCode"]  # in the rtcstats dialect {error, errorCode}
    assert "CSRF" in refused.get_json()["error"]
    chunk["chunk"] = (__import__("io").BytesIO(b"{}"), "d.json")
    accepted = client.post(
        f"{API}/upload",
        data=chunk,
        content_type="multipart/form-data",
        headers={"X-CSRFToken": csrf_of(client, "/console/")},
    )
    assert accepted.status_code == 200, accepted.get_json()


def test_explicit_credentials_win_over_the_cookie(client, new_key):
    signed_in(client, new_key("rtcstats:read"))
    other = new_key("report:read", account="globex")
    # The same browser calling with another key is that key: its account and scopes, no CSRF needed.
    assert client.get(f"{API}/sessions", headers={"X-API-Key": other}).status_code == 403
    assert client.get("/report/rooms", headers={"X-API-Key": other}).status_code == 200
    assert client.get("/console/", headers={"X-API-Key": "mpk_bad"}).status_code == 401
