"""Tests without the shared folder: skipped with one summary line naming what is missing and the setting,
a failed run under CI=true, and the settings that name the folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests import shared_data
from tests.plugins.rtcstats.fixtures import dump_path

# One test that needs the shared facts, and a module that needs the vendor OpenAPI document at import.
NEEDS_SHARED = [
    "tests/plugins/rtcstats/test_parse_legacy.py::test_all_thirteen_legacy_fixtures_are_covered",
    "tests/plugins/rtcstats/test_conformance.py",
]


def run_pytest(shared: str, ci: str, *options: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MEDIAPLANE_DUMPS_DIR", "CI")}
    env.update(MEDIAPLANE_SHARED_DIR=shared, CI=ci)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, *NEEDS_SHARED],
        cwd=shared_data.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def summary_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("shared test data missing:")]


def test_without_the_shared_folder_tests_skip_with_one_summary_line(tmp_path):
    result = run_pytest(str(tmp_path / "absent"), ci="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout and "failed" not in result.stdout
    [line] = summary_lines(result.stdout)
    assert "fixtures/dumps/facts.json" in line and "specs/vendor/rtcstats-openapi.yml" in line
    assert "tests needing them were skipped" in line
    assert f"Set MEDIAPLANE_SHARED_DIR to the shared folder (now {tmp_path / 'absent'})" in line


def test_under_ci_the_missing_shared_folder_fails_the_run(tmp_path):
    result = run_pytest(str(tmp_path / "absent"), ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout
    assert "CI=true requires the shared data" in result.stdout
    [line] = summary_lines(result.stdout)
    assert "CI=true: the run fails" in line


def test_a_module_skipped_for_missing_data_still_fails_ci(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MEDIAPLANE_DUMPS_DIR"}
    env.update(MEDIAPLANE_SHARED_DIR=str(tmp_path), CI="true")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_SHARED[1]],
        cwd=shared_data.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and len(summary_lines(result.stdout)) == 1


def test_with_the_shared_folder_nothing_is_missing():
    shared = shared_data.shared_dir()
    shared_data.require(shared / "fixtures" / "dumps" / "facts.json")
    shared_data.require(shared / "specs" / "vendor" / "rtcstats-openapi.yml")
    # Collecting is enough: the conformance module reads its document at import, the legacy module
    # lists the shared facts' dumps (running them is the suite's job).
    result = run_pytest(str(shared), "true", "--collect-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_vendor_openapi_conformance" in result.stdout
    assert summary_lines(result.stdout) == []


def test_the_settings_name_the_folders(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDIAPLANE_DUMPS_DIR", raising=False)
    monkeypatch.delenv("MEDIAPLANE_SHARED_DIR", raising=False)
    assert shared_data.shared_dir() == shared_data.ROOT.parent / "shared"
    monkeypatch.setenv("MEDIAPLANE_SHARED_DIR", str(tmp_path))
    assert shared_data.shared_dumps_dir() == tmp_path / "fixtures" / "dumps"
    assert shared_data.vendor_dir() == tmp_path / "specs" / "vendor"
    monkeypatch.setenv("MEDIAPLANE_DUMPS_DIR", str(tmp_path / "elsewhere"))
    assert shared_data.shared_dumps_dir() == tmp_path / "elsewhere"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "only-here.jsonl").write_text("[]")
    assert dump_path("only-here.jsonl") == tmp_path / "elsewhere" / "only-here.jsonl"


def test_a_missing_file_skips_outside_ci_and_fails_in_ci(monkeypatch, tmp_path):
    missing = tmp_path / "nothing.json"
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="MEDIAPLANE_SHARED_DIR"):
        shared_data.require(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the shared data"):
        shared_data.require(missing)
    assert missing in shared_data.missing()
    shared_data._missing.discard(missing)  # not missing for this run's own summary line
