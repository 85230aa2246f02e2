"""Console sign-in: an API key, checked once, becomes a signed session cookie naming that key.

The cookie holds the key's id and account, never its secret. It is signed with a key derived from the
server key (so every web process accepts it), HttpOnly, SameSite=Lax, Secure over HTTPS, and expires
after session_max_age_seconds. Each request re-reads the key: revoking it signs the console out.

The cookie authenticates through the core's `actor_from_request` hook, so pages and the plugins' APIs
(the upload page calls the chunked upload API from the browser) see the same Actor, with the same
scopes, as a request carrying the key itself. A request that changes something with only the cookie
must carry the session's CSRF token (form field csrf_token or header X-CSRFToken).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from flask import current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from core.auth import Actor, actor_from_token, actor_of_key
from core.errors import Problem
from plugins.console import formatting

COOKIE_NAME = "mediaplane_console"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_HEADER = "X-CSRFToken"
SECURE_MODE = "MEDIAPLANE_CONSOLE_SECURE_COOKIE"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag decided per request in "auto" mode."""

    def get_cookie_secure(self, app) -> bool:
        mode = app.config.get(SECURE_MODE, "auto")
        if mode != "auto":
            return mode == "always"
        # The nginx example of docs/deployment.md sets X-Forwarded-Proto; gunicorn itself speaks HTTP.
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.is_secure or forwarded == "https"


def session_secret(server_key: bytes) -> bytes:
    """The cookie-signing key: derived from the server key, so that all processes share it and a
    cookie says nothing about the key that encrypts API key secrets."""
    return hmac.new(server_key, b"mediaplane console session v1", hashlib.sha256).digest()


def configure_sessions(app) -> None:
    """Signed cookie sessions and CSRF settings of the app (called by the startup hook)."""
    from core.plugins import plugin_settings

    with app.app_context():
        settings = plugin_settings("console")
    app.secret_key = session_secret(app.extensions["mediaplane"].secret_key)
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=settings["session_max_age_seconds"]),
        SESSION_REFRESH_EACH_REQUEST=False,  # a sign-in lasts its lifetime, activity does not extend it
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
        WTF_CSRF_FIELD_NAME="csrf_token",
        WTF_CSRF_HEADERS=[CSRF_HEADER],
        **{SECURE_MODE: settings["secure_cookie"]},
    )
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.filters["console_time"] = formatting.clock_time
    app.jinja_env.filters["console_ago"] = formatting.ago
    app.jinja_env.filters["console_iso"] = formatting.iso_time


def check_csrf() -> None:
    """:raises Problem: 403 when the request carries no valid CSRF token of this session."""
    token = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token", "")
    try:
        validate_csrf(token)
    except ValidationError as err:
        raise Problem(
            403, "Forbidden", f"CSRF check failed ({err}): reload the page and send the form again"
        ) from None


def sign_in(token: str) -> Actor:
    """Check an API key and start a console session for it.

    :raises Problem: 401 when the key is malformed, unknown or revoked.
    """
    actor = actor_from_token(token)
    session.clear()  # a fresh session (and CSRF token) per sign-in: no fixation
    session.permanent = True
    session["key_id"] = actor.key_id
    session["account_id"] = actor.account_id
    return actor


def sign_out() -> None:
    session.clear()


def signed_in_key() -> str | None:
    return session.get("key_id") if COOKIE_NAME in request.cookies else None


def actor_from_cookie(req) -> Actor | None:
    """The Actor of the console session, or None (no cookie, or explicit credentials were sent).

    :raises Problem: 403 when the cookie authenticates a state-changing request without its CSRF token.
    """
    if "X-API-Key" in req.headers or "Authorization" in req.headers:
        return None  # a client that sends credentials means them, whatever cookie the browser adds
    if COOKIE_NAME not in req.cookies or not current_app.secret_key:
        return None
    key_id = session.get("key_id")
    if not key_id:
        return None
    actor = actor_of_key(key_id)
    if actor is None or actor.account_id != session.get("account_id"):
        session.clear()  # the key was revoked: this browser is signed out
        return None
    if req.method not in SAFE_METHODS:
        check_csrf()
    return actor
