"""Signed, expiring viewer links: the `?token=` that opens one session's viewer page without an API key.

Both the REST layer (which appends the token to the rtcstatsUrl / embedUrl it hands out) and the viewer
(which checks it) use this module; it imports neither of them.

A token is `<account>.<rtcstatsId>.<key id or empty>.<timestamp>.<signature>`: the fields as text,
signed with itsdangerous' TimestampSigner (HMAC-SHA256). A session list signs one per item, and the
JSON-serializer tokens this module made before cost ~5x more to sign (JSON, compression and base64
of the payload, a key derivation per token) for nothing the viewer needs. Those older tokens still
open the viewer until they expire (read_token accepts both).
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

TOKEN_PARAM = "token"
TOKEN_SALT = "rtcstats.viewer"  # the JSON-serializer tokens made before the compact ones
COMPACT_SALT = "rtcstats.viewer.compact"
SERIALIZER_KEY = "rtcstats.viewer_serializer"  # in app.extensions
SIGNER_KEY = "rtcstats.viewer_signer"  # in app.extensions
TOKEN_MAX_AGE_SECONDS = 7 * 86400  # default; the setting viewer_token_max_age_seconds overrides it


def _app_secret() -> str:
    from flask import current_app  # the app's secret; imported here so the service layer imports no Flask

    return current_app.extensions["mediaplane"].secret_key


def _made_once(name: str, make):
    from flask import current_app

    made = current_app.extensions.get(name)
    if made is None:
        made = current_app.extensions[name] = make(_app_secret())
    return made


def serializer() -> URLSafeTimedSerializer:
    """The app's JSON token serializer (reads the tokens handed out before the compact ones)."""
    return _made_once(SERIALIZER_KEY, lambda secret: URLSafeTimedSerializer(secret, salt=TOKEN_SALT))


def signer() -> TimestampSigner:
    """The app's signer of compact tokens, made once per app (a session list signs a token per item)."""
    return _made_once(
        SIGNER_KEY,
        lambda secret: TimestampSigner(secret, salt=COMPACT_SALT, digest_method=hashlib.sha256),
    )


def with_token(url: str, token: str) -> str:
    """`url` with a viewer token appended."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{TOKEN_PARAM}={token}"


def viewer_token(account_id: int, rtcstats_id, key_id: str | None = None) -> str:
    """A URL-safe token opening the viewer of one session of one account (inside an app context).

    With `key_id` (the API key that asked for the URL) the token stops working when that key is
    revoked. It expires after the viewer_token_max_age_seconds setting (default 7 days).
    """
    return signer().sign(f"{int(account_id)}.{rtcstats_id}.{key_id or ''}").decode("ascii")


def read_token(token: str, max_age: int) -> dict:
    """The payload of a viewer token: {"a": account id, "s": rtcstatsId, "k": key id (when bound)}.

    :raises itsdangerous.SignatureExpired: older than `max_age` seconds.
    :raises itsdangerous.BadSignature: not a token of this app (tampered, or another secret).
    """
    if not token.split(".", 1)[0].isdigit():  # a JSON-serializer token starts with its base64 payload
        return serializer().loads(token, max_age=max_age)
    fields = signer().unsign(token, max_age=max_age).decode("utf-8")
    account, rest = fields.split(".", 1)
    rtcstats_id, _, key_id = rest.rpartition(".")
    if not rtcstats_id:
        raise BadSignature("not a viewer token")
    payload = {"a": int(account), "s": rtcstats_id}
    if key_id:
        payload["k"] = key_id
    return payload


def signed_url(url: str, account_id: int, rtcstats_id, key_id: str | None = None) -> str:
    """`url` (an rtcstatsUrl or embedUrl) with the viewer token appended."""
    return with_token(url, viewer_token(account_id, rtcstats_id, key_id))
