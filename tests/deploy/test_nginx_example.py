"""The nginx example of docs/deployment.md is a configuration nginx accepts (`nginx -t`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_the_documented_nginx_server_block_passes_nginx_t(tmp_path):
    """The example is the `http` part of a configuration: wrapped here in a minimal main context, with
    its certificate paths pointed at a throwaway self-signed pair. Skipped where nginx is not installed
    (Debian: nginx-light)."""
    (example,) = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test"]
        + ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    example = example.replace("/etc/ssl/media.example.com.crt", str(tmp_path / "cert.pem"))
    example = example.replace("/etc/ssl/media.example.com.key", str(tmp_path / "key.pem"))
    # Temporary files under tmp_path too, so that `nginx -t` needs no root.
    temp = "".join(f"{kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi"))
    temp += "".join(f"{kind}_temp_path {tmp_path}/{kind};\n" for kind in ("uwsgi", "scgi"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp}{example}}}\n"
    )
    checked = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr

    # And it can fail: a misspelt directive is refused.
    conf.write_text(conf.read_text().replace("proxy_http_version", "proxy_http_verison"))
    broken = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0 and "unknown directive" in broken.stderr
