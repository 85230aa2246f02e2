"""Every auth style of core/auth.py against /report/rooms (report:read), key storage, scopes, revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.fernet import Fernet

from core.auth import AuthError, create_account, create_key, revoke_key
from core.db import db
from core.models import ApiKey
from tests.conftest import EXAMPLE_REPORT, REPORT_READ_URLS, count_rows

PROBE = "/report/rooms"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def split(token: str) -> tuple[str, str]:
    key_id, _, secret = token.partition(".")
    return key_id, secret


def assert_ok(response) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"code": 0, "message": "success", "data": []}


def assert_401(response, message: str) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json() == {"code": 401, "message": message, "data": None}
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


def management_token(
    key_id: str,
    secret: str,
    *,
    claim: str = "access_key",
    now: int | None = None,
    lifetime: int = 3600,
    **overrides,
) -> str:
    """A 100ms-style management token, signed by the client with the key's secret."""
    now = int(time.time()) if now is None else now
    payload = {
        claim: key_id,
        "type": "management",
        "version": 2,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def signed(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    ts: int | None = None,
    body_hash: str | None = None,
    prefix: str = "sha256=",
) -> dict:
    """Headers of an HMAC-signed request as the rtcstats reference client sends them."""
    ts = int(time.time()) if ts is None else ts
    digest = hashlib.sha256(body).hexdigest() if body_hash is None else body_hash
    message = f"{method}\n{path}\n{ts}\n{digest}".encode()
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-Api-Key": key_id,
        "X-RTCstack-Timestamp": str(ts),
        "X-RTCstack-Signature": f"{prefix}{signature}",
    }


@pytest.fixture
def reader(new_key) -> str:
    return new_key("report:read")


# -- plain token styles ---------------------------------------------------------------------------


def test_x_api_key_header(client, reader):
    assert_ok(client.get(PROBE, headers={"X-API-Key": reader}))


def test_bearer_token(client, reader):
    assert_ok(client.get(PROBE, headers=bearer(reader)))


def test_bearer_scheme_is_case_insensitive(client, reader):
    assert_ok(client.get(PROBE, headers={"Authorization": f"bearer {reader}"}))


def test_basic_key_id_and_secret(client, reader):
    key_id, secret = split(reader)
    value = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    assert_ok(client.get(PROBE, headers={"Authorization": f"Basic {value}"}))


def test_basic_with_wrong_secret_or_bad_encoding(client, reader):
    key_id, secret = split(reader)
    wrong = base64.b64encode(f"{key_id}:{secret[:-3]}xyz".encode()).decode()
    assert_401(client.get(PROBE, headers={"Authorization": f"Basic {wrong}"}), "invalid API key")
    assert_401(
        client.get(PROBE, headers={"Authorization": "Basic !!!not-base64!!!"}),
        "malformed Basic credentials",
    )
    no_colon = base64.b64encode(reader.encode()).decode()
    assert_401(
        client.get(PROBE, headers={"Authorization": f"Basic {no_colon}"}),
        "Basic credentials must be key_id:secret",
    )


def test_no_credentials(client):
    assert_401(client.get(PROBE), "send an API key (X-API-Key, Authorization: Bearer or Basic)")


def test_malformed_and_wrong_tokens(client, reader):
    assert_401(client.get(PROBE, headers={"X-API-Key": "not-a-key"}), "malformed API key")
    key_id, secret = split(reader)
    assert_401(client.get(PROBE, headers={"X-API-Key": f"{key_id}.{'A' * 43}"}), "invalid API key")
    assert_401(client.get(PROBE, headers=bearer(f"mpk_{'0' * 16}.{secret}")), "invalid API key")


def test_unsupported_authorization_scheme(client, reader):
    response = client.get(PROBE, headers={"Authorization": f"Digest {reader}"})
    assert_401(response, "unsupported Authorization scheme 'Digest'")


# -- client-signed JWTs ---------------------------------------------------------------------------


def test_jwt_naming_the_key_in_access_key(client, reader):
    key_id, secret = split(reader)
    assert_ok(client.get(PROBE, headers=bearer(management_token(key_id, secret))))


def test_jwt_naming_the_key_in_iss(client, reader):
    key_id, secret = split(reader)
    token = management_token(key_id, secret, claim="iss", type=None, version=None, jti=None)
    assert "access_key" not in jwt.decode(token, options={"verify_signature": False})
    assert_ok(client.get(PROBE, headers=bearer(token)))


