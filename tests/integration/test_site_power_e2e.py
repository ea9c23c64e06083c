"""Site power end to end on the real services, against an independent reference.

A scripted trace (tests/trace.py) of four sites, 1.6 and 2.0.1 chargers, per-phase and
energy-only meters, kW units, duplicates, out-of-order and late readings and malformed
messages goes to Kafka once. Three independent runs read it, each with its own consumer
group, repartition topic, derived topic and keyspace: one worker; the same again (a
replay into a fresh keyspace, keeping one charger's state decoded between messages, so
that the others are decoded again from their bytes); and two workers sharing the four
partitions. Every run
must give the same rows, and those must equal a simple reference calculation.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer

from tests import trace as tr
from tests.waiting import wait_for
from tests.workers import Worker, delete_topics, metric_sum, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
BUCKET = 60_000
GRACE_S = 60
HOLD_MS = 120_000


# --- the reference: interpolated registers and held power, nothing shared with agents/ ---


def _series(readings: list[tr.Reading]) -> dict[str, list[tr.Reading]]:
    out: dict[str, list[tr.Reading]] = defaultdict(list)
    for r in sorted(readings, key=lambda r: r.ts_ms):
        if not r.late:
            out[r.evse_key].append(r)
    return out


def _energy_at(rs: list[tr.Reading], t: int) -> float:
    times = [r.ts_ms for r in rs]
    i = bisect_right(times, t)
    if i == 0:
        return rs[0].energy_wh
    if i == len(rs):
        return rs[-1].energy_wh
    a, b = rs[i - 1], rs[i]
    return a.energy_wh + (b.energy_wh - a.energy_wh) * (t - a.ts_ms) / (b.ts_ms - a.ts_ms)


def _powers(rs: list[tr.Reading]) -> list[tuple[int, float]]:
    out = []
    for prev, r in zip([None, *rs], rs, strict=False):
        if r.power_w is not None:
            out.append((r.ts_ms, r.power_w))
        elif prev is not None and 10_000 <= r.ts_ms - prev.ts_ms <= 300_000:
            out.append((r.ts_ms, (r.energy_wh - prev.energy_wh) * 3_600_000 / (r.ts_ms - prev.ts_ms)))
    return out


def reference(trace: tr.Trace) -> dict[tuple[str, int], dict[str, float]]:
    series = _series(trace.readings)
    by_site: dict[str, list[str]] = defaultdict(list)
    for evse_key in series:
        by_site[tr.SITES[evse_key.split("/")[0]]].append(evse_key)
    expected = {}
    for site, evses in by_site.items():
        first = min(series[e][0].ts_ms for e in evses) // BUCKET * BUCKET
        last = max(series[e][-1].ts_ms for e in evses) // BUCKET * BUCKET
        for b in range(first, last + BUCKET, BUCKET):
            active = [e for e in evses if series[e][0].ts_ms // BUCKET * BUCKET <= b <= series[e][-1].ts_ms]
            energy = sum(_energy_at(series[e], b + BUCKET) - _energy_at(series[e], b) for e in active)
            times = sorted({r.ts_ms for e in active for r in series[e] if b <= r.ts_ms < b + BUCKET})
            peak = max((sum(_held(_powers(series[e]), t) for e in active) for t in times), default=0.0)
            expected[(site, b)] = {
                "energy_wh": energy,
                "mean_power_w": energy * 60,
                "peak_power_w": peak,
                "connectors_reporting": sum(
                    1 for e in active if any(b <= r.ts_ms < b + BUCKET for r in series[e])
                ),
            }
    return expected


def _held(powers: list[tuple[int, float]], t: int) -> float:
    before = [w for ts, w in powers if ts <= t and t - ts <= HOLD_MS]
    return before[-1] if before else 0.0


# --- plumbing -------------------------------------------------------------------------


@pytest.fixture
def run_env(kafka_bootstrap: str, unique_name: str) -> Iterator[Callable[[str], dict[str, str]]]:
    """Settings for one run; input and registry topics are shared by all runs of the test."""
    u = unique_name

    def env(run: str) -> dict[str, str]:
        settings = {
            "CHARGESTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CHARGESTREAM_APP_ID": f"{u}_{run}",
            "CHARGESTREAM_METER_TOPICS": f"{u}.ocpp.MeterValues,{u}.ocpp.TransactionEvent",
            "CHARGESTREAM_REGISTRY_TOPIC": f"{u}.chargers",
            "CHARGESTREAM_STATUS_TOPICS": f"{u}.ocpp.StatusNotification,{u}.ocpp.Heartbeat",
            "CHARGESTREAM_TICKS_TOPIC": f"{u}.{run}.ticks",
            "CHARGESTREAM_ALERTS_TOPIC": f"{u}.{run}.alerts",
            "CHARGESTREAM_SITE_CONTRIBUTIONS_TOPIC": f"{u}.{run}.contributions",
            "CHARGESTREAM_SITE_POWER_TOPIC": f"{u}.{run}.site.power",
            "CHARGESTREAM_CASSANDRA_KEYSPACE": f"{u}_{run}",
            "CHARGESTREAM_TOPIC_PARTITIONS": "4",
            "CHARGESTREAM_GRACE_SECONDS": str(GRACE_S),
            "CHARGESTREAM_IDLE_PARTITION_SECONDS": "3",
            "CHARGESTREAM_WATERMARK_INTERVAL_SECONDS": "0.5",
        }
        if run == "replay":  # one charger kept decoded: nearly every message decodes its
            # charger's state and status again from the table's bytes, changing nothing
            settings["CHARGESTREAM_DECODED_CHARGERS"] = "1"
        return settings

    yield env
    delete_topics(kafka_bootstrap, u)


def _produce(bootstrap: str, trace: tr.Trace, env: dict[str, str]) -> None:
    prefix = env["CHARGESTREAM_METER_TOPICS"].split(".ocpp.")[0]
    # Kafka's Java partitioner (murmur2), the one Faust's client uses: keys land where its tables are.
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "message.max.bytes": 2_000_000}
    )
    for charger, (site, connectors) in tr.REGISTRY.items():
        producer.produce(
            env["CHARGESTREAM_REGISTRY_TOPIC"],
            key=charger.encode(),
            value=orjson.dumps({"site_id": site, "connectors": connectors}),
        )
    for topic, key, value in trace.messages:
        producer.produce(f"{prefix}.{topic}", key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def _rows(session: Any, keyspace: str, table: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in session.execute(f"SELECT * FROM {keyspace}.{table}"))


def _run(env: dict[str, str], tmp: Path, workers: int, session: Any, expected: set[tuple[str, int]]) -> str:
    """Run until every expected bucket is final; return the (first) worker's metrics."""
    ws = [Worker(env, tmp / f"{env['CHARGESTREAM_APP_ID']}-{i}") for i in range(workers)]
    keyspace = env["CHARGESTREAM_CASSANDRA_KEYSPACE"]
    missing: set[tuple[str, int]] = set(expected)
    try:

        def all_final() -> bool:
            for w in ws:
                w.check_alive()
            rows = session.execute(f"SELECT site_id, bucket_start, final FROM {keyspace}.site_power_1m")
            seen = {(r.site_id, int(r.bucket_start.timestamp() * 1000)): r.final for r in rows}
            missing.clear()
            missing.update(k for k in expected if not seen.get(k))
            return not missing

        try:
            wait_for(all_final, 240, f"final site buckets in {keyspace}", interval=1)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; missing {sorted(missing)[:10]} ({len(missing)} of "
                f"{len(expected)}); worker log:\n{ws[0].log()}"
            ) from None
        time.sleep(2)  # let in-flight history writes land before rows are compared
        return ws[0].metrics()
    finally:
        for w in ws:
            w.stop()


