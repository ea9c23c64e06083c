"""The stage-1 domain path as one pure function, for the property tests and the fuzzer:
an input is accepted, or rejected with a dead-letter reason; anything else is a bug."""

from __future__ import annotations

import math

from agents.domain.alerts import AlertRules
from agents.domain.buckets import BucketRules
from agents.domain.charger import ChargerState, apply_meter_message
from agents.domain.charger_status import new_status, on_fault, on_message, on_status
from agents.domain.envelope import decode
from agents.domain.errors import Reason, Rejected
from agents.domain.meter import readings
from agents.domain.site_timeline import SiteTimeline, record_status
from agents.domain.status import fault_events, status_events
from agents.domain.validation import validate

OUTCOMES = {"accepted", *(r.value for r in Reason)} - {Reason.PROCESSING_ERROR.value}


def process(raw: bytes) -> str:
    """Stage 1's domain steps on one input, as the worker runs them (no I/O)."""
    env = decode(raw, 262_144)
    if isinstance(env, Rejected):
        return env.reason.value
    quirks = validate(env)
    if isinstance(quirks, Rejected):
        return quirks.reason.value
    rules = AlertRules()
    status = new_status("S", env.received_at_ms, None)
    on_message(status, env.charger_id, env.received_at_ms, rules)
    timeline = SiteTimeline()
    for e in status_events(env):
        on_status(status, e, rules)
        record_status(timeline, e.charger_id, f"{e.evse_id}/{e.connector_id}", e.ts_ms, e.status_class)
    for f in fault_events(env):
        on_fault(status, f, rules)
    found = readings(env)
    apply_meter_message(
        ChargerState(),
        found,
        message_id=env.message_id,
        received_at_ms=env.received_at_ms,
        site_id="S",
        watermark_ms=env.received_at_ms,
        rules=BucketRules(),
    )
    for r in found:
        assert all(math.isfinite(v) for v in r.values.values()), r  # nothing non-finite gets through
    return "accepted"
