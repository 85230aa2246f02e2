"""Domain metrics of rtcstats on /metrics, summed over processes through Redis: dumps analysed by format
and outcome, analysis time, dump bytes received by route."""

from __future__ import annotations

import pytest

from plugins.rtcstats import service
from plugins.rtcstats.parsing import DumpFormatError
from tests.core.test_shared_metrics import sample, scrape
from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.plugins.rtcstats.test_api_common import run_worker, upload

DUMP = "jitsi_legacy_firefox-relay.jsonl"  # MIT, in tests/fixtures/dumps


def test_an_uploaded_dump_and_an_unreadable_one_are_counted(app, new_key):
    headers = {"Authorization": f"Bearer {new_key('rtcstats:write', 'rtcstats:read')}"}
    data = dump_bytes(DUMP)
    upload(app.test_client(), headers, data, name=DUMP)
    run_worker(app)  # the real analysis, in the job
    with app.app_context(), pytest.raises(DumpFormatError):
        service.run_analysis(b"this is no dump\n" * 10)
    text = scrape(app)
    ok = sample(text, "mediaplane_rtcstats_analyses_total", format="rtcstats-legacy", outcome="ok")
    assert ok == 1
    assert sample(text, "mediaplane_rtcstats_analyses_total", format="unknown", outcome="unreadable") == 1
    assert sample(text, "mediaplane_rtcstats_analysis_duration_seconds_count", format="rtcstats-legacy") == 1
    assert sample(text, "mediaplane_rtcstats_analysis_duration_seconds_count", format="unknown") == 1
    seconds = sample(text, "mediaplane_rtcstats_analysis_duration_seconds_sum", format="rtcstats-legacy")
    assert 0 < seconds < 60
    assert sample(text, "mediaplane_rtcstats_received_bytes_total", route="upload") == len(data)
