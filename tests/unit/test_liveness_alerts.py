"""Liveness from silence, storm detection, and the alert lifecycle (hysteresis, flapping)."""

from __future__ import annotations

from agents.domain.alerts import (
    AlertKey,
    AlertRules,
    AlertState,
    AlertType,
    alertmanager_payload,
    observe,
    pagerduty_event,
    tick,
)
from agents.domain.liveness import Liveness, LivenessRules, is_storm

S = 1000
T0 = 1_795_521_600_000
RULES = AlertRules(raise_after_ms=60 * S, clear_after_ms=120 * S, renotify_ms=120 * S)


def test_offline_after_k_heartbeats_plus_grace_and_back_on_any_message() -> None:
    rules = LivenessRules(heartbeat_interval_s=60, missed_heartbeats=2, grace_s=30)
    live = Liveness(last_seen_ms=T0)
    assert live.check(T0 + 149 * S, rules) is None
    assert live.check(T0 + 150 * S, rules) == T0 + 150 * S
    assert live.check(T0 + 300 * S, rules) is None  # already known: no second alert
    assert live.seen(T0 + 400 * S) == T0 + 150 * S  # back online: since when it was offline
    assert live.offline_since_ms is None


def test_charger_interval_from_boot_overrides_the_default() -> None:
    live = Liveness(last_seen_ms=T0, interval_s=10)
    assert live.deadline_ms(LivenessRules(missed_heartbeats=3, grace_s=0)) == T0 + 30 * S


def test_storm() -> None:
    rules = LivenessRules(storm_share=0.5, storm_min_chargers=10)
    assert is_storm(600, 1000, rules)
    assert not is_storm(5, 8, rules)  # a small partition: individual alerts
    assert not is_storm(100, 1000, rules)


def test_raise_after_hysteresis_then_renotify_then_resolve_after_clear() -> None:
    s = AlertState()
    observe(s, True, T0, RULES)
    assert tick(s, T0 + 59 * S, RULES) is None
    raised = tick(s, T0 + 60 * S, RULES)
    assert raised is not None and (raised.kind, raised.starts_at_ms) == ("raise", T0)
    assert tick(s, T0 + 100 * S, RULES) is None
    again = tick(s, T0 + 180 * S, RULES)
    assert again is not None and again.kind == "renotify"
    observe(s, False, T0 + 200 * S, RULES)
    assert tick(s, T0 + 290 * S, RULES) is None  # clearing, but not clear for long enough yet
    still = tick(s, T0 + 300 * S, RULES)  # still active in Alertmanager: keep it alive
    assert still is not None and still.kind == "renotify"
    resolved = tick(s, T0 + 320 * S, RULES)
    assert resolved is not None and (resolved.kind, resolved.starts_at_ms, resolved.ends_at_ms) == (
        "resolve",
        T0,
        T0 + 200 * S,
    )
    assert tick(s, T0 + 900 * S, RULES) is None


def test_a_change_read_late_never_ends_an_alert_before_it_began() -> None:
    """Stage 2 reads sites' changes from many chargers; one older than the raise can clear."""
    s = AlertState()
    observe(s, True, T0 + 600 * S, RULES)
    tick(s, T0 + 660 * S, RULES)
    observe(s, False, T0 + 30 * S, RULES)  # happened before the alert began, read after it
    resolved = tick(s, T0 + 800 * S, RULES)
    assert resolved is not None and (resolved.starts_at_ms, resolved.ends_at_ms) == (
        T0 + 600 * S,
        T0 + 600 * S,
    )


def test_a_blip_shorter_than_raise_after_pages_nobody() -> None:
    s = AlertState()
    observe(s, True, T0, RULES)
    observe(s, False, T0 + 30 * S, RULES)
    assert tick(s, T0 + 600 * S, RULES) is None


def test_flapping_alert_stays_one_alert_and_resolves_only_after_a_longer_quiet() -> None:
    s = AlertState()
    observe(s, True, T0, RULES)
    assert tick(s, T0 + 60 * S, RULES) is not None
    for i in range(4):  # off/on every 30 s: never quiet for clear_after
        observe(s, False, T0 + (100 + 60 * i) * S, RULES)
        observe(s, True, T0 + (130 + 60 * i) * S, RULES)
        notice = tick(s, T0 + (131 + 60 * i) * S, RULES)
        assert notice is None or notice.kind == "renotify"
    observe(s, False, T0 + 400 * S, RULES)
    assert s.flapping(RULES)
    assert tick(s, T0 + 400 * S + RULES.clear_after_ms, RULES).kind == "renotify"  # type: ignore[union-attr]
    resolved = tick(s, T0 + 400 * S + 4 * RULES.clear_after_ms, RULES)
    assert resolved is not None and resolved.kind == "resolve" and resolved.flap_count >= 4


def test_identity_and_payloads() -> None:
    key = AlertKey(AlertType.CONNECTOR_FAULT, "SITE-A", "CP-1", 1, 1)
    assert key.fingerprint == AlertKey(AlertType.CONNECTOR_FAULT, "SITE-A", "CP-1", 1, 1).fingerprint
    assert key.fingerprint != AlertKey(AlertType.CONNECTOR_FAULT, "SITE-A", "CP-1", 2, 1).fingerprint
    assert len(key.dedup_key) <= 255
    s = AlertState()
    observe(s, True, T0, RULES)
    notice = tick(s, T0 + 60 * S, RULES)
    assert notice is not None
    am = alertmanager_payload(key, notice, T0 + 60 * S, RULES, summary="CP-1 EVSE 1 faulted")
    assert am["labels"]["fingerprint"] == key.fingerprint and am["startsAt"] == "2026-11-24T12:00:00.000Z"
    assert am["endsAt"] > am["startsAt"]  # firing: ends in the future, re-sent before then
    pd = pagerduty_event(key, notice, "CP-1 EVSE 1 faulted", "routing")
    assert (pd["event_action"], pd["dedup_key"]) == ("trigger", key.dedup_key)
