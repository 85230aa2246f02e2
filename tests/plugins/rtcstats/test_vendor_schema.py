"""Every analysis we answer validates against the vendor OpenAPI's AnalyzeResponseData, for every dump.

POST /analyze (unsaved and ?save=true) and GET /sessions/{id} of each real fixture dump, and the MCP
get_session tool's `data`, are validated against `components/schemas/AnalyzeResponseData` of the
vendor document (specs/vendor/rtcstats-openapi.yml in the shared folder) as the vendor wrote it: no patched
properties. The validator is openapi-schema-validator's OpenAPI 3.0 one (it reads `nullable: true`,
which plain JSON Schema does not know), with $refs resolved against the whole document and formats
(date-time, uuid, email) checked. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
import json
import time

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names
from tests.plugins.rtcstats.test_api_common import run_worker, upload
from tests.shared_data import require_for_module, vendor_dir

# The vendor document lies in the shared folder; without it the module is skipped (and CI fails).
SPEC = require_for_module(vendor_dir() / "rtcstats-openapi.yml")
API = "/api/rtcstats/v1.0"
EMPTY_DUMP = "internals_headlesschrome108_empty.gz"  # a page that recorded nothing at all
NO_PC_DUMP = "rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl"  # getUserMedia, no peer connection


@functools.cache
def validator() -> OAS30Validator:
    document = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    # The document as one resource, so a "#/components/..." $ref inside the schema resolves.
    registry = Registry().with_resource("urn:vendor-openapi", DRAFT4.create_resource(document))
    schema = {"$ref": "urn:vendor-openapi#/components/schemas/AnalyzeResponseData"}
    return OAS30Validator(schema, registry=registry, format_checker=oas30_format_checker)


def violations(data: dict) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:160]}"
        for e in validator().iter_errors(data)
    )


@pytest.fixture
def auth(new_key) -> dict:
    return {"Authorization": f"Bearer {new_key('rtcstats:read', 'rtcstats:write')}"}


@pytest.mark.parametrize("name", fixture_names())
def test_analyze_and_get_session_validate_for_every_fixture(client, auth, name):
    dump = dump_bytes(name)
    unsaved = client.post(f"{API}/analyze?fileName={name}", data=dump, headers=auth)
    assert unsaved.status_code == 200, unsaved.get_json()
    saved = client.post(f"{API}/analyze?save=true&fileName={name}", data=dump, headers=auth)
    assert saved.status_code == 200, saved.get_json()
    stored = client.get(f"{API}/sessions/{saved.get_json()['rtcstatsId']}", headers=auth)
    assert stored.status_code == 200, stored.get_json()
    for label, response in (("analyze", unsaved), ("analyze?save", saved), ("GET session", stored)):
        data = response.get_json()["data"]
        assert violations(data) == [], (name, label)
        assert data["aiSummary"] is None, (name, label)
        assert data["ruleSummary"] is None or isinstance(data["ruleSummary"], str), (name, label)


def test_the_validator_reads_nullable_and_fails_on_what_the_vendor_forbids(client, auth):
    """Not vacuous: a real answer passes, and each value the vendor forbids makes it fail."""
    response = client.post(f"{API}/analyze", data=dump_bytes(NO_PC_DUMP), headers=auth)
    data = response.get_json()["data"]
    assert violations(data) == []
    # nullable: true is honoured where the vendor says so, refused where it does not.
    assert violations({**data, "audioScore": None, "created_at": None}) == []
    for key, wrong in (
        ("callStart", None),
        ("durationMs", None),
        ("connectivity", None),
        ("durationMs", 1.5),
        ("aiSummary", "a plain-text summary"),
        ("callEnd", "yesterday"),  # date-time format checked
        ("id", "not-a-uuid"),  # uuid format checked
        ("connectionIPType", "IPv5"),
    ):
        assert [v for v in violations({**data, key: wrong}) if v.startswith(key)], (key, wrong)


def test_a_dump_without_events_has_a_dated_zero_length_call(client, auth):
    """callStart/callEnd are date-time strings and durationMs an integer in the vendor schema, also for a
    dump that recorded nothing: the call is dated at the upload and lasts 0 ms, and connectivity names
    the absence of any connection."""
    saved = client.post(f"{API}/analyze?save=true", data=dump_bytes(EMPTY_DUMP), headers=auth).get_json()
    data = saved["data"]
    assert data["callStart"] == data["callEnd"] == data["created_at"]
    assert data["durationMs"] == 0
    assert data["metadata"]["callSpanSource"] == "upload"
    assert data["connectivity"] == "NONE" and data["pConnectionsNumber"] == 0
    listed = client.get(f"{API}/sessions", headers=auth).get_json()["data"][0]
    assert listed["sessionStart"] == data["callStart"]
    assert listed["abstract"]["connectivity"] is None  # the abstract may say null: no connectivity


def test_an_uploaded_dump_without_events_keeps_its_date_when_analysed_again(app, client, auth, monkeypatch):
    """Through the chunked upload and the job, then re-analysed on read by a newer analyzer: the call is
    still dated at the upload (the session's created_at), not at the latest analysis."""
    from plugins.rtcstats import analysis

    rtcstats_id = upload(client, auth, dump_bytes(EMPTY_DUMP), name=EMPTY_DUMP)["rtcstatsId"]
    run_worker(app)
    first = client.get(f"{API}/sessions/{rtcstats_id}", headers=auth).get_json()["data"]
    assert violations(first) == []
    assert first["callStart"] == first["callEnd"] == first["created_at"] and first["durationMs"] == 0
    time.sleep(0.01)
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-next")
    again = client.get(f"{API}/sessions/{rtcstats_id}", headers=auth).get_json()
    assert again["processorVersion"] == "test-next"
    assert again["data"]["callStart"] == first["callStart"]
    assert again["data"]["uploadTimestamp"] != first["uploadTimestamp"]  # it was analysed again


def test_nothing_to_score_is_unrated_not_terrible(client, auth):
    """A call without audio or video keeps experienceScore 0 where the vendor documents 0 and allows no
    null (AnalyzeResponseData), and is null / unrated wherever the schema allows it."""
    data = client.post(f"{API}/analyze?save=true", data=dump_bytes(NO_PC_DUMP), headers=auth).get_json()[
        "data"
    ]
    assert (data["experienceScore"], data["audioScore"], data["videoScore"]) == (0, None, None)
    assert data["connectivityScore"] is None and data["observationsScore"] == 40
    assert data["connectivity"] == "NONE" and data["metadata"]["callSpanSource"] == "events"
    assert "No experience score" in data["ruleSummary"] and "0/100" not in data["ruleSummary"]
    abstract = client.get(f"{API}/sessions", headers=auth).get_json()["data"][0]["abstract"]
    assert (abstract["experienceScore"], abstract["scoreBand"]) == (None, "unrated")
    assert client.get(f"{API}/sessions?hasLowScore=true", headers=auth).get_json()["data"] == []
    enriched = client.post(f"{API}/enrich", data=dump_bytes(NO_PC_DUMP), headers=auth).get_json()["data"]
    assert enriched["scores"]["experienceScore"] is None
    # A scored call keeps its number everywhere.
    scored = client.post(
        f"{API}/enrich", data=dump_bytes("jitsi_legacy_firefox-relay.jsonl"), headers=auth
    ).get_json()["data"]
    assert scored["scores"]["experienceScore"] == 58


def test_mcp_get_session_data_validates_with_a_null_ai_summary(client, auth):
    saved = client.post(f"{API}/analyze?save=true", data=dump_bytes(EMPTY_DUMP), headers=auth).get_json()
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_session", "arguments": {"rtcstatsId": saved["rtcstatsId"]}},
    }
    response = client.post(
        f"{API}/mcp", json=message, headers={**auth, "Accept": "application/json, text/event-stream"}
    )
    result = response.get_json()["result"]
    assert result["isError"] is False, result
    data = result["structuredContent"]["data"]
    assert violations(data) == [] and data["aiSummary"] is None
    assert json.loads(result["content"][0]["text"])["data"]["ruleSummary"] == data["ruleSummary"]
