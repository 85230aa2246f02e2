"""Signed, expiring viewer links: the `?token=` that opens one session's viewer page without an API key.

Both the REST layer (which appends the token to the rtcstatsUrl / embedUrl it hands out) and the viewer
(which checks it) use this module; it imports neither of them.
"""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

TOKEN_PARAM = "token"
TOKEN_SALT = "rtcstats.viewer"
TOKEN_MAX_AGE_SECONDS = 7 * 86400  # default; the setting viewer_token_max_age_seconds overrides it


def serializer() -> URLSafeTimedSerializer:
    from flask import current_app  # the app's secret; imported here so the service layer imports no Flask

    return URLSafeTimedSerializer(current_app.extensions["mediaplane"].secret_key, salt=TOKEN_SALT)


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
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{TOKEN_PARAM}={viewer_token(account_id, rtcstats_id, key_id)}"
