"""The /v1/webhooks routes: CRUD, masking, tenancy, scopes, bad input on every route, SSRF on save.

Against the real app (SQLite and PostgreSQL, real Redis).
"""

from __future__ import annotations

import pytest

from core.db import db
from plugins.webhooks.models import Webhook
from plugins.webhooks.schemas import EVENT_TYPES
from tests.conftest import count_rows

URL = "https://hooks.example.com/mediaplane"
PROBLEM = "https://rtcstack.dev/errors/"


@pytest.fixture
def key(new_key):
    return {"X-API-Key": new_key("webhooks:admin")}


def create(client, headers, **body):
    body.setdefault("url", URL)
    response = client.post("/v1/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_problem(response, status: int, slug: str, *words: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == PROBLEM + slug and body["status"] == status
    for word in words:
        assert word in body["detail"], body
    return body


def test_create_shows_the_secret_once_then_masks_it(client, key, app):
    made = create(client, key, events=["room_created", "participant_joined"])
    assert made["id"].startswith("wh_") and made["url"] == URL
    assert made["events"] == ["room_created", "participant_joined"]
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["createdAt"].endswith("Z") and made["updatedAt"] == made["createdAt"]

    one = client.get(f"/v1/webhooks/{made['id']}", headers=key).get_json()
    assert one == {**made, "secret": "***"}
    listed = client.get("/v1/webhooks", headers=key).get_json()
    assert listed == {"webhooks": [{**made, "secret": "***"}]}
    # stored encrypted, not in plaintext
    with app.app_context(), db.connection_context():
        row = Webhook.get_by_id(made["id"])
    assert made["secret"] not in row.secret_encrypted


def test_events_default_to_all_and_a_given_secret_is_kept(client, key):
    made = create(client, key, secret="s" * 20)
    assert made["events"] == ["*"] and made["secret"] == "s" * 20


def test_patch_changes_url_and_events_and_rotates_secrets(client, key):
    made = create(client, key)
    path = f"/v1/webhooks/{made['id']}"
    changed = client.patch(
        path, json={"url": "https://other.example.org/h", "events": ["room_closed"]}, headers=key
    )
    assert changed.status_code == 200
    body = changed.get_json()
    assert body["url"] == "https://other.example.org/h" and body["events"] == ["room_closed"]
    assert body["secret"] == "***"

    rotated = client.patch(path, json={"rotateSecret": True}, headers=key).get_json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    given = client.patch(path, json={"secret": "x" * 32}, headers=key).get_json()
    assert given["secret"] == "x" * 32
    assert client.get(path, headers=key).get_json()["secret"] == "***"

    unchanged = client.patch(path, json={}, headers=key)
    assert unchanged.status_code == 200 and unchanged.get_json()["events"] == ["room_closed"]

    both = client.patch(path, json={"rotateSecret": True, "secret": "y" * 32}, headers=key)
    assert_problem(both, 400, "validation", "secret")


def test_delete_is_204_then_404(client, key):
    made = create(client, key)
    path = f"/v1/webhooks/{made['id']}"
    assert client.delete(path, headers=key).status_code == 204
    assert_problem(client.get(path, headers=key), 404, "not-found", made["id"])
    assert_problem(client.delete(path, headers=key), 404, "not-found")
    assert client.get("/v1/webhooks", headers=key).get_json() == {"webhooks": []}


def test_another_accounts_webhook_is_404_on_every_route(client, key, new_key):
    theirs = create(client, {"X-API-Key": new_key("webhooks:admin", account="other")})
    path = f"/v1/webhooks/{theirs['id']}"
    assert_problem(client.get(path, headers=key), 404, "not-found")
    assert_problem(client.patch(path, json={"events": ["*"]}, headers=key), 404, "not-found")
    assert_problem(client.delete(path, headers=key), 404, "not-found")
    assert_problem(client.post(path + "/test", headers=key), 404, "not-found")
    assert_problem(client.get(path + "/deliveries", headers=key), 404, "not-found")
    assert client.get("/v1/webhooks", headers=key).get_json() == {"webhooks": []}
    # and theirs is untouched
    other = {"X-API-Key": new_key("webhooks:admin", account="other")}
    assert client.get(path, headers=other).get_json()["events"] == ["*"]


def test_scopes(client, new_key, key):
    made = create(client, key)
    path = f"/v1/webhooks/{made['id']}"
    wrong = {"X-API-Key": new_key("report:read")}
    for method, url in [
        ("get", "/v1/webhooks"),
        ("post", "/v1/webhooks"),
        ("get", path),
        ("patch", path),
        ("delete", path),
        ("post", path + "/test"),
        ("get", path + "/deliveries"),
    ]:
        kwargs = {"json": {"url": URL}} if method in ("post", "patch") else {}
        assert_problem(
            getattr(client, method)(url, headers=wrong, **kwargs), 403, "forbidden", "webhooks:admin"
        )
        assert_problem(getattr(client, method)(url, **kwargs), 401, "unauthorized")
    wildcard = {"X-API-Key": new_key("webhooks:*")}
    assert client.get(path, headers=wildcard).status_code == 200


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({}, "url", ["url"]),
        ({"url": ""}, "url", ["url"]),
        ({"url": 5}, "url", ["url"]),
        ({"url": "ftp://files.example.com/x"}, "url", ["http or https"]),
        ({"url": "not a url"}, "url", ["spaces"]),
        ({"url": "https://user:pw@hooks.example.com/"}, "url", ["credentials"]),
        ({"url": "https:///nohost"}, "url", ["no host"]),
        ({"url": "https://hooks.example.com:99999/"}, "url", ["url"]),
        ({"url": "https://" + "a" * 2050 + ".com/"}, "url", ["url"]),
        (
            {"url": URL, "events": ["room_created", "room_exploded", "nope"]},
            "events",
            ["room_exploded", "nope"],
        ),
        ({"url": URL, "events": []}, "events", ["events"]),
        ({"url": URL, "events": "room_created"}, "events", ["events"]),
        ({"url": URL, "secret": "short"}, "secret", ["secret"]),
        ({"url": URL, "secret": "has spaces in it, too many"}, "secret", ["secret"]),
        ({"url": URL, "colour": "blue"}, "colour", ["colour"]),
    ],
)
def test_bad_create_bodies_are_400_naming_the_field(client, key, body, field, words):
    problem = assert_problem(client.post("/v1/webhooks", json=body, headers=key), 400, "validation", *words)
    assert field in problem["errors"] or field in problem["detail"]


