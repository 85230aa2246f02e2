"""Accounts, API keys and scopes; every auth style of the contracts resolves to one Actor."""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import jwt
import peewee
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, g, request

from core.errors import Problem
from core.models import Account, ApiKey
from core.openapi import AUTHENTICATED, add_errors

KEY_ID_PREFIX = "mpk_"
TOKEN_RE = re.compile(r"^(mpk_[0-9a-f]{16})\.([A-Za-z0-9_\-]{20,128})$")
SCOPE_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*:(\*|[a-z][a-z0-9_]*))$")
SIGNATURE_HEADER = "X-RTCstack-Signature"
TIMESTAMP_HEADER = "X-RTCstack-Timestamp"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who is calling: an account, through one of its keys, with these scopes."""

    account_id: int
    account_name: str
    key_id: str
    scopes: frozenset[str]

    def has_scope(self, scope: str) -> bool:
        plugin = scope.split(":", 1)[0]
        return "*" in self.scopes or scope in self.scopes or f"{plugin}:*" in self.scopes


class AuthError(Exception):
    """Bad CLI-level input (unknown account, bad scope); the message says what."""


# -- key material ---------------------------------------------------------------------------------


def _hash(secret: str) -> str:
    # Secrets are 256-bit random values, so a plain SHA-256 is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def _fernet() -> Fernet:
    return Fernet(current_app.extensions["mediaplane"].secret_key)


def seal(text: str) -> str:
    """Encrypt a secret the server must read back later (to sign with it) under the server key."""
    return _fernet().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    """Decrypt what `seal` made. :raises cryptography.fernet.InvalidToken: the server key changed."""
    return _fernet().decrypt(token.encode()).decode()


def known_scopes() -> dict[str, str]:
    """Scopes declared by the enabled plugins (INFO["scopes"]) plus "*"."""
    from core.plugins import current_plugins

    scopes = {"*": "everything, every plugin"}
    for info in current_plugins().enabled():
        scopes.update(getattr(info.module, "INFO", {}).get("scopes", {}))
    return scopes


def create_account(name: str) -> Account:
    name = name.strip()
    if not name:
        raise AuthError("account name must not be empty")
    try:
        with Account._meta.database.atomic():
            return Account.create(name=name)
    except peewee.IntegrityError:
        raise AuthError(f"account '{name}' exists already") from None


def find_account(name: str) -> Account:
    account = Account.get_or_none(Account.name == name)
    if account is None:
        raise AuthError(f"no account named '{name}'")
    return account


def create_key(account_name: str, scopes: list[str], name: str = "") -> tuple[ApiKey, str]:
    """Make a key; returns the row and the token, which is never shown again."""
    account = find_account(account_name)
    known = known_scopes()
    cleaned = []
    for scope in scopes:
        scope = scope.strip()
        if not scope:
            continue
        if not SCOPE_RE.match(scope):
            raise AuthError(f"scope '{scope}' is not of the form plugin:action")
        plugin = scope.split(":", 1)[0]
        if scope not in known and not (
            scope.endswith(":*") and any(k.startswith(plugin + ":") for k in known)
        ):
            raise AuthError(f"unknown scope '{scope}' (known: {', '.join(sorted(known))})")
        cleaned.append(scope)
    if not cleaned:
        raise AuthError("a key needs at least one scope")
    key_id = KEY_ID_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey.create(
        account=account,
        key_id=key_id,
        secret_hash=_hash(secret),
        secret_encrypted=_fernet().encrypt(secret.encode()).decode(),
        scopes=" ".join(sorted(set(cleaned))),
        name=name,
    )
    return row, f"{key_id}.{secret}"


def revoke_key(key_id: str) -> None:
    from core.db import utcnow

    updated = (
        ApiKey.update(revoked_at=utcnow())
        .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_null())
        .execute()
    )
    if not updated:
        raise AuthError(f"no active key '{key_id}'")
    _key_cache.pop(key_id, None)


# -- authenticators -------------------------------------------------------------------------------


# Verified keys are remembered per process for a few seconds: one query less on every request. A key
# revoked from another process (the CLI) therefore keeps working for up to KEY_CACHE_SECONDS here.
KEY_CACHE_SECONDS = 5.0
_key_cache: dict[str, tuple[float, ApiKey]] = {}


def _active_key(key_id: str) -> ApiKey | None:
    cached = _key_cache.get(key_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    key = (
        ApiKey.select(ApiKey, Account)
        .join(Account)
        .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_null())
        .first()
    )
    if key is None:
        _key_cache.pop(key_id, None)
    else:
        if len(_key_cache) > 10_000:  # bound memory against floods of distinct valid keys
            _key_cache.clear()
        _key_cache[key_id] = (time.monotonic() + KEY_CACHE_SECONDS, key)
    return key


def _actor(key: ApiKey) -> Actor:
    return Actor(key.account.id, key.account.name, key.key_id, frozenset(key.scope_list))


def _secret_of(key: ApiKey) -> str:
    try:
        return _fernet().decrypt(key.secret_encrypted.encode()).decode()
    except InvalidToken:
        # The server key changed since this key was made: only token auth can still work.
        raise _unauthorized("this key cannot sign requests; create a new key") from None


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="mediaplane"'})


def _from_token(token: str) -> Actor:
    match = TOKEN_RE.match(token)
    if not match:
        raise _unauthorized("malformed API key")
    key = _active_key(match.group(1))
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(match.group(2))):
        raise _unauthorized("invalid API key")
    return _actor(key)


def actor_from_token(token: str) -> Actor:
    """The Actor of an API key token (`mpk_....secret`), for a sign-in form.

    :raises Problem: 401 when the token is malformed, unknown or revoked.
    """
    return _from_token(token.strip())


def actor_from_bearer(value: str) -> Actor:
    """The Actor of a credential given outside the headers (a WebSocket's query string): an API key
    token, or an HS256 JWT signed with a key's secret as `Authorization: Bearer` takes it.

    :raises Problem: 401 when it is malformed, unknown, revoked, expired or does not verify.
    """
    value = value.strip()
    if value.count(".") == 2 and not value.startswith(KEY_ID_PREFIX):
        return _from_jwt(value)
    return _from_token(value)


def actor_of_key(key_id: str) -> Actor | None:
    """The Actor of an active key by its id, or None when it is unknown or revoked. For credentials
    the server issued itself after checking the key's secret (the console's signed session cookie):
    a revoked key stops them within KEY_CACHE_SECONDS."""
    key = _active_key(key_id)
    return _actor(key) if key is not None else None


def _from_basic(value: str) -> Actor:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("malformed Basic credentials") from None
    key_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _unauthorized("Basic credentials must be key_id:secret")
    return _from_token(f"{key_id}.{secret}")


def _from_jwt(token: str) -> Actor:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthorized("malformed JWT") from None
    key_id = claims.get("access_key") or claims.get("iss")
    if not isinstance(key_id, str):
        raise _unauthorized("JWT names no key in access_key or iss")
    key = _active_key(key_id)
    if key is None:
        raise _unauthorized("JWT names an unknown key")
    core_settings = current_app.extensions["mediaplane"].config["core"]
    leeway = core_settings["jwt_leeway_seconds"]
    try:
        claims = jwt.decode(
            token,
            _secret_of(key),
            algorithms=["HS256"],
            leeway=leeway,
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("JWT has expired") from None
    except jwt.ImmatureSignatureError:
        raise _unauthorized("JWT is not valid yet (nbf/iat)") from None
    except jwt.MissingRequiredClaimError as err:
        raise _unauthorized(f"JWT lacks the {err.claim} claim") from None
    except jwt.PyJWTError:
        raise _unauthorized("JWT signature does not verify") from None
    _check_lifetime(claims, core_settings["jwt_max_lifetime_seconds"], leeway)
    g.jwt_claims = claims
    return _actor(key)


def _check_lifetime(claims: dict, max_lifetime: int, leeway: int) -> None:
    """Refuse a JWT meant to live longer than allowed: it could not be revoked short of its key."""
    # PyJWT accepted these claims only if int() takes them, so int() cannot fail here.
    exp = int(claims["exp"])
    if "iat" in claims:
        lifetime, measured = exp - int(claims["iat"]), "exp - iat"
    else:
        lifetime, measured = exp - time.time() - leeway, "exp - now"
    if lifetime > max_lifetime:
        raise _unauthorized(
            f"JWT lifetime ({measured}) exceeds {max_lifetime} seconds; "
            "issue short-lived tokens (core.jwt_max_lifetime_seconds)"
        )


def _signed_paths() -> set[str]:
    """The spellings of the request target a client may have signed.

    rtcstack's server signs `req.url`: the target as sent, percent-encoding and query included. Others
    sign the decoded path. Werkzeug decodes the path, so the raw target comes from the WSGI environ
    (RAW_URI under gunicorn and werkzeug, REQUEST_URI elsewhere).
    """
    paths = {request.path, request.full_path.rstrip("?")}
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        paths |= {raw, raw.split("?", 1)[0]}
    return paths


def _from_signature(key_id: str) -> Actor:
    ts_header = request.headers.get(TIMESTAMP_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not ts_header.isdigit():
        raise _unauthorized(f"{TIMESTAMP_HEADER} must be Unix seconds")
    max_age = current_app.extensions["mediaplane"].config["core"]["signature_max_age_seconds"]
    if abs(time.time() - int(ts_header)) > max_age:
        raise _unauthorized(f"{TIMESTAMP_HEADER} is more than {max_age} s from the server clock")
    if not signature.startswith("sha256="):
        raise _unauthorized(f"{SIGNATURE_HEADER} must be sha256=<hex>")
    key = _active_key(key_id)
    if key is None:
        raise _unauthorized("invalid API key")
    secret = _secret_of(key).encode()
    given = signature[len("sha256=") :].lower()
    body_hash = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    # The reference client hashes an empty body even when it sends one: accept both.
    for signed_hash in {body_hash, EMPTY_BODY_SHA256}:
        for path in _signed_paths():
            message = f"{request.method}\n{path}\n{ts_header}\n{signed_hash}".encode()
            if hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).hexdigest(), given):
                _refuse_replay(given, body_hash, max_age)
                return _actor(key)
    raise _unauthorized("request signature does not verify")


def _refuse_replay(signature: str, body_hash: str, max_age: int) -> None:
    """A signed request is good once: it is remembered (in Redis, for all workers) while its timestamp
    is valid.

    The request is the signature AND the body actually received. A signature over the empty-body hash
    does not cover the body, so two different requests of the reference client to the same path in
    the same second (Alice's and Bob's POST /v1/token) carry the same signature; both must pass, while
    the same bytes sent again are still refused.
    """
    redis = current_app.extensions["mediaplane"].redis
    key = f"mediaplane:signature:{signature}:{body_hash}"
    if not redis.set(key, 1, nx=True, ex=2 * max_age):
        raise _unauthorized("this request signature was used already; sign each request anew")
    g.signature_key = key


def release_signature() -> None:
    """Forget the signature of this request, which failed with a 503 (a dependency was down, nothing
    was done): the client's retry of the same signed request must not be refused as a replay."""
    key = g.pop("signature_key", None)
    if key:
        import redis

        try:
            current_app.extensions["mediaplane"].redis.delete(key)
        except redis.RedisError:
            pass  # Redis is what failed: the signature expires with its timestamp's validity


