"""The dump explorer: its data checked against the independent facts of the repository's dump fixtures
(state sequences, selected candidate pairs), every stat's series, the page and its JSON through the
Flask test client (scope, tenancy, bad ids and stats, event filters), and the cache in Redis."""

from __future__ import annotations

import json

import pytest

from plugins.rtcstats import explorer
from plugins.rtcstats.parsing import Limits, parse
from tests.plugins.console.helpers import signed_in
from tests.plugins.rtcstats.fixtures import dump_bytes, local_facts

API = "/api/rtcstats/v1.0"
RELAY = "jitsi_legacy_chrome-relay.jsonl"


def _dedupe(states: list[str]) -> list[str]:
    out: list[str] = []
    for state in states:
        if not out or out[-1] != state:
            out.append(state)
    return out


@pytest.mark.parametrize("name", sorted(k for k in local_facts() if not k.startswith("_")))
def test_states_and_selected_pairs_match_the_facts_of_each_fixture(name):
    truth = local_facts()[name]["truth"]
    index = explorer.explore(parse(dump_bytes(name), Limits()))
    pcs = {pc["id"]: pc for pc in index["pcs"]}
    for pc_id, facts in truth.get("pcs", {}).items():
        pc = pcs[pc_id]
        assert pc["states"].get("ice", []) == _dedupe(facts["ice_states"]), (name, pc_id)
        assert pc["states"].get("connection", []) == _dedupe(facts["connection_states"]), (name, pc_id)
        selected = {p["id"]: p for p in pc["pairs"] if p["selected"]}
        for fact in facts.get("final_selected_pairs", []):
            pair = selected[fact["pair_id"]]
            assert pair["local"]["type"] == fact["local"]["candidateType"], (name, pc_id)
            assert pair["remote"]["type"] == fact["remote"]["candidateType"], (name, pc_id)
            assert pair["local"]["port"] == fact["local"]["port"], (name, pc_id)


def test_events_are_in_time_order_and_categorised():
    index = explorer.explore(parse(dump_bytes(RELAY), Limits()))
    times = [e["at"] for e in index["events"] if e["at"] is not None]
    assert times == sorted(times) and len(index["events"]) == 41
    by_name = {e["name"].lower(): e["category"] for e in index["events"]}
    assert by_name["setremotedescription"] == "signaling"
    assert by_name["oniceconnectionstatechange"] == "ice"
    assert by_name["onconnectionstatechange"] == "connection"
    assert explorer.category_of("navigator.mediadevices.getusermediaonfailure") == "error"
    assert explorer.category_of("navigator.mediadevices.getusermedia") == "media"
    assert explorer.category_of("icecandidateerror") == "error"


def test_every_stat_is_listed_with_its_numeric_properties_and_its_series():
    dump = parse(dump_bytes(RELAY), Limits())
    index = explorer.explore(dump)
    pc = dump.peer_connections["PC_0"]
    listed = {s["id"]: s for s in index["pcs"][0]["stats"]}
    assert set(listed) == set(pc.stats)
    pair = pc.stats["CPfJfiL0UU_pjplYfUx"]
    series = explorer.stat_series(pair)
    assert series["t"] == pair.times
    assert [v for v in series["props"]["bytesSent"] if v is not None][-1] == pair.last("bytesSent")
    assert "state" not in series["props"]  # text is not charted
    assert listed[pair.id]["props"] == sorted(series["props"])


def test_long_series_are_thinned_to_the_point_cap():
    from plugins.rtcstats.parsed_dump import StatTrack

    track = StatTrack("x", "inbound-rtp")
    for i in range(5000):
        track.append(1000.0 * i, {"packetsReceived": i, "codecId": "c"})
    series = explorer.stat_series(track)
    assert len(series["t"]) <= explorer.MAX_POINTS and series["props"]["packetsReceived"][1] == 3


def store(client, token: str, name: str = RELAY) -> str:
    response = client.post(
        f"{API}/analyze?save=true&fileName={name}", data=dump_bytes(name), headers={"X-API-Key": token}
    )
    assert response.status_code == 200
    return response.get_json()["rtcstatsId"]


def test_the_explorer_page_shows_observations_pairs_states_and_filters_events(app, client, new_key):
    session_id = store(client, new_key("rtcstats:write"))
    signed_in(client, new_key("rtcstats:read"))
    api = client.get(f"{API}/sessions/{session_id}").get_json()["data"]
    page = client.get(f"/console/rtcstats/sessions/{session_id}/explore").get_data(as_text=True)
    # observations grouped with their counts, as the analysis has them
    counts: dict[str, int] = {}
    for item in api["observations"]:
        counts[item["type"]] = counts.get(item["type"], 0) + 1
    for kind, count in counts.items():
        row = page[page.index(f'data-type="{kind}"') :]
        assert row[row.index("data-count>") + len("data-count>") :].startswith(f"{count}<"), kind
    assert 'data-pair="CPfJfiL0UU_pjplYfUx"' in page and "selected</span>" in page
    assert "checking</span> → <span" in page  # the ICE state timeline
    assert page.count('<tr class="cat-') == 41
    ice_only = client.get(f"/console/rtcstats/sessions/{session_id}/explore?category=ice").get_data(
        as_text=True
    )
    assert 0 < ice_only.count('<tr class="cat-') == ice_only.count('<tr class="cat-ice"')
    # the list and the viewer link to it
    listing = client.get("/console/rtcstats/sessions").get_data(as_text=True)
    assert f'href="/console/rtcstats/sessions/{session_id}/explore"' in listing
    viewer = client.get(f"/rtcstats/view/{session_id}").get_data(as_text=True)
    assert f'id="explore-link" href="/console/rtcstats/sessions/{session_id}/explore"' in viewer


def test_stat_series_answers_and_refusals(app, client, new_key):
    session_id = store(client, new_key("rtcstats:write"))
    signed_in(client, new_key("rtcstats:read"))
    base = f"/console/rtcstats/sessions/{session_id}/stats"
    series = client.get(f"{base}?pc=PC_0&id=CPfJfiL0UU_pjplYfUx").get_json()
    assert len(series["t"]) == len(series["props"]["bytesSent"]) > 1
    assert client.get(f"{base}?pc=PC_0&id=no-such-stat").status_code == 404
    assert client.get(f"{base}?pc=PC_9&id=CPfJfiL0UU_pjplYfUx").status_code == 404
    assert client.get(base).status_code == 400
    assert client.get("/console/rtcstats/sessions/not-a-uuid/explore").status_code == 404
    # cached in Redis: the series is served from there once the page was built
    redis = app.extensions["mediaplane"].redis
    keys = redis.keys(f"mediaplane:rtcstats:explore:{session_id}:*")
    assert len(keys) == 1 and redis.ttl(keys[0]) > 0
    cached = json.loads(redis.hget(keys[0], "s:PC_0\x00CPfJfiL0UU_pjplYfUx"))
    assert cached == series


def test_the_explorer_needs_rtcstats_read_and_hides_other_accounts(client, new_key):
    session_id = store(client, new_key("rtcstats:write"))
    signed_in(client, new_key("report:read"))
    assert client.get(f"/console/rtcstats/sessions/{session_id}/explore").status_code == 403
    other = client.application.test_client()
    signed_in(other, new_key("rtcstats:read", account="globex"))
    assert other.get(f"/console/rtcstats/sessions/{session_id}/explore").status_code == 404
    assert other.get(f"/console/rtcstats/sessions/{session_id}/stats?pc=PC_0&id=x").status_code == 404
