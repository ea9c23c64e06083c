"""Latency (variant `lat` of bench/run.py): chargestream's worker under a steady offered load,
and probes whose way through it is timed.

The load is the simulated fleet sent live (each message when its time comes, so its
`received_at` is the wall clock), the fleet sized to offer about ``rate`` events/s. Probe
chargers of our own ride along on the same topics and partitions:
- meter probes report every 0.5 s with a power value that only grows, so a site power
  record (one probe charger per site) at value v shows that every reading up to v is in;
  with the Cassandra sink, the newest ``evse_samples`` row of the probe shows the same;
- fault probes go Faulted and Available again every 10 s (the run sets raise-after and
  clear-after to 0, so each fault is raised at once and resolved before the next);
- offline probes send heartbeats (5 s interval in the registry) and then fall silent until
  well after their offline timeout, every 60 s.
Each probe event's latency is from its `received_at` to the moment this process sees the
record (derived topic, Cassandra row, alert) that reflects it; for offline detection, from
the moment the timeout expired. Every clock involved is this machine's.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from agents.config import Settings
from agents.domain.liveness import LivenessRules
from agents.simulator import iso, messages

METER_PROBES = 8
FAULT_PROBES = 8
OFFLINE_PROBES = 16
METER_EVERY_S = 0.5
FAULT_CYCLE_S, FAULT_HOLD_S = 10.0, 5.0
OFFLINE_CYCLE_S, OFFLINE_HEARTBEAT_S, OFFLINE_BEATS = 60.0, 5.0, 3
WARM_UP_MAX_S = 120.0
SETTLE_S = 15.0  # observation goes on this long after the last probe event


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Samples:
    """One latency figure: event times (ms) and when each was seen reflected."""

    sent: list[int] = field(default_factory=list)
    seen: dict[int, int] = field(default_factory=dict)  # index in ``sent`` -> seen at (ms)

    def add(self, at_ms: int) -> int:
        self.sent.append(at_ms)
        return len(self.sent) - 1

    def row(self, what: str) -> str:
        lat = sorted(self.seen[i] - t for i, t in enumerate(self.sent) if i in self.seen)
        missing = len(self.sent) - len(lat)
        if not lat:
            return f"| {what} | 0 | - | - | - | {missing} |"
        p50, p99 = (lat[min(len(lat) - 1, int(q * len(lat)))] for q in (0.5, 0.99))
        return f"| {what} | {len(lat)} | {p50:,} | {p99:,} | {lat[-1]:,} | {missing} |"


@dataclass
class _MeterProbe:
    charger: str
    site: str
    power: list[int] = field(default_factory=list)  # per reading, increasing
    ts: list[int] = field(default_factory=list)
    sample: list[int] = field(default_factory=list)  # per reading: its index in the Samples
    energy_wh: float = 0.0
    topic_done: int = 0  # readings seen on the derived topic so far
    row_done: int = 0


class Probes:
    """The probe chargers: what they send, and the bookkeeping of what has been seen."""

    def __init__(self, rules: LivenessRules) -> None:
        self.meters = [_MeterProbe(f"PROBE-M{i}", f"PROBE-SITE-M{i}") for i in range(METER_PROBES)]
        self.faulty = [f"PROBE-F{i}" for i in range(FAULT_PROBES)]
        self.silent = [f"PROBE-O{i}" for i in range(OFFLINE_PROBES)]
        self.offline_timeout_ms = rules.timeout_ms(OFFLINE_HEARTBEAT_S)
        self.power, self.row, self.fault, self.offline = Samples(), Samples(), Samples(), Samples()
        # The same readings, to the moment the worker produced the site power record that
        # answered them (its Kafka timestamp): the rest of ``power`` is delivery to a reader.
        self.power_made = Samples(sent=self.power.sent)
        self._faults: dict[str, list[int]] = defaultdict(list)  # charger -> indexes into self.fault
        self._silences: dict[str, list[int]] = defaultdict(list)
        self.lock = threading.Lock()

    def registry(self) -> Iterator[tuple[bytes, bytes]]:
        for p in self.meters:
            yield p.charger.encode(), orjson.dumps({"site_id": p.site, "connectors": 1})
        for c in self.faulty:
            yield c.encode(), orjson.dumps({"site_id": f"PROBE-SITE-{c}", "connectors": 1})
        for c in self.silent:
            entry = {
                "site_id": f"PROBE-SITE-{c}",
                "connectors": 1,
                "heartbeat_interval_s": OFFLINE_HEARTBEAT_S,
            }
            yield c.encode(), orjson.dumps(entry)

    def schedule(
        self, t0_ms: int, seconds: float
    ) -> list[tuple[int, Callable[[int], tuple[str, str, bytes]]]]:
        """(due ms, make(now ms) -> (action, charger, envelope)) for every probe event, in order."""
        out: list[tuple[int, Callable[[int], tuple[str, str, bytes]]]] = []
        end = t0_ms + int(seconds * 1000)
        for i, p in enumerate(self.meters):
            t = t0_ms + int(i * METER_EVERY_S * 1000 / METER_PROBES)
            while t < end:
                out.append((t, partial(self._meter, p)))
                t += int(METER_EVERY_S * 1000)
        for i, c in enumerate(self.faulty):
            t = t0_ms + int(i * FAULT_CYCLE_S * 1000 / FAULT_PROBES)
            while t + FAULT_HOLD_S * 1000 < end:
                out.append((t, partial(self._status, c, faulted=True)))
                out.append((t + int(FAULT_HOLD_S * 1000), partial(self._status, c, faulted=False)))
                t += int(FAULT_CYCLE_S * 1000)
        for i, c in enumerate(self.silent):
            t = t0_ms + int(i * OFFLINE_CYCLE_S * 1000 / OFFLINE_PROBES)
            while True:
                last = t + int((OFFLINE_BEATS - 1) * OFFLINE_HEARTBEAT_S * 1000)
                if last + self.offline_timeout_ms > end:  # its alert would be due after the run
                    out.append((t, partial(self._heartbeat, c, last=False)))  # back online
                    break
                for k in range(OFFLINE_BEATS):
                    beat = t + int(k * OFFLINE_HEARTBEAT_S * 1000)
                    out.append((beat, partial(self._heartbeat, c, last=k == OFFLINE_BEATS - 1)))
                t += int(OFFLINE_CYCLE_S * 1000)
        out.sort(key=lambda e: e[0])
        return out

    def _meter(self, p: _MeterProbe, now: int) -> tuple[str, str, bytes]:
        with self.lock:
            power = 1_000 + len(p.power)  # W: grows by 1 W a reading
            p.power.append(power)
            p.energy_wh += power * METER_EVERY_S / 3600
            p.ts.append(now)
            p.sample.append(self.power.add(now))
            self.row.add(now)  # the same index: only meter probes add to either
        payload = {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": iso(now),
                    "sampledValue": [
                        {
                            "value": f"{p.energy_wh:.3f}",
                            "measurand": "Energy.Active.Import.Register",
                        },
                        {"value": str(power), "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        }
        return "MeterValues", p.charger, _envelope(p.charger, p.site, "MeterValues", now, payload)

    def _status(self, charger: str, now: int, *, faulted: bool) -> tuple[str, str, bytes]:
        if faulted:
            with self.lock:
                self._faults[charger].append(self.fault.add(now))
        payload = {
            "connectorId": 1,
            "status": "Faulted" if faulted else "Available",
            "errorCode": "GroundFailure" if faulted else "NoError",
            "timestamp": iso(now),
        }
        site = f"PROBE-SITE-{charger}"
        return "StatusNotification", charger, _envelope(charger, site, "StatusNotification", now, payload)

    def _heartbeat(self, charger: str, now: int, *, last: bool) -> tuple[str, str, bytes]:
        if last:  # the timeout runs from here: its expiry is the event
            with self.lock:
                self._silences[charger].append(self.offline.add(now + self.offline_timeout_ms))
        return "Heartbeat", charger, _envelope(charger, f"PROBE-SITE-{charger}", "Heartbeat", now, {})

    def saw_site_power(self, site: str, current_power_w: float, at: int, made: int) -> None:
        with self.lock:
            for p in self.meters:
                if p.site == site:
                    while p.topic_done < len(p.power) and p.power[p.topic_done] <= current_power_w:
                        self.power.seen.setdefault(p.sample[p.topic_done], at)
                        self.power_made.seen.setdefault(p.sample[p.topic_done], made)
                        p.topic_done += 1

    def saw_row(self, p: _MeterProbe, ts_ms: int, at: int) -> None:
        with self.lock:
            while p.row_done < len(p.ts) and p.ts[p.row_done] <= ts_ms:
                self.row.seen.setdefault(p.sample[p.row_done], at)
                p.row_done += 1

    def saw_alert(self, alert: dict[str, Any], at: int) -> None:
        """A firing alert of a probe: it answers that probe's newest unanswered event due by now."""
        if alert.get("status") != "firing":
            return
        kind, charger = alert.get("type"), alert.get("charger_id", "")
        if kind == "connector_fault":
            samples, pending = self.fault, self._faults
        elif kind == "charger_offline":
            samples, pending = self.offline, self._silences
        else:
            return
        with self.lock:
            waiting = [
                i for i in pending.get(charger, []) if i not in samples.seen and samples.sent[i] <= at + 5_000
            ]
            if waiting:
                samples.seen[waiting[-1]] = at