def actor_from_headers() -> Actor | None:
    """Resolve the caller from any supported header style; None if no credentials were sent."""
    if "X-API-Key" in request.headers:
        api_key = request.headers["X-API-Key"].strip()
        # A blank key is a credential that does not verify, not an absent one: it must not let
        # another header's credentials through as if nothing had been sent.
        if not api_key:
            raise _unauthorized("X-API-Key is empty")
        if request.headers.get(SIGNATURE_HEADER):
            return _from_signature(api_key)
        return _from_token(api_key)
    authorization = request.headers.get("Authorization", "").strip()
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        return _from_basic(value)
    if scheme.lower() == "bearer":
        if value.count(".") == 2 and not value.startswith(KEY_ID_PREFIX):
            return _from_jwt(value)
        return _from_token(value)
    raise _unauthorized(f"unsupported Authorization scheme '{scheme}'")


def current_actor() -> Actor:
    """The authenticated caller of this request (401 if none)."""
    if "actor" not in g:
        from core.plugins import current_plugins

        actor = current_plugins().pm.hook.actor_from_request(request=request)
        g.actor = actor or actor_from_headers()
    if g.actor is None:
        raise _unauthorized("send an API key (X-API-Key, Authorization: Bearer or Basic)")
    return g.actor


def token_claims() -> dict | None:
    """The verified claims of the JWT this request authenticated with; None for any other credential.

    For contracts that give a claim a meaning beyond authentication (100ms accepts only tokens of
    `type` "management" on its REST API). Authenticates the request first (401 without credentials).
    """
    current_actor()
    return g.get("jwt_claims")


def require(scope: str):
    """View decorator: the caller must hold `scope` (403 otherwise, 401 without credentials)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            actor = current_actor()
            if not actor.has_scope(scope):
                raise Problem(403, "Forbidden", f"this key lacks the '{scope}' scope")
            return view(*args, **kwargs)

        wrapper._mediaplane_scope = scope
        # Document the accepted credentials and the scope in the OpenAPI operation.
        apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        manual = apidoc.setdefault("manual_doc", {})
        manual["security"] = [{"ApiKey": []}, {"Bearer": []}, {"Basic": []}]
        manual.setdefault("description", "")
        manual["description"] = (manual["description"] + f"\n\nRequires scope `{scope}`.").strip()
        wrapper._apidoc = apidoc
        add_errors(wrapper, dict.fromkeys(AUTHENTICATED))
        return wrapper

    return decorate
