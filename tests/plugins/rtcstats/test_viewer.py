"""The session viewer (/rtcstats/view/<id>, /rtcstats/embed/<id>): rendered in headless Chromium against the
app on 127.0.0.1 (charts drawn, key numbers, scores and observations shown), its authorisation by API key
or signed token, tenancy, errors as HTML, security headers, assets, and the measured time series."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from core.db import db
from plugins.rtcstats import viewer, viewer_series, viewer_tokens
from tests.chromium import start_chromium
from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.plugins.rtcstats.test_mcp import serving

API = "/api/rtcstats/v1.0"
CHROME_DUMP = "internals_chrome144_p2p_audio_video.txt"
SMALL_DUMP = "jitsi_legacy_firefox-relay.jsonl"
CHROMIUM_FLAGS = ("--window-size=1280,2000",)
# Stroke colour of each chart metric in static/viewer.js.
STROKES = {
    "bitrateKbps": (0x25, 0x63, 0xEB),
    "availableOutgoingKbps": (0x08, 0x91, 0xB2),
    "lossPct": (0xDC, 0x26, 0x26),
    "jitterMs": (0xD9, 0x77, 0x06),
    "rttMs": (0x7C, 0x3A, 0xED),
    "fps": (0x05, 0x96, 0x69),
}


@pytest.fixture
def bearer(new_key) -> dict:
    return {"Authorization": f"Bearer {new_key('rtcstats:read', 'rtcstats:write')}"}


def store(client, headers: dict, name: str = CHROME_DUMP) -> dict:
    """Analyse and store a real dump; the analyze answer (rtcstatsId, rtcstatsUrl, embedUrl, data)."""
    response = client.post(f"{API}/analyze?save=true&fileName={name}", data=dump_bytes(name), headers=headers)
    assert response.status_code == 200, response.data
    return response.get_json()


def token_for(app, rtcstats_id: str, account_id: int, key_id: str | None = None) -> str:
    with app.app_context():
        return viewer.viewer_token(account_id, rtcstats_id, key_id)


def account_id_of(app, name: str = "acme") -> int:
    from core.models import Account

    with app.app_context(), db.connection_context():
        return Account.get(Account.name == name).id


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_the_viewer_draws_without_the_console_plugin(make_app):
    """The viewer's chart library comes from the core, so the page is whole with the console disabled."""
    app = make_app({"plugins": {"console": {"enabled": False}}})
    client = app.test_client()
    from core.auth import create_account, create_key

    with app.app_context(), db.connection_context():
        create_account("acme")
        key = create_key("acme", ["rtcstats:read", "rtcstats:write"])[1]
    stored = store(client, {"Authorization": f"Bearer {key}"}, SMALL_DUMP)
    page = client.get(path_of(stored["rtcstatsUrl"]))
    assert page.status_code == 200, page.data
    assets = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', page.get_data(as_text=True))
    assert "/vendor/uPlot.iife.min.js" in assets and "/vendor/uPlot.min.css" in assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