def _envelope(charger: str, site: str, action: str, now: int, payload: dict[str, Any]) -> bytes:
    doc = {
        "charger_id": charger,
        "site_id": site,
        "ocpp_version": "1.6",
        "action": action,
        "message_id": f"{charger}-{now}-{action}",
        "received_at": iso(now),
        "payload": payload,
    }
    return orjson.dumps(doc)


class _Watcher(threading.Thread):
    """Reads the derived site power and alerts topics from their ends and hands probe records
    to ``Probes``."""

    def __init__(self, bootstrap: str, env: dict[str, str], probes: Probes) -> None:
        super().__init__(name="latency-watcher", daemon=True)
        from confluent_kafka import Consumer, TopicPartition

        self.probes, self.stop = probes, threading.Event()
        self.power_topic = env["CHARGESTREAM_SITE_POWER_TOPIC"]
        self.alerts_topic = env["CHARGESTREAM_ALERTS_TOPIC"]
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-latency-watcher",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 20,
            }
        )
        assignment = []
        for topic in (self.power_topic, self.alerts_topic):
            meta = self.consumer.list_topics(topic, timeout=30).topics[topic]
            for p in meta.partitions:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                assignment.append(TopicPartition(topic, p, high))
        self.consumer.assign(assignment)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for m in self.consumer.consume(1000, 0.05):
                    at = _now_ms()
                    key, value = m.key() or b"", m.value()
                    if m.error() or not value:
                        continue
                    if m.topic() == self.power_topic and key.startswith(b"PROBE-"):
                        doc = orjson.loads(value)
                        made = m.timestamp()[1]  # when the worker produced it (CreateTime)
                        self.probes.saw_site_power(doc["site_id"], doc["current_power_w"], at, made)
                    elif m.topic() == self.alerts_topic and b"PROBE-" in value:
                        self.probes.saw_alert(orjson.loads(value), at)
        finally:
            self.consumer.close()


