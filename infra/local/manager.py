"""up / down / status over the local services, with readiness timing.

``up`` starts every missing service first and only then waits, so the slow JVMs
boot side by side; a running service of ours is reused, a crashed one restarted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from .config import LocalSettings
from .process import alive, port_open, ports_in_use, running_pid, spawn, stop
from .services import SERVICES, Service


class ServiceError(RuntimeError):
    """A service could not be brought up; the message names the log to read."""


@dataclass(frozen=True)
class Status:
    service: str
    pid: int | None
    state: str  # ready | starting | stopped | foreign (a port is held by a process not ours)
    address: str
    log: str


def select(settings: LocalSettings, names: Iterable[str] = ()) -> list[Service]:
    chosen = list(names) or list(SERVICES)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise ServiceError(f"unknown service(s) {unknown}; known: {sorted(SERVICES)}")
    return [SERVICES[n](settings) for n in chosen]


def status(settings: LocalSettings, names: Iterable[str] = ()) -> list[Status]:
    out = []
    for svc in select(settings, names):
        pid = running_pid(settings.state_dir / "run", svc.name, svc.marker)
        if pid is not None:
            state = "ready" if svc.ready() else "starting"
        elif any(port_open(p) for p in svc.ports):
            state = "foreign"
        else:
            state = "stopped"
        out.append(Status(svc.name, pid, state, svc.address, str(settings.log_file(svc.name))))
    return out


def up(settings: LocalSettings, names: Iterable[str] = (), report: bool = True) -> dict[str, float]:
    """Make the services ready; return the seconds each took from process start to ready."""
    services = select(settings, names)
    runs = settings.state_dir / "run"
    started: dict[str, tuple[int, float]] = {}
    setup: dict[str, float] = {}  # fetching and configuring, before the process starts
    reused: set[str] = set()
    for svc in services:
        pid = running_pid(runs, svc.name, svc.marker)
        if pid is None:
            busy = ports_in_use(svc.ports, wait_s=10)
            if busy:
                raise ServiceError(
                    f"{svc.name}: port(s) {busy} on 127.0.0.1 are held by a process that is not ours; "
                    f"stop it, or choose other ports (CHARGESTREAM_LOCAL_*_PORT)"
                )
            t0 = time.monotonic()
            argv = svc.prepare()
            setup[svc.name] = time.monotonic() - t0
            t0 = time.monotonic()
            pid = spawn(
                runs, svc.name, argv, log_file=settings.log_file(svc.name), env=svc.env(), cwd=svc.home
            )
            started[svc.name] = (pid, t0)
        else:
            started[svc.name] = (pid, time.monotonic())
            reused.add(svc.name)

    took = _wait_ready(services, started, settings)
    if report:
        for svc in services:
            pid = started[svc.name][0]
            if svc.name in reused:
                how = "already running"
            else:
                how = f"ready in {took[svc.name]:5.1f} s (setup {setup[svc.name]:.1f} s)"
            print(f"{svc.name:<13} {how:<34} pid {pid:<7} {svc.address}", flush=True)
    return took


def _wait_ready(
    services: list[Service], started: dict[str, tuple[int, float]], settings: LocalSettings
) -> dict[str, float]:
    """Poll every pending service each round, so each one's time is its own."""
    took: dict[str, float] = {}
    deadline = time.monotonic() + settings.ready_timeout_seconds
    pending = list(services)
    while pending:
        for svc in list(pending):
            pid, t0 = started[svc.name]
            log = settings.log_file(svc.name)
            if svc.ready():
                took[svc.name] = time.monotonic() - t0
                pending.remove(svc)
            elif not alive(pid):
                raise ServiceError(f"{svc.name} exited while starting; read {log}:\n{_tail(log)}")
            elif time.monotonic() > deadline:
                raise ServiceError(
                    f"{svc.name} not ready after {settings.ready_timeout_seconds:.0f} s (pid {pid} still "
                    f"running); read {log}:\n{_tail(log)}"
                )
        if pending:
            time.sleep(0.5)
    return took


def down(settings: LocalSettings, names: Iterable[str] = (), report: bool = True) -> None:
    # Reverse order: Prometheus and Alertmanager first, Kafka last.
    for svc in reversed(select(settings, names)):
        was_running = stop(settings.state_dir / "run", svc.name, svc.marker, settings.stop_timeout_seconds)
        if report:
            print(f"{svc.name:<13} {'stopped' if was_running else 'was not running'}", flush=True)


def _tail(path: object, lines: int = 30) -> str:
    try:
        with open(str(path), errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log yet)"