@pytest.fixture
def live_server(app):
    with serving(app) as url:
        yield url


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium through chromedriver (tests/chromium.py: skipped without it, except under CI)."""
    driver = start_chromium(monkeypatch, CHROMIUM_FLAGS)
    yield driver
    driver.quit()


CANVAS_STATS = """
const rgb = arguments[0];
return Array.from(document.querySelectorAll('figure.chart')).map(fig => {
  const canvas = fig.querySelector('canvas');
  if (!canvas) return {metric: fig.dataset.metric, canvas: false};
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const [r, g, b] = rgb[fig.dataset.metric];
  let painted = 0, stroke = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0) painted++;
    if (data[i + 3] > 160 && Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40
        && Math.abs(data[i + 2] - b) < 40) stroke++;
  }
  return {metric: fig.dataset.metric, id: fig.dataset.id, canvas: true, width: canvas.width,
          painted: painted, stroke: stroke};
});
"""


def load(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts-drawn") is not None
    )


def browser_problems(driver) -> list[str]:
    """Console errors, CSP violations included (the page allows only its own scripts and styles)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def test_the_page_draws_its_charts_and_shows_key_numbers_in_chromium(
    app, client, bearer, browser, live_server
):
    from selenium.webdriver.common.by import By

    stored = store(client, bearer)
    rtcstats_id = stored["rtcstatsId"]
    data = client.get(f"{API}/sessions/{rtcstats_id}", headers=bearer).get_json()["data"]
    url = f"{live_server}{path_of(viewer_url(stored['rtcstatsUrl'], app, rtcstats_id))}"
    load(browser, url)

    charts = browser.execute_script(CANVAS_STATS, {k: list(v) for k, v in STROKES.items()})
    figures = browser.find_elements(By.CSS_SELECTOR, "figure.chart")
    # Two PCs (RTT, available bitrate) and eight streams: dozens of charts, every one drawn with its line.
    assert len(charts) == len(figures) >= 20
    assert int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-charts-drawn")) == len(charts)
    for chart in charts:
        assert chart["canvas"] and chart["width"] > 200, chart
        assert chart["painted"] > 1000, chart
        assert chart["stroke"] > 20, chart
    assert {c["metric"] for c in charts} == set(STROKES)
    assert {c["id"] for c in charts if c["metric"] == "availableOutgoingKbps"} == set(data["pConnections"])

    text = browser.find_element(By.TAG_NAME, "body").text
    assert viewer.fmt_duration(data["durationMs"]) == "57.8 s"
    assert "57.8 s" in text and "DIRECT/UDP" in text and "Chrome 144" in text and "Linux" in text
    assert viewer.fmt_score(data["experienceScore"], 100) in text
    for key, scale in (
        ("audioScore", 5),
        ("videoScore", 5),
        ("connectivityScore", 5),
        ("observationsScore", 40),
    ):
        assert viewer.fmt_score(data[key], scale) in text, key
    catalogue = {
        e["type"]: e["title"] for e in client.get(f"{API}/observations", headers=bearer).get_json()["data"]
    }
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".observation-title")]
    assert titles == [catalogue[o["type"]] for o in data["observations"]]
    assert "High bandwidth limitation" in titles
    assert browser_problems(browser) == []

    # The embed page draws the same charts without the page chrome.
    load(browser, f"{live_server}{path_of(viewer_url(stored['embedUrl'], app, rtcstats_id))}")
    embedded = browser.execute_script(CANVAS_STATS, {k: list(v) for k, v in STROKES.items()})
    assert len(embedded) == len(charts) and all(c["stroke"] > 20 for c in embedded)
    assert browser.find_elements(By.CSS_SELECTOR, "header .meta") == []
    assert browser_problems(browser) == []


def test_a_legacy_dump_renders_in_chromium(app, client, bearer, browser, live_server):
    from selenium.webdriver.common.by import By

    stored = store(client, bearer, SMALL_DUMP)
    load(browser, f"{live_server}{path_of(viewer_url(stored['rtcstatsUrl'], app, stored['rtcstatsId']))}")
    charts = browser.execute_script(CANVAS_STATS, {k: list(v) for k, v in STROKES.items()})
    assert charts and all(c["canvas"] and c["painted"] > 1000 for c in charts)
    assert "Firefox" in browser.find_element(By.TAG_NAME, "body").text
    assert browser_problems(browser) == []


def viewer_url(url: str, app, rtcstats_id: str) -> str:
    """The URL handed out by the API, with a viewer token unless the API appended one already."""
    if "token=" in url:
        return url
    account_id = account_id_of(app)
    with app.app_context():
        return viewer.signed_url(url, account_id, rtcstats_id)


# -- authorisation and tenancy --------------------------------------------------------------------


def test_the_urls_the_api_hands_out_open_with_an_api_key(client, bearer, new_key):
    stored = store(client, bearer, SMALL_DUMP)
    for url in (stored["rtcstatsUrl"], stored["embedUrl"]):
        path = path_of(url).split("?")[0]
        response = client.get(path, headers=bearer)
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert 'figure class="chart"' in response.get_data(as_text=True)
        assert client.get(path, headers={"X-API-Key": new_key("rtcstats:read")}).status_code == 200


