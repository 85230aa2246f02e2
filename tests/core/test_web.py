"""The core's own routes: health, readiness, Prometheus metrics, OpenAPI, local docs, request ids, 404s."""

from __future__ import annotations

import re
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.queue import enqueue
from tests.conftest import EXAMPLE_REPORT

REPORT_PATHS = {
    "/report/metrics": {"post"},
    "/report/rooms": {"get"},
    "/report/metrics/{room_id}": {"get"},
    "/report/metrics/{room_id}/{user_id}": {"get"},
    "/report/history/{room_id}": {"get"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def samples(text: str, name: str) -> dict[tuple, float]:
    """{sorted label items: value} of every sample called `name` in a Prometheus text page."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def request_count(client, method: str, endpoint: str, status: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    counts = samples(text, "mediaplane_http_requests_total")
    key = tuple(sorted({"method": method, "endpoint": endpoint, "status": status}.items()))
    return counts.get(key, 0.0)


# -- health and readiness -------------------------------------------------------------------------


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
    }


def test_healthz_needs_no_database_and_readyz_names_it(make_app):
    app = make_app(
        {"core": {"database_url": f"postgresql://postgres@127.0.0.1:{closed_port()}/nope"}}, migrated=False
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("error: ")
    assert client.get("/metrics").status_code == 200


def test_readyz_names_redis_when_it_is_unreachable(make_app):
    app = make_app({"core": {"redis_url": f"redis://127.0.0.1:{closed_port()}/0"}})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # liveness does not depend on Redis
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")
    assert "ConnectionError" in body["checks"]["redis"]


# -- metrics --------------------------------------------------------------------------------------


def test_metrics_count_requests_by_endpoint(client, headers):
    before = request_count(client, "GET", "/report/metrics/<string:room_id>", "404")
    response = client.get("/report/metrics/no-such-room", headers=headers)
    assert response.status_code == 404
    after = request_count(client, "GET", "/report/metrics/<string:room_id>", "404")
    assert after == before + 1

    before = request_count(client, "POST", "/report/metrics", "200")
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers).status_code == 200
    assert request_count(client, "POST", "/report/metrics", "200") == before + 1


def test_metrics_page_format(client, headers):
    client.get("/report/rooms", headers=headers)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE mediaplane_http_requests_total counter" in text
    assert re.search(
        r'^mediaplane_http_requests_total\{[^}]*endpoint="/report/rooms"[^}]*\} [1-9]', text, re.M
    ), text
    assert 'mediaplane_http_request_duration_seconds_bucket{endpoint="/report/rooms"' in text
    depths = samples(text, "mediaplane_queue_depth")
    assert depths[(("queue", "default"),)] == 0.0
    assert set(depths.values()) == {0.0}


def test_metrics_queue_depth_counts_waiting_jobs(app, client):
    with app.app_context():
        enqueue("report.purge_expired")
        enqueue("report.mark_idle_rooms")
    text = client.get("/metrics").get_data(as_text=True)
    assert samples(text, "mediaplane_queue_depth")[(("queue", "default"),)] == 2.0


def test_unmatched_urls_share_one_metrics_label(client):
    before = request_count(client, "GET", "<unmatched>", "404")
    client.get("/nope/a/1")
    client.get("/nope/2")
    assert request_count(client, "GET", "<unmatched>", "404") == before + 2


# -- OpenAPI and docs -----------------------------------------------------------------------------


def test_openapi_lists_the_report_paths_and_security_schemes(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"] == "mediaplane"
    report_paths = {path: ops for path, ops in spec["paths"].items() if path.startswith("/report")}
    assert {path: set(ops) & HTTP_METHODS for path, ops in report_paths.items()} == REPORT_PATHS
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"] == {"type": "http", "scheme": "bearer"}
    assert schemes["Basic"] == {"type": "http", "scheme": "basic"}
    params = {p["name"] for p in report_paths["/report/metrics/{room_id}/{user_id}"]["parameters"]}
    assert params == {"room_id", "user_id"}
    assert "requestBody" in report_paths["/report/metrics"]["post"]
    for path, ops in report_paths.items():
        for method in set(ops) & HTTP_METHODS:
            operation = ops[method]
            assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}, {"Basic": []}], (path, method)
            assert "Requires scope `report:" in operation["description"], (path, method)


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert len(urls) >= 2, html
    for url in urls:
        assert url.startswith("/docs/assets/"), url
    assert '"/openapi.json"' in html
    kinds = set()
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.mimetype in ("text/javascript", "application/javascript", "text/css"), (
            url,
            asset.mimetype,
        )
        assert len(asset.get_data()) > 1000, url
        kinds.add("css" if asset.mimetype == "text/css" else "js")
    assert kinds == {"css", "js"}


def test_the_bare_address_redirects_to_the_console(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    assert client.get("/", follow_redirects=True).mimetype == "text/html"
    assert client.post("/").status_code == 405


def test_without_the_console_the_bare_address_redirects_to_the_docs(make_app):
    client = make_app({"plugins": {"console": {"enabled": False}}}).test_client()
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/docs"
    assert client.get("/console/").status_code == 404


def test_docs_assets_outside_the_bundle_are_404(client):
    for url in ("/docs/assets/no-such-file.js", "/docs/assets/../../../../etc/passwd"):
        response = client.get(url)
        assert response.status_code == 404, url


# -- request ids and routing errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/assets/swagger-ui.css"),
        ("GET", "/report/rooms"),  # 401
        ("POST", "/report/rooms"),  # 405
        ("GET", "/nope"),  # 404
    ],
)
def test_every_response_carries_a_request_id(client, method, url):
    first = client.open(url, method=method)
    second = client.open(url, method=method)
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-Id"]), url
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"], url
    echoed = client.open(url, method=method, headers={"X-Request-Id": "trace-abc-123"})
    assert echoed.headers["X-Request-Id"] == "trace-abc-123", url


def test_incoming_request_id_is_echoed_in_headers_and_error_bodies(client):
    response = client.get("/nope", headers={"X-Request-Id": "req-42"})
    assert response.headers["X-Request-Id"] == "req-42"
    assert response.get_json()["request_id"] == "req-42"


def test_overlong_request_id_is_cut(client):
    response = client.get("/healthz", headers={"X-Request-Id": "x" * 200})
    assert response.headers["X-Request-Id"] == "x" * 64


def test_unknown_path_is_a_problem_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["type"] == "about:blank"
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])


def test_wrong_method_on_a_core_route_is_a_problem_json_405(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert response.get_json(force=True)["status"] == 405
    assert "GET" in response.headers["Allow"]


def test_unknown_path_under_report_uses_the_report_envelope(client):
    response = client.get("/report/nope")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == 404 and body["data"] is None and body["message"]