class _RowWatcher(threading.Thread):
    """Polls the newest ``evse_samples`` row of each meter probe (every ~50 ms)."""

    def __init__(self, keyspace: str, probes: Probes) -> None:
        super().__init__(name="latency-row-watcher", daemon=True)
        from agents.cassandra_session import connect

        self.probes, self.stop = probes, threading.Event()
        self.cluster, self.session = connect(Settings())
        self.query = self.session.prepare(
            f"SELECT ts FROM {keyspace}.evse_samples WHERE charger_id = ? AND evse_id = 1 AND day = ? LIMIT 1"
        )

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                day = datetime.now(UTC).date()
                futures = [
                    (p, self.session.execute_async(self.query, (p.charger, day))) for p in self.probes.meters
                ]
                for p, f in futures:
                    rows = list(f.result())
                    if rows:
                        ts_ms = int(rows[0].ts.replace(tzinfo=UTC).timestamp() * 1000)
                        self.probes.saw_row(p, ts_ms, _now_ms())
                time.sleep(0.05)
        finally:
            self.cluster.shutdown()


def run_latency(
    bootstrap: str, prefix: str, *, rate: float, seconds: float, sink: str, partitions: int, seed: int
) -> list[str]:
    """Run the worker under ``rate`` events/s of live fleet traffic and the probes for
    ``seconds`` (after a warm-up); the report's lines."""
    from confluent_kafka import Producer

    from bench import run

    own = f"{prefix}lat."
    run.create_inputs(bootstrap, own, partitions)
    settings = Settings()
    probes = Probes(
        LivenessRules(
            settings.heartbeat_interval_seconds, settings.missed_heartbeats, settings.offline_grace_seconds
        )
    )
    # A fleet that offers about ``rate`` events/s: as preloaded, every connector busy
    # (measured: a message per connector every ~9 s).
    duration_s = WARM_UP_MAX_S + seconds + SETTLE_S + 60
    cfg = run.dense_fleet(
        max(10, int(rate * 9)), seed=seed, start_ms=_now_ms(), duration_s=duration_s, prefix=own
    )
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})
    run.publish_registry(producer, f"{own}chargers", cfg)
    for key, value in probes.registry():
        producer.produce(f"{own}chargers", key=key, value=value)
    producer.flush(60)
    app_id = f"{own}a"
    no_hysteresis = {
        "CHARGESTREAM_ALERT_RAISE_AFTER_SECONDS": "0",
        "CHARGESTREAM_ALERT_CLEAR_AFTER_SECONDS": "0",
    }
    env = run.chargestream_env(bootstrap, own, app_id, sink, partitions, **no_hysteresis)
    watchers: list[Any] = [_Watcher(bootstrap, env, probes)]
    if sink == "cassandra":
        watchers.append(_RowWatcher(env["CHARGESTREAM_CASSANDRA_KEYSPACE"], probes))
    for w in watchers:
        w.start()
    worker = run.start_processes(
        [([sys.executable, "-m", "agents", "worker", "--loglevel", "warn"], env)], f"{own}a.log"
    )
    inputs = [f"{own}ocpp.{a}" for a in run.ACTIONS]
    try:
        offered, cores, warm_up = _offer(
            producer,
            messages(cfg),
            probes,
            own,
            seconds,
            lambda: run.lag(bootstrap, app_id, inputs),
            worker,
            rate,
        )
    finally:
        producer.flush(30)
        run.stop_processes(worker)
        for w in watchers:
            w.stop.set()
        for w in watchers:
            w.join(30)
    return [
        f"latency at an offered {offered:,.0f} events/s (asked: {rate:,.0f}; the worker used "
        f"{cores:.2f} cores meanwhile; warm-up: {warm_up}), probes for {seconds:.0f} s, "
        f"alert raise-after and clear-after 0 s; offline timeout {probes.offline_timeout_ms / 1000:.0f} s; "
        "times in ms (bench/latency.py):",
        "",
        "| from received_at to | n | p50 | p99 | max | not seen |",
        "|---|---|---|---|---|---|",
        probes.power.row("current site power on the derived topic"),
        probes.power_made.row("... its record produced by the worker (the record's timestamp)"),
        probes.row.row("its evse_samples row in Cassandra")
        if sink == "cassandra"
        else "| its row in Cassandra | (memory sink) | | | | |",
        probes.fault.row("a fault's alert on the alerts topic"),
        probes.offline.row("offline alert, beyond the timeout"),
    ]