def _derived(bootstrap: str, topic: str) -> dict[tuple[str, int], dict[str, Any]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": topic + ".check", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    finals: dict[tuple[str, int], dict[str, Any]] = {}
    deadline, quiet_since = time.monotonic() + 60, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 5:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        quiet_since = time.monotonic()
        rec = orjson.loads(msg.value() or b"{}")
        assert msg.key() == rec["site_id"].encode()
        if rec["final"]:
            start = tr_ms(rec["bucket_start"])
            finals[(rec["site_id"], start)] = rec
    consumer.close()
    return finals


def tr_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _dead_letters(bootstrap: str, topic: str, n: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": topic + ".check", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes, dict[str, bytes]]] = []

    def poll() -> bool:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            raw = msg.headers() or []
            pairs = raw.items() if isinstance(raw, dict) else raw
            headers = {k: v for k, v in pairs if isinstance(v, bytes)}
            got.append((msg.value() or b"", headers))
        return len(got) >= n

    try:
        wait_for(poll, 60, f"{n} dead letters on {topic}", interval=0)
    finally:
        consumer.close()
    return got


# --- the test -------------------------------------------------------------------------


def test_site_power_matches_reference_replays_identically_and_scales_out(
    kafka_bootstrap: str, cassandra_session: Any, run_env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    t0 = (int(time.time() * 1000) - 40 * 60_000) // BUCKET * BUCKET  # 40 minutes ago, on a minute
    trace = tr.build(t0)
    expected = reference(trace)
    runs = {"one": 1, "replay": 1, "two": 2}
    for run in runs:
        run_cli(run_env(run), "agents.migrate")
    _produce(kafka_bootstrap, trace, run_env("one"))

    keyspaces = {run: run_env(run)["CHARGESTREAM_CASSANDRA_KEYSPACE"] for run in runs}
    try:
        exposition = {
            run: _run(run_env(run), tmp_path, workers, cassandra_session, set(expected))
            for run, workers in runs.items()
        }

        # 1. Cassandra site buckets equal the reference within 0.1 %.
        rows = {
            (r.site_id, int(r.bucket_start.timestamp() * 1000)): r
            for r in cassandra_session.execute(f"SELECT * FROM {keyspaces['one']}.site_power_1m")
        }
        assert set(rows) == set(expected)
        for key, want in expected.items():
            row = rows[key]
            assert row.final, key
            for field, value in want.items():
                assert getattr(row, field) == pytest.approx(value, rel=1e-3, abs=0.01), (key, field)
        assert rows[("SITE-A", t0 + 5 * BUCKET)].connectors_total == 3
        assert rows[("unassigned", t0 + 5 * BUCKET)].connectors_total is None

        # 2. The derived topic's final records say the same.
        finals = _derived(kafka_bootstrap, run_env("one")["CHARGESTREAM_SITE_POWER_TOPIC"])
        assert set(finals) == set(expected)
        for key, want in expected.items():
            for field, value in want.items():
                assert finals[key][field] == pytest.approx(value, rel=1e-3, abs=0.01), (key, field)

        # 3. History: every unique reading once (duplicates counted once), the late one flagged.
        samples = cassandra_session.execute(
            f"SELECT charger_id, evse_id, ts, late, power_w FROM {keyspaces['one']}.evse_samples"
        )
        history = {(s.charger_id, s.evse_id, int(s.ts.timestamp() * 1000)): s for s in samples}
        truth = {(r.evse_key.split("/")[0], int(r.evse_key.split("/")[1]), r.ts_ms) for r in trace.readings}
        assert set(history) == truth
        late = history[("CP-C1", 1, t0 + 185_000)]
        assert late.late and late.power_w == 4321

        # 4. Every malformed message is dead-lettered with its original bytes and reason.
        prefix = run_env("one")["CHARGESTREAM_METER_TOPICS"].split(",")[0]
        letters = _dead_letters(kafka_bootstrap, prefix + ".dlq", len(trace.malformed))
        assert sorted((v, h["chargestream.dlq.reason"].decode()) for v, h in letters) == sorted(
            trace.malformed
        )
        assert all(h["chargestream.dlq.topic"] == prefix.encode() for _, h in letters)
        for _, reason in trace.malformed:  # ... and counted, by reason, in the worker's metrics
            line = f'chargestream_dead_letters_total{{reason="{reason}",topic="{prefix}"}} 1.0'
            assert line in exposition["one"], line

        # ... and the events' latency is that of the events processed, not of the duplicates
        # (a re-send carries its first copy's received_at) nor the dead letters.
        page = exposition["one"]
        assert metric_sum(page, "chargestream_events_total", 'outcome="duplicate"') > 0
        processed = metric_sum(page, "chargestream_events_total", 'outcome="processed"') + metric_sum(
            page, "chargestream_events_total", 'outcome="ignored"'
        )
        assert metric_sum(page, "chargestream_event_latency_seconds_count") == processed

        # 5. A replay into a fresh keyspace, and two workers, give identical rows.
        for table in ("site_power_1m", "evse_samples"):
            baseline = _rows(cassandra_session, keyspaces["one"], table)
            for run in ("replay", "two"):
                assert _rows(cassandra_session, keyspaces[run], table) == baseline, (run, table)
    finally:
        for ks in keyspaces.values():
            if not os.environ.get("CHARGESTREAM_TEST_KEEP_KEYSPACES"):  # set it to look at a failure's rows
                cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {ks}")
