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
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from agents.codec import decode_charger, encode_charger
from agents.config import get_settings
from agents.domain import envelope, meter, validation
from agents.domain.buckets import BucketRules
from agents.domain.charger import ChargerState, apply_meter_message
from agents.simulator import SimConfig, messages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chargers", type=int, default=120)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    cfg = SimConfig(
        sites=max(1, args.chargers // 10),
        chargers_per_site=min(10, args.chargers),
        seed=args.seed,
        start_ms=1_764_892_800_000,
        duration_s=args.minutes * 60,
        idle_minutes=(0.1, 5.0),
        session_minutes=(20.0, 120.0),
    )
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
            apply_meter_message(
                states.setdefault(env.charger_id, ChargerState()),
                readings,
                message_id=env.message_id,
                received_at_ms=env.received_at_ms,
                site_id="S",
                watermark_ms=watermark,
                rules=rules,
            )
            handled += 1
        cpu += time.process_time() - started
    encoded = [encode_charger(s) for s in states.values()]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    decoded = [decode_charger(raw) for raw in encoded]
    heap = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
