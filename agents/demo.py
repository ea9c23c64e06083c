"""`chargestream demo` (`make demo`): the whole product on this machine in about two minutes.

Starts the local services it needs, creates the demo topics and keyspace afresh, starts a
worker, and runs the fleet simulator: 15 minutes of history at once, then a minute live.
Then it prints per-site power, availability, alerts and dead letters, and where to look
next. It stops what it started, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

DEMO = {
    "CHARGESTREAM_APP_ID": "chargestream-demo",
    "CHARGESTREAM_CASSANDRA_KEYSPACE": "chargestream_demo",
    "CHARGESTREAM_DATA_DIR": "var/demo",
    "CHARGESTREAM_WEB_PORT": "6067",
    # Seconds, not minutes, so that a minute shows faults, silence and recoveries.
    "CHARGESTREAM_GRACE_SECONDS": "15",
    "CHARGESTREAM_IDLE_PARTITION_SECONDS": "5",
    "CHARGESTREAM_HEARTBEAT_INTERVAL_SECONDS": "10",
    "CHARGESTREAM_MISSED_HEARTBEATS": "3",
    "CHARGESTREAM_OFFLINE_GRACE_SECONDS": "5",
    "CHARGESTREAM_ALERT_RAISE_AFTER_SECONDS": "5",
    "CHARGESTREAM_ALERT_CLEAR_AFTER_SECONDS": "10",
    "CHARGESTREAM_ALERT_RENOTIFY_SECONDS": "30",
    "CHARGESTREAM_AVAILABILITY_WINDOWS_SECONDS": "60,3600,86400",
}
PREFIX = "demo."  # every demo topic: the inputs and what the worker derives


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="how long the live part runs (default 60)")
    p.add_argument("--sites", type=int, default=6)
    p.add_argument("--chargers", type=int, default=4, help="per site")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep-services", action="store_true", help="leave the local services running")


def _demo_env(alertmanager_url: str) -> dict[str, str]:
    from .config import Settings, renamed_topics

    defaults = Settings.model_construct()  # the default names, whatever the environment says
    topics = renamed_topics(defaults, lambda t: PREFIX + t, inputs=True, registry=True)
    return {**DEMO, "CHARGESTREAM_ALERTMANAGER_URL": alertmanager_url, **topics}


def run(args: argparse.Namespace) -> int:
    from infra.local import LocalSettings, down, status, up

    local = LocalSettings()
    already = {s.service for s in status(local) if s.state == "ready"}
    started: list[str] = []
    worker: subprocess.Popen[bytes] | None = None
    interrupted = False
    try:
        print("== local services")
        up(local)
        started = [s.service for s in status(local) if s.service not in already]
        env = _demo_env(f"http://127.0.0.1:{local.alertmanager_port}")
        os.environ.update(env)
        from .config import get_settings

        get_settings.cache_clear()
        s = get_settings()
        _reset(s)
        print("== migrate")
        from .migrate import main as migrate

        migrate([])
        print("== worker")
        worker = _start_worker(s)
        _register_scrape(local, s.web_port)
        print(f"== simulator: {args.sites} sites x {args.chargers} chargers, 15 min of history, then live")
        # The fleet keeps talking for a grace period more, so the last live minute closes
        # while the chargers are still online (silence would be reported as offline).
        _simulate(args, args.seconds + s.grace_seconds + 5)
        _wait_caught_up(s.web_port, worker)
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}); see {s.data_dir}/worker.log")
        _summary(s, local, args)
    except KeyboardInterrupt:
        interrupted = True
        print("\ndemo: interrupted; stopping what it started", file=sys.stderr)
    finally:
        if worker is not None:
            _stop(worker)
        (local.prometheus_targets_dir / "chargestream-demo.json").unlink(missing_ok=True)
        if started and not args.keep_services:
            print(f"== stopping the services the demo started: {', '.join(started)}")
            down(local, started)
    return 130 if interrupted else 0


def _reset(s: Any) -> None:
    """A fresh demo each time: its topics, keyspace and worker state go first."""
    from confluent_kafka.admin import AdminClient

    from .cassandra_session import connect
    from .kafka_clients import confluent_config

    admin = AdminClient(confluent_config(s))
    ours = [
        t
        for t in admin.list_topics(timeout=s.kafka_timeout_seconds).topics
        if t.startswith((PREFIX, s.app_id))
    ]
    for f in (admin.delete_topics(ours, operation_timeout=30) if ours else {}).values():
        with suppress(Exception):
            f.result(timeout=30)
    if ours:
        time.sleep(2)  # topic deletion completes asynchronously
    cluster, session = connect(s)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {s.cassandra_keyspace}", timeout=60)
    finally:
        cluster.shutdown()
    shutil.rmtree(s.data_dir, ignore_errors=True)


def _start_worker(s: Any) -> subprocess.Popen[bytes]:
    Path(s.data_dir).mkdir(parents=True, exist_ok=True)
    log = Path(s.data_dir) / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents", "worker", "--loglevel", "warn"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the demo, which stops the worker itself
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited ({proc.returncode}); see {log}")
        with (
            suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{s.web_port}/readyz", timeout=2) as r,
        ):
            if r.status == 200:
                print(f"worker ready (pid {proc.pid}, log {log})")
                return proc
        time.sleep(1)
    raise RuntimeError(f"the worker did not become ready in 120 s; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait_caught_up(port: int, worker: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    """Until the worker has no backlog: a loaded machine can be minutes behind the simulator.

    Lag is read from the worker's own `chargestream_consumer_lag` gauge. Stage 2 reads what
    stage 1 writes, so zero must hold on two scrapes in a row."""
    deadline = time.monotonic() + timeout_s
    zero_in_a_row = 0
    while zero_in_a_row < 2 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(1)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            zero_in_a_row = 0
            continue
        lags = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("chargestream_consumer_lag{")
        ]
        zero_in_a_row = zero_in_a_row + 1 if lags and not any(lags) else 0
    if zero_in_a_row < 2 and worker.poll() is None:
        print(
            f"demo: the worker still has a backlog after {timeout_s:.0f} s; the summary may be partial",
            file=sys.stderr,
        )


def _register_scrape(local: Any, port: int) -> None:
    """Let the local Prometheus scrape the demo worker (file-based service discovery)."""
    import json

    targets = local.prometheus_targets_dir
    targets.mkdir(parents=True, exist_ok=True)
    entry = [{"targets": [f"127.0.0.1:{port}"], "labels": {"job": "chargestream", "instance": "demo"}}]
    (targets / "chargestream-demo.json").write_text(json.dumps(entry))


def _simulate(args: argparse.Namespace, seconds: float) -> None:
    from .simulate import add_arguments as sim_args
    from .simulate import run as simulate

    p = argparse.ArgumentParser()
    sim_args(p)
    sim = p.parse_args(
        [
            *("--sites", str(args.sites), "--chargers", str(args.chargers), "--seed", str(args.seed)),
            *("--duration", str(seconds), "--backfill-minutes", "15"),
            *("--heartbeat-interval", "5", "--faults-per-hour", "4", "--fault-minutes", "0.5,4"),
            *("--offline-per-hour", "1.5", "--offline-minutes", "0.5,3"),
            *("--malformed-share", "0.01"),
        ]
    )
    simulate(sim)


def _summary(s: Any, local: Any, args: argparse.Namespace) -> None:
    from .cassandra_session import connect

    cluster, session = connect(s)
    ks = s.cassandra_keyspace
    sites = [f"SITE-{i:04d}" for i in range(args.sites)]
    today = datetime.now(UTC).date()
    power = session.prepare(
        f"SELECT bucket_start, current_power_w, energy_wh FROM {ks}.site_power_1m "
        "WHERE site_id = ? AND day = ? LIMIT 15"
    )
    status = session.prepare(f"SELECT * FROM {ks}.site_status WHERE site_id = ?")
    availability = session.prepare(
        f"SELECT * FROM {ks}.site_availability WHERE site_id = ? AND window_s = 60 AND month = ? LIMIT 15"
    )
    alerts = session.prepare(
        f"SELECT alert_type, status FROM {ks}.alert_history WHERE site_id = ? AND day = ?"
    )
    try:
        print("\n== site power (kW): now, mean of the last 15 minutes, energy (kWh) in them")
        for site in sites:
            rows = list(session.execute(power, (site, today)))
            if not rows:
                print(f"  {site}  no data")
                continue
            energy = sum(r.energy_wh or 0 for r in rows)
            mean_kw = energy * 60 / len(rows) / 1000  # Wh per minute bucket -> W
            now_kw = (rows[0].current_power_w or 0) / 1000
            print(f"  {site}  now {now_kw:7.1f}   15-min mean {mean_kw:7.1f}   energy {energy / 1000:7.2f}")
        print("\n== availability: ports per class now, and uptime over the closed minutes")
        month = date(today.year, today.month, 1)
        for site in sites:
            [now] = list(session.execute(status, (site,))) or [None]
            windows = list(session.execute(availability, (site, month)))
            up = sum(w.available_ms + w.occupied_ms + w.reserved_ms for w in windows)
            span = sum(w.span_ms - w.excluded_ms for w in windows)
            unknown = sum(w.unknown_ms for w in windows)
            counts = (
                f"available {now.available}  occupied {now.occupied}  faulted {now.faulted}  "
                f"unavailable {now.unavailable}  unknown {now.unknown}"
                if now
                else "no status yet"
            )
            uptime = (
                f"uptime {up / span:6.1%} (unknown {unknown / max(1, span):5.1%}, {len(windows)} min)"
                if span
                else ""
            )
            print(f"  {site}  {counts}  {uptime}")
        print("\n== alerts")
        fired: Counter[str] = Counter()
        resolved: Counter[str] = Counter()
        for site in [*sites, *(f"partition-{p}" for p in range(s.topic_partitions))]:
            for r in session.execute(alerts, (site, today)):
                fired[r.alert_type] += 1
                resolved[r.alert_type] += r.status == "resolved"
        for kind in sorted(fired):
            print(f"  {kind:<30} fired {fired[kind]:3d}   resolved {resolved[kind]:3d}")
        if not fired:
            print("  none")
    finally:
        cluster.shutdown()
    print("\n== dead letters by reason")
    dead: Counter[str] = Counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{s.web_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("chargestream_dead_letters_total{"):
                reason = line.split('reason="')[1].split('"')[0]
                dead[reason] += int(float(line.rsplit(" ", 1)[1]))
    for reason, n in sorted(dead.items()):
        print(f"  {reason:<22} {n}")
    if not dead:
        print("  none")
    print(
        f"""
== where to look next
  worker metrics   http://127.0.0.1:{s.web_port}/metrics   (also /healthz, /readyz)
  Prometheus       http://127.0.0.1:{local.prometheus_port}/graph?g0.expr=chargestream_site_power_watts
  Alertmanager     http://127.0.0.1:{local.alertmanager_port}/#/alerts
  Cassandra        SELECT * FROM {ks}.site_power_1m WHERE site_id='SITE-0000' AND day='{today}';
                   tables: site_power_1m, site_availability, site_status, alert_history, port_uptime, ...
  Kafka topics     {s.site_power_topic}, {s.site_availability_topic}, {s.alerts_topic},
                   {s.connector_state_topic}, {s.meter_topics[0]}{s.dead_letter_suffix}, ...
  Run it yourself  make services; chargestream migrate; chargestream worker; chargestream simulate"""
    )
