"""Domain metrics of report ingest on /metrics: reports accepted and rejected by reason, samples stored."""

from __future__ import annotations

import copy

from tests.conftest import EXAMPLE_REPORT
from tests.core.test_shared_metrics import sample


def counts(client) -> dict:
    text = client.get("/metrics").get_data(as_text=True)
    outcomes = ("accepted", "invalid", "unauthenticated", "forbidden", "too_large", "unsupported_type")
    out = {o: sample(text, "mediaplane_report_reports_total", outcome=o) or 0 for o in outcomes}
    out["samples"] = sample(text, "mediaplane_report_samples_stored_total") or 0
    return out


def test_reports_are_counted_by_outcome_and_samples_by_stream(make_app, new_key):
    app = make_app({"plugins": {"report": {"max_body_bytes": 4096}}})
    client = app.test_client()
    ingest = {"X-API-Key": new_key("report:ingest")}
    as_json = {**ingest, "Content-Type": "application/json"}
    before = counts(client)
    two_streams = copy.deepcopy(EXAMPLE_REPORT)
    second = copy.deepcopy(two_streams["metrics"][0]["streams"][0])
    second["stream_id"] = "screen"
    two_streams["metrics"][0]["streams"].append(second)
    answers = [
        client.post("/report/metrics", json=EXAMPLE_REPORT, headers=ingest),  # 1 sample
        client.post("/report/metrics", json=two_streams, headers=ingest),  # 2 samples
        client.post("/report/metrics", json={**EXAMPLE_REPORT, "report_time": "soon"}, headers=ingest),
        client.post("/report/metrics", json=EXAMPLE_REPORT),  # no key
        client.post("/report/metrics", json=EXAMPLE_REPORT, headers={"X-API-Key": new_key("report:read")}),
        client.post("/report/metrics", data=b"x" * 5000, headers=as_json),
        client.post("/report/metrics", data=b"{}", headers={**ingest, "Content-Type": "image/png"}),
    ]
    assert [r.status_code for r in answers] == [200, 200, 400, 401, 403, 413, 415]
    after = counts(client)
    assert {k: after[k] - before[k] for k in after} == {
        "accepted": 2,
        "invalid": 1,
        "unauthenticated": 1,
        "forbidden": 1,
        "too_large": 1,
        "unsupported_type": 1,
        "samples": 3,
    }
