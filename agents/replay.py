"""`chargestream replay`: re-process the input of a time range (or from given offsets) into
a chosen keyspace, beside the live pipeline and without disturbing it.

The replay runs a worker under its own consumer group (`<app id>-<name>`), with its own
derived and internal topics (`<topic>.<name>`) and keyspace, and no Alertmanager (a replay
never pages). Its group starts at the offsets of `--from` (or those given); input received
after `--to` is skipped. When the group has passed the end offsets and the last windows
have closed, the worker is stopped. Results are the same as the live run's for the same
input: the pipeline is deterministic in event time (see README, "What you can rely on").
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Settings, get_settings, renamed_topics
from .kafka_clients import confluent_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keyspace", required=True, help="Cassandra keyspace for the results (created)")
    p.add_argument("--from", dest="since", help="ISO-8601: input received from this time (default: all)")
    p.add_argument("--to", dest="until", help="ISO-8601: input received up to this time (default: now)")
    p.add_argument("--offsets", help="start here instead of --from: TOPIC:PARTITION:OFFSET,...")
    p.add_argument("--name", help="replay name: consumer group and topic suffix (default replay-<keyspace>)")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")


def _ms(iso: str | None, default: int) -> int:
    if not iso:
        return default
    parsed = datetime.fromisoformat(iso)
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)


def replay_env(s: Settings, name: str, keyspace: str, until_ms: int) -> dict[str, str]:
    env = {
        "CHARGESTREAM_APP_ID": f"{s.app_id}-{name}",
        "CHARGESTREAM_CASSANDRA_KEYSPACE": keyspace,
        "CHARGESTREAM_ALERTMANAGER_URL": "",
        "CHARGESTREAM_INPUT_UNTIL_MS": str(until_ms),
        "CHARGESTREAM_DATA_DIR": str(Path(s.data_dir).parent / name),
        "CHARGESTREAM_WEB_PORT": str(_free_port()),  # beside a live worker on the same host
        **renamed_topics(s, lambda t: f"{t}.{name}"),
    }
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer, TopicPartition

    s = get_settings()
    name = args.name or f"replay-{args.keyspace}"
    now = int(time.time() * 1000)
    since, until = _ms(args.since, 0), _ms(args.until, now)
    env = {**os.environ, **replay_env(s, name, args.keyspace, until)}
    inputs = [*s.meter_topics, *s.status_topics]
    subprocess.run([sys.executable, "-m", "agents", "migrate"], env=env, check=True, timeout=300)

    group = Consumer(
        confluent_config(s, {"group.id": env["CHARGESTREAM_APP_ID"], "enable.auto.commit": False})
    )
    try:
        meta = group.list_topics(timeout=s.kafka_timeout_seconds)
        tps = [TopicPartition(t, p) for t in inputs for p in sorted(meta.topics[t].partitions)]
        start = _start_offsets(group, tps, since, args.offsets, s.kafka_timeout_seconds)
        group.commit(offsets=start, asynchronous=False)
        end = _end_offsets(group, tps, until, s.kafka_timeout_seconds)
        total = sum(max(0, end[(tp.topic, tp.partition)] - tp.offset) for tp in start)
        print(f"replay {name}: {total:,} input records into keyspace {args.keyspace}", file=sys.stderr)
        worker = subprocess.Popen(
            [sys.executable, "-m", "agents", "worker", "--loglevel", "warn"], env=env, start_new_session=True
        )
        try:
            _wait(group, start, end, total=total, worker=worker, timeout=args.timeout)
            # Input after `--to` is skipped, so partitions fall idle: their watermarks then move
            # on the clock and the last buckets and windows close.
            time.sleep(s.idle_partition_seconds + s.watermark_interval_seconds * 3 + 5)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(60)
    finally:
        group.close()
    print(f"replay {name}: done", file=sys.stderr)
    return 0


def _start_offsets(group: Any, tps: list[Any], since: int, spec: str | None, timeout: float) -> list[Any]:
    from confluent_kafka import TopicPartition

    if spec:
        given = {}
        for item in spec.split(","):
            topic, partition, offset = item.rsplit(":", 2)
            given[(topic, int(partition))] = int(offset)
        return [TopicPartition(tp.topic, tp.partition, given.get((tp.topic, tp.partition), 0)) for tp in tps]
    found = group.offsets_for_times([TopicPartition(tp.topic, tp.partition, since) for tp in tps], timeout)
    out = []
    for tp in found:
        if tp.offset < 0:  # nothing at or after `since`: start at the end
            _, high = group.get_watermark_offsets(tp, timeout)
            out.append(TopicPartition(tp.topic, tp.partition, high))
        else:
            out.append(tp)
    return out


def _end_offsets(group: Any, tps: list[Any], until: int, timeout: float) -> dict[tuple[str, int], int]:
    from confluent_kafka import TopicPartition

    found = group.offsets_for_times(
        [TopicPartition(tp.topic, tp.partition, until + 1) for tp in tps], timeout
    )
    out = {}
    for tp in found:
        _, high = group.get_watermark_offsets(tp, timeout)
        out[(tp.topic, tp.partition)] = high if tp.offset < 0 else tp.offset
    return out


def _wait(
    group: Any, start: list[Any], end: dict[tuple[str, int], int], *, total: int, worker: Any, timeout: float
) -> None:
    """Until the replay's group has committed past every end offset."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the replay worker exited with {worker.returncode}")
        committed = group.committed(start, timeout=10)
        left = sum(max(0, end[(tp.topic, tp.partition)] - max(tp.offset, 0)) for tp in committed)
        print(f"replay: {total - left:,} / {total:,}", file=sys.stderr)
        if left == 0:
            return
        time.sleep(2)
    raise TimeoutError(f"replay not done after {timeout:.0f} s")
