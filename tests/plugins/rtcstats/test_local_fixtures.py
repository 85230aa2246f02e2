"""The dumps copied into tests/fixtures/dumps: MIT-licensed at their source, named in the NOTICE, the same
bytes and facts as in the shared folder, every dump format covered, small."""

from __future__ import annotations

import hashlib
import json
import re

from tests.plugins.rtcstats.fixtures import dump_path, local_facts, shared_facts
from tests.shared_data import LOCAL_DUMPS, require, shared_dumps_dir

NOT_DUMPS = {"NOTICE", "facts.json"}
MAX_TOTAL_BYTES = 1_500_000


def copied() -> list[str]:
    return sorted(p.name for p in LOCAL_DUMPS.iterdir() if p.name not in NOT_DUMPS)


def test_every_copy_has_facts_that_match_its_bytes():
    facts = {name: entry for name, entry in local_facts().items() if not name.startswith("_")}
    assert sorted(facts) == copied()
    for name, entry in facts.items():
        data = (LOCAL_DUMPS / name).read_bytes()
        assert len(data) == entry["bytes"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name


def test_every_parser_has_a_real_dump_in_the_repository():
    formats = {entry["truth"]["format"] for name, entry in local_facts().items() if not name.startswith("_")}
    assert formats == {"webrtc-internals", "rtcstats-v3", "rtcstats-legacy"}
    assert any(name.endswith(".gz") for name in copied())  # the gzip wrapper of internals dumps
    browsers = " ".join(copied())
    assert "firefox" in browsers and "safari" in browsers and "google-legacy" in browsers


def test_the_copies_stay_small():
    assert sum((LOCAL_DUMPS / name).stat().st_size for name in copied()) < MAX_TOTAL_BYTES


def test_the_notice_names_source_commit_and_mit_license_of_each_copy():
    notice = (LOCAL_DUMPS / "NOTICE").read_text()
    for name in copied():
        row = re.search(
            rf"^{re.escape(name)} \| https://github\.com/\S+ \| \S+ \| [0-9a-f]{{40}} \| MIT$", notice, re.M
        )
        assert row, name
    assert notice.count("Permission is hereby granted, free of charge") == 2


def test_only_dumps_whose_source_declares_mit_are_copied():
    manifest = require(shared_dumps_dir() / "MANIFEST.md").read_text()
    for name in copied():
        row = next(line for line in manifest.splitlines() if line.startswith(f"| {name} |"))
        assert row.rstrip(" |").endswith("MIT"), row


def test_copies_and_facts_equal_the_shared_ones():
    shared = shared_facts()
    require(shared_dumps_dir() / "facts.json")
    for name, entry in local_facts().items():
        if not name.startswith("_"):
            assert entry == shared[name], name
            assert (LOCAL_DUMPS / name).read_bytes() == require(shared_dumps_dir() / name).read_bytes()


def test_a_copy_is_preferred_over_the_shared_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIAPLANE_DUMPS_DIR", str(tmp_path))
    (tmp_path / "jitsi_legacy_firefox-relay.jsonl").write_text(json.dumps(["other"]))
    assert dump_path("jitsi_legacy_firefox-relay.jsonl") == LOCAL_DUMPS / "jitsi_legacy_firefox-relay.jsonl"
