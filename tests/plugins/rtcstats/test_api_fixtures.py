"""End to end with the real analyzer: every fixture dump uploads in 1 MiB chunks, is analysed by the job
through a real worker, and reads back with values checked against the independent facts; /analyze,
list filters and the observation catalogue on real data."""

from __future__ import annotations

import uuid

import pytest

from plugins.rtcstats import analysis
from plugins.rtcstats.conventions import unrated
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names, require_shared_facts, truth
from tests.plugins.rtcstats.test_api_common import (
    ALIAS,
    API,
    assemble,
    run_worker,
    send_chunks,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)

MiB = 1 << 20
SEVERITIES = ("critical", "high", "medium", "low", "info")

# What the dumps themselves say (user agent and the rtcstats token's ids), read by hand from the files.
KNOWN = {
    "jitsi_legacy_59c86272-03ea-42e9-a62d-1c8a272e8ab0.jsonl": {
        "browser": "Chrome",
        "browserVersion": "100",
        "os": "Windows",
        "userId": "78a1c829",
        "conferenceId": "george.jitsi.net/thrilledfirmstellimmensely",
        "sessionId": "1651144262838",
    },
    "jitsi_legacy_chrome-relay.jsonl": {
        "browser": "Chrome",
        "browserVersion": "117",
        "os": "macOS",
        "userId": "59e48073",
        "connectivity": "RELAY/TLS",
    },
    "jitsi_legacy_firefox-relay.jsonl": {
        "browser": "Firefox",
        "browserVersion": "118",
        "os": "macOS",
        "userId": "ee0e8399",
        "connectivity": "RELAY/TLS",
    },
    "jitsi_legacy_safari-standard-stats.jsonl": {"browser": "Safari", "browserVersion": "17", "os": "macOS"},
    "internals_chrome149_recvonly_h265.txt": {"browser": "Chrome", "browserVersion": "149", "os": "Windows"},
    "internals_chrome86_sfu_kurento_h264_relay.json": {"browser": "Chrome", "browserVersion": "86"},
    "rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl": {"browser": "Chrome", "browserVersion": "140"},
}


