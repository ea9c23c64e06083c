"""`python -m bench.steady_state`: stage 1's per-charger state once it has filled, which
the pre-loaded runs of bench.run never reach.

bench.run's input gives each connector ~10-20 readings (100,000 events over 10,000
connectors), but an EVSE sampled every 10 s keeps adding readings to its series until
pruning holds it steady, after several minutes of event time. This feeds the simulator's
messages for a simulated hour through the pure stage-1 domain (decode, validate,
readings, apply_meter_message; no Kafka, no Cassandra) and reports, at the end: the
readings held per EVSE, message ids held per charger, the encoded state (what each commit
writes to the changelog) and the decoded state on the Python heap (what the worker holds),
per connector, and the domain's CPU per message.

Then the same messages, status ones too, as a charger beyond ``decoded_chargers`` costs
stage 1 (its state read from bytes at each message): each message's whole domain path
(decode, validate, liveness and status, readings, apply) between decoding the charger's
meter state and status and encoding them again, per message.

Then stage 2's per-connector part, the availability timeline, the same way: a site's
ports through ``--timeline-hours`` of event time (a status change every ~20 minutes a
connector, folded every minute as the watermark passes), then its encoded and decoded size
per connector and the fold's CPU per connector and minute.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

from agents.codec import (
    SiteEntry,
    decode_charger,
    decode_site,
    decode_status,
    encode_charger,
    encode_site,
    encode_status,
)
from agents.config import get_settings
from agents.domain import envelope, meter, validation
from agents.domain.alerts import AlertRules
from agents.domain.buckets import BucketRules
from agents.domain.charger import ChargerState, apply_meter_message
from agents.domain.charger_status import due_notices, new_status, on_fault, on_message, on_status
from agents.domain.site_timeline import FoldRules, SiteTimeline, fold, record_status
from agents.domain.status import StatusClass, fault_events, status_events
from agents.simulator import SimConfig, messages

T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chargers", type=int, default=120)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--timeline-hours", type=float, default=26.0)
    args = p.parse_args(argv)
    stage_one(args)
    cold(args)
    timeline(args.chargers, args.timeline_hours, args.seed)
    return 0


def _fleet(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        sites=max(1, args.chargers // 10),
        chargers_per_site=min(10, args.chargers),
        seed=args.seed,
        start_ms=1_764_892_800_000,
        duration_s=args.minutes * 60,
        idle_minutes=(0.1, 5.0),
        session_minutes=(20.0, 120.0),
    )


def stage_one(args: argparse.Namespace) -> None:
    cfg = _fleet(args)
    rules = BucketRules()
    meter_topics = get_settings().meter_topics  # the simulator's topics are the defaults
    states: dict[str, ChargerState] = {}
    watermark, handled, cpu = 0, 0, 0.0
    for _, topic, _, value in messages(cfg):
        if topic not in meter_topics:
            continue
        env = envelope.decode(value, 1 << 20)
        if not isinstance(env, envelope.Envelope) or not isinstance(validation.validate(env), list):
            continue
        started = time.process_time()
        readings = meter.readings(env)
        if readings:
            watermark = max(watermark, env.received_at_ms)
            _apply(states.setdefault(env.charger_id, ChargerState()), env, readings, watermark, rules)
            handled += 1
        cpu += time.process_time() - started
    encoded = [encode_charger(s) for s in states.values()]
    decoded, heap = _decoded(lambda: [decode_charger(raw) for raw in encoded])
    connectors = sum(len(s.evses) for s in decoded)
    held = [len(e.points) for s in decoded for e in s.evses.values()]
    print(
        f"{len(states)} chargers, {connectors} EVSEs, {args.minutes:g} simulated minutes, "
        f"{handled:,} meter messages"
    )
    print(f"readings held per EVSE: mean {statistics.mean(held):.1f}")
    print(f"message ids held per charger: mean {statistics.mean(len(s.messages) for s in decoded):.1f}")
    print(f"encoded state per connector: {sum(map(len, encoded)) / connectors:,.0f} bytes")
    print(f"decoded state per connector (Python heap): {heap / connectors:,.0f} bytes")
    print(f"stage-1 domain CPU per meter message: {cpu / handled * 1e6:.0f} us")


def cold(args: argparse.Namespace) -> None:
    """Every message with its charger's state held encoded only, as for a charger beyond
    ``decoded_chargers``: decoded before the message, encoded after."""
    rules, alert_rules = BucketRules(), AlertRules()
    meters: dict[str, bytes] = {}
    statuses: dict[str, bytes] = {}
    watermark, handled = 0, 0
    started = time.process_time()
    for _, _, _, value in messages(_fleet(args)):
        env = envelope.decode(value, 1 << 20)
        if not isinstance(env, envelope.Envelope) or not isinstance(validation.validate(env), list):
            continue
        handled += 1
        cid = env.charger_id
        s = decode_status(statuses.get(cid), cid) or new_status("S", env.received_at_ms, None)
        on_message(s, cid, env.received_at_ms, alert_rules)
        for e in status_events(env):
            on_status(s, e, alert_rules)
        for f in fault_events(env):
            on_fault(s, f, alert_rules)
        due_notices(s, env.received_at_ms, alert_rules)
        statuses[cid] = encode_status(s)
        readings = meter.readings(env)
        if readings:
            watermark = max(watermark, env.received_at_ms)
            state = decode_charger(meters.get(cid))
            _apply(state, env, readings, watermark, rules)
            meters[cid] = encode_charger(state)
    cpu = time.process_time() - started
    print(f"stage-1 domain CPU per message, state decoded and encoded at each: {cpu / handled * 1e6:.0f} us")


def _apply(
    state: ChargerState,
    env: envelope.Envelope,
    readings: list[meter.MeterReading],
    watermark: int,
    rules: BucketRules,
) -> None:
    apply_meter_message(
        state,
        readings,
        message_id=env.message_id,
        received_at_ms=env.received_at_ms,
        site_id="S",
        watermark_ms=watermark,
        rules=rules,
    )


def timeline(chargers: int, hours: float, seed: int) -> None:
    """Sites of ten chargers with two connectors each; every open window filled (a day
    and more of event time closes the longest once), months summed."""
    rng = random.Random(seed)
    sites = [SiteTimeline() for _ in range(max(1, chargers // 10))]
    ports = [(tl, f"C{i}-{n}", f"1/{c}") for i, tl in enumerate(sites) for n in range(10) for c in (1, 2)]
    classes = [c for c in StatusClass if c is not StatusClass.UNKNOWN]  # derived, never reported
    start, minute = 1_764_892_800_000, 60_000
    for tl, charger, connector in ports:
        record_status(tl, charger, connector, start, StatusClass.AVAILABLE)
    rules, cpu, folds = FoldRules(), 0.0, 0
    for m in range(1, int(hours * 60) + 1):
        now = start + m * minute
        for tl, charger, connector in ports:
            if rng.random() < 1 / 20:
                record_status(tl, charger, connector, now - rng.randrange(minute), rng.choice(classes))
        started = time.process_time()
        for tl in sites:
            fold(tl, now - minute, rules)  # the watermark less a grace of a minute
        cpu += time.process_time() - started
        folds += len(ports)
    encoded = [encode_site(SiteEntry(timeline=tl)) for tl in sites]
    _, heap = _decoded(lambda: [decode_site(raw, "S").timeline for raw in encoded])
    print(f"availability timeline: {len(ports)} connectors, {hours:g} hours of event time")
    print(f"encoded timeline per connector: {sum(map(len, encoded)) / len(ports):,.0f} bytes")
    print(f"decoded timeline per connector (Python heap): {heap / len(ports):,.0f} bytes")
    print(f"fold CPU per connector and minute: {cpu / folds * 1e6:.1f} us")


def _decoded(decode: Callable[[], list[T]]) -> tuple[list[T], int]:
    """What ``decode`` returns, and the heap it holds (tracemalloc)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    values = decode()
    heap = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return values, heap


if __name__ == "__main__":
    raise SystemExit(main())
