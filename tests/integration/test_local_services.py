"""infra.local's promises, on a second, private set of services (own state dir and ports):
``up`` twice reuses, ``up`` after a SIGKILL recovers, ``down`` leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from infra.local import LocalSettings, down, status, up
from infra.local.process import alive, ports_in_use
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and alive(int(proc.name)):
                pids.append(int(proc.name))
    return pids


def test_up_reuses_recovers_after_kill_and_down_leaves_nothing(tmp_path: Path) -> None:
    ports = _free_ports(6)
    settings = LocalSettings(
        state_dir=tmp_path / "state",
        kafka_port=ports[0],
        kafka_controller_port=ports[1],
        cassandra_port=ports[2],
        cassandra_storage_port=ports[3],
        prometheus_port=ports[4],
        alertmanager_port=ports[5],
        cassandra_heap="512M",
        kafka_heap="256m",
    )
    try:
        up(settings, report=False)
        first = {s.service: s for s in status(settings)}
        assert {s.state for s in first.values()} == {"ready"}

        up(settings, report=False)  # idempotent: the same processes
        assert {s.service: s.pid for s in status(settings)} == {n: s.pid for n, s in first.items()}

        crashed = [first["kafka"].pid, first["cassandra"].pid]
        for pid in crashed:
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in crashed if p), 30, "killed services to exit")
        wait_for(
            lambda: not ports_in_use([settings.kafka_port, settings.cassandra_port]), 30, "ports to free"
        )
        states = {s.service: s.state for s in status(settings)}
        assert states == {
            "kafka": "stopped",
            "cassandra": "stopped",
            "prometheus": "ready",
            "alertmanager": "ready",
        }

        up(settings, report=False)  # recovers what crashed, keeps what runs
        after = {s.service: s for s in status(settings)}
        assert {s.state for s in after.values()} == {"ready"}
        assert after["prometheus"].pid == first["prometheus"].pid
        assert after["kafka"].pid not in crashed
    finally:
        down(settings, report=False)
    assert {s.state for s in status(settings)} == {"stopped"}
    assert _processes_mentioning(str(settings.state_dir)) == []
