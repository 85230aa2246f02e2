"""Query values and names: an empty filter value is no filter, and names with Unicode spaces (U+00A0,
U+3000), format characters and emoji are accepted everywhere a name or id is taken, while control
characters (NUL, newline, C1) are still refused with a 400 (the rule: core/text.py)."""

from __future__ import annotations

import io

import pytest

from core.text import is_printable, printable_only
from plugins.rtcstats.schemas import SessionFiltersSchema
from tests.plugins.rtcstats.test_api_common import (
    API,
    FIREFOX,
    assemble,
    error_of,
    open_fixture,
    send_chunks,
)

pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)

# Names people give files and rooms: a no-break space, an ideographic space (Japanese), a narrow
# no-break space (French), a zero-width joiner inside an emoji, a right-to-left mark, a soft hyphen.
NAMES = (
    "call\u00a0recording",
    "会議\u3000録画",
    "réunion\u202f:\u202fbilan",
    "family \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u200fשיחה",
    "long\u00adword",
)
REFUSED = ("a\x00b", "a\nb", "a\tb", "a\x7fb", "a\x85b")
FLAGS_AND_PAGING = ("hasCritical", "hasHigh", "hasMedium", "hasLowScore", "hasMediumScore", "hasHighScore")


def listed(client, auth, query: str) -> list[dict]:
    response = client.get(f"{API}/sessions{query}", headers=auth)
    assert response.status_code == 200, (query, response.get_json())
    return response.get_json()["data"]


def test_the_rule_refuses_only_control_characters_and_surrogates():
    for name in NAMES:
        assert is_printable(name) and printable_only(name) == name, name
    for name in REFUSED:
        assert not is_printable(name), repr(name)
        assert printable_only(name) == "ab", repr(name)
    assert not is_printable("a\ud800b")  # a lone surrogate cannot be stored as UTF-8


def test_every_filter_and_paging_key_given_empty_is_absent(client, auth, fake_analyzer):
    """Dashboards send the inputs left blank as `key=`: every such key is as if not sent."""
    client.post(f"{API}/analyze?save=true", data=open_fixture(FIREFOX), headers=auth)
    keys = [*SessionFiltersSchema().fields, "limit", "offset"]
    assert set(FLAGS_AND_PAGING) < set(keys) and "browser" in keys
    for key in keys:
        assert len(listed(client, auth, f"?{key}=")) == 1, key
    assert len(listed(client, auth, "?" + "&".join(f"{key}=" for key in keys))) == 1
    # A repeated key with one empty and one real value keeps the real one.
    assert len(listed(client, auth, "?browser=&browser=Firefox")) == 1
    assert listed(client, auth, "?browser=&browser=Safari") == []
    # An empty value beside a bad one does not hide the bad one.
    assert error_of(
        client.get(f"{API}/sessions?limit=&hasCritical=maybe", headers=auth), 400, "invalid_request"
    )


def test_filters_accept_unicode_spaces_and_still_refuse_control_characters(client, auth, fake_analyzer):
    client.post(
        f"{API}/analyze?save=true&fileName=call%C2%A0recording.txt", data=open_fixture(FIREFOX), headers=auth
    )
    assert [s["title"] for s in listed(client, auth, "?name=call%C2%A0rec")] == ["call\u00a0recording"]
    for value in ("%E3%80%80", "a%C2%A0b", "%E2%80%8D"):
        for key in ("name", "os", "browser", "userId", "conferenceId", "sessionId", "observationTypes"):
            listed(client, auth, f"?{key}={value}")  # accepted (200), matching nothing
    for value in ("a%00b", "a%0Ab", "a%C2%85b"):
        message = error_of(client.get(f"{API}/sessions?userId={value}", headers=auth), 400, "invalid_request")
        assert message.startswith("userId") and "printable" in message


@pytest.mark.parametrize("name", NAMES)
def test_file_ids_and_names_with_unicode_spaces_upload_analyse_and_list(client, auth, fake_analyzer, name):
    data = open_fixture(FIREFOX)
    send_chunks(client, auth, data, f"{name}-id", chunk_size=50000, name=f"{name}.txt")
    response = assemble(client, auth, f"{name}-id", f"{name}.txt")
    assert response.status_code == 200, response.get_json()
    response = client.post(
        f"{API}/analyze", query_string={"save": "true", "fileName": f"{name}.txt"}, data=data, headers=auth
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["fileName"] == f"{name}.txt"
    titles = [s["title"] for s in listed(client, auth, "")]
    assert titles == [name, name]


@pytest.mark.parametrize("bad", REFUSED)
def test_file_ids_and_names_with_control_characters_are_400(client, auth, bad):
    data = open_fixture(FIREFOX)
    for form in ({"fileId": bad}, {"fileId": "ok", "fileName": bad}):
        response = client.post(
            f"{API}/upload",
            data={"chunk": (io.BytesIO(data), "blob"), "chunkIndex": "0", **form},
            headers=auth,
            content_type="multipart/form-data",
        )
        field = "fileName" if "fileName" in form else "fileId"
        message = error_of(response, 400, "invalid_request")
        assert message.startswith(field) and "printable" in message, message
    response = client.post(
        f"{API}/analyze", query_string={"save": "true", "fileName": bad}, data=data, headers=auth
    )
    assert error_of(response, 400, "invalid_request").startswith("fileName")