def test_without_credentials_or_scope_the_page_is_refused(client, bearer, new_key):
    path = f"/rtcstats/view/{store(client, bearer, SMALL_DUMP)['rtcstatsId']}"
    response = client.get(path)
    assert response.status_code == 401 and response.mimetype == "text/html"
    assert "<h1>" in response.get_data(as_text=True)
    assert client.get(path, headers={"X-API-Key": new_key("report:read")}).status_code == 403
    assert (
        client.get(
            path, headers={"Authorization": "Bearer mpk_0000000000000000.x-x-x-x-x-x-x-x-x-x-x"}
        ).status_code
        == 401
    )


def test_another_accounts_session_is_404_by_key_and_by_token(app, client, bearer, new_key):
    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    other_headers = {"Authorization": f"Bearer {new_key('rtcstats:read', account='globex')}"}
    globex = account_id_of(app, "globex")
    assert client.get(f"/rtcstats/view/{rtcstats_id}", headers=other_headers).status_code == 404
    # A token made for globex cannot open acme's session, even with acme's session id in it.
    token = token_for(app, rtcstats_id, globex)
    assert client.get(f"/rtcstats/view/{rtcstats_id}?token={token}").status_code == 404
    assert client.get(f"/rtcstats/embed/{rtcstats_id}?token={token}").status_code == 404
    unknown = str(uuid.uuid4())
    assert client.get(f"/rtcstats/view/{unknown}", headers=bearer).status_code == 404
    assert client.get("/rtcstats/view/not-a-uuid", headers=bearer).status_code == 404


def test_a_token_opens_only_its_own_session_until_it_expires(app, client, bearer, monkeypatch):
    import itsdangerous.timed

    first = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    second = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    acme = account_id_of(app)
    token = token_for(app, first, acme)
    assert client.get(f"/rtcstats/view/{first}?token={token}").status_code == 200
    assert client.get(f"/rtcstats/view/{first.upper()}?token={token}").status_code == 200
    assert client.get(f"/rtcstats/view/{second}?token={token}").status_code == 404
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/rtcstats/view/{first}?token={tampered}").status_code == 401
    now = itsdangerous.timed.time.time()
    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed.time, "time", lambda: now - viewer.TOKEN_MAX_AGE_SECONDS - 60)
        old = token_for(app, first, acme)
    expired = client.get(f"/rtcstats/view/{first}?token={old}")
    assert expired.status_code == 401 and "expired" in expired.get_data(as_text=True)


def test_a_token_bound_to_a_key_dies_with_the_key(app, client, bearer):
    from core.auth import create_key, revoke_key

    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    with app.app_context(), db.connection_context():
        key, _ = create_key("acme", ["rtcstats:read"])
    token = token_for(app, rtcstats_id, account_id_of(app), key.key_id)
    assert client.get(f"/rtcstats/view/{rtcstats_id}?token={token}").status_code == 200
    with app.app_context(), db.connection_context():
        revoke_key(key.key_id)
    assert client.get(f"/rtcstats/view/{rtcstats_id}?token={token}").status_code == 401


def test_a_token_names_its_session_and_account_in_the_signed_part(app, client, bearer):
    """Changing the account, the session or the key id of a compact token breaks its signature."""
    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    acme = account_id_of(app)
    token = token_for(app, rtcstats_id, acme)
    account, rest = token.split(".", 1)
    assert account == str(acme) and rest.startswith(f"{rtcstats_id}.")
    for forged in (f"{acme + 1}.{rest}", token.replace(f"{rtcstats_id}.", f"{rtcstats_id}.mpk_x", 1)):
        assert client.get(f"/rtcstats/view/{rtcstats_id}?token={forged}").status_code == 401