def test_jwt_expired_beyond_the_leeway(client, reader):
    key_id, secret = split(reader)
    now = int(time.time())
    # default jwt_leeway_seconds is 30
    token = management_token(key_id, secret, now=now - 3600, lifetime=3600 - 90)
    assert_401(client.get(PROBE, headers=bearer(token)), "JWT has expired")


def test_jwt_expired_within_the_leeway_is_accepted(client, reader):
    key_id, secret = split(reader)
    now = int(time.time())
    token = management_token(key_id, secret, now=now - 600, lifetime=600 - 10)  # expired 10 s ago
    assert_ok(client.get(PROBE, headers=bearer(token)))


def test_jwt_leeway_follows_the_setting(make_app, reader):
    key_id, secret = split(reader)
    now = int(time.time())
    expired_10s_ago = management_token(key_id, secret, now=now - 600, lifetime=590)
    expired_100s_ago = management_token(key_id, secret, now=now - 600, lifetime=500)
    strict = make_app({"core": {"jwt_leeway_seconds": 0}}).test_client()
    assert_401(strict.get(PROBE, headers=bearer(expired_10s_ago)), "JWT has expired")
    lenient = make_app({"core": {"jwt_leeway_seconds": 300}}).test_client()
    assert_ok(lenient.get(PROBE, headers=bearer(expired_100s_ago)))


def test_jwt_not_valid_yet(client, reader):
    key_id, secret = split(reader)
    now = int(time.time())
    token = management_token(key_id, secret, now=now, nbf=now + 600)
    assert_401(client.get(PROBE, headers=bearer(token)), "JWT is not valid yet (nbf/iat)")


def test_jwt_without_exp(client, reader):
    key_id, secret = split(reader)
    token = management_token(key_id, secret, exp=None)
    assert "exp" not in jwt.decode(token, options={"verify_signature": False})
    assert_401(client.get(PROBE, headers=bearer(token)), "JWT lacks the exp claim")


LIFETIME_MESSAGE = "exceeds 86400 seconds; issue short-lived tokens (core.jwt_max_lifetime_seconds)"


def test_jwt_living_ten_years_is_refused(client, reader):
    key_id, secret = split(reader)
    token = management_token(key_id, secret, lifetime=10 * 365 * 86400)
    response = client.get(PROBE, headers=bearer(token))
    assert_401(response, "JWT lifetime (exp - iat) " + LIFETIME_MESSAGE)


def test_jwt_lifetime_up_to_the_cap_is_accepted(client, reader):
    key_id, secret = split(reader)
    assert_ok(client.get(PROBE, headers=bearer(management_token(key_id, secret, lifetime=86400))))
    over = management_token(key_id, secret, lifetime=86401)
    assert_401(client.get(PROBE, headers=bearer(over)), "JWT lifetime (exp - iat) " + LIFETIME_MESSAGE)


def test_jwt_without_iat_is_measured_from_now(client, reader):
    key_id, secret = split(reader)
    near = management_token(key_id, secret, iat=None, lifetime=3600)
    assert "iat" not in jwt.decode(near, options={"verify_signature": False})
    assert_ok(client.get(PROBE, headers=bearer(near)))
    far = management_token(key_id, secret, iat=None, nbf=None, lifetime=2 * 86400)
    assert_401(client.get(PROBE, headers=bearer(far)), "JWT lifetime (exp - now) " + LIFETIME_MESSAGE)


def test_jwt_lifetime_cap_follows_the_setting(make_app, reader):
    key_id, secret = split(reader)
    week = management_token(key_id, secret, lifetime=7 * 86400)
    assert_ok(
        make_app({"core": {"jwt_max_lifetime_seconds": 7 * 86400}})
        .test_client()
        .get(PROBE, headers=bearer(week))
    )
    strict = make_app({"core": {"jwt_max_lifetime_seconds": 600}}).test_client()
    assert_401(
        strict.get(PROBE, headers=bearer(management_token(key_id, secret, lifetime=601))),
        "JWT lifetime (exp - iat) exceeds 600 seconds; issue short-lived tokens "
        "(core.jwt_max_lifetime_seconds)",
    )


def test_jwt_signed_with_the_wrong_secret(client, reader):
    key_id, secret = split(reader)
    token = management_token(key_id, "x" * 43)
    assert_401(client.get(PROBE, headers=bearer(token)), "JWT signature does not verify")