def test_unknown_events_are_each_named(client, key):
    problem = assert_problem(
        client.post("/v1/webhooks", json={"url": URL, "events": ["room_created", "boom"]}, headers=key),
        400,
        "validation",
    )
    assert "events[1]: unknown event 'boom'" in problem["detail"]
    for name in EVENT_TYPES:
        assert name in problem["detail"]


@pytest.mark.parametrize(
    "host, reason",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.10", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not globally routable"),
        ("[::1]", "loopback"),
        ("[fe80::1]", "link-local"),
        ("[fc00::1]", "private"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::]", "unspecified"),
        ("localhost", "loopback"),
        ("api.localhost", "loopback"),
    ],
)
def test_non_public_literal_addresses_are_refused_on_save(client, key, host, reason):
    problem = assert_problem(
        client.post("/v1/webhooks", json={"url": f"http://{host}:8080/hook"}, headers=key),
        400,
        "validation",
        reason,
    )
    assert "url" in problem["errors"]


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "017700000001"])
def test_numeric_hosts_in_odd_forms_are_refused(client, key, host):
    assert_problem(
        client.post("/v1/webhooks", json={"url": f"http://{host}/"}, headers=key),
        400,
        "validation",
        "non-standard",
    )


def test_public_addresses_and_names_are_accepted(client, key):
    for url in [
        "http://93.184.216.34/x",
        "https://[2606:4700::1111]/x",
        "https://hooks.example.com:8443/x?a=1",
    ]:
        create(client, key, url=url)


