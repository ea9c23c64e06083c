"""Stage 1 forgets the readings no open bucket needs, and answers as if it had kept them,
also when the watermark steps back within PRUNE_MARGIN_MS."""

from __future__ import annotations

from agents.codec import decode_charger, encode_charger
from agents.domain.buckets import BUCKET_MS, BucketRules
from agents.domain.charger import PRUNE_MARGIN_MS, ChargerState, MeterUpdate, apply_meter_message
from agents.domain.meter import MeterReading
from agents.domain.power import EvseSeries, Point

RULES = BucketRules()
T0 = 1_795_521_600_000
S = 1000


def reading(t_s: int, *, received_s: int | None = None) -> MeterReading:
    values = {"energy_wh": 1000 + 2.0 * t_s, "power_w": 7200.0 + (t_s % 70)}
    received = T0 + (t_s if received_s is None else received_s) * S
    return MeterReading("C", 1, 1, T0 + t_s * S, received, "T1", "Sample.Periodic", values)


def apply(state: ChargerState, r: MeterReading, watermark_ms: int) -> MeterUpdate:
    return apply_meter_message(
        state,
        [r],
        message_id=None,
        received_at_ms=r.received_at_ms,
        site_id="S",
        watermark_ms=watermark_ms,
        rules=RULES,
    )


def test_a_long_series_keeps_what_its_open_buckets_need_and_answers_the_same() -> None:
    state = ChargerState()
    readings = [reading(t) for t in range(0, 30 * 60, 10)]
    for r in readings:
        apply(state, r, r.received_at_ms)
    kept = len(state.evses[1].points)
    assert kept < 60  # ~18 minutes of readings (108) before the window was pruned
    everything = ChargerState(
        evses={1: EvseSeries({p.ts_ms: p for p in map(Point.of, readings)})}, tx_evse=dict(state.tx_evse)
    )
    watermark = readings[-1].received_at_ms
    for step_back in (0, PRUNE_MARGIN_MS // 2, PRUNE_MARGIN_MS):
        # A reading in the oldest bucket still open at a watermark that stepped back.
        at = watermark - step_back
        oldest_open = (at - BUCKET_MS - RULES.grace_ms) // BUCKET_MS * BUCKET_MS + BUCKET_MS
        late = reading((oldest_open - T0) // S + 5, received_s=(watermark - T0) // S + 1)
        # Copies through the codec, as the worker holds them (compiled classes do not deepcopy).
        pruned = apply(decode_charger(encode_charger(state)), late, at)
        full = apply(decode_charger(encode_charger(everything)), late, at)
        assert pruned.contributions and pruned.samples[0].power is not None
        assert (pruned.samples, pruned.revisions, pruned.contributions) == (
            full.samples,
            full.revisions,
            full.contributions,
        )
