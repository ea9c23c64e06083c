"""infra.local.process: a PID file is trusted only when the process still carries our marker,
and a large log is set aside when its service starts."""

from __future__ import annotations

import os
from pathlib import Path

from infra.local.process import pid_file, running_pid, set_aside_if_large


def test_a_live_process_with_our_marker_is_ours(tmp_path: Path) -> None:
    pid_file(tmp_path, "svc").write_text(f"{os.getpid()}\n")
    marker = Path("/proc/self/cmdline").read_bytes().split(b"\0")[0].decode()
    assert running_pid(tmp_path, "svc", marker) == os.getpid()


def test_a_reused_pid_without_our_marker_is_not_ours_and_the_file_goes(tmp_path: Path) -> None:
    pid_file(tmp_path, "svc").write_text(f"{os.getpid()}\n")
    assert running_pid(tmp_path, "svc", "/no/such/config/file.yaml") is None
    assert not pid_file(tmp_path, "svc").exists()


def test_garbage_or_missing_pid_files_mean_not_running(tmp_path: Path) -> None:
    assert running_pid(tmp_path, "svc", "x") is None
    pid_file(tmp_path, "svc").write_text("not a pid")
    assert running_pid(tmp_path, "svc", "x") is None


def test_a_large_log_is_set_aside_and_a_small_one_kept(tmp_path: Path) -> None:
    log = tmp_path / "kafka.log"
    log.write_bytes(b"x" * 10)
    set_aside_if_large(log, limit=10)
    assert log.read_bytes() == b"x" * 10  # not over the limit: kept
    log.write_bytes(b"y" * 11)
    (tmp_path / "kafka.log.1").write_bytes(b"older")
    set_aside_if_large(log, limit=10)
    assert not log.exists()
    assert (tmp_path / "kafka.log.1").read_bytes() == b"y" * 11  # the one before goes
    set_aside_if_large(tmp_path / "missing.log", limit=10)  # nothing to do