def _offer(  # noqa: PLR0917 (one call site)
    producer: Any,
    fleet_messages: Iterator[tuple[int, str, bytes, bytes]],
    probes: Probes,
    topic_prefix: str,
    seconds: float,
    lag: Callable[[], tuple[int, int]],
    worker: list[Any],
    rate: float,
) -> tuple[float, float, str]:
    """Send the fleet's messages as their times come; once the worker keeps up (or after
    WARM_UP_MAX_S), the probes' too for ``seconds``, and the fleet's for SETTLE_S more.
    Returns the events/s sent while the probes ran, the worker's CPU (cores) meanwhile, and
    how the warm-up ended."""
    from bench.run import proc_cpu, produce

    begun = time.monotonic()
    checked, due, sent_from_t0, cpu_from_t0 = 0.0, 0, 0, 0.0
    schedule: list[tuple[int, Callable[[int], tuple[str, str, bytes]]]] = []
    end: float | None = None
    warm_up = ""
    nxt = next(fleet_messages, None)
    while True:
        now = _now_ms()
        while nxt is not None and nxt[0] <= now:
            at, topic, key, value = nxt
            produce(producer, topic, key, value, at)  # the simulator's topics carry the run's prefix
            sent_from_t0 += 1
            nxt = next(fleet_messages, None)
        while due < len(schedule) and schedule[due][0] <= now:
            action, charger, value = schedule[due][1](now)
            produce(producer, f"{topic_prefix}ocpp.{action}", charger.encode(), value, now)
            sent_from_t0 += 1
            due += 1
        producer.poll(0)
        mono = time.monotonic()
        if mono - checked >= 1.0:
            checked = mono
            if any(p.poll() is not None for p in worker):
                raise RuntimeError("the worker exited during the latency run")
            if not schedule:
                done, total = lag()
                caught_up = mono - begun >= 15 and total - done < max(100, rate)
                if caught_up or mono - begun >= WARM_UP_MAX_S:
                    warm_up = (
                        f"caught up after {mono - begun:.0f} s"
                        if caught_up
                        else f"not caught up after {WARM_UP_MAX_S:.0f} s ({total - done:,} records behind)"
                    )
                    schedule, sent_from_t0 = probes.schedule(now, seconds), 0
                    cpu_from_t0 = sum(proc_cpu(p.pid) for p in worker)
                    end = time.monotonic() + seconds
            elif end is not None and mono >= end + SETTLE_S:
                cpu = sum(proc_cpu(p.pid) for p in worker) - cpu_from_t0
                return sent_from_t0 / (seconds + SETTLE_S), cpu / (seconds + SETTLE_S), warm_up
        time.sleep(0.002)
