"""The generated server key: one key for all processes that start at once, never an empty one."""

from __future__ import annotations

import multiprocessing

import pytest
from cryptography.fernet import Fernet

from core.app import read_or_create_key_file, server_key
from core.config import ConfigError

PROCESSES = 24
ROUNDS = 5


def _start(path, barrier, results):
    barrier.wait()  # every process reaches the missing file at the same moment
    try:
        results.put(("ok", read_or_create_key_file(path)))
    except Exception as exc:  # reported to the test, which fails on it
        results.put(("error", repr(exc)))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_first_starts_agree_on_one_key(tmp_path, round_):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    path = tmp_path / "data" / "server.key"
    procs = [ctx.Process(target=_start, args=(path, barrier, results)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    errors = [value for kind, value in outcomes if kind == "error"]
    assert errors == []
    keys = {value for _kind, value in outcomes}
    assert len(keys) == 1
    (key,) = keys
    Fernet(key)  # a whole, valid key
    assert path.read_bytes().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600
    # no temp files left behind by the losers
    assert [f.name for f in path.parent.iterdir()] == ["server.key"]


def test_an_empty_key_file_is_refused(tmp_path):
    (tmp_path / "server.key").write_bytes(b"")
    with pytest.raises(ConfigError, match="not a Fernet key"):
        server_key({"secret_key": "", "data_dir": str(tmp_path)})


def test_a_damaged_key_file_is_refused(tmp_path):
    (tmp_path / "server.key").write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="server.key: not a Fernet key"):
        server_key({"secret_key": "", "data_dir": str(tmp_path)})


def test_an_existing_key_is_kept(tmp_path):
    key = Fernet.generate_key()
    (tmp_path / "server.key").write_bytes(key + b"\n")
    assert server_key({"secret_key": "", "data_dir": str(tmp_path)}) == key