def test_jwt_with_another_algorithm_or_none_is_refused(client, reader):
    key_id, secret = split(reader)
    now = int(time.time())
    claims = {"access_key": key_id, "iat": now, "nbf": now, "exp": now + 600}
    hs512 = jwt.encode(claims, secret + "-padding-for-hs512-length", algorithm="HS512")
    assert_401(client.get(PROBE, headers=bearer(hs512)), "JWT signature does not verify")
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert unsigned.count(".") == 2
    assert_401(client.get(PROBE, headers=bearer(unsigned)), "JWT signature does not verify")


def test_jwt_naming_an_unknown_key(client, reader):
    _, secret = split(reader)
    token = management_token(f"mpk_{'0' * 16}", secret)
    assert_401(client.get(PROBE, headers=bearer(token)), "JWT names an unknown key")


def test_jwt_naming_no_key(client, reader):
    _, secret = split(reader)
    token = management_token("ignored", secret, access_key=None)
    assert_401(client.get(PROBE, headers=bearer(token)), "JWT names no key in access_key or iss")


def test_malformed_jwt(client):
    assert_401(client.get(PROBE, headers=bearer("abc.def.ghi")), "malformed JWT")


# -- HMAC request signatures ----------------------------------------------------------------------


def test_signed_get(client, reader):
    key_id, secret = split(reader)
    assert_ok(client.get(PROBE, headers=signed(key_id, secret, "GET", PROBE)))


def test_signed_get_with_query_string(client, reader):
    key_id, secret = split(reader)
    full = f"{PROBE}?include_idle=true"
    assert_ok(client.get(full, headers=signed(key_id, secret, "GET", full)))


@pytest.mark.parametrize("hash_of", ["real body", "empty body"])
def test_signed_post_with_json_body(app, client, new_key, hash_of):
    key_id, secret = split(new_key("report:ingest"))
    body = json.dumps(EXAMPLE_REPORT).encode()
    body_hash = None if hash_of == "real body" else EMPTY_SHA256
    headers = signed(key_id, secret, "POST", "/report/metrics", body, body_hash=body_hash)
    response = client.post(
        "/report/metrics", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"code": 0, "message": "success", "data": None}
    from plugins.report.models import Snapshot

    assert count_rows(app, Snapshot) == 1


def test_signed_post_with_a_changed_body_is_refused(client, new_key):
    key_id, secret = split(new_key("report:ingest"))
    body = json.dumps(EXAMPLE_REPORT).encode()
    headers = signed(key_id, secret, "POST", "/report/metrics", body)
    tampered = body.replace(b'"room-1"', b'"room-2"')
    response = client.post(
        "/report/metrics", data=tampered, headers={**headers, "Content-Type": "application/json"}
    )
    assert_401(response, "request signature does not verify")


def test_signature_for_another_method_or_path_is_refused(client, reader):
    key_id, secret = split(reader)
    assert_401(
        client.get(PROBE, headers=signed(key_id, secret, "POST", PROBE)), "request signature does not verify"
    )
    assert_401(
        client.get(PROBE, headers=signed(key_id, secret, "GET", "/report/history/x")),
        "request signature does not verify",
    )


@pytest.mark.parametrize("offset", [-120, 120])
def test_signature_timestamp_outside_max_age(make_app, reader, offset):
    client = make_app({"core": {"signature_max_age_seconds": 60}}).test_client()
    key_id, secret = split(reader)
    headers = signed(key_id, secret, "GET", PROBE, ts=int(time.time()) + offset)
    message = "X-RTCstack-Timestamp is more than 60 s from the server clock"
    assert_401(client.get(PROBE, headers=headers), message)


@pytest.mark.parametrize("offset", [-30, 30])
def test_signature_timestamp_inside_max_age(make_app, reader, offset):
    client = make_app({"core": {"signature_max_age_seconds": 60}}).test_client()
    key_id, secret = split(reader)
    assert_ok(client.get(PROBE, headers=signed(key_id, secret, "GET", PROBE, ts=int(time.time()) + offset)))


def test_signature_timestamp_must_be_unix_seconds(client, reader):
    key_id, secret = split(reader)
    headers = signed(key_id, secret, "GET", PROBE)
    headers["X-RTCstack-Timestamp"] = "2026-01-01T00:00:00Z"
    assert_401(client.get(PROBE, headers=headers), "X-RTCstack-Timestamp must be Unix seconds")


def test_wrong_signature(client, reader):
    key_id, secret = split(reader)
    headers = signed(key_id, secret[::-1], "GET", PROBE)
    assert_401(client.get(PROBE, headers=headers), "request signature does not verify")


