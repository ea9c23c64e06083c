"""`chargestream simulate`: the simulated fleet (agents/simulator.py) onto the input topics.

Live by default: event time is the wall clock and each message is sent when its time
comes (after an optional backfill of history, sent at once). `--fast` sends a whole
simulated period as fast as the broker takes it (benchmarks). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from .config import Settings, get_settings
from .kafka_clients import confluent_config
from .simulator import SimConfig, Truth, chargers, messages


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sites", type=int, default=5, help="number of sites (default 5)")
    p.add_argument("--chargers", type=int, default=4, help="chargers per site (default 4)")
    p.add_argument("--seed", type=int, default=1, help="the same seed sends the same messages (default 1)")
    p.add_argument(
        "--duration", type=float, default=60.0, help="simulated seconds after the start (default 60)"
    )
    p.add_argument("--backfill-minutes", type=float, default=0.0, help="history before now, sent at once")
    p.add_argument("--start", help="ISO-8601 start of event time (with --fast; default: now - duration)")
    p.add_argument("--fast", action="store_true", help="send everything as fast as possible (no live pacing)")
    p.add_argument("--rate", type=float, default=0.0, help="cap in messages per second (0: no cap)")
    p.add_argument("--heartbeat-interval", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--sample-interval", type=float, default=10.0, help="meter values while charging (s)")
    p.add_argument("--faults-per-hour", type=float, default=0.5, help="per charger (default 0.5)")
    p.add_argument("--offline-per-hour", type=float, default=0.2, help="per charger (default 0.2)")
    p.add_argument("--offline-minutes", type=_span, default=(2.0, 15.0), help="MIN,MAX length of a silence")
    p.add_argument("--fault-minutes", type=_span, default=(1.0, 10.0), help="MIN,MAX length of a fault")
    p.add_argument("--malformed-share", type=float, default=0.002, help="share of malformed messages")
    p.add_argument("--no-registry", action="store_true", help="do not publish the chargers to the registry")
    p.add_argument("--truth", type=Path, help="write the ground truth (JSON) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _span(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def config_from(args: argparse.Namespace, now_ms: int) -> SimConfig:
    if args.fast:
        start = (
            int(datetime.fromisoformat(args.start).timestamp() * 1000)
            if args.start
            else now_ms - int(args.duration * 1000)
        )
        duration = args.duration
    else:
        start = now_ms - int(args.backfill_minutes * 60_000)
        duration = args.duration + args.backfill_minutes * 60
    return SimConfig(
        sites=args.sites,
        chargers_per_site=args.chargers,
        seed=args.seed,
        start_ms=start,
        duration_s=duration,
        sample_interval_s=args.sample_interval,
        heartbeat_interval_s=args.heartbeat_interval,
        faults_per_hour=args.faults_per_hour,
        offline_per_hour=args.offline_per_hour,
        offline_minutes=args.offline_minutes,
        fault_minutes=args.fault_minutes,
        share_malformed=args.malformed_share,
    )


def topic_map(s: Settings) -> dict[str, str]:
    """OCPP action -> the configured input topic whose name ends in `ocpp.<action>`."""
    out = {}
    for topic in (*s.meter_topics, *s.status_topics):
        action = topic.rsplit(".", 1)[-1]
        out[action] = topic
    return out


class Progress:
    """A progress line on stderr: redrawn on a terminal, a line every 5 s in logs."""

    def __init__(self, total_ms: int, quiet: bool) -> None:
        self.total_ms, self.quiet = max(1, total_ms), quiet
        self.tty = sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def show(self, done_ms: int, sent: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self.last < (0.5 if self.tty else 5.0)):
            return
        self.last = now
        share = min(1.0, done_ms / self.total_ms)
        bar = "#" * int(share * 30)
        rate = sent / max(1e-9, now - self.started)
        line = f"simulate [{bar:<30}] {share:4.0%}  {sent:>10,} messages  {rate:>9,.0f}/s"
        print(("\r" + line) if self.tty else line, end="\n" if final or not self.tty else "", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException, Producer

    s = get_settings()
    cfg = config_from(args, int(time.time() * 1000))
    topics = topic_map(s)
    producer = Producer(
        confluent_config(
            s,
            {
                "partitioner": "murmur2_random",  # Kafka's Java partitioner: where Faust looks for a key
                "linger.ms": 20,
                # No compression: the worker's client (aiokafka) reads lz4/snappy/zstd only with extras.
                "enable.idempotence": True,
                "message.timeout.ms": int(s.kafka_timeout_seconds * 1000 * 3),
            },
        )
    )
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    if not args.no_registry:
        for ch in chargers(cfg):
            entry = {
                "site_id": ch.site,
                "connectors": ch.evses,
                "heartbeat_interval_s": cfg.heartbeat_interval_s,
            }
            producer.produce(
                s.registry_topic, key=ch.id.encode(), value=orjson.dumps(entry), on_delivery=delivered
            )
    truth = Truth()
    skipped: Counter[str] = Counter()
    progress = Progress(int(cfg.duration_s * 1000), args.quiet)
    sent = 0
    started = time.monotonic()
    try:
        for at, action_topic, key, value in messages(cfg, truth):
            topic = topics.get(action_topic.rsplit(".", 1)[-1])
            if topic is None:
                skipped[action_topic] += 1
                continue
            _pace(producer, at, live=not args.fast, rate=args.rate, sent=sent, started=started)
            _produce(producer, topic, key, value, at_ms=at, delivered=delivered)
            sent += 1
            progress.show(at - cfg.start_ms, sent)
    except KeyboardInterrupt:
        print("\nsimulate: interrupted; flushing what was sent", file=sys.stderr)
        raise  # the caller (a demo, a shell) stops too
    finally:
        left = producer.flush(s.kafka_timeout_seconds * 3)
        progress.show(int(cfg.duration_s * 1000), sent, final=True)
    if args.truth:
        args.truth.write_bytes(truth.to_json())
    if skipped:
        print(f"simulate: no input topic configured for {dict(skipped)}; not sent", file=sys.stderr)
    if left or failures:
        raise KafkaException(f"{left} messages undelivered, {len(failures)} failed: {failures[:3]}")
    print(f"simulate: {sent:,} messages sent to {s.kafka_bootstrap}", file=sys.stderr)
    return 0


def _pace(producer: Any, at_ms: int, *, live: bool, rate: float, sent: int, started: float) -> None:
    """Live: wait for the message's time. A rate cap: wait for the message's turn."""
    wait = at_ms / 1000 - time.time() if live else 0.0
    if rate > 0:
        wait = max(wait, sent / rate - (time.monotonic() - started))
    if wait > 0:
        producer.poll(0)
        time.sleep(wait)


def _produce(producer: Any, topic: str, key: bytes, value: bytes, *, at_ms: int, delivered: Any) -> None:
    """The record's timestamp is its receipt time, as a CSMS forwarding it would set it."""
    while True:
        try:
            producer.produce(topic, key=key, value=value, timestamp=at_ms, on_delivery=delivered)
            return
        except BufferError:  # the local queue is full: let it drain (backpressure)
            producer.poll(0.05)