def test_a_link_handed_out_before_the_compact_tokens_still_opens_until_it_expires(app, client, bearer):
    """Links made with the JSON serializer (until 2026-12-07) keep working for their lifetime."""
    import itsdangerous

    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    acme = account_id_of(app)
    with app.app_context():
        legacy = viewer_tokens.serializer().dumps({"a": acme, "s": rtcstats_id})
        assert viewer_tokens.read_token(legacy, max_age=60) == {"a": acme, "s": rtcstats_id}
        with pytest.raises(itsdangerous.SignatureExpired):
            viewer_tokens.read_token(legacy, max_age=-1)
    assert client.get(f"/rtcstats/view/{rtcstats_id}?token={legacy}").status_code == 200
    other = viewer_tokens.URLSafeTimedSerializer("another secret", salt=viewer_tokens.TOKEN_SALT)
    foreign = other.dumps({"a": acme, "s": rtcstats_id})
    assert client.get(f"/rtcstats/view/{rtcstats_id}?token={foreign}").status_code == 401


def test_signed_url_appends_the_token(app):
    with app.app_context():
        plain = viewer.signed_url("https://media.example/rtcstats/view/abc", 1, "abc")
        with_query = viewer.signed_url("https://media.example/rtcstats/view/abc?x=1", 1, "abc")
    assert re.fullmatch(r"https://media\.example/rtcstats/view/abc\?token=[\w.\-]+", plain)
    assert re.fullmatch(r"https://media\.example/rtcstats/view/abc\?x=1&token=[\w.\-]+", with_query)


# -- page behaviour -------------------------------------------------------------------------------


def test_security_headers(client, bearer):
    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    view = client.get(f"/rtcstats/view/{rtcstats_id}", headers=bearer)
    embed = client.get(f"/rtcstats/embed/{rtcstats_id}", headers=bearer)
    for response in (view, embed):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response.headers["Cache-Control"]
    assert "frame-ancestors 'self'" in view.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]


def test_a_pending_session_shows_a_reloading_page_and_a_failed_one_says_why(app, client, bearer):
    from plugins.rtcstats.models import FAILED, PENDING, Session

    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    with app.app_context(), db.connection_context():
        Session.update(status=PENDING).where(Session.rtcstats_id == uuid.UUID(rtcstats_id)).execute()
    pending = client.get(f"/rtcstats/view/{rtcstats_id}", headers=bearer)
    assert pending.status_code == 409 and pending.mimetype == "text/html"
    assert 'http-equiv="refresh"' in pending.get_data(as_text=True)
    from plugins.rtcstats import service

    with app.app_context(), db.connection_context():
        Session.update(status=FAILED, error="not a dump", failed_version=service.processor_version()).where(
            Session.rtcstats_id == uuid.UUID(rtcstats_id)
        ).execute()
    failed = client.get(f"/rtcstats/view/{rtcstats_id}", headers=bearer)
    assert failed.status_code == 422 and "not a dump" in failed.get_data(as_text=True)


def test_assets_are_served_from_the_package_with_the_license(client):
    # uPlot is vendored once, in the core (/vendor/...): the console's pages load the same copy.
    script = client.get("/vendor/uPlot.iife.min.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    assert b"uPlot" in script.data[:200]
    assert client.get("/vendor/uPlot.min.css").mimetype == "text/css"
    assert b"MIT License" in client.get("/vendor/uPlot.LICENSE").data
    assert client.get("/rtcstats/assets/uPlot.iife.min.js").status_code == 404  # no second copy
    assert client.get("/rtcstats/assets/viewer.js").status_code == 200
    for bad in (
        "/rtcstats/assets/../viewer.py",
        "/rtcstats/assets/nope.js",
        "/rtcstats/assets/%2e%2e/mcp.py",
        "/vendor/../web.py",
        "/vendor/%2e%2e/web.py",
        "/vendor/nope.js",
    ):
        assert client.get(bad).status_code == 404, bad


def test_the_page_works_without_its_dump_and_says_there_are_no_series(app, client, bearer):
    from plugins.rtcstats.models import Session

    rtcstats_id = store(client, bearer, SMALL_DUMP)["rtcstatsId"]
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == uuid.UUID(rtcstats_id))
        app.extensions["mediaplane"].storage.delete(row.dump_key)
    html = client.get(f"/rtcstats/view/{rtcstats_id}", headers=bearer).get_data(as_text=True)
    assert "No time series could be measured" in html and 'class="chart"' not in html
    assert "Scores" in html