@pytest.mark.parametrize("prefix", ["", "sha1=", "SHA256:"])
def test_signature_header_must_be_sha256(client, reader, prefix):
    key_id, secret = split(reader)
    headers = signed(key_id, secret, "GET", PROBE, prefix=prefix)
    assert_401(client.get(PROBE, headers=headers), "X-RTCstack-Signature must be sha256=<hex>")


def test_signature_naming_an_unknown_key(client, reader):
    _, secret = split(reader)
    headers = signed(f"mpk_{'0' * 16}", secret, "GET", PROBE)
    assert_401(client.get(PROBE, headers=headers), "invalid API key")


def test_signature_over_the_percent_encoded_target(client, reader):
    """rtcstack's server signs `req.url`, the target as sent: a room id with a space is signed as %20."""
    key_id, secret = split(reader)
    target = "/report/metrics/standup%20room?since=1"
    response = client.get(target, headers=signed(key_id, secret, "GET", target))
    assert response.status_code == 404, response.get_data(as_text=True)  # authenticated: no such room
    decoded = "/report/metrics/standup room"
    assert client.get(target, headers=signed(key_id, secret, "GET", decoded)).status_code == 404
    assert_401(
        client.get(target, headers=signed(key_id, secret, "GET", "/report/metrics/standup%20room2")),
        "request signature does not verify",
    )


def test_empty_body_signatures_of_different_requests_in_one_second_both_pass(app, client, new_key):
    """The reference client signs the empty-body hash: Alice's and Bob's reports sent in the same second
    carry the same signature. Both are accepted; the same bytes sent again are refused as a replay."""
    from plugins.report.models import Snapshot

    key_id, secret = split(new_key("report:ingest"))
    ts = int(time.time())
    headers = {
        **signed(key_id, secret, "POST", "/report/metrics", body_hash=EMPTY_SHA256, ts=ts),
        "Content-Type": "application/json",
    }
    alice = json.dumps({**EXAMPLE_REPORT, "user_id": "alice"}).encode()
    bob = json.dumps({**EXAMPLE_REPORT, "user_id": "bob"}).encode()
    assert client.post("/report/metrics", data=alice, headers=headers).status_code == 200
    assert client.post("/report/metrics", data=bob, headers=headers).status_code == 200
    assert_401(
        client.post("/report/metrics", data=bob, headers=headers),
        "this request signature was used already; sign each request anew",
    )
    assert count_rows(app, Snapshot) == 2


# -- revocation and scopes ------------------------------------------------------------------------


def test_revoked_key_gets_401_in_every_style(app, client, reader):
    key_id, secret = split(reader)
    assert_ok(client.get(PROBE, headers={"X-API-Key": reader}))
    with app.app_context(), db.connection_context():
        revoke_key(key_id)
        with pytest.raises(AuthError, match=f"no active key '{key_id}'"):
            revoke_key(key_id)
    assert_401(client.get(PROBE, headers={"X-API-Key": reader}), "invalid API key")
    assert_401(client.get(PROBE, headers=bearer(reader)), "invalid API key")
    basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    assert_401(client.get(PROBE, headers={"Authorization": f"Basic {basic}"}), "invalid API key")
    assert_401(
        client.get(PROBE, headers=bearer(management_token(key_id, secret))), "JWT names an unknown key"
    )
    assert_401(client.get(PROBE, headers=signed(key_id, secret, "GET", PROBE)), "invalid API key")


def test_plugin_wildcard_scope_reads_and_ingests(client, new_key):
    key = {"X-API-Key": new_key("report:*")}
    assert_ok(client.get(PROBE, headers=key))
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=key).status_code == 200
    assert client.get("/report/history/room-1", headers=key).status_code == 200


def test_star_scope_can_do_everything(client, new_key):
    key = {"X-API-Key": new_key("*")}
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=key).status_code == 200
    for url in REPORT_READ_URLS:
        response = client.get(url, headers=key)
        assert response.status_code == 200, url
        assert response.get_json()["code"] == 0, url


