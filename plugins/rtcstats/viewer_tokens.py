"""Signed, expiring viewer links: the `?token=` that opens one session's viewer page without an API key.

Both the REST layer (which appends the token to the rtcstatsUrl / embedUrl it hands out) and the viewer
(which checks it) use this module; it imports neither of them.
"""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

TOKEN_PARAM = "token"
TOKEN_SALT = "rtcstats.viewer"
SERIALIZER_KEY = "rtcstats.viewer_serializer"  # in app.extensions
TOKEN_MAX_AGE_SECONDS = 7 * 86400  # default; the setting viewer_token_max_age_seconds overrides it


def serializer() -> URLSafeTimedSerializer:
    """The app's token serializer, made once per app (a session list signs a token per item)."""
    from flask import current_app  # the app's secret; imported here so the service layer imports no Flask

    made = current_app.extensions.get(SERIALIZER_KEY)
    if made is None:
        secret = current_app.extensions["mediaplane"].secret_key
        made = current_app.extensions[SERIALIZER_KEY] = URLSafeTimedSerializer(secret, salt=TOKEN_SALT)
    return made


def with_token(url: str, token: str) -> str:
    """`url` with a viewer token appended."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{TOKEN_PARAM}={token}"


def viewer_token(account_id: int, rtcstats_id, key_id: str | None = None) -> str:
    """A URL-safe token opening the viewer of one session of one account (inside an app context).

    With `key_id` (the API key that asked for the URL) the token stops working when that key is
    revoked. It expires after the viewer_token_max_age_seconds setting (default 7 days).
    """
    payload = {"a": int(account_id), "s": str(rtcstats_id)}
    if key_id:
        payload["k"] = key_id
    return serializer().dumps(payload)


def signed_url(url: str, account_id: int, rtcstats_id, key_id: str | None = None) -> str:
    """`url` (an rtcstatsUrl or embedUrl) with the viewer token appended."""
    return with_token(url, viewer_token(account_id, rtcstats_id, key_id))