def test_the_allow_list_permits_private_networks(make_app, new_key):
    app = make_app({"plugins": {"webhooks": {"allow_private_cidrs": ["10.20.0.0/16", "::1/128"]}}})
    client = app.test_client()
    from core.auth import create_account, create_key

    with app.app_context(), db.connection_context():
        create_account("acme")
        headers = {"X-API-Key": create_key("acme", ["webhooks:admin"])[1]}
    assert client.post("/v1/webhooks", json={"url": "http://10.20.3.4/h"}, headers=headers).status_code == 201
    assert client.post("/v1/webhooks", json={"url": "http://[::1]:9/h"}, headers=headers).status_code == 201
    assert_problem(
        client.post("/v1/webhooks", json={"url": "http://10.21.0.1/h"}, headers=headers), 400, "validation"
    )


def test_patch_to_a_refused_url_is_400_and_changes_nothing(client, key):
    made = create(client, key)
    path = f"/v1/webhooks/{made['id']}"
    assert_problem(
        client.patch(path, json={"url": "http://169.254.169.254/latest"}, headers=key), 400, "validation"
    )
    assert client.get(path, headers=key).get_json()["url"] == URL


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["bogus"]},
        {"url": 3},
        {"secret": "short"},
        {"rotateSecret": "maybe"},
        {"unknown": 1},
        [1, 2],
    ],
)
def test_bad_patch_bodies_are_400(client, key, body):
    made = create(client, key)
    assert_problem(client.patch(f"/v1/webhooks/{made['id']}", json=body, headers=key), 400, "validation")


def test_bad_json_and_bad_query_and_unknown_ids(client, key):
    made = create(client, key)
    response = client.post("/v1/webhooks", data="{not json", content_type="application/json", headers=key)
    assert_problem(response, 400, "validation")
    deliveries = f"/v1/webhooks/{made['id']}/deliveries"
    for query in ["limit=0", "limit=100000", "limit=x", "cursor=abc", "cursor=-1", "status=odd"]:
        assert_problem(client.get(f"{deliveries}?{query}", headers=key), 400, "validation")
    for path in ["/v1/webhooks/wh_nope", "/v1/webhooks/wh_nope/deliveries"]:
        assert_problem(client.get(path, headers=key), 404, "not-found")
    assert_problem(client.post("/v1/webhooks/wh_nope/test", headers=key), 404, "not-found")
    assert_problem(client.put(f"/v1/webhooks/{made['id']}", json={}, headers=key), 405, "method-not-allowed")


def test_the_number_of_webhooks_per_account_is_limited(make_app):
    app = make_app({"plugins": {"webhooks": {"max_webhooks_per_account": 2}}})
    client = app.test_client()
    from core.auth import create_account, create_key

    with app.app_context(), db.connection_context():
        create_account("acme")
        headers = {"X-API-Key": create_key("acme", ["webhooks:admin"])[1]}
    create(client, headers)
    create(client, headers)
    assert_problem(
        client.post("/v1/webhooks", json={"url": URL}, headers=headers), 409, "conflict", "max_webhooks"
    )
    assert count_rows(app, Webhook) == 2


def test_the_contract_tolerates_json_content_type_on_get_and_an_empty_test_body(client, key):
    made = create(client, key)
    headers = {**key, "Content-Type": "application/json"}
    assert client.get("/v1/webhooks", headers=headers).status_code == 200
    assert client.delete(f"/v1/webhooks/{made['id']}", headers=headers).status_code == 204


def test_bad_settings_stop_startup_naming_them(make_app, tmp_path):
    from core.config import ConfigError

    for settings, words in [
        ({"allow_private_cidrs": ["10.0.0.0/8", "not-a-net"]}, "allow_private_cidrs"),
        ({"ca_file": str(tmp_path / "missing.pem")}, "plugins.webhooks: ca_file"),
        ({"connect_timeout_seconds": 20, "timeout_seconds": 10}, "connect_timeout_seconds"),
        ({"test_rate_limit": "lots"}, "test_rate_limit"),
    ]:
        with pytest.raises(ConfigError, match=words):
            make_app({"plugins": {"webhooks": settings}})