def test_ingest_scope_does_not_read(client, new_key):
    response = client.get(PROBE, headers={"X-API-Key": new_key("report:ingest")})
    assert response.status_code == 403
    assert response.get_json() == {
        "code": 403,
        "message": "this key lacks the 'report:read' scope",
        "data": None,
    }


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("video:read", "unknown scope 'video:read'"),
        ("report:delete", "unknown scope 'report:delete'"),
        ("bogus:*", "unknown scope 'bogus:\\*'"),
        ("report", "scope 'report' is not of the form plugin:action"),
        ("Report:Read", "scope 'Report:Read' is not of the form plugin:action"),
        ("report:read:all", "scope 'report:read:all' is not of the form plugin:action"),
        ("report:", "scope 'report:' is not of the form plugin:action"),
        (":read", "scope ':read' is not of the form plugin:action"),
        ("report read", "scope 'report read' is not of the form plugin:action"),
        ("**", "scope '\\*\\*' is not of the form plugin:action"),
    ],
)
def test_create_key_rejects_unknown_and_malformed_scopes(app, scope, message):
    with app.app_context(), db.connection_context():
        create_account("acme")
        with pytest.raises(AuthError, match=message):
            create_key("acme", ["report:read", scope])
    assert count_rows(app, ApiKey) == 0


def test_create_key_needs_a_scope_and_an_existing_account(app):
    with app.app_context(), db.connection_context():
        create_account("acme")
        with pytest.raises(AuthError, match="a key needs at least one scope"):
            create_key("acme", ["", "  "])
        with pytest.raises(AuthError, match="no account named 'nobody'"):
            create_key("nobody", ["report:read"])
    assert count_rows(app, ApiKey) == 0


def test_create_key_cleans_and_sorts_scopes(app):
    with app.app_context(), db.connection_context():
        create_account("acme")
        row, token = create_key("acme", [" report:read ", "report:ingest", "report:read"], "sdk")
        assert row.scopes == "report:ingest report:read"
        assert row.name == "sdk"
        assert row.key_id.startswith("mpk_") and len(row.key_id) == 20
        assert token.startswith(row.key_id + ".")


# -- key storage and the server key ---------------------------------------------------------------


def test_secret_is_never_stored_in_plain_text(app, reader):
    key_id, secret = split(reader)
    with app.app_context(), db.connection_context():
        values = ApiKey.select().where(ApiKey.key_id == key_id).dicts().get()
        row = ApiKey.get(ApiKey.key_id == key_id)
    for column, value in values.items():
        assert secret not in str(value), column
        assert reader not in str(value), column
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert len(row.secret_hash) == 64 and int(row.secret_hash, 16) >= 0
    fernet = Fernet(app.extensions["mediaplane"].secret_key)
    assert fernet.decrypt(row.secret_encrypted.encode()).decode() == secret


def test_after_a_server_key_change_tokens_work_and_signing_does_not(make_app, app, new_key):
    token = new_key("report:read")
    key_id, secret = split(token)
    new_server_key = Fernet.generate_key()
    assert new_server_key != app.extensions["mediaplane"].secret_key
    other = make_app({"core": {"secret_key": new_server_key.decode()}})
    assert other.extensions["mediaplane"].secret_key == new_server_key
    client = other.test_client()
    assert_ok(client.get(PROBE, headers={"X-API-Key": token}))
    assert_ok(client.get(PROBE, headers=bearer(token)))
    message = "this key cannot sign requests; create a new key"
    assert_401(client.get(PROBE, headers=bearer(management_token(key_id, secret))), message)
    assert_401(client.get(PROBE, headers=signed(key_id, secret, "GET", PROBE)), message)
    # a key made under the new server key signs again
    with other.app_context(), db.connection_context():
        fresh = create_key("acme", ["report:read"])[1]
    fresh_id, fresh_secret = split(fresh)
    assert_ok(client.get(PROBE, headers=bearer(management_token(fresh_id, fresh_secret))))


def test_every_401_carries_www_authenticate(client, reader):
    for headers in (
        {},
        {"X-API-Key": "nope"},
        {"Authorization": "Token abc"},
        bearer("abc.def.ghi"),
    ):
        response = client.get(PROBE, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="mediaplane"'


def test_a_signature_is_good_once(client, reader):
    key_id, secret = split(reader)
    headers = signed(key_id, secret, "GET", PROBE)
    assert_ok(client.get(PROBE, headers=headers))
    assert_401(
        client.get(PROBE, headers=headers), "this request signature was used already; sign each request anew"
    )


def test_browsers_may_send_the_signature_headers(client):
    preflight = client.options(
        "/report/metrics",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,x-rtcstack-timestamp,x-rtcstack-signature",
        },
    )
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "x-rtcstack-timestamp" in allowed and "x-rtcstack-signature" in allowed
