"""Every bad or missing parameter of the Agora-style endpoints gets the contract's code in Agora's envelope
({code, message, data: null}) naming the parameter; auth, appid and unknown routes likewise."""

from __future__ import annotations

import time

import pytest

from tests.plugins.analytics.agora_support import (
    ENDPOINTS,
    EXTRA,
    MAX_AGE,
    analytics_config,
    appid_of,
    assert_error,
    basic,
    make_key,
)

ALL = list(ENDPOINTS)


@pytest.fixture
def env(make_app):
    app = make_app(analytics_config())
    token, key_id, secret = make_key(app)
    return app, app.test_client(), basic(key_id, secret), appid_of(app)


def window(seconds: int = 600) -> dict:
    now = int(time.time())
    return {"start_ts": now - seconds, "end_ts": now}


def query(endpoint: str, appid: str, /, **overrides) -> dict:
    params = {**window(), "appid": appid, **EXTRA[endpoint], **overrides}
    return {key: value for key, value in params.items() if value is not None}


def get(client, endpoint: str, params: dict, headers: dict):
    return client.get(ENDPOINTS[endpoint], query_string=params, headers=headers)


@pytest.mark.parametrize("endpoint", [e for e in ALL if e != "call/details"])
def test_a_good_request_answers_200_in_the_envelope(env, endpoint):
    app, client, auth, appid = env
    response = get(client, endpoint, query(endpoint, appid), auth)
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["code"] == 200
    if endpoint == "call/lists":
        assert body == {"code": 200, "message": "", "has_more": False, "call_lists": []}
    else:
        assert body["message"] == "success" and isinstance(body["data"], list)


@pytest.mark.parametrize("endpoint", ALL)
def test_newer_spellings_startTs_endTs_are_accepted(env, endpoint):  # noqa: N802
    app, client, auth, appid = env
    w = window()
    params = query(endpoint, appid, start_ts=None, end_ts=None, startTs=w["start_ts"], endTs=w["end_ts"])
    response = get(client, endpoint, params, auth)
    # call/details answers 404 for the unknown call: the window itself was accepted
    assert response.status_code == (404 if endpoint == "call/details" else 200), response.data


@pytest.mark.parametrize("endpoint", ALL)
@pytest.mark.parametrize(
    ("overrides", "status", "words"),
    [
        ({"start_ts": None}, 400, ("start_ts", "Missing")),
        ({"end_ts": None}, 400, ("end_ts", "Missing")),
        ({"appid": None}, 400, ("appid", "Missing")),
        ({"start_ts": "yesterday"}, 400, ("start_ts", "integer")),
        ({"end_ts": "1.5"}, 400, ("end_ts", "integer")),
        ({"start_ts": -1}, 400, ("start_ts", "1970")),
        ({"end_ts": 10**13}, 400, ("end_ts", "2100")),
        ({"appid": "x" * 65}, 400, ("appid",)),
        ({"appid": "0" * 32}, 403, ("appid", "not a project")),
    ],
    ids=[
        "no-start",
        "no-end",
        "no-appid",
        "start-text",
        "end-float",
        "start-negative",
        "end-ms",
        "appid-long",
        "appid-unknown",
    ],
)
def test_bad_parameters(env, endpoint, overrides, status, words):
    app, client, auth, appid = env
    assert_error(get(client, endpoint, query(endpoint, appid, **overrides), auth), status, *words)


@pytest.mark.parametrize("endpoint", ALL)
def test_end_before_start_and_disagreeing_spellings(env, endpoint):
    app, client, auth, appid = env
    now = int(time.time())
    assert_error(
        get(client, endpoint, query(endpoint, appid, start_ts=now - 10, end_ts=now - 10), auth),
        400,
        "end_ts",
        "after start_ts",
    )
    assert_error(
        get(client, endpoint, query(endpoint, appid, startTs=now - 20), auth),
        400,
        "start_ts and startTs differ",
    )


@pytest.mark.parametrize("endpoint", ALL)
def test_a_window_reaching_past_the_contract_limit_is_400(env, endpoint):
    app, client, auth, appid = env
    now = int(time.time())
    too_old = now - MAX_AGE[endpoint] - 120  # beyond the 60 s clock leeway
    end = too_old + 600
    body = assert_error(
        get(client, endpoint, query(endpoint, appid, start_ts=too_old, end_ts=end), auth),
        400,
        "start_ts",
        "past",
    )
    # the same with the newer spelling names the newer parameter
    params = query(endpoint, appid, start_ts=None, end_ts=None, startTs=too_old, endTs=end)
    assert_error(get(client, endpoint, params, auth), 400, "startTs", "past")
    # exactly at the limit, as a client computes now - limit, is accepted (leeway for clocks and latency)
    at_limit = query(endpoint, appid, start_ts=now - MAX_AGE[endpoint], end_ts=now - MAX_AGE[endpoint] + 600)
    assert get(client, endpoint, at_limit, auth).status_code in (200, 404), body


def test_call_details_cover_three_hours_per_request(env):
    app, client, auth, appid = env
    now = int(time.time())
    params = query("call/details", appid, start_ts=now - 3 * 3600 - 1, end_ts=now)
    assert_error(get(client, "call/details", params, auth), 400, "end_ts", "3 hours", "split")
    params = query("call/details", appid, start_ts=now - 3 * 3600, end_ts=now)
    assert_error(get(client, "call/details", params, auth), 404, "call_id")