def test_the_page_shows_the_rule_based_summary_and_no_score_without_media(client, bearer):
    import html as markup

    stored = store(client, bearer, SMALL_DUMP)
    summary = stored["data"]["ruleSummary"]
    page = client.get(f"/rtcstats/view/{stored['rtcstatsId']}", headers=bearer).get_data(as_text=True)
    assert stored["data"]["aiSummary"] is None and summary.startswith("The session lasted")
    assert 'id="summary"' in page and "rule-based" in page
    assert f'<p class="rule-summary">{markup.escape(summary)}</p>' in page
    assert '<div class="card score" data-key="experienceScore"><dt>Experience</dt><dd>58 / 100</dd>' in page
    # A getUserMedia-only dump: nothing to score is "not rated", not "0 / 100".
    bare = store(client, bearer, "rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl")
    assert bare["data"]["experienceScore"] == 0
    page = client.get(f"/rtcstats/view/{bare['rtcstatsId']}", headers=bearer).get_data(as_text=True)
    assert "<dt>Experience</dt><dd>not rated</dd>" in page and "0 / 100" not in page
    assert markup.escape(bare["data"]["ruleSummary"]) in page


def test_series_are_measured_once_then_served_from_redis(app, client, bearer, monkeypatch):
    import plugins.rtcstats.parsing as parsing

    rtcstats_id = store(client, bearer, CHROME_DUMP)["rtcstatsId"]
    first = client.get(f"/rtcstats/view/{rtcstats_id}", headers=bearer).get_data(as_text=True)

    def no_parsing(*args, **kwargs):
        raise AssertionError("the cached series should have been used")

    monkeypatch.setattr(parsing, "parse", no_parsing)
    second = client.get(f"/rtcstats/view/{rtcstats_id}", headers=bearer).get_data(as_text=True)
    assert second.count('class="chart"') == first.count('class="chart"') > 20


def test_timeseries_of_a_dump_follows_the_metrics(app):
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.parsing import parse

    metrics = compute_metrics(parse(dump_bytes(CHROME_DUMP)))
    block = viewer_series.timeseries_of(metrics)
    assert block["startMs"] == metrics.start_ms
    assert set(block["connections"]) == set(metrics.pcs)
    for key, info in block["streams"].items():
        stream = metrics.streams[key]
        bitrate = info["series"]["bitrateKbps"]
        assert len(bitrate["t"]) == len(bitrate["v"]) == len(stream.bitrate_kbps.values)
        assert bitrate["v"] == [viewer_series._round(v) for v in stream.bitrate_kbps.values]
        assert info["kind"] == stream.kind and info["direction"] == stream.direction
    json.dumps(block, allow_nan=False)  # finite values only


def test_long_series_are_averaged_down_to_the_point_cap():
    from plugins.rtcstats.analysis.metrics_model import Series

    series = Series()
    for i in range(2500):
        series.add(1_000_000 + i * 1000.0, float(i % 10))
    series.add(1_000_000 + 9e9, float("nan"))
    compact = viewer_series.compact_series(series)
    assert len(compact["t"]) == len(compact["v"]) <= viewer_series.MAX_POINTS
    assert compact["t"][-1] == 1_000_000 + 2499 * 1000
    assert all(0 <= v <= 9 for v in compact["v"])
    assert viewer_series.compact_series(Series()) is None


def test_formatting():
    assert viewer.fmt_duration(57797) == "57.8 s"
    assert viewer.fmt_duration(8_429_296) == "2 h 20 min 29 s"
    assert viewer.fmt_duration(None) == "—"
    assert viewer.fmt_score(73, 100) == "73 / 100" and viewer.fmt_score(4.38, 5) == "4.38 / 5"
    assert viewer.fmt_score(None, 5) == "—"
    assert viewer.fmt_offset(1_000_000 + 65_000, 1_000_000) == "+1:05"
    assert viewer.fmt_moment("2026-02-03T09:14:50.111Z") == "2026-02-03 09:14:50 UTC"
    assert viewer.fmt_moment(None) == "—"
