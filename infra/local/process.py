"""Start, find and stop the processes we own, by PID file.

A PID file alone is not proof: PIDs are reused. A process counts as ours only when
its command line still contains the marker we started it with (the service's own
config path under the state directory), so ``down`` never signals a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def pid_file(run_dir: Path, service: str) -> Path:
    return run_dir / f"{service}.pid"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_zombie(pid: int) -> bool:
    """Dead and only awaiting its parent. A killed JVM's main thread turns zombie while its
    other threads still exit and hold its sockets: that is not dead yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("State", "").strip().startswith("Z") and fields.get("Threads", "1").strip() == "1"


def running_pid(run_dir: Path, service: str, marker: str) -> int | None:
    """The PID of our running ``service``, or None (a stale PID file is removed)."""
    path = pid_file(run_dir, service)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if marker in _cmdline(pid) and not _is_zombie(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


# A service's log is set aside (as <name>.1, replacing the one before) when it is larger
# than this at the service's start: the local Kafka logs at INFO, and its log had grown to
# 1.2 GB over a few weeks of test runs, Cassandra's to 240 MB.
LOG_KEEP_BYTES = 64 * 1024 * 1024


def set_aside_if_large(log_file: Path, limit: int = LOG_KEEP_BYTES) -> None:
    """Rename a log over ``limit`` bytes to ``<name>.1`` (the previous one goes)."""
    try:
        size = log_file.stat().st_size
    except FileNotFoundError:
        return
    if size > limit:
        log_file.replace(log_file.with_name(log_file.name + ".1"))


def spawn(
    run_dir: Path,
    service: str,
    argv: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached in its own session, output appended to ``log_file`` (set
    aside first if it is large)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    set_aside_if_large(log_file)
    with log_file.open("ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.write(f"\n==== {stamp} starting {service}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # survives the CLI, and `down` can signal its group
        )
    pid_file(run_dir, service).write_text(f"{proc.pid}\n")
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def stop(run_dir: Path, service: str, marker: str, timeout: float) -> bool:
    """SIGTERM our process group, SIGKILL it after ``timeout``. True if one was running."""
    pid = running_pid(run_dir, service, marker)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.1)
    pid_file(run_dir, service).unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # spawn() made the process its own group leader


def ports_in_use(ports: list[int], wait_s: float = 0.0) -> list[int]:
    """Ports that still answer after up to ``wait_s`` (a process that just died frees them late)."""
    deadline = time.monotonic() + wait_s
    while True:
        busy = [p for p in ports if port_open(p)]
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.5)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