def test_call_details_needs_a_call_id_of_the_account(env):
    app, client, auth, appid = env
    assert_error(
        get(client, "call/details", query("call/details", appid, call_id=None), auth), 400, "call_id"
    )
    assert_error(
        get(client, "call/details", query("call/details", appid), auth), 404, "call_id", "no-such-call"
    )
    params = query("call/details", appid, exclude_server_user="maybe")
    assert_error(get(client, "call/details", params, auth), 400, "exclude_server_user")
    params = query("call/details", appid, exclude_metrics_info="maybe")
    assert_error(get(client, "call/details", params, auth), 400, "exclude_metrics_info")


def test_call_lists_cname_is_checked(env):
    app, client, auth, appid = env
    assert_error(get(client, "call/lists", query("call/lists", appid, cname="c" * 256), auth), 400, "cname")
    assert get(client, "call/lists", query("call/lists", appid, cname=""), auth).status_code == 200


@pytest.mark.parametrize("endpoint", ["usage", "scale", "experience", "net"])
def test_metric_is_required_and_must_be_the_endpoint_s(env, endpoint):
    app, client, auth, appid = env
    assert_error(get(client, endpoint, query(endpoint, appid, metric=None), auth), 400, "metric", "Missing")
    body = assert_error(
        get(client, endpoint, query(endpoint, appid, metric="bogus"), auth), 400, "metric", "bogus"
    )
    assert EXTRA[endpoint]["metric"] in body["message"]  # the message lists what is accepted
    good = EXTRA[endpoint]["metric"]
    assert_error(get(client, endpoint, query(endpoint, appid, metric=f"{good},nope"), auth), 400, "'nope'")
    assert get(client, endpoint, query(endpoint, appid, metric=f"{good}, {good}"), auth).status_code == 200
    granularity = "1d" if endpoint == "usage" else "1m"
    ok = query(endpoint, appid, aggregateGranularity=granularity)
    assert get(client, endpoint, ok, auth).status_code == 200
    bad = query(endpoint, appid, aggregateGranularity="5s")
    assert_error(get(client, endpoint, bad, auth), 400, "aggregateGranularity", granularity)


def test_unknown_parameters_are_ignored(env):
    app, client, auth, appid = env
    params = query("scale", appid, page=2, someNewOption="x")
    assert get(client, "scale", params, auth).status_code == 200


@pytest.mark.parametrize("endpoint", ALL)
def test_credentials(env, make_app, endpoint):
    app, client, auth, appid = env
    params = query(endpoint, appid)
    assert_error(get(client, endpoint, params, {}), 401)
    assert_error(
        get(client, endpoint, params, basic("mpk_0000000000000000", "wrong-secret-wrong-secret")), 401
    )
    token, key_id, secret = make_key(app, "report:read")
    assert_error(get(client, endpoint, params, basic(key_id, secret)), 403, "analytics:read")
    # Bearer and X-API-Key resolve through the same core auth as Basic
    token, key_id, secret = make_key(app, "analytics:read")
    expected = 404 if endpoint == "call/details" else 200
    assert get(client, endpoint, params, {"Authorization": f"Bearer {token}"}).status_code == expected
    assert get(client, endpoint, params, {"X-API-Key": token}).status_code == expected


@pytest.mark.parametrize("endpoint", ALL)
def test_another_account_s_appid_is_forbidden_like_an_unknown_one(env, endpoint):
    app, client, auth, appid = env
    other_token, other_id, other_secret = make_key(app, account="globex")
    other_appid = appid_of(app, "globex")
    foreign = assert_error(get(client, endpoint, query(endpoint, other_appid), auth), 403, "appid")
    unknown = assert_error(get(client, endpoint, query(endpoint, "f" * 32), auth), 403, "appid")
    assert foreign["message"].replace(other_appid, "X") == unknown["message"].replace("f" * 32, "X")


def test_unknown_routes_under_beta_are_404_in_the_envelope(env):
    app, client, auth, appid = env
    assert_error(client.get("/beta/analytics/call/nothing", headers=auth), 404)
    response = client.post(ENDPOINTS["call/lists"], headers=auth)
    assert response.status_code == 405 and response.get_json()["code"] == 405


def test_replaced_appid_stops_working(env):
    app, client, auth, appid = env
    from core.auth import find_account
    from core.db import db
    from plugins.analytics.agora_projects import replace_appid

    with app.app_context(), db.connection_context():
        new = replace_appid(find_account("acme").id)
    assert new != appid and len(new) == 32
    assert_error(get(client, "scale", query("scale", appid), auth), 403, "appid")
    assert get(client, "scale", query("scale", new), auth).status_code == 200


def counter(client, name: str, **labels) -> float:
    """The value of one labelled sample on /metrics (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_answers_and_points_are_counted_on_metrics(env):
    app, client, auth, appid = env
    before_ok = counter(
        client, "mediaplane_analytics_agora_answers_total", endpoint="live-scale", outcome="ok"
    )
    before_refused = counter(
        client, "mediaplane_analytics_agora_answers_total", endpoint="live-scale", outcome="appid_refused"
    )
    before_missing = counter(
        client, "mediaplane_analytics_agora_answers_total", endpoint="call-details", outcome="call_not_found"
    )
    assert get(client, "scale", query("scale", appid), auth).status_code == 200
    assert get(client, "scale", query("scale", "0" * 32), auth).status_code == 403
    assert get(client, "call/details", query("call/details", appid), auth).status_code == 404
    assert counter(
        client, "mediaplane_analytics_agora_answers_total", endpoint="live-scale", outcome="ok"
    ) == (before_ok + 1)
    assert (
        counter(
            client, "mediaplane_analytics_agora_answers_total", endpoint="live-scale", outcome="appid_refused"
        )
        == before_refused + 1
    )
    assert (
        counter(
            client,
            "mediaplane_analytics_agora_answers_total",
            endpoint="call-details",
            outcome="call_not_found",
        )
        == before_missing + 1
    )