def official_upload(client, headers, name: str) -> dict:
    """As the official uploader does it: 1 MiB chunks, last one first, a non-UUID fileId."""
    data = dump_bytes(name)
    file_id = f"{name}-1732550000000-{uuid.uuid4().hex[:16]}"
    count = -(-len(data) // MiB)
    send_chunks(client, headers, data, file_id, chunk_size=MiB, order=list(range(count))[::-1], name=name)
    response = assemble(client, headers, file_id, name)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def all_uploaded(app, client, auth):
    require_shared_facts()  # the tests using it know all twenty shared dumps
    made = {name: official_upload(client, auth, name) for name in fixture_names()}
    run_worker(app)
    return made


def test_every_fixture_uploads_analyses_and_reads_back(client, auth, all_uploaded):
    assert len(all_uploaded) == 20
    listed = {i["rtcstatsId"]: i for i in client.get(f"{API}/sessions", headers=auth).get_json()["data"]}
    for name, made in all_uploaded.items():
        response = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
        assert response.status_code == 200, (name, response.get_json())
        body = response.get_json()
        assert body["processorVersion"] == analysis.PROCESSOR_VERSION
        data = body["data"]
        facts = truth(name)
        assert data["id"] == made["rtcstatsId"]
        assert data["fileName"] == name and data["fileSize"] == len(dump_bytes(name)), name
        assert data["pConnectionsNumber"] == facts["pc_count"], name
        assert data["metadata"]["format"] == facts["format"], name
        counts = data["observationsCount"]
        assert sum(counts[s] for s in SEVERITIES) == len(data["observations"]), name
        for obs in data["observations"]:
            assert obs["severity"] in SEVERITIES and obs["type"], name
        abstract = listed[made["rtcstatsId"]]["abstract"]
        severe = sorted({o["type"] for o in data["observations"] if o["severity"] in SEVERITIES[:3]})
        assert abstract["observationTypes"] == severe == abstract["observationFlags"], name
        assert (
            abstract["observationsCritical"],
            abstract["observationsHigh"],
            abstract["observationsMedium"],
        ) == (counts["critical"], counts["high"], counts["medium"]), name
        assert abstract["sessionId"] == data["metadata"]["sessionId"], name
        for key, value in KNOWN.get(name, {}).items():
            assert abstract[key] == value, (name, key)
        assert listed[made["rtcstatsId"]]["sessionStart"] == data.get("callStart"), name


def test_filters_on_real_sessions(client, auth, all_uploaded):
    def ids(query):
        return {
            i["rtcstatsId"] for i in client.get(f"{ALIAS}/sessions{query}", headers=auth).get_json()["data"]
        }

    by_id = {made["rtcstatsId"]: name for name, made in all_uploaded.items()}
    assert {by_id[i] for i in ids("?browser=Firefox")} == {
        "jitsi_legacy_firefox-relay.jsonl",
        "jitsi_legacy_firefox-standard-stats-sfu.jsonl",
    }
    assert {by_id[i] for i in ids("?userId=78a1c829")} == {
        "jitsi_legacy_59c86272-03ea-42e9-a62d-1c8a272e8ab0.jsonl"
    }
    assert {by_id[i] for i in ids("?name=relay&browser=Chrome")} == {
        "jitsi_legacy_chrome-relay.jsonl",
        "internals_chrome86_sfu_kurento_h264_relay.json",
    }
    # Filters agree with what GET /sessions/{id} reports for every session.
    details = {i: client.get(f"{API}/sessions/{i}", headers=auth).get_json()["data"] for i in by_id}
    critical = {i for i, d in details.items() if d["observationsCount"]["critical"]}
    assert critical and ids("?hasCritical=true") == critical
    # A call without audio or video is unrated (experienceScore 0 means nothing to score), not low.
    low = {i for i, d in details.items() if not unrated(d) and d["experienceScore"] < 60}
    assert any(unrated(d) and d["streams"] for d in details.values())  # a data-channel-only call
    assert ids("?hasLowScore=true") == low
    tagged = {
        i
        for i, d in details.items()
        if any(
            "network" in (o.get("tags") or []) and o["severity"] in SEVERITIES[:3] for o in d["observations"]
        )
    }
    assert ids("?observationTags=network") == tagged


def test_analyze_gives_the_same_analysis_as_the_stored_upload(app, client, auth):
    name = "internals_chrome144_p2p_audio_video.txt"
    made = official_upload(client, auth, name)
    run_worker(app)
    stored = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth).get_json()
    direct = client.post(f"{API}/analyze?fileName={name}", data=dump_bytes(name), headers=auth)
    assert direct.status_code == 200
    direct = direct.get_json()
    assert direct["processorVersion"] == stored["processorVersion"] == analysis.PROCESSOR_VERSION
    session_fields = {"id", "created_at", "uploaded_by", "title", "uploadTimestamp"}
    assert {k: v for k, v in direct["data"].items() if k not in session_fields} == {
        k: v for k, v in stored["data"].items() if k not in session_fields
    }
    assert direct["data"]["pConnectionsNumber"] == 2
    assert client.get(f"{API}/quota", headers=auth).get_json()["remainingCredits"] == 998


def test_a_line_without_a_timestamp_does_not_refuse_the_file(client, auth):
    """A real jitsi dump with a client-level e2eRtt line that has no timestamp (3 elements) is analysed
    like the file without it (it used to be a 415); the skipped line is named in the warnings."""
    name = "jitsi_legacy_chrome-relay.jsonl"
    lines = dump_bytes(name).split(b"\n")
    e2e = b'["e2eRtt",null,{"remoteEndpointId":"3e4a1c9b","remoteRegion":"eu-west-1","rtt":54.3}]'
    with_line = b"\n".join([lines[0], e2e, *lines[1:]])
    answers = [
        client.post(f"{API}/analyze?fileName={name}", data=raw, headers=auth)
        for raw in (with_line, dump_bytes(name))
    ]
    assert [a.status_code for a in answers] == [200, 200]
    skipped, plain = (a.get_json()["data"] for a in answers)
    assert skipped["metadata"].pop("warnings") == ["line 2: a line without a timestamp was skipped"]
    assert plain["metadata"].pop("warnings") == []
    assert (
        skipped["metadata"].pop("bytesUncompressed")
        == plain["metadata"].pop("bytesUncompressed") + len(e2e) + 1
    )
    drop = {"id", "fileSize", "uploadTimestamp"}
    assert {k: v for k, v in skipped.items() if k not in drop} == {
        k: v for k, v in plain.items() if k not in drop
    }


def test_observation_catalogue(client, auth):
    response = client.get(f"{API}/observations", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == len(body["data"]) >= 20
    types = [entry["type"] for entry in body["data"]]
    assert types == sorted(types) and len(set(types)) == len(types)
    from plugins.rtcstats.schemas import OBSERVATION_TAGS

    for entry in body["data"]:
        assert entry["title"] and set(entry["severity"]) <= set(SEVERITIES)
        assert set(entry["tags"]) <= set(OBSERVATION_TAGS), entry
    assert client.get(f"{ALIAS}/observations", headers=auth).get_json() == body
