"""deploy/systemd units: pass `systemd-analyze verify`, hardened, one user and one env file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = [
    "mediaplane-web.service",
    "mediaplane-worker@.service",
    "mediaplane-migrate.service",
    "mediaplane-transcribe-live.service",
]
INSTALLED = "/opt/mediaplane/bin/mediaplane"
HARDENING = {
    "User": "mediaplane",
    "Group": "mediaplane",
    "EnvironmentFile": "/etc/mediaplane/env",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ReadWritePaths": "/var/lib/mediaplane",
    "StateDirectory": "mediaplane",
    "CapabilityBoundingSet": "",
}


def settings(unit: str) -> dict[str, list[str]]:
    """Key -> values of a unit file (a key may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("unit", SERVICES)
def test_service_is_hardened_and_runs_the_installed_command(unit):
    found = settings(unit)
    for key, value in HARDENING.items():
        assert found.get(key) == [value], (unit, key, found.get(key))
    command = found["ExecStart"][0].split()
    assert command[0] == INSTALLED
    assert command[1] == {
        "mediaplane-web.service": "serve",
        "mediaplane-worker@.service": "worker",
        "mediaplane-transcribe-live.service": "transcribe-live",
    }.get(unit, "migrate")
    # Data dir default before the env file, so the file may override it.
    assert found["Environment"] == ["MEDIAPLANE__CORE__DATA_DIR=/var/lib/mediaplane"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    """`systemd-analyze verify` on copies of the units in which ExecStart names this environment's
    `mediaplane` instead of /opt/mediaplane/bin/mediaplane: verify refuses a command that does not exist,
    and this machine has no /opt/mediaplane. It reports unknown keys and bad values only as warnings
    (exit status 0), so its output must be empty as well. The template is verified as instance 1."""
    mediaplane = Path(sys.executable).parent / "mediaplane"
    assert mediaplane.exists()
    for unit in UNITS.iterdir():
        if unit.suffix in (".service", ".target"):
            text = unit.read_text()
            (tmp_path / unit.name).write_text(text.replace(INSTALLED, str(mediaplane)))
    (tmp_path / "mediaplane-worker@1.service").symlink_to("mediaplane-worker@.service")
    names = ["mediaplane-web.service", "mediaplane-worker@1.service", "mediaplane-migrate.service"]
    names.append("mediaplane-transcribe-live.service")
    names.append("mediaplane.target")
    verify = subprocess.run(
        ["systemd-analyze", "verify", *[f"./{name}" for name in names]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")

    # The same check fails on a unit with a misspelt key: the empty-output rule is what catches it.
    web = tmp_path / "mediaplane-web.service"
    web.write_text(web.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    broken = subprocess.run(
        ["systemd-analyze", "verify", "./mediaplane-web.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Unknown key" in broken.stderr
